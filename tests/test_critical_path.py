"""Critical path and what-if (analysis.critical_path): known answers, invariants, real programs.

The invariant the spec's DP breaks: the path is non-overlapping segments in time order whose
durations sum to at most the trace's wall time, however spans nest, overhang or interleave.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_analysis import checked_replay
from synthetic import MS, fork_wait, random_span_tree, sid, span

from renacer_tui.analysis.critical_path import (
    CriticalPath,
    SpeedupError,
    critical_path,
    parse_speedup,
    replay,
    what_if,
)
from renacer_tui.analysis.graph import build_graph
from renacer_tui.analysis.loading import load_trace
from renacer_tui.model.readable import format_duration
from renacer_tui.model.schema import batch_from_rows
from renacer_tui.store.store import Store


def graph(rows: list[dict[str, Any]]) -> Any:
    return build_graph(pa.Table.from_batches([batch_from_rows(rows)]))


def segments(cp: CriticalPath) -> list[tuple[int, int, int]]:
    """(span number, start ms, end ms) per segment."""
    ids = cp.cg.cols.span_ids()
    return [(int(ids[i], 16), int(s) // MS, int(e) // MS) for i, s, e in zip(cp.node.tolist(), cp.start.tolist(), cp.end.tolist())]


def assert_well_formed(cp: CriticalPath, recorded: bool = True) -> None:
    """Non-overlapping, in time order, inside the root, each inside its own span, sum ≤ wall.

    `recorded=False` for a what-if path, whose spans moved (their replayed times are not kept).
    """
    cols = cp.cg.cols
    assert len(cp.node) > 0
    assert np.all(cp.end > cp.start)
    assert np.all(cp.start[1:] >= cp.end[:-1])
    assert cp.start[0] >= cols.start[cp.root] and cp.end[-1] <= cols.end[cp.root]
    if recorded:
        assert np.all(cp.start >= cols.start[cp.node]) and np.all(cp.end <= cols.end[cp.node])
    assert cp.total_ns == int((cp.end - cp.start).sum()) <= cp.wall_ns


def nested() -> list[dict[str, Any]]:
    """run ⊃ process ⊃ {A [10,40] ⊃ a1 [20,30], B [50,90]}; the spec's DP counts a1 three times."""
    return [
        span(1, None, 0, 100, "renacer:run x", pid=1, clock=0),
        span(2, 1, 0, 100, "process:x"),
        span(3, 2, 10, 40, "syscall:A"),
        span(4, 3, 20, 30, "syscall:a1"),
        span(5, 2, 50, 90, "syscall:B"),
    ]


def test_nested_spans_are_not_double_counted() -> None:
    cp = critical_path(graph(nested()))
    # Jaeger's walk: the parent owns the gaps, a child is entered where it ends latest.
    assert segments(cp) == [(2, 0, 10), (3, 10, 20), (4, 20, 30), (3, 30, 40), (2, 40, 50), (5, 50, 90), (2, 90, 100)]
    assert cp.total_ns == cp.wall_ns == 100 * MS
    assert cp.cg.cols.name(int(cp.node[cp.bottleneck])) == "syscall:B"
    assert_well_formed(cp)
    doc = cp.to_dict()
    assert doc["total_ns"] == 100 * MS and doc["steps"] == 7
    assert doc["bottleneck"]["name"] == "syscall:B" and doc["bottleneck"]["share"] == pytest.approx(0.4)
    assert sum(s["share"] for s in doc["segments"]) == pytest.approx(1.0)
    assert [s["name"] for s in cp.to_dict(limit=2)["segments"]] == ["process:x", "syscall:B"]


def test_a_child_overhanging_its_parent_is_clipped() -> None:
    rows = nested()[:3] + [span(4, 3, 30, 60, "syscall:a1")]
    cp = critical_path(graph(rows))
    assert segments(cp) == [(2, 0, 10), (3, 10, 30), (4, 30, 40), (2, 40, 100)]
    assert_well_formed(cp)


def test_overlapping_threads_take_the_one_that_ends_last() -> None:
    rows = nested()[:2] + [span(3, 2, 0, 80, "syscall:X", tid=100), span(4, 2, 10, 90, "syscall:Y", tid=101)]
    cp = critical_path(graph(rows))
    assert segments(cp) == [(2, 0, 10), (4, 10, 90), (2, 90, 100)]
    # Making Y twice as fast (it ends at 50) exposes X: the run cannot end before X's 80 ms
    # plus the process's own 10 ms tail after its last thread.
    wi = what_if(cp.cg, {"Y": 2}, cp)
    assert wi.after.total_ns == 90 * MS and wi.change == pytest.approx(-0.1)
    assert segments(wi.after) == [(3, 0, 80), (2, 80, 90)]


def test_a_parent_blocked_in_wait_hands_the_path_to_its_child() -> None:
    cp = critical_path(graph(fork_wait()))
    assert_well_formed(cp)
    path = segments(cp)
    assert (6, 5, 85) in path and (7, 85, 90) in path
    assert (8, 90, 95) in path  # wait4 owns only the time after the child exited
    assert cp.cg.cols.name(int(cp.node[cp.bottleneck])) == "syscall:nanosleep"
    assert cp.total_ns == 100 * MS
    # Without the wait link nothing says the child mattered: wait4 is the bottleneck.
    blind = critical_path(graph(fork_wait(wait_link=False)))
    assert (8, 5, 95) in segments(blind)
    assert all(span_no not in (6, 7) for span_no, _s, _e in segments(blind))


def test_a_child_that_outlives_its_parent_is_reached_from_the_run() -> None:
    rows = [
        span(1, None, 0, 100, "renacer:run ./daemonize", pid=1, clock=0),
        span(2, 1, 0, 10, "process:parent"),
        span(3, 2, 1, 2, "syscall:clone"),
        span(4, 2, 8, 10, "syscall:exit_group"),
        span(5, 3, 2, 95, "process:child", pid=200, links=[("fork", 3)]),
        span(6, 5, 3, 90, "syscall:nanosleep", pid=200, links=[("fork", 3)]),
    ]
    cp = critical_path(graph(rows))
    assert_well_formed(cp)
    # The run's tail, then the child (nobody waited for it), back through the fork into the parent.
    assert segments(cp) == [(2, 0, 1), (3, 1, 2), (5, 2, 3), (6, 3, 90), (5, 90, 95), (1, 95, 100)]
    # Sleep 87 ms → 1 ms: the child ends at 9, before its parent's 10; the run's 5 ms tail follows.
    assert what_if(cp.cg, {"nanosleep": 87}).after.total_ns == 15 * MS


def test_a_blocked_read_hands_the_path_to_the_writer_of_the_pipe() -> None:
    rows = [
        span(1, None, 0, 100, "renacer:run sh", pid=1, clock=0),
        span(2, 1, 0, 100, "process:writer", pid=100),
        span(3, 1, 0, 100, "process:reader", pid=200),
        span(10, 2, 10, 80, "syscall:nanosleep", pid=100),
        span(11, 2, 80, 85, "syscall:write", pid=100, syscall__fd_object="pipe:[7]", syscall__result=1),
        span(12, 3, 5, 88, "syscall:read", pid=200, links=[("pipe", 11)], syscall__fd_object="pipe:[7]", syscall__result=1),
        span(13, 3, 90, 95, "syscall:exit_group", pid=200),
    ]
    cp = critical_path(graph(rows))
    assert segments(cp) == [(2, 0, 10), (10, 10, 80), (11, 80, 85), (12, 85, 88), (3, 88, 90), (13, 90, 95), (3, 95, 100)]
    assert_well_formed(cp)


def test_what_if_known_answers() -> None:
    cg = graph(nested())
    wi = what_if(cg, {"B": 10})
    assert wi.after.total_ns == 64 * MS  # B: 40 ms → 4 ms, everything after it moves up
    assert wi.saved_ns == 36 * MS and wi.change == pytest.approx(-0.36)
    assert wi.matched == 1
    assert wi.sentence() == "if B were 10× faster the run would take 64.0ms (-36.0 %, was 100ms)"
    # A's own time (20 of its 30 ms; a1 inside it is not A) halves: B starts 10 ms earlier.
    assert what_if(cg, {"A": 2}).after.total_ns == 90 * MS
    by_id = what_if(cg, {sid(5): 10})  # a span id works as well as a name
    assert by_id.after.total_ns == 64 * MS
    # The child's sleep in the fork/wait trace: 80 ms → 8 ms.
    fw = what_if(graph(fork_wait()), {"syscall:nanosleep": 10})
    assert fw.after.total_ns == 28 * MS
    assert_well_formed(fw.after, recorded=False)
    doc = fw.to_dict()
    assert doc["before_ns"] == 100 * MS and doc["after_ns"] == 28 * MS and doc["matched_spans"] == 1


def test_what_if_rejects_unknown_names_and_bad_factors() -> None:
    cg = graph(nested())
    with pytest.raises(SpeedupError, match="no span id or span name"):
        what_if(cg, {"nosuchcall": 10})
    for bad in (0, -2, math.inf, math.nan):
        with pytest.raises(SpeedupError):
            what_if(cg, {"B": bad})
    with pytest.raises(SpeedupError):
        what_if(cg, {})


@st.composite
def random_traces(draw: Any) -> list[dict[str, Any]]:
    """Random span trees: overhanging children, threads, a second process, random links."""
    return random_span_tree(draw, 20)


@settings(max_examples=150, deadline=None)
@given(random_traces(), st.integers(0, 3), st.floats(1.0, 100.0))
def test_any_trace_gives_a_well_formed_path_and_an_exact_replay(rows: list[dict[str, Any]], which: int, k: float) -> None:
    cg = graph(rows)
    cp = critical_path(cg)
    assert_well_formed(cp)
    start, end = replay(cg, np.ones(cg.n))
    assert np.array_equal(start, cg.cols.start) and np.array_equal(end, cg.cols.end)
    checked_replay(cg, np.random.default_rng(which).choice([1.0, 1 / k], size=cg.n))
    name = f"syscall:c{which}" if any(r["span_name"] == f"syscall:c{which}" for r in rows) else "syscall:c0"
    wi = what_if(cg, {name: k}, cp)
    assert wi.after.total_ns <= wi.before.total_ns
    assert wi.after.total_ns <= wi.after.wall_ns
    assert np.all(wi.after.start[1:] >= wi.after.end[:-1])


# ----------------------------------------------------------------------------- parse_speedup

_KEYS = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() and not s.strip().endswith(("=",)))


@given(_KEYS, st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False), st.sampled_from(["x", "X", "×", "", " x"]))
def test_parse_speedup_round_trips(key: str, factor: float, suffix: str) -> None:
    assert parse_speedup(f"{key}={factor!r}{suffix}") == (key.strip(), factor)


@given(st.text(max_size=40))
def test_parse_speedup_accepts_or_raises_speedup_error_only(text: str) -> None:
    try:
        key, factor = parse_speedup(text)
    except SpeedupError as exc:
        assert str(exc)
        return
    assert key and key == key.strip() and math.isfinite(factor) and factor > 0


@pytest.mark.parametrize("text", ["read", "=10x", "read=", "read=0", "read=-3x", "read=abc", "read=inf", "read=nanx", "read=10xx", " = 5"])
def test_parse_speedup_rejects(text: str) -> None:
    with pytest.raises(SpeedupError):
        parse_speedup(text)


@pytest.mark.parametrize(("ns", "text"), [(950, "950ns"), (87_000, "87.0µs"), (21 * MS, "21.0ms"), (143 * MS, "143ms"), (1_200_000_000, "1.20s")])
def test_format_ns(ns: int, text: str) -> None:
    assert format_duration(ns) == text


# ----------------------------------------------------------------------------- real programs

SLEEPY = r"""
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char buf[64];
    int fd = open(argv[1], O_RDONLY);
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, 0);
    if (read(fd, buf, sizeof buf) < 0) return 1;
    close(fd);
    return 0;
}
"""

WAITER = r"""
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec ts = {0, 250000000};
        nanosleep(&ts, 0);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return 0;
}
"""


def trace(*program: str) -> str:
    """Trace PROGRAM into the store named by RENACER_DB; returns the trace id."""
    done = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "-o", os.devnull, "--", *program],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    match = re.search(r"^trace_id=([0-9a-f]{32})$", done.stderr, re.M)
    assert match, done.stderr
    return match.group(1)


def stored_path(trace_id: str) -> CriticalPath:
    """The trace's critical path; on the way, its replays (as recorded, every call 10× faster,
    random per-span speedups) are checked against the reference replay (tests/reference_analysis.py)."""
    with Store.open() as store:
        cg = build_graph(load_trace(store, trace_id))
    rng = np.random.default_rng(7)
    calls = np.array([cg.cols.name(i).startswith("syscall:") for i in range(cg.n)])
    for factor in (np.ones(cg.n), np.where(calls, 0.1, 1.0), rng.choice([1.0, 0.5, 0.1, 1 / 3], size=cg.n)):
        assert checked_replay(cg, factor) is not None
    return critical_path(cg)


def test_real_sleep_between_open_and_read_is_the_bottleneck(db_path: Path, cbuild: Any) -> None:
    exe = cbuild("sleepy", SLEEPY)
    cp = stored_path(trace(str(exe), "/etc/hostname"))
    assert_well_formed(cp)
    cols = cp.cg.cols
    hot = int(cp.node[cp.bottleneck])
    assert cols.name(hot) in ("syscall:nanosleep", "syscall:clock_nanosleep")
    assert cp.duration[cp.bottleneck] >= 195 * MS
    assert cp.duration[cp.bottleneck] / cp.total_ns > 0.5
    # The open before it and the read after it are on the path, in that order.
    names = [cols.name(int(i)) for i in cp.node]
    opened = max(k for k, i in enumerate(cp.node.tolist()) if cols.attrs(i).get("syscall.pathname") == "/etc/hostname")
    read = [k for k, name in enumerate(names) if name == "syscall:read" and k > cp.bottleneck]
    assert opened < cp.bottleneck < read[0]
    # What-if: the sleep 10× faster saves about 180 ms; no speedup replays the recording.
    wi = what_if(cp.cg, {cols.name(hot): 10}, cp)
    assert 170 * MS <= wi.saved_ns <= 185 * MS
    start, end = replay(cp.cg, np.ones(cols.n))
    assert np.array_equal(start, cols.start) and np.array_equal(end, cols.end)


def test_real_parent_waiting_on_a_slow_child_puts_the_child_on_the_path(db_path: Path, cbuild: Any) -> None:
    exe = cbuild("waiter", WAITER)
    cp = stored_path(trace(str(exe)))
    assert_well_formed(cp)
    cols = cp.cg.cols
    hot = int(cp.node[cp.bottleneck])
    assert cols.name(hot) in ("syscall:nanosleep", "syscall:clock_nanosleep")
    assert cp.duration[cp.bottleneck] >= 245 * MS
    root_pid = int(cols.attrs(cp.root).get("renacer.root_pid"))
    assert int(cols.pid[hot]) != root_pid  # the child's sleep, not the parent's wait
    waits = [k for k, i in enumerate(cp.node.tolist()) if cols.name(i) == "syscall:wait4"]
    assert waits and all(cp.duration[k] < 20 * MS for k in waits)


def test_real_background_job_that_outlives_its_shell_is_on_the_path(db_path: Path) -> None:
    cp = stored_path(trace("sh", "-c", "sleep 0.3 &"))
    assert_well_formed(cp)
    cols = cp.cg.cols
    hot = int(cp.node[cp.bottleneck])
    assert cols.name(hot) in ("syscall:nanosleep", "syscall:clock_nanosleep")
    assert cols.text("process_name", hot) == "sleep" and cp.duration[cp.bottleneck] >= 295 * MS
    # Nobody waits for it but the run: making it faster shortens the run all the same.
    wi = what_if(cp.cg, {cols.name(hot): 10}, cp)
    assert 260 * MS <= wi.saved_ns <= 275 * MS


def test_real_pipeline_follows_the_pipe_from_reader_to_writer(db_path: Path) -> None:
    # The reader side ends last (its own short sleep after cat), so the run's end depends on cat's
    # read of the pipe, whichever of the two shells the scheduler lets exit first. The writer
    # sleeps 1 s so that cat, exec'd beside it, waits in its read long before the sleep ends even
    # on a busy machine (with 0.2 s, a cat still starting up under load was the critical path).
    cp = stored_path(trace("sh", "-c", "(sleep 1; echo x) | (cat; sleep 0.05)"))
    assert_well_formed(cp)
    cols = cp.cg.cols
    steps = cp.node.tolist()
    hot = steps[cp.bottleneck]
    assert cols.name(hot) in ("syscall:nanosleep", "syscall:clock_nanosleep")
    assert cols.text("process_name", hot) == "sleep" and cp.duration[cp.bottleneck] >= 995 * MS
    # After the sleep: the subshell's write into the pipe, then cat's read of that same pipe.
    after = steps[cp.bottleneck + 1:]
    write = next(i for i in after if cols.name(i) == "syscall:write" and str(cols.attrs(i).get("syscall.fd_object", "")).startswith("pipe:"))
    pipe = cols.attrs(write)["syscall.fd_object"]
    read = next(i for i in after[after.index(write):] if cols.name(i) == "syscall:read" and cols.attrs(i).get("syscall.fd_object") == pipe)
    assert cols.text("process_name", read) == "cat" and int(cols.pid[read]) != int(cols.pid[write])
    # The speedup travels the same way: sleep → subshell's write → cat's read → the end.
    wi = what_if(cp.cg, {cols.id_of(hot): 2}, cp)  # this sleep only, not the reader's short one
    assert 490 * MS <= wi.saved_ns <= 505 * MS  # half of the 1 s sleep: it stays ahead of cat's start
