"""The fast paths of the analysis give the answers of the plain definitions.

PageRank is numpy power iteration and must equal rustworkx.pagerank on the same graph; the
critical path emits runs of leaf picks as arrays and must equal the step-by-step Jaeger walk
written out below; the vectorised graph build must find every edge the synthetic trace
generator (bench.analysis, the trace the issue-5 benchmarks use) put in.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pyarrow as pa
import pytest
import rustworkx as rx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reference_analysis import checked_detect

from bench.analysis import synthetic_trace
from renacer_tui.analysis.critical_path import (
    _main_root,
    _structure,
    critical_path,
    replay,
    speedup_factors,
)
from renacer_tui.analysis.graph import build_graph
from renacer_tui.analysis.loading import load_columns
from renacer_tui.analysis.pagerank import pagerank

MS_ = 1_000_000

traces = st.builds(
    synthetic_trace,
    spans=st.integers(60, 3000),
    children=st.integers(1, 6),
    pipe_share=st.sampled_from([0.0, 0.01, 0.2, 0.9]),
    seed=st.integers(0, 2**16),
)


def reference_walk(cg, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The critical-path walk one step at a time (analysis/critical_path.py's docstring)."""
    root = _main_root(cg, start, end)
    s_ = _structure(cg, start, end)
    cs, ce, parent = s_.cs.tolist(), s_.ce.tolist(), cg.cols.parent.tolist()
    nodes = np.arange(cg.n)
    lo = np.searchsorted(s_.owner, nodes, side="left").tolist()
    ptr = np.searchsorted(s_.owner, nodes, side="right").tolist()
    cand, cend, handoff = s_.cand.tolist(), s_.cend.tolist(), s_.handoff_pos.tolist()
    floor, s, bound = cs[root], root, ce[root]
    segs: list[tuple[int, int, int]] = []
    origins: list[int] = []
    while bound > floor:
        if bound > ce[s] and s != root:
            s = parent[s] if parent[s] >= 0 else (origins.pop() if origins else root)
            continue
        p = ptr[s]
        while p > lo[s] and cend[p - 1] > bound:
            p -= 1
        if p > lo[s] and cend[p - 1] > cs[s] and cend[p - 1] > floor:
            p -= 1
            ptr[s] = p
            if bound > cend[p]:
                segs.append((s, cend[p], bound))
            bound = cend[p]
            if handoff[p]:
                origins.append(s)
            s = cand[p]
            continue
        ptr[s] = p
        if bound > cs[s]:
            low = max(cs[s], floor)
            segs.append((s, low, bound))
            bound = low
        if s == root:
            break
        s = parent[s] if parent[s] >= 0 else (origins.pop() if origins else root)
    segs.reverse()
    node = np.array([x[0] for x in segs], dtype=np.int64)
    lo_a = np.array([x[1] for x in segs], dtype=np.int64)
    hi_a = np.array([x[2] for x in segs], dtype=np.int64)
    if len(node) > 1:  # join touching segments of one span, as critical_path does
        starts = np.concatenate([[True], ~((node[1:] == node[:-1]) & (lo_a[1:] == hi_a[:-1]))])
        first = np.flatnonzero(starts)
        last = np.concatenate([first[1:] - 1, [len(node) - 1]])
        node, lo_a, hi_a = node[first], lo_a[first], hi_a[last]
    return node, lo_a, hi_a


def rx_scores(graph: rx.PyDiGraph, n: int, **kw) -> np.ndarray:
    mapping = rx.pagerank(graph, **kw)
    return np.array([mapping[i] for i in range(n)])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces)
def test_critical_path_equals_the_step_by_step_walk(table) -> None:
    cg = build_graph(table)
    cp = critical_path(cg)
    node, lo, hi = reference_walk(cg, cg.cols.start, cg.cols.end)
    assert np.array_equal(cp.node, node) and np.array_equal(cp.start, lo) and np.array_equal(cp.end, hi)
    assert cp.total_ns <= cp.wall_ns


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces, st.floats(0.1, 1.0), st.integers(0, 2**16))
def test_critical_path_equals_the_walk_when_calls_touch(table, share: float, seed: int) -> None:
    """Back-to-back calls (no gap for the owner between them) take the other run layout."""
    names = np.asarray(table.column("span_name").to_pylist(), dtype=object)
    tid = table.column("thread_id").to_numpy()
    start = table.column("start_time_nanos").to_numpy()
    end = table.column("end_time_nanos").to_numpy().copy()
    is_call = np.array([str(x).startswith("syscall:") for x in names])
    prev = np.flatnonzero(is_call[:-1] & is_call[1:] & (tid[:-1] == tid[1:]) & (end[:-1] <= start[1:]))
    rng = np.random.default_rng(seed)
    touch = prev[rng.random(len(prev)) < share]
    end[touch] = start[touch + 1]
    cg = build_graph(table.set_column(table.schema.get_field_index("end_time_nanos"), "end_time_nanos", pa.array(end)))
    cp = critical_path(cg)
    node, lo, hi = reference_walk(cg, cg.cols.start, cg.cols.end)
    assert np.array_equal(cp.node, node) and np.array_equal(cp.start, lo) and np.array_equal(cp.end, hi)
    assert cp.total_ns <= cp.wall_ns


def test_critical_path_on_replayed_times_equals_the_step_by_step_walk() -> None:
    cg = build_graph(synthetic_trace(20_000, 4, 0.05, seed=11))
    factor, matched = speedup_factors(cg, {"read": 50.0, "write": 3.0})
    assert matched > 0
    start, end = replay(cg, factor)
    cp = critical_path(cg, start, end)
    node, lo, hi = reference_walk(cg, start, end)
    assert np.array_equal(cp.node, node) and np.array_equal(cp.start, lo) and np.array_equal(cp.end, hi)
    assert len(cp.node) > 10_000  # long runs of leaf picks were taken as arrays


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces, st.sampled_from([0.5, 0.85, 0.99]), st.sampled_from([1e-4, 1e-6, 1e-9]))
def test_pagerank_equals_rustworkx(table, alpha: float, tol: float) -> None:
    cg = build_graph(table)
    try:
        expected = rx_scores(cg.graph, cg.n, alpha=alpha, tol=tol, max_iter=100)
    except rx.FailedToConverge:
        expected = rx_scores(cg.graph, cg.n, alpha=alpha, tol=tol * 100, max_iter=1000)
    got = pagerank(cg, alpha=alpha, tol=tol).scores
    assert np.allclose(got, expected, rtol=1e-9, atol=1e-15)
    assert got.sum() == pytest.approx(1.0)


def test_pagerank_stops_at_the_same_iteration_as_rustworkx() -> None:
    cg = build_graph(synthetic_trace(3000, 3, 0.1, seed=2))
    for max_iter in range(1, 40):
        try:
            rx.pagerank(cg.graph, max_iter=max_iter)
            converged = True
        except rx.FailedToConverge:
            converged = False
        if converged:
            break
    assert 1 < max_iter < 40
    # One iteration fewer than rustworkx needs: ours must not converge either (it retries looser).
    loose = rx_scores(cg.graph, cg.n, max_iter=(max_iter - 1) * 10, tol=1e-4)
    assert np.allclose(pagerank(cg, max_iter=max_iter - 1).scores, loose, rtol=1e-9, atol=1e-15)
    assert np.allclose(pagerank(cg, max_iter=max_iter).scores, rx_scores(cg.graph, cg.n, max_iter=max_iter), rtol=1e-9, atol=1e-15)


def test_pagerank_skips_edges_removed_to_break_a_cycle() -> None:
    table = synthetic_trace(400, 2, 0.2, seed=4)
    cols = load_columns(table)
    cg = build_graph(cols)
    assert cg.defects == []
    # Point the root process's clock link back at its last read: a cycle the build must break.
    clocks = cols.parent_clock.copy()
    clocks[1] = cols.clock[-1]
    cyclic = build_graph(dataclasses.replace(cols, parent_clock=clocks))
    assert [d.kind for d in cyclic.defects] == ["cycle"] and int(cyclic.removed.sum()) == 1
    assert cyclic.graph.num_edges() == int((~cyclic.removed).sum())
    assert np.allclose(pagerank(cyclic).scores, rx_scores(cyclic.graph, cyclic.n), rtol=1e-9, atol=1e-15)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces)
def test_graph_build_finds_every_edge_the_generator_put_in(table) -> None:
    cols = load_columns(table)
    cg = build_graph(cols)
    names = np.array(cols.names)[cols.name_code]
    children = int((np.char.startswith(names.astype(str), "process:child")).sum())
    writes = int((names == "syscall:write").sum())
    kinds = cg.counts()["by_kind"]
    assert cg.defects == []
    assert kinds["parent"] == cols.n - 1
    assert kinds.get("wait", 0) == children
    # Each read back has its pipe link from its write; data flow adds the latest write of the
    # child's pipe before each read (the same edge for the last write).
    assert kinds.get("pipe", 0) == 2 * writes - children
    assert kinds.get("clock", 0) == children  # each child's first call after its clone
    # Program order: consecutive syscalls of each thread (containers are not in it).
    _, per_thread = np.unique(cols.tid[np.char.startswith(names.astype(str), "syscall:")], return_counts=True)
    assert kinds["program-order"] == int((per_thread - 1).sum())
    assert rx.is_directed_acyclic_graph(cg.graph) and cg.graph.num_edges() == sum(kinds.values())


texts = st.lists(
    st.one_of(
        st.none(),
        st.sampled_from(['{"renacer.links":[]}', '"renacer.', 'links"', '{"syscall.fd_object":"pipe:[1]"}', "", "é{}"]),
        st.text(alphabet='"renacer.links{}é', max_size=20),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
def _chunked_attributes(values: list[str | None], cut: int, pieces: int) -> tuple[pa.Table, list[str | None]]:
    """A synthetic trace whose attributes are `values`, stored in `pieces` chunks and sliced from
    row `cut` (as a store may hand a column over); the values the sliced table holds."""
    table = synthetic_trace(60, 1, 0.1).slice(0, len(values))
    values = values[: table.num_rows]
    column = pa.array(values, pa.string())
    bounds = np.linspace(0, len(values), pieces + 1).astype(int)
    chunked = pa.chunked_array([column.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:])], pa.string())
    table = table.set_column(table.schema.get_field_index("attributes"), "attributes", chunked).slice(min(cut, len(values)))
    return table, values[min(cut, len(values)) :]


@given(texts, st.integers(0, 5), st.integers(1, 3))
@example(['{}', '"renacer.', 'links"', None, '"syscall.fd_', 'object"'], 0, 1)  # keys split across rows
@example(['x"renacer.links"', '"renacer.', 'links"'], 1, 2)
def test_rows_mentioning_is_a_substring_test_per_row(values: list[str | None], cut: int, pieces: int) -> None:
    """The raw-buffer scan answers what `"key" in text` answers, on sliced and chunked columns."""
    table, values = _chunked_attributes(values, cut, pieces)
    cols = load_columns(table)
    cols.table = table  # the scan must also cope with the chunks and the slice offset as stored
    keys = ("renacer.links", "syscall.fd_object")
    expected = [i for i, text in enumerate(values) if text is not None and any(f'"{k}"' in text for k in keys)]
    assert cols.rows_mentioning(*keys).tolist() == expected
    among = np.arange(0, len(values), 2)
    assert cols.rows_mentioning(*keys, among=among).tolist() == [i for i in expected if i % 2 == 0]


# ----------------------------------------------------------------------------- anti-patterns
#
# `reference_analysis` keeps the rules as they were before they were made columnar (every
# syscall's attributes parsed, Python loops and dicts per call); the shipped rules must give the
# same findings, field for field and in the same order.

_CALLS = ["read", "write", "writev", "sendto", "openat", "stat", "newfstatat", "access", "getpid", "futex",
          "nanosleep", "recvfrom", "getxattr", "fsync", "getdents64"]
_ATTR_VALUES = {
    "syscall.result": st.one_of(st.integers(-5000, 5000),
                                st.sampled_from([-2, -13, -4095, -4096, 0, 1, 63, 64, True, False, 1.5, -2.0, "-2", None])),
    "syscall.errno": st.sampled_from(["ENOENT", "EACCES", "ENODATA", "", 2, 13, 99999, None]),
    "syscall.pathname": st.sampled_from(["/a", "/b", "/etc/x", "", 5, None, "/é", 'q"uote', "-"]),
    "syscall.fd_object": st.sampled_from(["pipe:[1]", "/tmp/f", "socket:[2]", "/dev/pts/0", "", 0, None]),
    "syscall.fd": st.sampled_from([0, 1, 3, "3", None]),
    "renacer.rle.max_duration_ns": st.sampled_from([0, 10 * MS_, 900 * MS_]),
}
#: Attribute texts as no encoder writes them: malformed, not an object, spaced, duplicate keys,
#: keys spelled with escapes, a `-` that is no result.
_RAW_ATTRS = [
    '{"syscall.result":-2', "not json", "[1,2]", '{"syscall.result" : -2 , "syscall.pathname":"/a"}',
    '{"syscall.result":-2,"syscall.result":5}', '{"syscall.result":5,"syscall.result":-2}',
    '{"syscall\\u002eresult":-2,"syscall\\u002epathname":"/a"}', '{"syscall.pathname":"/a\\"b"}', '{"x":"-"}', "",
    '{"syscall.errno":"EPERM","syscall.result":-1}', '{"syscall.result":\n-9,"syscall.fd":1}', '{"syscall.result":-1e3}',
]


@st.composite
def syscall_traces(draw) -> list[dict]:
    """A run with up to three processes whose calls repeat, fail, write small, look paths up."""
    from synthetic import span

    pids = draw(st.lists(st.sampled_from([100, 200, 300]), min_size=1, max_size=3, unique=True))
    rows = [span(1, None, 0, 1000, "renacer:run x", pid=1, clock=0)]
    proc_of: dict[int, int] = {}
    for pid in pids:
        proc_of[pid] = len(rows) + 1
        lo = draw(st.integers(0, 500))
        rows.append(span(len(rows) + 1, 1, lo, draw(st.integers(lo, 1000)), f"process:p{pid}", pid=pid))
    for _ in range(draw(st.integers(0, 12))):
        call = draw(st.sampled_from(_CALLS))
        pid = draw(st.sampled_from(pids))
        tid = pid + draw(st.integers(0, 1))
        attrs: dict | str
        if draw(st.integers(0, 9)) == 0:
            attrs = draw(st.sampled_from(_RAW_ATTRS))
        else:
            keys = draw(st.lists(st.sampled_from(sorted(_ATTR_VALUES)), unique=True))
            attrs = {key: draw(_ATTR_VALUES[key]) for key in keys}
        status = draw(st.sampled_from(["UNSET", "UNSET", "OK", "ERROR"]))
        message = draw(st.sampled_from([None, None, "ENOENT", "EIO", ""]))
        rle = draw(st.sampled_from([1, 1, 1, 7]))
        t = draw(st.integers(0, 990))
        for _ in range(draw(st.integers(1, 8))):  # back to back: a tight loop when long enough
            n = len(rows) + 1
            dur = draw(st.sampled_from([0, 1, 2, 150]))
            row = span(n, proc_of[pid], t, min(t + dur, 1000), f"syscall:{call}", pid=pid, tid=tid, clock=n, rle=rle)
            row["attributes"] = attrs
            row["status"], row["status_message"] = status, message
            rows.append(row)
            t = min(t + dur + draw(st.integers(0, 3)), 999)
    for _ in range(draw(st.integers(0, 3))):
        pid = draw(st.sampled_from(pids))
        a = {}
        if draw(st.booleans()):
            a["gpu.transfer_time_nanos"] = draw(st.sampled_from([1, 10 * MS_, 90 * MS_]))
        if draw(st.booleans()):
            a["gpu.compute_time_nanos"] = draw(st.sampled_from([1, 1 * MS_, 50 * MS_]))
        if draw(st.booleans()):
            a["gpu.transfer.bytes"] = draw(st.sampled_from([0, 4096, 2**21]))
        n = len(rows) + 1
        row = span(n, proc_of[pid], 10, 20, "gpu:k", pid=pid, clock=n)
        row["attributes"] = a
        rows.append(row)
    if draw(st.booleans()):  # stored out of program order: a loop's calls are not in row order
        rows = rows[: 1 + len(pids)] + draw(st.permutations(rows[1 + len(pids) :]))
    return rows


_LOW_THRESHOLDS = st.fixed_dictionaries({
    "god_process_threshold": st.sampled_from([1, 3, 100]),
    "god_process_share": st.sampled_from([0.3, 0.8]),
    "tight_loop_min_calls": st.sampled_from([1, 3, 1000]),
    "blocking_io_ms": st.sampled_from([1.0, 100.0]),
    "small_write_bytes": st.sampled_from([2, 64]),
    "small_writes_min": st.sampled_from([1, 3]),
    "redundant_lookup_min": st.sampled_from([1, 2]),
    "failed_storm_min": st.sampled_from([1, 2]),
    "pcie_ratio": st.sampled_from([0.5, 5.0]),
})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(syscall_traces(), _LOW_THRESHOLDS)
def test_antipatterns_equal_the_reference_rules(rows, thresholds) -> None:
    from renacer_tui.model.schema import batch_from_rows

    cg = build_graph(pa.Table.from_batches([batch_from_rows(rows)]))
    checked_detect(cg, thresholds)
    checked_detect(cg)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces, _LOW_THRESHOLDS)
def test_antipatterns_equal_the_reference_rules_on_the_bench_trace(table, thresholds) -> None:
    cg = build_graph(table)
    checked_detect(cg, thresholds)
    checked_detect(cg, {"tight_loop_min_calls": 2, "small_writes_min": 1, "redundant_lookup_min": 1})


# ----------------------------------------------------------------------------- what-if replay
#
# The replay sums chains of events with numpy instead of relaxing one event at a time; the
# times must be the reference's bit for bit (the same float64 additions in the same order).


@st.composite
def event_graphs(draw):
    """Random event graphs: chains with branches and joins, a random layout, sometimes a cycle."""
    size = draw(st.integers(1, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    topo = rng.permutation(size)  # edges go forward in this order …
    kinds = draw(st.sampled_from(["chain", "sparse", "dense"]))
    src, dst = [], []
    for k in range(1, size):
        if kinds == "chain" or rng.random() < 0.7:
            src.append(topo[k - 1]), dst.append(topo[k])
    for _ in range({"chain": 0, "sparse": size // 4, "dense": 2 * size}[kinds]):
        a, b = sorted(rng.integers(0, size, 2).tolist())
        if a != b:
            src.append(topo[a]), dst.append(topo[b])
    if size > 1 and draw(st.integers(0, 9)) == 0:  # … except one that goes back: a cycle
        a, b = sorted(rng.integers(0, size, 2).tolist())
        src.append(topo[b]), dst.append(topo[a])
    es, ed = np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)
    ew = rng.choice([0.0, 1.0, 0.1, 1 / 3, 1e9 / 7, 3.3e9 * 0.1], size=len(es)) * rng.random(len(es))
    base = np.round(rng.random(size) * 1e10) * draw(st.sampled_from([1.0, 0.0]))
    layout = topo if draw(st.booleans()) else rng.permutation(size)  # a good layout, or any
    return es, ed, ew, base, layout


@settings(max_examples=300, deadline=None)
@given(event_graphs(), st.sampled_from([None, True, False]), st.sampled_from([1, 2, 3, 24, 10**9]))
def test_chain_sums_equal_the_relaxation_in_topological_order(graph, as_list, numpy_chain: int) -> None:
    from reference_analysis import relax_in_topological_order

    from renacer_tui.analysis.critical_path import SpeedupError, _latest_times

    es, ed, ew, base, layout = graph
    try:
        expected = relax_in_topological_order(es, ed, ew, base)
    except SpeedupError:
        with pytest.raises(SpeedupError):
            _latest_times(es, ed, ew, base, layout, as_list, numpy_chain)
        return
    got = _latest_times(es, ed, ew, base, layout, as_list, numpy_chain)
    assert np.array_equal(got, expected)  # bit for bit, not approximately


@st.composite
def span_trees(draw) -> list[dict]:
    """Random span trees as tests/test_critical_path.py draws them: overhanging children,
    threads, a second process, random links; plus nested calls and out-of-order rows."""
    from synthetic import random_span_tree

    rows = random_span_tree(draw, 30)
    if draw(st.booleans()):
        rows = rows[:2] + draw(st.permutations(rows[2:]))
    return rows


def _check_what_if(cg, speedups: dict, rng: np.random.Generator) -> None:
    from reference_analysis import checked_replay
    from reference_analysis import speedup_factors as reference_factors

    from renacer_tui.analysis.critical_path import SpeedupError

    try:
        expected = reference_factors(cg, speedups)
    except SpeedupError as exc:
        with pytest.raises(SpeedupError, match=re.escape(str(exc))):
            speedup_factors(cg, speedups)
        return
    factor, matched = speedup_factors(cg, speedups)
    assert matched == expected[1] and np.array_equal(factor, expected[0])
    for f in (np.ones(cg.n), factor, rng.choice([1.0, 0.5, 0.1, 1 / 3, 1 / 7.3], size=cg.n)):
        checked_replay(cg, f)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(span_trees(), st.integers(0, 2**16), st.sampled_from(["name", "id", "ID", "missing"]))
def test_replay_equals_the_reference_on_random_span_trees(rows, seed: int, key: str) -> None:
    from renacer_tui.model.schema import batch_from_rows

    cg = build_graph(pa.Table.from_batches([batch_from_rows(rows)]))
    rng = np.random.default_rng(seed)
    pick = int(rng.integers(2, cg.n))
    name = {"name": cg.cols.name(pick)[len("syscall:"):], "id": cg.cols.id_of(pick), "ID": cg.cols.id_of(pick).upper(),
            "missing": "nosuchcall"}[key]
    _check_what_if(cg, {name: float(rng.choice([2.0, 10.0, 0.5]))}, rng)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces, st.integers(0, 2**16))
def test_replay_equals_the_reference_on_the_bench_trace(table, seed: int) -> None:
    cg = build_graph(table)
    _check_what_if(cg, {"syscall:write": 10.0, "read": 3.0}, np.random.default_rng(seed))


attr_texts = st.lists(
    st.one_of(
        st.none(),
        st.sampled_from(['{"syscall.pathname":"/a"}', '{"syscall\\u002epathname":"/a"}', '{"syscall.result":-2}', '{"x":"-"}',
                         '{"syscall.pathname":"/\\u00e9"}', '"syscall.', 'pathname"', "not json", "", "é-"]),
        st.text(alphabet='"syscall.pathname\\u002e{}:-é', max_size=24),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(attr_texts, st.integers(0, 5), st.integers(1, 3), st.integers(0, 2**16))
def test_rows_maybe_with_holds_every_row_whose_parsed_attributes_have_the_key(values, cut: int, pieces: int, seed: int) -> None:
    """The anti-pattern rules parse only these rows: none with the key may be left out."""
    from renacer_tui.analysis.loading import _parse_attrs

    table, values = _chunked_attributes(values, cut, pieces)
    cols = load_columns(table)
    cols.table = table  # chunks and a slice offset, as stored
    assert cols.rows_with_byte("-").tolist() == [i for i, text in enumerate(values) if text is not None and "-" in text]
    among = np.sort(np.random.default_rng(seed).choice(len(values), size=len(values) // 2 + 1, replace=False)) if values else None
    for rows in (None, among):
        got = set(cols.rows_maybe_with("syscall.pathname", among=rows).tolist())
        candidates = range(len(values)) if rows is None else rows.tolist()
        assert got <= set(candidates)
        assert {i for i in candidates if "syscall.pathname" in _parse_attrs(values[i])} <= got
