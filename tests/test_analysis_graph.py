"""The causal graph (analysis.loading, analysis.graph) on synthetic traces with known edges.

Each trace is built the way the tracer encodes one (tracer/spans.py, tracer/rows.py): a
`renacer:run` root, `process:<comm>` spans whose parent is the fork span that created them,
`syscall:<name>` spans under their process, links in `renacer.links` on the effect span and
the kernel object behind an fd in `syscall.fd_object`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rustworkx as rx
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic import TRACE, fork_wait, sid, span

from renacer_tui.analysis.graph import (
    DATA_FLOW,
    EDGE_KINDS,
    EDGE_TYPES,
    HAPPENS_BEFORE,
    PARENT_CHILD,
    build_graph,
)
from renacer_tui.analysis.loading import TraceNotFound, load_columns, load_trace
from renacer_tui.model.schema import batch_from_rows
from renacer_tui.store.store import Store


def table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_batches([batch_from_rows(rows)])


def edges(cg: Any) -> Counter:
    """Live edges as a multiset of (source span number, target span number, kind name)."""
    src, dst, kind = cg.live_edges()
    ids = cg.cols.span_ids()
    return Counter((int(ids[s], 16), int(ids[d], 16), EDGE_KINDS[k]) for s, d, k in zip(src.tolist(), dst.tolist(), kind.tolist()))


def test_nested_spans_give_parent_child_and_per_thread_program_order() -> None:
    rows = [
        span(1, None, 0, 100, "renacer:run ./threads", pid=1, clock=0),
        span(2, 1, 0, 100, "process:threads"),
        # Two threads of one process, interleaved in time: program order never crosses them.
        span(3, 2, 1, 2, "syscall:read", tid=100),
        span(4, 2, 2, 3, "syscall:write", tid=101),
        span(5, 2, 3, 4, "syscall:read", tid=100),
        span(6, 2, 4, 5, "syscall:write", tid=101),
        span(7, 2, 5, 6, "syscall:close", tid=100),
    ]
    cg = build_graph(table(rows))
    got = edges(cg)
    assert got == Counter(
        {
            (1, 2, "parent"): 1,
            (2, 3, "parent"): 1,
            (2, 4, "parent"): 1,
            (2, 5, "parent"): 1,
            (2, 6, "parent"): 1,
            (2, 7, "parent"): 1,
            (3, 5, "program-order"): 1,
            (5, 7, "program-order"): 1,
            (4, 6, "program-order"): 1,
        }
    )
    counts = cg.counts()
    assert counts["nodes"] == 7 and counts["edges"] == 9
    assert counts["by_type"] == {"parent-child": 6, "happens-before": 3, "data-flow": 0}
    assert cg.defects == []
    assert EDGE_TYPES[PARENT_CHILD] == "parent-child" and EDGE_TYPES[HAPPENS_BEFORE] == "happens-before"


def test_program_order_follows_the_logical_clock_not_the_row_order() -> None:
    rows = [
        span(1, None, 0, 10, "renacer:run x", pid=1, clock=0),
        span(2, 1, 0, 10, "process:x"),
        span(5, 2, 1, 2, "syscall:c", clock=30),
        span(3, 2, 1, 2, "syscall:a", clock=10),
        span(4, 2, 1, 2, "syscall:b", clock=20),
    ]
    got = {e for e in edges(build_graph(table(rows))) if e[2] == "program-order"}
    assert got == {(3, 4, "program-order"), (4, 5, "program-order")}


def test_fork_and_wait_links_become_happens_before_edges() -> None:
    cg = build_graph(table(fork_wait()))
    got = edges(cg)
    assert got[(4, 6, "fork")] == 1  # clone → the child's first span
    assert got[(7, 8, "wait")] == 1  # child's last span → the wait that reaped it
    # The child process hangs under the clone span that created it; its fork link repeats
    # that tree edge and adds nothing.
    assert got[(4, 5, "parent")] == 1 and got[(4, 5, "fork")] == 0
    # Program order: parent's calls in sequence, child's own calls in sequence, never mixed.
    po = {(s, d) for s, d, k in got if k == "program-order"}
    assert po == {(3, 4), (4, 8), (8, 9), (6, 7)}
    types = Counter(EDGE_TYPES[t] for t in cg.edge_type[~cg.removed].tolist())
    assert types["happens-before"] == len(po) + 2
    assert rx.is_directed_acyclic_graph(cg.graph)
    assert cg.defects == []


def test_pipe_data_flow_follows_the_kernel_object_not_the_fd_number() -> None:
    rows = [
        span(1, None, 0, 100, "renacer:run sh", pid=1, clock=0),
        span(2, 1, 0, 100, "process:writer", pid=100),
        span(3, 1, 0, 100, "process:reader", pid=200),
        # Writer: fd 3 is pipe:[11] first, then (closed and reused) pipe:[22].
        span(10, 2, 10, 11, "syscall:write", pid=100, syscall__fd=3, syscall__fd_object="pipe:[11]", syscall__result=5),
        span(11, 2, 20, 21, "syscall:write", pid=100, syscall__fd=3, syscall__fd_object="pipe:[22]", syscall__result=7),
        # Reader: its fd 4 reads pipe:[22] only; a read that returned 0 (EOF) consumed nothing.
        span(12, 3, 15, 30, "syscall:read", pid=200, syscall__fd=4, syscall__fd_object="pipe:[22]", syscall__result=7),
        span(13, 3, 31, 32, "syscall:read", pid=200, syscall__fd=4, syscall__fd_object="pipe:[22]", syscall__result=0),
        # A file read back: same object, data flow through the file (kind "object").
        span(14, 2, 40, 41, "syscall:write", pid=100, syscall__fd=5, syscall__fd_object="/tmp/f", syscall__result=3),
        span(15, 3, 50, 51, "syscall:read", pid=200, syscall__fd=9, syscall__fd_object="/tmp/f", syscall__result=3),
        # A terminal: the prompt written to it is not what the next read gets back.
        span(16, 2, 60, 61, "syscall:write", pid=100, syscall__fd=2, syscall__fd_object="/dev/pts/0", syscall__result=2),
        span(17, 3, 62, 70, "syscall:read", pid=200, syscall__fd=0, syscall__fd_object="/dev/pts/0", syscall__result=4),
    ]
    cg = build_graph(table(rows))
    flow = {(s, d, k) for s, d, k in edges(cg) if k in ("pipe", "object")}
    assert flow == {(11, 12, "pipe"), (14, 15, "object")}
    kinds = cg.edge_kind[~cg.removed]
    assert all(EDGE_TYPES[t] == "data-flow" for t in cg.edge_type[~cg.removed][np.isin(kinds, (6, 7))].tolist())
    assert cg.counts()["by_type"]["data-flow"] == 2 and DATA_FLOW == 2


def test_a_read_in_the_same_thread_does_not_consume_a_write_that_had_not_finished() -> None:
    rows = [
        span(1, None, 0, 100, "renacer:run x", pid=1, clock=0),
        span(2, 1, 0, 100, "process:x"),
        span(3, 2, 10, 20, "syscall:read", syscall__fd_object="/tmp/f", syscall__result=4),
        span(4, 2, 15, 30, "syscall:write", tid=101, syscall__fd_object="/tmp/f", syscall__result=4),
    ]
    # The write began (another thread) before the read returned: that is a possible source.
    assert (4, 3, "object") in edges(build_graph(table(rows)))
    rows[3] = span(4, 2, 15, 30, "syscall:write", syscall__fd_object="/tmp/f", syscall__result=4)
    # Same thread: a write after the read began cannot have fed it.
    assert not any(k == "object" for _s, _d, k in edges(build_graph(table(rows))))


def test_cycle_in_links_is_reported_as_a_defect_and_broken() -> None:
    rows = [
        span(1, None, 0, 100, "renacer:run x", pid=1, clock=0),
        span(2, 1, 0, 100, "process:a", pid=100),
        span(3, 1, 0, 100, "process:b", pid=200),
        span(4, 2, 10, 20, "syscall:read", pid=100, links=[("signal", 5)]),
        span(5, 3, 10, 20, "syscall:kill", pid=200, links=[("pipe", 4)]),
    ]
    cg = build_graph(table(rows))
    assert rx.is_directed_acyclic_graph(cg.graph)
    cycles = [d for d in cg.defects if d.kind == "cycle"]
    assert len(cycles) == 1
    assert set(cycles[0].span_ids) == {sid(4), sid(5)}
    assert "cycle" in cycles[0].message
    # Exactly one edge was taken out, and it was the inferred one (pipe) not the signal.
    assert int(cg.removed.sum()) == 1
    removed = int(np.flatnonzero(cg.removed)[0])
    assert EDGE_KINDS[int(cg.edge_kind[removed])] == "pipe"
    assert cg.counts()["defects"] == 1


def test_duplicate_span_ids_are_a_defect() -> None:
    rows = fork_wait()
    rows.append(dict(rows[-1]))
    cg = build_graph(table(rows))
    assert [d.kind for d in cg.defects] == ["duplicate-span-id"]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=25),
    links=st.lists(
        st.tuples(st.integers(0, 24), st.integers(0, 24), st.sampled_from(["fork", "wait", "pipe", "signal", "other"])),
        max_size=40,
    ),
)
def test_any_set_of_links_yields_a_dag_and_every_cycle_is_reported(n: int, links: list[tuple[int, int, str]]) -> None:
    rows = [span(1, None, 0, 1000, "renacer:run x", pid=1, clock=0), span(2, 1, 0, 1000, "process:x")]
    by_target: dict[int, list[tuple[str, int]]] = {}
    for a, b, kind in links:
        a, b = a % n, b % n
        by_target.setdefault(10 + b, []).append((kind, 10 + a))
    for k in range(n):
        tid = 100 + k % 3
        rows.append(span(10 + k, 2, 10 + k, 11 + k, "syscall:getpid", tid=tid, links=by_target.get(10 + k)))
    cg = build_graph(table(rows))
    assert rx.is_directed_acyclic_graph(cg.graph)
    cycles = [d for d in cg.defects if d.kind == "cycle"]
    assert len(cycles) == int(cg.removed.sum())
    assert cg.graph.num_edges() == int((~cg.removed).sum())


def test_load_columns_rejects_a_table_without_span_columns() -> None:
    with pytest.raises(ValueError, match="span_id"):
        load_columns(pa.table({"x": [1]}))


def test_empty_table_builds_an_empty_graph() -> None:
    cg = build_graph(table([]))
    assert cg.n == 0 and cg.counts()["edges"] == 0 and cg.defects == []


def test_store_round_trip_and_unknown_trace(db_path: Path) -> None:
    rows = fork_wait()
    with Store.open() as store:
        store.begin_run("r1", TRACE, "./parent", started_ns=0)
        sink = store.segment_sink("r1")
        sink.write(batch_from_rows(rows))
        sink.close()
        store.end_run("r1", 0)
    with Store.open() as store:
        loaded = load_trace(store, TRACE.upper())
        with pytest.raises(TraceNotFound):
            load_trace(store, "0" * 31 + "1")
    assert loaded.num_rows == len(rows)
    assert edges(build_graph(loaded)) == edges(build_graph(table(rows)))
