"""Anti-pattern detection (analysis.antipatterns) on real programs with and without each pattern.

A detector that fires on everything is useless, so every pattern is checked both ways: the
program that has it raises exactly that finding, a clean program raises nothing at all.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from reference_analysis import checked_detect
from synthetic import MS, sid, span

from renacer_tui.analysis.antipatterns import Finding, Thresholds, detect
from renacer_tui.analysis.graph import build_graph
from renacer_tui.analysis.loading import load_trace
from renacer_tui.model.schema import batch_from_rows
from renacer_tui.store.store import Store
from renacer_tui.thresholds import configured_thresholds

STAT_LOOP = r"""
#include <sys/stat.h>
int main(int argc, char **argv) {
    struct stat st;
    for (int i = 0; i < 5000; i++) stat(argv[1], &st);
    return 0;
}
"""

WRITER = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* writer FILE N: N one-byte writes; writer FILE 0: one 1 MiB write. */
int main(int argc, char **argv) {
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int n = atoi(argv[2]);
    if (n > 0) {
        for (int i = 0; i < n; i++) if (write(fd, "x", 1) != 1) return 1;
    } else {
        size_t len = 1 << 20;
        char *buf = malloc(len);
        memset(buf, 'x', len);
        if (write(fd, buf, len) != (ssize_t)len) return 1;
    }
    return close(fd);
}
"""

READER = r"""
#include <unistd.h>
/* Says it is ready, then blocks reading stdin until the test writes to it. */
int main(void) {
    char buf[64];
    if (write(1, "ready\n", 6) != 6) return 1;
    return read(0, buf, sizeof buf) > 0 ? 0 : 1;
}
"""

POOL = r"""
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
/* Three concurrent workers; the first makes 2000 calls, the others sleep. */
int main(void) {
    for (int w = 0; w < 3; w++) {
        if (fork() == 0) {
            if (w == 0) {
                for (int i = 0; i < 1000; i++) { getppid(); getuid(); }
            } else {
                struct timespec ts = {0, 50000000};
                nanosleep(&ts, 0);
            }
            _exit(0);
        }
    }
    while (wait(NULL) > 0) {}
    return 0;
}
"""

MISSES = r"""
#include <fcntl.h>
#include <stdio.h>
int main(void) {
    char path[64];
    for (int i = 0; i < 300; i++) {
        snprintf(path, sizeof path, "/nonexistent/dir%d/libx.so", i);
        open(path, O_RDONLY);
    }
    return 0;
}
"""


def trace(*program: str, stdin_after: float | None = None) -> str:
    """Trace PROGRAM into the RENACER_DB store; with `stdin_after`, feed its stdin that long
    after it printed its first line (so the read it makes meanwhile blocks)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "-o", os.devnull, "--", *program],
        stdin=subprocess.PIPE if stdin_after is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if stdin_after is not None:
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(stdin_after)
    out, err = proc.communicate(b"hello\n" if stdin_after is not None else None, timeout=60)
    assert proc.returncode == 0, err.decode(errors="replace")
    match = re.search(rb"^trace_id=([0-9a-f]{32})$", err, re.M)
    assert match, err
    return match.group(1).decode()


def findings_of(trace_id: str, **overrides: Any) -> list[Finding]:
    with Store.open() as store:
        return checked_detect(build_graph(load_trace(store, trace_id)), configured_thresholds(overrides))


def kinds(findings: list[Finding]) -> list[str]:
    return [f.kind for f in findings]


def test_stat_of_one_path_5000_times_is_a_tight_loop(db_path: Path, cbuild: Any) -> None:
    exe = cbuild("statloop", STAT_LOOP)
    found = findings_of(trace(str(exe), "/etc/hostname"))
    loop = [f for f in found if f.kind == "tight-loop"]
    assert len(loop) == 1
    assert loop[0].count == 5000 and loop[0].path == "/etc/hostname"
    assert loop[0].severity in ("medium", "high") and loop[0].fix and loop[0].span_ids
    assert "stat" in loop[0].title
    lookups = [f for f in found if f.kind == "redundant-lookup"]
    assert len(lookups) == 1 and lookups[0].count == 5000
    assert set(kinds(found)) == {"tight-loop", "redundant-lookup"}


def test_one_byte_writes_are_small_writes_and_one_big_write_is_not(db_path: Path, cbuild: Any, tmp_path: Path) -> None:
    exe = cbuild("writer", WRITER)
    small = findings_of(trace(str(exe), str(tmp_path / "small"), "1000"))
    writes = [f for f in small if f.kind == "small-writes"]
    assert len(writes) == 1
    assert writes[0].count == 1000 and writes[0].fd == "3"
    assert writes[0].path == str(tmp_path / "small")
    assert "1000 B" in writes[0].title
    big = findings_of(trace(str(exe), str(tmp_path / "big"), "0"))
    assert big == []
    assert (tmp_path / "big").stat().st_size == 1 << 20


def test_failed_opens_over_a_search_path_are_a_storm(db_path: Path, cbuild: Any) -> None:
    exe = cbuild("misses", MISSES)
    trace_id = trace(str(exe))
    found = findings_of(trace_id)
    storms = [f for f in found if f.kind == "failed-storm"]
    assert len(storms) == 1
    assert storms[0].count == 300 and "ENOENT" in storms[0].title and "300 paths" in storms[0].title
    assert "search path" in storms[0].fix
    assert len(storms[0].span_ids) == 20  # evidence is capped, the count is not
    # A lower threshold from the caller raises the severity; a higher one silences it.
    assert findings_of(trace_id, failed_storm_min=301) == []
    assert [f.severity for f in findings_of(trace_id, failed_storm_min=50) if f.kind == "failed-storm"] == ["medium"]


def test_a_read_blocked_on_stdin_is_blocking_io_on_the_critical_path(db_path: Path, cbuild: Any) -> None:
    exe = cbuild("reader", READER)
    found = findings_of(trace(str(exe), stdin_after=0.3))
    assert kinds(found) == ["blocking-io"]
    assert found[0].title.startswith("Blocking I/O on the critical path: syscall:read took")
    assert found[0].fd == "0" and found[0].path and found[0].path.startswith("pipe:")


def test_one_worker_of_a_pool_doing_all_the_work_is_a_god_process(db_path: Path, cbuild: Any) -> None:
    exe = cbuild("pool", POOL)
    trace_id = trace(str(exe))
    god = [f for f in findings_of(trace_id) if f.kind == "god-process"]
    assert len(god) == 1 and god[0].count >= 2000
    with Store.open() as store:
        cols = build_graph(load_trace(store, trace_id)).cols
    root_pid = int(cols.attrs(int(np.flatnonzero(cols.parent < 0)[0])).get("renacer.root_pid"))
    assert god[0].pid != root_pid  # the busy worker, not the parent waiting for all three


@pytest.mark.parametrize(
    "program",
    [
        ("true",),
        ("cat", "/etc/hostname"),
        ("sh", "-c", "ls / >/dev/null"),
        # A launcher waiting for the one program that does all the work is not a god process.
        ("sh", "-c", f"{sys.executable} -c pass; true"),
        (sys.executable, "-c", "import subprocess; subprocess.run(['uname'], stdout=subprocess.DEVNULL)"),
        # getxattr → ENODATA thousands of times is how `ls -l` learns there is no ACL: not a storm.
        ("sh", "-c", "ls -lR /usr/share/zoneinfo /etc >/dev/null 2>&1"),
    ],
    ids=["true", "cat", "sh-ls", "sh-python", "python-subprocess", "ls-lR"],
)
def test_clean_programs_raise_no_alert(db_path: Path, program: tuple[str, ...]) -> None:
    assert findings_of(trace(*program)) == []


# ----------------------------------------------------------------------------- synthetic


def detect_rows(rows: list[dict[str, Any]], **overrides: Any) -> list[Finding]:
    cg = build_graph(pa.Table.from_batches([batch_from_rows(rows)]))
    return checked_detect(cg, Thresholds.from_config(None, overrides))


def base(end: int = 1000) -> list[dict[str, Any]]:
    return [span(1, None, 0, end, "renacer:run x", pid=1), span(2, 1, 0, end, "process:main", pid=100)]


def test_god_process_needs_concurrent_peers_and_most_of_the_calls() -> None:
    rows = base() + [span(3, 1, 0, 1000, "process:helper", pid=200), span(4, 1, 0, 1000, "process:helper", pid=300)]
    # 600 calls in RLE rows (each stands for 200 calls) in one process, 3 in the others.
    rows += [span(10 + k, 2, 10 + k, 11 + k, f"syscall:c{k}", rle=200) for k in range(3)]
    rows += [span(20 + k, 3, 10 + k, 11 + k, "syscall:getpid", pid=200) for k in range(2)]
    rows += [span(25, 4, 10, 11, "syscall:getpid", pid=300)]
    god = [f for f in detect_rows(rows) if f.kind == "god-process"]
    assert len(god) == 1 and god[0].pid == 100 and god[0].count == 600
    assert "600 of the 603 syscalls of 3 concurrent processes" in god[0].title and god[0].severity == "medium"
    # The same work with a helper doing a fair share is not a god process …
    fair = rows + [span(30 + k, 3, 20 + k, 21 + k, f"syscall:d{k}", pid=200, rle=100) for k in range(3)]
    assert "god-process" not in kinds(detect_rows(fair))
    # … nor when one of the two others finished before it started (it was no peer) …
    early = [dict(r) for r in rows]
    for r in early:
        if r["span_id"] in (sid(4), sid(25)):
            r["start_time_nanos"], r["end_time_nanos"] = 0, 5 * MS
        if r["span_id"] == sid(2):
            r["start_time_nanos"] = 6 * MS
    assert "god-process" not in kinds(detect_rows(early))
    # … nor when the other is the launcher that forked it and waits for it.
    launched = [dict(r) for r in rows]
    for r in launched:
        if r["span_id"] == sid(2):
            r["parent_span_id"] = sid(25)  # process:main hangs under pid 300's fork span
    assert "god-process" not in kinds(detect_rows(launched))


def test_blocking_io_only_counts_on_the_critical_path() -> None:
    on_path = base() + [span(3, 2, 100, 900, "syscall:read", syscall__fd=0, syscall__fd_object="pipe:[9]")]
    found = detect_rows(on_path)
    assert kinds(found) == ["blocking-io"] and found[0].severity == "medium" and found[0].span_ids == [sid(3)]
    # The same 150 ms read in a thread that finishes well before a busy sibling: off the path.
    off = base() + [
        span(3, 2, 100, 250, "syscall:read", tid=101, syscall__fd=0),
        span(4, 2, 50, 990, "syscall:futex", tid=102),
    ]
    assert "blocking-io" not in kinds(detect_rows(off))
    # An RLE row of 50 quick reads spanning 800 ms is not one blocking call.
    rle = base() + [span(3, 2, 100, 900, "syscall:read", rle=50, syscall__fd=0, renacer__rle__max_duration_ns=2 * MS)]
    assert "blocking-io" not in kinds(detect_rows(rle))
    # A sleep is not I/O.
    assert detect_rows(base() + [span(3, 2, 100, 900, "syscall:nanosleep")]) == []


def test_storage_latency_is_not_blocking_io() -> None:
    """A cold-cache directory read or file read is the machine's speed, not the program's design.

    `ls -lR` on a fresh machine spent 233 ms in one getdents64 and was told to "make it
    asynchronous" (test_clean_programs_raise_no_alert[ls-lR] failed); waits on another party
    (pipes, sockets, terminals) on the critical path still are blocking I/O.
    """
    slow = [
        span(3, 2, 100, 900, "syscall:getdents64", syscall__fd=3, syscall__fd_object="/usr/share/zoneinfo"),
        span(3, 2, 100, 900, "syscall:openat", syscall__pathname="/usr/lib/big.so"),
        span(3, 2, 100, 900, "syscall:read", syscall__fd=3, syscall__fd_object="/var/lib/data.bin"),
        span(3, 2, 100, 900, "syscall:pread64", syscall__fd=3, syscall__fd_object="/var/lib/data.bin"),
    ]
    for row in slow:
        assert "blocking-io" not in kinds(detect_rows(base() + [row])), row["span_name"]
    waits = [
        span(3, 2, 100, 900, "syscall:read", syscall__fd=0, syscall__fd_object="pipe:[9]"),
        span(3, 2, 100, 900, "syscall:recvfrom", syscall__fd=4, syscall__fd_object="socket:[77]"),
        span(3, 2, 100, 900, "syscall:read", syscall__fd=0, syscall__fd_object="/dev/pts/0"),
        span(3, 2, 100, 900, "syscall:fsync", syscall__fd=3, syscall__fd_object="/var/lib/data.bin"),
    ]
    for row in waits:
        assert kinds(detect_rows(base() + [row])) == ["blocking-io"], row["span_name"]


def test_pcie_bottleneck_from_gpu_spans() -> None:
    rows = base() + [
        span(3, 2, 10, 20, "gpu:matmul", gpu__transfer_time_nanos=9 * MS, gpu__compute_time_nanos=1 * MS),
        span(4, 2, 30, 40, "gpu:conv", gpu__transfer_time_nanos=2 * MS, gpu__compute_time_nanos=1 * MS),
    ]
    found = detect_rows(rows)
    assert kinds(found) == ["pcie-bottleneck"] and found[0].span_ids == [sid(3)]


def test_thresholds_from_config_file_and_overrides(db_path: Path, tmp_path: Path) -> None:
    assert configured_thresholds().tight_loop_min_calls == Thresholds().tight_loop_min_calls
    config = tmp_path / "home" / ".renacer" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[graph]\ngod_process_threshold = 7\ntight_loop_min_calls = 10\nblocking_io_ms = 2.5\n")
    th = configured_thresholds()
    assert (th.god_process_threshold, th.tight_loop_min_calls, th.blocking_io_ms) == (7, 10, 2.5)
    assert configured_thresholds({"tight_loop_min_calls": 3}).tight_loop_min_calls == 3
    with pytest.raises(ValueError, match="unknown threshold"):
        configured_thresholds({"no_such_threshold": 1})
    # A loop of 20 identical calls fires only under the configured threshold.
    rows = base() + [span(10 + k, 2, 10 + k, 11 + k, "syscall:getppid") for k in range(20)]
    cg = build_graph(pa.Table.from_batches([batch_from_rows(rows)]))
    assert kinds(detect(cg, configured_thresholds())) == ["tight-loop"]
    assert kinds(detect(cg)) == kinds(detect(cg, Thresholds())) == []  # an analysis reads no config itself
