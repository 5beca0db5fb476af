"""The decoder process path: raw records from the stop loop, replayed onto the span builder.

The strongest check is a tee: one capture of a real program feeds the span builder directly
(decoding on the stop loop, the old path) and a RawRecorder at the same stops; the records are
then replayed onto a second builder.  Both builders saw the same stops at the same instants, so
every row must be equal — names, arguments, attributes, links, clocks, parents, RLE counts —
except the random span-id prefix each builder draws; and the replay must never have to guess
a byte (`ReplayMemory.misses == 0`).  End-to-end runs then check what only the split path does:
counts against `strace -f -c`, the program's exit code, and a capture process killed with
SIGKILL still leaving its spans in the store.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from renacer_tui.tracer.capture import CaptureOptions, CaptureSession
from renacer_tui.tracer.raw_recorder import RawRecorder, RecordWriter
from renacer_tui.tracer.raw_replay import ReplayMemory, replay
from renacer_tui.tracer.spans import SpanBuilder

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

# fork, pipe, wait, threads, exec, signals, dup2, socketpair, an fd reused after close
MIXED = r"""
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
static void *worker(void *arg) { int fd = open("/etc/hostname", O_RDONLY); char b[16]; read(fd, b, sizeof b); close(fd); return arg; }
static void on_usr1(int sig) { (void)sig; }
int main(void) {
    int p[2]; pipe(p);
    pid_t c = fork();
    if (c == 0) { write(p[1], "hello", 5); execl("/bin/true", "true", (char *)0); _exit(9); }
    char b[8]; read(p[0], b, 5);
    int st; waitpid(c, &st, 0);
    pthread_t t; pthread_create(&t, 0, worker, 0); pthread_join(t, 0);
    int fd = open("/etc/passwd", O_RDONLY); read(fd, b, 8); close(fd);
    fd = open("/etc/hostname", O_RDONLY); read(fd, b, 4); dup2(fd, 7); close(fd); close(7);
    int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv); write(sv[0], "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 28);
    char req[64]; read(sv[1], req, sizeof req);
    signal(SIGUSR1, on_usr1); kill(getpid(), SIGUSR1);
    for (int i = 0; i < 50; i++) getppid();
    fprintf(stderr, "[DECISION] a::b input={}\n");
    return 3;
}
"""


class Tee:
    """Both listeners, at every stop, in order."""

    def __init__(self, *listeners: Any) -> None:
        self._listeners = listeners

    def __getattr__(self, name: str) -> Any:
        methods = [getattr(listener, name) for listener in self._listeners]

        def call(*args: Any) -> None:
            for method in methods:
                method(*args)

        return call


def _builder(batches: list[pa.RecordBatch], command: list[str], **kw: Any) -> SpanBuilder:
    return SpanBuilder(trace_id=TRACE_ID, parent_span_id=None, run_span_id="00f067aa0ba902b7", command=command,
                       on_batch=batches.append, service_version="test", **kw)


def _rows(batches: list[pa.RecordBatch], prefix: str) -> list[dict[str, Any]]:
    rows = []
    for batch in batches:
        for row in batch.to_pylist():
            if row["span_name"].startswith("renacer:run"):
                row.pop("start_time_nanos")
                row.pop("end_time_nanos")
            text = json.dumps(row, sort_keys=True, default=str)
            rows.append(json.loads(text.replace(prefix, "<run>")))
    return rows


def _both_ways(argv: list[str], **kw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], ReplayMemory]:
    payloads = kw.pop("payloads", False)
    hashers = []
    if payloads:
        from renacer_tui.tracer.payload_hash import PayloadHasher

        mem_facts: list[Any] = []
        hashers = [PayloadHasher(), PayloadHasher(lambda *a: mem_facts[0].stream_facts(*a))]
    inline_batches: list[pa.RecordBatch] = []
    inline = _builder(inline_batches, argv, payloads=hashers[0] if hashers else None, **kw)
    with tempfile.TemporaryFile() as records:
        writer = RecordWriter(os.dup(records.fileno()))
        recorder = RawRecorder(writer, string_limit=kw.get("string_limit", 64), payloads=payloads,
                               decisions=kw.get("decisions", False))
        null = os.open(os.devnull, os.O_RDWR)
        session = CaptureSession(CaptureOptions(argv=argv, stdin=null, stdout=null, stderr=null))
        session.start()
        os.close(null)
        result = session.run(Tee(inline, recorder))
        recorder.finish(time.time_ns(), {"exit_code": result.exit_code})
        inline.finish({"exit": result.exit_code})
        records.seek(0)
        mem = ReplayMemory()
        if payloads:
            mem_facts.append(mem)
        replayed_batches: list[pa.RecordBatch] = []
        replayed = _builder(replayed_batches, argv, payloads=hashers[1] if hashers else None, identity=mem.identity, **kw)
        outcome = replay(records.fileno(), replayed, mem)
        assert outcome == {"exit_code": result.exit_code, "raw_dropped": 0}
        replayed.finish({"exit": result.exit_code})
    return _rows(inline_batches, inline._prefix), _rows(replayed_batches, replayed._prefix), mem


def _assert_same(inline: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> None:
    assert len(replayed) == len(inline)
    for a, b in zip(inline, replayed):
        assert b == a


@pytest.mark.parametrize("kw", [{}, {"string_limit": 4}, {"rle": False}, {"payloads": True, "decisions": True}],
                         ids=["default", "s4", "no-rle", "payloads+decisions"])
def test_replayed_records_build_the_same_rows_as_decoding_on_the_loop(cbuild, kw: dict[str, Any]) -> None:
    exe = cbuild("mixed", MIXED, flags=("-lpthread",))
    inline, replayed, mem = _both_ways([str(exe)], **kw)
    names = {r["span_name"] for r in inline}
    assert {"syscall:clone", "syscall:execve", "syscall:wait4", "syscall:socketpair", "syscall:dup2"} <= names
    assert any("renacer.links" in r["attributes"] for r in inline)  # pipe / wait links exist to compare
    _assert_same(inline, replayed)
    assert mem.misses == 0


def test_replay_matches_on_a_shell_loop_and_python(tmp_path: Path) -> None:
    for argv in (["/bin/sh", "-c", "for i in 1 2 3; do /bin/true; done; echo x > /dev/null"],
                 [sys.executable, "-c", "import json, socket; socket.socketpair(); print(json.dumps([1]))"]):
        inline, replayed, mem = _both_ways(argv)
        _assert_same(inline, replayed)
        assert mem.misses == 0


def _run_cli(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=tmp_path)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_split_path_counts_equal_strace_and_keep_the_exit_code(cbuild, tmp_path: Path) -> None:
    exe = cbuild("mixed", MIXED, flags=("-lpthread",))
    ours = _run_cli(tmp_path, "--no-store", "-c", "--", str(exe))
    assert ours.returncode == 3, ours.stderr
    theirs = subprocess.run(["strace", "-f", "-c", "-o", str(tmp_path / "s.txt"), str(exe)], capture_output=True,
                            timeout=120)
    assert theirs.returncode == 3
    # pthread_join makes a futex call only when the worker has not exited yet: a race in the
    # program, not in the tracer, so futex is left out of both counts
    mine, strace = _calls(ours.stderr), _calls((tmp_path / "s.txt").read_text())
    mine.pop("futex", None)
    strace.pop("futex", None)
    assert mine == strace and len(mine) > 20


def _calls(summary: str) -> dict[str, int]:
    """{syscall: calls} from a `-c` table (strace's or ours)."""
    out = {}
    for line in summary.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[-1] != "total" and re.fullmatch(r"\d+", fields[3]):
            out[fields[-1]] = int(fields[3])
    return out


HANGS = r"""
#include <unistd.h>
int main(void) { for (int i = 0; i < 200; i++) getppid(); write(1, "ready\n", 6); pause(); return 0; }
"""


def test_a_killed_capture_process_still_leaves_its_spans_in_the_store(cbuild, tmp_path: Path) -> None:
    exe = cbuild("hangs", HANGS)
    db = tmp_path / "db"
    proc = subprocess.Popen([sys.executable, "-m", "renacer_tui", "--no-tui", "--db", str(db), "-o", os.devnull, "--",
                             str(exe)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    time.sleep(0.3)  # the idle flusher ships the records the program made before it paused
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 60
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:  # the decoder finishes on EOF, after its parent died
        rows = _getppid_rows(db)
        if rows:
            break
        time.sleep(0.5)
    assert sum(row["rle_count"] for row in rows) == 200, err


def _getppid_rows(db: Path) -> list[dict[str, Any]]:
    from renacer_tui.store import Store

    if not db.exists():
        return []
    with Store.open(db) as store:
        try:
            table = store.query("SELECT span_name, rle_count FROM spans WHERE span_name = 'syscall:getppid'")
        except Exception:  # the catalog may not list the run's segment yet
            return []
    return table.to_pylist()
