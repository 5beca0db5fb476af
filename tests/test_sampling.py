"""Adaptive sampling (`[sampling]`, `--sample-threshold-us` / `--sample-rate`): fast calls RLE
cannot fold are counted into one row per thread, syscall and k calls, so the store shrinks while
every count and summed duration stays exact; errors, slow calls, links and structural calls
stay as they are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from renacer_tui.store.store import Store
from renacer_tui.tracer.rows import Row
from renacer_tui.tracer.sampling import Sampler

LOOP = r"""
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    int fd = open("/etc/hostname", O_RDONLY);
    for (int i = 0; i < 5000; i++) lseek(fd, i, SEEK_SET);           /* distinct: RLE cannot fold them */
    char path[64];
    for (int i = 0; i < 40; i++) { snprintf(path, sizeof path, "/nonexistent-renacer-%d", i); open(path, O_RDONLY); }
    struct timespec slow = {0, 30000000}; nanosleep(&slow, 0);          /* above the threshold */
    if (fork() == 0) _exit(0);
    return 0;
}
"""


def _trace(tmp_path: Path, exe: str, name: str, *extra: str, env: dict[str, str] | None = None) -> tuple[Store, str]:
    db = tmp_path / name
    run = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--db", str(db), *extra,
                          "-o", str(tmp_path / f"{name}.txt"), "--", exe], capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL, env=env)
    assert run.returncode == 0, run.stderr
    return Store.open(db), run.stderr


def _calls(store: Store) -> dict[str, int]:
    rows = store.query("SELECT span_name, COUNT(*) AS n FROM spans GROUP BY 1").to_pylist()
    return {r["span_name"]: r["n"] for r in rows}


def test_counts_stay_exact_while_the_rows_shrink(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("sampled-loop", LOOP))
    plain, _ = _trace(tmp_path, exe, "plain")
    sampled, summary = _trace(tmp_path, exe, "sampled", "--sample-threshold-us", "1000", "--sample-rate", "0.01")
    assert _calls(sampled) == _calls(plain)
    assert _calls(sampled)["syscall:lseek"] == 5000
    lseeks = sampled.query(
        "SELECT COUNT(*) AS n, (MAX(end_time_nanos) - MIN(start_time_nanos)) / 1e9 AS s, "
        "COUNT(*) FILTER (WHERE rle_count = 1 AND end_time_nanos - start_time_nanos >= 1000000) AS slow "
        "FROM spans_raw WHERE span_name = 'syscall:lseek'").to_pylist()[0]
    # one row per hundred calls, at most one cut short per batch interval (0.1 s) the loop lasted,
    # and a row of its own for each call that took longer than the threshold (a busy machine
    # preempts some: those are kept whole, as any slow call is)
    assert lseeks["n"] <= 5000 // 100 + int(lseeks["s"] / 0.1) + 2 + lseeks["slow"], lseeks
    rows = sampled.query("SELECT span_name, status, rle_count, attributes FROM spans_raw").to_pylist()
    for row in rows:
        attrs = json.loads(row["attributes"])
        if "renacer.sampled" in attrs:
            assert attrs["renacer.sampled"] == row["rle_count"] > 1 and row["status"] == "OK"
    errors = [r for r in rows if r["status"] == "ERROR" and r["span_name"] == "syscall:openat"]
    assert len(errors) == 40 and all(r["rle_count"] == 1 for r in errors)  # never sampled
    sleeps = [r for r in rows if r["span_name"] == "syscall:clock_nanosleep"]
    assert len(sleeps) == 1 and "renacer.sampled" not in json.loads(sleeps[0]["attributes"])
    assert sum(1 for r in rows if r["span_name"].startswith("process:")) == 2  # the fork's child is there
    assert "sampled: 1 in 100 of the calls under 1000 µs" in summary
    assert " ×100 (sampled)" in (tmp_path / "sampled.txt").read_text()


def test_the_config_file_turns_it_on_and_the_cli_refuses_a_bad_rate(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("sampled-loop", LOOP))
    config = tmp_path / "config.toml"
    config.write_text("[sampling]\nthreshold_us = 1000\nsample_rate = 0.1\n")
    store, summary = _trace(tmp_path, exe, "configured", env={**os.environ, "RENACER_CONFIG": str(config)})
    assert "sampled: 1 in 10 of the calls under 1000 µs" in summary and _calls(store)["syscall:lseek"] == 5000
    bad = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--sample-rate", "2",
                          "--sample-threshold-us", "10", "true"], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--sample-rate" in bad.stderr


def _row(i: int, tid: int, name: str, duration: int, status: str) -> Row:
    row = Row(f"{i:016x}", i, name, i * 1000, tid, tid)
    row.end, row.status = row.start + duration, status
    return row


calls = st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.sampled_from(["syscall:read", "syscall:lseek", "process:x"]),
                           st.integers(0, 3000), st.sampled_from(["OK", "OK", "ERROR"])), max_size=300)


@given(calls, st.sampled_from([0.5, 0.1, 0.01]))
def test_every_call_is_counted_once_and_only_fast_successes_merge(seq: list, rate: float) -> None:
    sampler = Sampler(threshold_us=1, rate=rate)  # 1000 ns
    emitted: list[Row] = []
    for i, (tid, name, duration, status) in enumerate(seq):
        row = sampler.admit(_row(i, tid, name, duration, status))
        if row is not None:
            emitted.append(row)
    emitted += sampler.release()
    assert sum(row.count for row in emitted) == len(seq)
    assert len({id(row) for row in emitted}) == len(emitted)
    for row in emitted:
        if row.count > 1:
            assert row.status == "OK" and row.name.startswith("syscall:") and row.count <= sampler.every
            assert row.attrs["renacer.sampled"] == row.count
