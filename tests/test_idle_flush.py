"""Idle flush: spans of a program blocked in a long call reach the live feed within ~0.1 s.

The capture child is started the way the TUI starts it (`--feed-fd W`), the feed is read with
`FeedReader` in a thread, and arrival times are compared with the moment the program ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from renacer_tui.sinks.feed import META_INFLIGHT, FeedReader
from renacer_tui.tracer.idle import IdleFlusher

REPO = Path(__file__).resolve().parent.parent


def _read_feed(read_fd: int, arrivals: list[tuple[float, dict]], inflight: list[tuple[float, list[dict]]]) -> None:
    for batch, meta in FeedReader(read_fd):
        now = time.monotonic()
        if META_INFLIGHT in meta:  # a snapshot of the calls in flight, not spans
            inflight.append((now, batch.to_pylist()))
            continue
        for row in batch.to_pylist():
            arrivals.append((now, row))


def _trace_with_feed(script: str, db: Path, inflight: list | None = None) -> tuple[list[tuple[float, dict]], float, float, int]:
    """Run `sh -c script` under the capture with a live feed: (arrivals, start, end, exit code);
    the snapshots of calls in flight go to `inflight`."""
    read_fd, write_fd = os.pipe()
    arrivals: list[tuple[float, dict]] = []
    reader = threading.Thread(target=_read_feed, args=(read_fd, arrivals, [] if inflight is None else inflight),
                              daemon=True)
    reader.start()
    start = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--feed-fd", str(write_fd), "--", "sh", "-c", script],
        pass_fds=(write_fd,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "RENACER_DB": str(db)},
    )
    os.close(write_fd)
    _out, err = child.communicate(timeout=60)
    end = time.monotonic()
    reader.join(10)
    assert not reader.is_alive(), "the feed did not end with the capture"
    assert child.returncode == 0, err.decode(errors="replace")
    return arrivals, start, end, child.returncode


def _echo_write(arrivals: list[tuple[float, dict]], text: str) -> tuple[float, dict] | None:
    for when, row in arrivals:
        if row["span_name"] == "syscall:write" and text in json.loads(row["attributes"]).get("syscall.args", ""):
            return when, row
    return None


def test_write_before_a_long_sleep_arrives_before_the_program_ends(tmp_path: Path) -> None:
    inflight: list[tuple[float, list[dict]]] = []
    arrivals, start, end, _code = _trace_with_feed("echo idle-flush-marker; sleep 3", tmp_path / "db", inflight)
    found = _echo_write(arrivals, "idle-flush-marker")
    assert found is not None, "the echo's write span never reached the feed"
    when, row = found
    assert end - start >= 3.0
    # The program sleeps 3 s after the echo: the span must not wait for the sleep to return.
    assert when <= end - 2.0, f"write span arrived {end - when:.2f}s before the end (of {end - start:.2f}s)"
    assert row["end_time_nanos"] >= row["start_time_nanos"]
    # and the sleep itself, still in flight then, arrives complete at the end
    sleeps = [r for _w, r in arrivals if r["span_name"] in ("syscall:clock_nanosleep", "syscall:nanosleep")]
    assert sleeps and all(r["end_time_nanos"] - r["start_time_nanos"] >= 2_900_000_000 for r in sleeps)
    # while it slept, a snapshot showed the sleep in flight, under the id its span has at the end
    shown = [(when, row) for when, rows in inflight for row in rows if row["span_id"] == sleeps[0]["span_id"]]
    assert shown and shown[0][0] <= end - 2.0
    assert json.loads(shown[0][1]["attributes"])["syscall.in_flight"] is True
    assert "tv_sec=3" in json.loads(shown[0][1]["attributes"])["syscall.args"]
    assert inflight[-1][1] == []  # and the last snapshot says nothing waits any more


def test_flusher_waits_for_the_lock_and_stops() -> None:
    lock = threading.Lock()
    calls: list[float] = []
    flusher = IdleFlusher(lock, lambda: calls.append(time.monotonic()), period_s=0.01)
    with lock:  # the capture loop is handling a stop: no flush may run meanwhile
        flusher.start()
        time.sleep(0.1)
        assert calls == []
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls, "the flusher never ran after the lock was released"
    flusher.stop()
    seen = len(calls)
    time.sleep(0.05)
    assert len(calls) == seen
    flusher.stop()  # idempotent
