"""The tracer's sinks in forked children (sinks.child): real traced runs through the CLI.

The capture process forks the segment writer and the OTLP exporter; these tests check what that
must keep true: every span reaches the store before the run is closed, a killed tracer still
gets what the child received flushed, a failing store is one line and the run goes on,
concurrent tracers lose nothing, and a child that hangs cannot hold the run's end forever.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from renacer_tui.store import Store

ROOT = Path(__file__).resolve().parent.parent

SLEEPER = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    for (int i = 0; i < 300; i++) getppid();
    printf("ready\n");
    fflush(stdout);
    sleep(60);
    return 0;
}
"""


def renacer(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "-o", os.devnull, *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs)


def trace_id_of(stderr: str) -> str:
    found = re.search(r"trace_id=([0-9a-f]{32})", stderr)
    assert found, stderr
    return found.group(1)


def rows_of(stderr: str) -> int:
    found = re.search(r"\((\d+) rows\)", stderr)
    assert found, stderr
    return int(found.group(1))


def test_run_stores_every_row_before_the_run_is_closed(db_path: Path) -> None:
    proc = renacer("--no-rle", "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=3000")
    assert proc.returncode == 0, proc.stderr
    trace, rows = trace_id_of(proc.stderr), rows_of(proc.stderr)
    assert rows > 6000  # several of the span builder's 4096-row batches went through the pipe
    store = Store.open()
    got = store.query("SELECT COUNT(*) AS n, COUNT(DISTINCT span_id) AS u FROM spans_raw WHERE trace_id = ?", [trace])
    assert got.to_pylist() == [{"n": rows, "u": rows}]
    run = store.catalog.rows("SELECT status, spans_stored, ended_ns FROM runs")
    assert len(run) == 1 and run[0]["status"] == "ok" and run[0]["spans_stored"] == rows
    last_segment = store.catalog.rows("SELECT MAX(created_ns) AS t FROM segments")[0]["t"]
    assert last_segment <= run[0]["ended_ns"]  # end_run came after the child's last segment
    assert store.warnings == []
    store.close()


def test_killed_tracer_still_gets_received_spans_flushed(db_path: Path, tmp_path: Path, cbuild) -> None:
    # A flush interval far beyond the test: only the child's flush on EOF can store these spans.
    config = tmp_path / "home" / ".renacer" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[database]\nflush_interval_s = 600\n")
    exe = cbuild("sleeper", SLEEPER)
    proc = subprocess.Popen([sys.executable, "-m", "renacer_tui", "--no-tui", "-o", os.devnull, "--", str(exe)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(0.6)  # the idle flush (~0.1 s) hands the getppid spans to the fan-out and the child
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    store = Store.open()
    deadline = time.monotonic() + 15
    count = 0
    while time.monotonic() < deadline:
        count = store.query("SELECT COUNT(*) AS n FROM spans WHERE span_name = 'syscall:getppid'").to_pylist()[0]["n"]
        if count:
            break
        time.sleep(0.1)
    assert count == 300
    # the decoder process saw EOF without the capture's result: it ends the run as the program's
    # fate under PTRACE_O_EXITKILL (killed, 137), with the run span
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and store.query("SELECT status FROM runs").to_pylist() == [{"status": "running"}]:
        time.sleep(0.1)
    assert store.query("SELECT status, exit_code FROM runs").to_pylist() == [{"status": "error", "exit_code": 137}]
    assert store.query("SELECT COUNT(*) AS n FROM spans WHERE span_name LIKE 'renacer:run%'").to_pylist() == [{"n": 1}]
    store.close()
    # The next run works and the killed one's segment stays readable.
    again = renacer("--", "true")
    assert again.returncode == 0, again.stderr
    store = Store.open()
    assert store.query("SELECT COUNT(*) AS n FROM runs WHERE status = 'ok'").to_pylist() == [{"n": 1}]
    assert store.warnings == []
    store.close()


def test_failing_store_is_one_line_and_the_run_goes_on(db_path: Path, tmp_path: Path) -> None:
    db_path.mkdir(parents=True)
    (db_path / "spans").write_text("not a directory")  # every segment write fails
    out = tmp_path / "spans.jsonl"
    proc = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--format", "jsonl", "-o", str(out),
                           "--", "sh", "-c", "echo hi; exit 3"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 3
    failures = [line for line in proc.stderr.splitlines() if "sink failed" in line]
    assert len(failures) == 1, proc.stderr
    assert failures[0].startswith("renacer-tui: store sink failed: StoreWriteError: cannot write segment")
    assert "Traceback" not in proc.stderr
    assert any('"syscall:write"' in line for line in out.read_text().splitlines())  # the other output kept going


def test_concurrent_tracers_lose_nothing(db_path: Path) -> None:
    argv = [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-rle", "-o", os.devnull, "--",
            "dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1500"]
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(3)]
    expected = {}
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        expected[trace_id_of(err)] = rows_of(err)
    store = Store.open()
    got = store.query("SELECT trace_id, COUNT(*) AS n FROM spans_raw GROUP BY trace_id").to_pylist()
    assert {r["trace_id"]: r["n"] for r in got} == expected
    assert store.query("SELECT status, COUNT(*) AS n FROM runs GROUP BY status").to_pylist() == [{"status": "ok", "n": 3}]
    store.close()


HUNG_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from renacer_tui.sinks.child import ChildGone, ForkedSink
    from renacer_tui.sinks.forking import can_fork
    from tests.test_store_basic import make_batch, trace_hex

    def ignores_eof(stream, report):
        time.sleep(60)
        return 0

    assert can_fork()
    sink = ForkedSink("stuck", ignores_eof, close_timeout=0.5)
    sink.write(make_batch(trace_hex(1), 10))
    t0 = time.monotonic()
    try:
        sink.close()
        error = None
    except ChildGone as exc:
        error = str(exc)
    print(json.dumps({"elapsed": time.monotonic() - t0, "error": error, "returncode": sink.returncode}))
    """
)

REPORTING_CHILD = textwrap.dedent(
    """
    import json
    from renacer_tui.sinks.child import ForkedSink, read_span_stream
    from tests.test_store_basic import make_batch, trace_hex

    def picky(stream, report):
        rows = []
        read_span_stream(stream, lambda b: rows.append(b.num_rows))
        report(f"saw {sum(rows)} rows in {len(rows)} batches")
        report("second problem")
        return 1

    sink = ForkedSink("picky", picky)
    for _ in range(3):
        sink.write(make_batch(trace_hex(2), 5))
    try:
        sink.close()
        error = None
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"error": error, "returncode": sink.returncode}))
    """
)


DYING_CHILDREN = textwrap.dedent(
    """
    import json, os, signal, time
    from renacer_tui.sinks.child import ForkedSink, read_span_stream
    from renacer_tui.sinks.fanout import Fanout
    from tests.test_store_basic import make_batch, trace_hex

    def complains_then_drains(stream, report):
        def on_batch(batch):
            report("disk on fire")
        read_span_stream(stream, on_batch)
        return 1

    def quiet(stream, report):
        read_span_stream(stream, lambda batch: None)
        return 0

    out = {}
    for name, main, kill in (("complains", complains_then_drains, False), ("killed", quiet, True)):
        reports = []
        sink = ForkedSink(name, main)
        fanout = Fanout([sink], on_error=lambda n, m: reports.append(m))
        if kill:
            os.kill(sink.pid, signal.SIGKILL)
            # dead (a zombie) before the first offer: a batch written while it is still dying
            # would sit in the pipe, neither consumed nor counted as dropped
            def dead(pid):
                try:
                    with open(f"/proc/{pid}/stat") as stat:
                        return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
                except FileNotFoundError:  # already reaped
                    return True
            deadline = time.monotonic() + 5
            while not dead(sink.pid):
                assert time.monotonic() < deadline
                time.sleep(0.01)
        for _ in range(6):
            fanout.offer(make_batch(trace_hex(3), 5))
            time.sleep(0.05)
        ok = fanout.close(timeout=10)
        out[name] = {"reports": reports, "closed": ok, "returncode": sink.returncode,
                     "dropped": fanout.dropped_per_sink[name]}
    print(json.dumps(out))
    """
)


def _run_script(script: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_hung_child_cannot_hold_the_end_of_the_run() -> None:
    result = _run_script(HUNG_CHILD)
    assert result["error"] == "stuck process did not finish within 0.5 s"
    assert result["elapsed"] < 4.0
    assert result["returncode"] == -signal.SIGTERM


def test_child_reports_reach_the_parent_once_as_its_first_line() -> None:
    result = _run_script(REPORTING_CHILD)
    assert result == {"error": "ChildGone: saw 15 rows in 3 batches", "returncode": 1}


def test_otlp_export_from_a_forked_worker(db_path: Path) -> None:
    from tests.otlp_receiver import GrpcReceiver

    receiver = GrpcReceiver()
    try:
        proc = renacer("--no-rle", "--otlp-endpoint", receiver.endpoint, "--",
                       "dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=500")
        assert proc.returncode == 0, proc.stderr
        trace, rows = trace_id_of(proc.stderr), rows_of(proc.stderr)
        deadline = time.monotonic() + 10
        while receiver.count() < rows and time.monotonic() < deadline:
            time.sleep(0.05)
        spans = receiver.spans()
    finally:
        receiver.stop()
    assert len(spans) == rows
    assert {s.trace_id for s in spans} == {trace}
    assert "OTLP" not in proc.stderr  # no export failure reported


def _cpus_allowed(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no Cpus_allowed_list")


def test_pinned_tracer_keeps_its_sink_child_off_its_cpu(db_path: Path, cbuild) -> None:
    if len(os.sched_getaffinity(0)) < 2 or 0 not in os.sched_getaffinity(0):
        import pytest

        pytest.skip("needs CPU 0 and another CPU")
    exe = cbuild("sleeper", SLEEPER)
    proc = subprocess.Popen([sys.executable, "-m", "renacer_tui", "--no-tui", "-o", os.devnull, "--pin-cpu", "0",
                             "--", str(exe)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        program = [c for c in children if Path(f"/proc/{c}/exe").resolve() == exe.resolve()]
        sink_children = [c for c in children if c not in program]
        assert len(program) == 1 and len(sink_children) == 1  # the traced program, the store's writer
        assert _cpus_allowed(proc.pid) == "0" and _cpus_allowed(program[0]) == "0"
        assert "0" not in _cpus_allowed(sink_children[0]).replace("-", ",").split(",")
    finally:
        proc.send_signal(signal.SIGINT)  # forwarded to the program: the run ends normally
        proc.wait(30)
    assert proc.returncode == 130  # the program's death by SIGINT, as a shell reports it


def test_a_failing_or_killed_child_is_reported_once_and_reaped() -> None:
    result = _run_script(DYING_CHILDREN)
    complains, killed = result["complains"], result["killed"]
    assert complains["reports"] == ["ChildGone: disk on fire"]
    assert complains["closed"] and complains["returncode"] == 1
    assert 0 < complains["dropped"] <= 25  # the batch that revealed the problem and those after it
    assert killed["reports"] == ["ChildGone: killed process exited early"]
    assert killed["closed"] and killed["returncode"] == -signal.SIGKILL and killed["dropped"] == 30
