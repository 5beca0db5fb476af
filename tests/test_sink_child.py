"""`ChildSink` over a spawned program: the same life as a forked child (the OTLP worker's path
when forking is not safe) — data on stdin, the exit seen on the status pipe, a bounded close."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from renacer_tui.sinks.child import ChildGone, ChildSink, SinkProcess
from tests.test_store_basic import make_batch, trace_hex

#: Counts the rows of the Arrow stream on stdin, then exits with a status naming them.
COUNTER = (
    "import sys, pyarrow as pa\n"
    "rows = sum(b.num_rows for b in pa.ipc.open_stream(sys.stdin.buffer))\n"
    "sys.exit(rows // 10)\n"
)


def spawned(code: str) -> SinkProcess:
    return SinkProcess.spawn([sys.executable, "-c", code], dict(os.environ), stderr_fd=-1)


def test_a_spawned_child_reads_the_stream_and_is_reaped_with_its_status() -> None:
    sink = ChildSink("counter", spawned(COUNTER))
    for k in range(3):
        sink.write(make_batch(trace_hex(k + 1), 10))
    sink.close()
    assert sink.returncode == 3


def test_a_spawned_child_that_ignores_the_end_is_stopped() -> None:
    sink = ChildSink("stuck", spawned("import time\ntime.sleep(60)\n"), close_timeout=0.5)
    sink.write(make_batch(trace_hex(1), 5))
    with pytest.raises(ChildGone, match="stuck process did not finish within 0.5 s"):
        sink.close()
    assert sink.returncode == -signal.SIGTERM


def test_a_spawned_child_that_died_is_one_error_naming_it() -> None:
    process = spawned("import time\ntime.sleep(60)\n")
    sink = ChildSink("worker", process, label="test worker")
    os.kill(process.pid, signal.SIGKILL)
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # dead before the first write
    with pytest.raises(ChildGone, match="^test worker exited early$"):
        for k in range(50):  # the pipe's buffer takes a few batches before the write fails
            sink.write(make_batch(trace_hex(k + 1), 500))
    sink.close()  # already reported: quiet
    assert sink.returncode == -signal.SIGKILL
