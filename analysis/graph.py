"""The causal graph of one trace: spans as nodes, typed edges, on rustworkx.

Why edges come from identities and not from timestamps: the spec links consecutive spans of the
whole trace by time and pairs writes with reads by fd *number*, which invents causality between
unrelated threads and breaks as soon as an fd is reused.  Here happens-before is program order
within one thread (by Lamport clock) plus the tracer's explicit links (fork, wait, signal, pipe,
`parent_logical_clock`), and data flow follows the kernel object (`syscall.fd_object`, e.g.
``pipe:[123]``) from the write to the read that consumed it.

The graph is numpy edge arrays built with array operations (JSON is parsed only for the rows
whose attribute text names a link or a kernel object); node `i` is row `i` of the spans table
and edge `k` is entry `k` of the `edge_*` arrays.  The analyses here read the arrays; the
rustworkx view (`CausalGraph.graph`) is built on first use, since building it costs more than
the rest of the build at a million spans.  A cycle is a defect of the recording: it is reported
in `defects` and the weakest edge of it is taken out so the analyses still run on a DAG.  When
the logical clock or the row order increases along every edge the graph is a DAG by
construction and no cycle search runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import rustworkx as rx

from renacer_tui.analysis.loading import SpanColumns, load_columns
from renacer_tui.model.attributes import ATTR_FD_OBJECT, ATTR_LINKS, ATTR_SYSCALL_RESULT
from renacer_tui.model.kinds import PROCESS_PREFIX, RUN_PREFIX, LinkKind
from renacer_tui.model.syscalls import READ_CALLS, WRITE_CALLS

# Edge categories (the spec's three) and kinds (where the edge came from).
PARENT_CHILD, HAPPENS_BEFORE, DATA_FLOW = 0, 1, 2
EDGE_TYPES = ("parent-child", "happens-before", "data-flow")
K_PARENT, K_PROGRAM, K_FORK, K_WAIT, K_SIGNAL, K_CLOCK, K_PIPE, K_OBJECT = range(8)
EDGE_KINDS = ("parent", "program-order", "fork", "wait", "signal", "clock", "pipe", "object")
_KIND_TYPE = np.array([PARENT_CHILD, HAPPENS_BEFORE, HAPPENS_BEFORE, HAPPENS_BEFORE, HAPPENS_BEFORE, HAPPENS_BEFORE, DATA_FLOW, DATA_FLOW])
#: Link kinds recorded by the tracer (`renacer.links`); "clone"/"vfork" are older spellings of a fork link.
_LINK_KIND = {LinkKind.FORK: K_FORK, "clone": K_FORK, "vfork": K_FORK, LinkKind.WAIT: K_WAIT, LinkKind.SIGNAL: K_SIGNAL, LinkKind.PIPE: K_PIPE}
#: When a cycle must be broken, the edge of the highest rank goes first (data flow is inferred,
#: the tree is recorded).
_BREAK_RANK = {K_OBJECT: 7, K_PIPE: 6, K_CLOCK: 5, K_SIGNAL: 4, K_WAIT: 3, K_FORK: 2, K_PROGRAM: 1, K_PARENT: 0}

#: Spans that contain other spans rather than follow each other: not part of program order.
_CONTAINER_PREFIXES = (PROCESS_PREFIX, RUN_PREFIX)


@dataclass
class Defect:
    """Something in the recording that contradicts causality (a cycle), kept for the report."""

    kind: str
    message: str
    span_ids: list[str] = field(default_factory=list)


@dataclass
class CausalGraph:
    """Spans + typed edges as arrays; `graph` is the rustworkx view, built on first use."""

    cols: SpanColumns
    edge_src: np.ndarray
    edge_dst: np.ndarray
    edge_kind: np.ndarray
    removed: np.ndarray  # bool per edge: taken out to break a cycle
    defects: list[Defect] = field(default_factory=list)
    _graph: rx.PyDiGraph | None = field(default=None, repr=False)

    @property
    def graph(self) -> rx.PyDiGraph:
        """The DAG as a rustworkx graph (edge index k = entry k of the `edge_*` arrays).

        Built lazily: the analyses here work on the arrays, and building a million-edge
        rustworkx graph costs more than the whole array build.
        """
        if self._graph is None:
            self._graph = _rx_graph(self.n, self.edge_src, self.edge_dst)
            for k in np.flatnonzero(self.removed).tolist():
                self._graph.remove_edge_from_index(k)
        return self._graph

    @property
    def edge_weight(self) -> np.ndarray:
        """ns per edge: the duration of the source span (the cost of crossing it)."""
        return self.cols.duration[self.edge_src].astype(np.float64)

    @property
    def n(self) -> int:
        return self.cols.n

    @property
    def edge_type(self) -> np.ndarray:
        return _KIND_TYPE[self.edge_kind]

    def live_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(src, dst, kind) of the edges that are in the DAG."""
        if not self.removed.any():
            return self.edge_src, self.edge_dst, self.edge_kind
        keep = ~self.removed
        return self.edge_src[keep], self.edge_dst[keep], self.edge_kind[keep]

    def counts(self) -> dict[str, Any]:
        """Node and edge counts by type and kind (what `graph build` prints)."""
        src, dst, kind = self.live_edges()
        by_kind = np.bincount(kind, minlength=len(EDGE_KINDS))
        by_type = np.bincount(_KIND_TYPE[kind], minlength=len(EDGE_TYPES))
        return {
            "nodes": self.n,
            "edges": int(len(src)),
            "by_type": {EDGE_TYPES[i]: int(by_type[i]) for i in range(len(EDGE_TYPES))},
            "by_kind": {EDGE_KINDS[i]: int(by_kind[i]) for i in range(len(EDGE_KINDS)) if by_kind[i]},
            "defects": len(self.defects),
        }


def _program_order(cols: SpanColumns) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive spans of one thread by Lamport clock (start time breaks clock ties)."""
    members = cols.rows_named(lambda name: not name.startswith(_CONTAINER_PREFIXES))
    if len(members) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = members[np.lexsort((cols.start[members], cols.clock[members], cols.tid[members]))]
    same = cols.tid[order[1:]] == cols.tid[order[:-1]]
    return order[:-1][same], order[1:][same]


_EMPTY = np.empty(0, dtype=np.int64)


def _links(cols: SpanColumns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges from `renacer.links` on effect spans and from `parent_logical_clock`."""
    rows = cols.rows_mentioning(ATTR_LINKS)
    wanted_ids: list[str] = []
    wanted_clocks: list[int] = []
    link_rows: list[int] = []
    link_kinds: list[int] = []
    for row, attrs in zip(rows.tolist(), cols.attrs_many(rows)):
        links = attrs.get(ATTR_LINKS)
        if isinstance(links, str):
            try:
                links = json.loads(links)
            except ValueError:
                links = None
        if not isinstance(links, list):
            continue
        for link in links:
            if not isinstance(link, dict):
                continue
            link_kinds.append(_LINK_KIND.get(str(link.get("type", "")).lower(), K_CLOCK))
            wanted_ids.append(str(link.get("span_id") or ""))
            clock = link.get("logical_clock")
            wanted_clocks.append(int(clock) if isinstance(clock, int) and not isinstance(clock, bool) else -1)
            link_rows.append(row)
    clock_index = _clock_lookup(cols)
    parts_src, parts_dst, parts_kind = [], [], []
    if link_rows:
        row_a = np.asarray(link_rows, dtype=np.int64)
        by_id = np.full(len(row_a), -1, dtype=np.int64)
        named = np.flatnonzero(np.asarray([bool(i) for i in wanted_ids]))
        if len(named):
            by_id[named] = cols.index_of([wanted_ids[i] for i in named.tolist()])
        by_clock = clock_index(np.asarray(wanted_clocks, dtype=np.int64))
        source = np.where(by_id >= 0, by_id, by_clock)
        ok = (source >= 0) & (source != row_a)
        parts_src.append(source[ok])
        parts_dst.append(row_a[ok])
        parts_kind.append(np.asarray(link_kinds, dtype=np.int64)[ok])
    has_pc = np.flatnonzero(cols.parent_clock >= 0)
    if len(has_pc):
        sources = clock_index(cols.parent_clock[has_pc])
        ok = (sources >= 0) & (sources != has_pc)
        parts_src.append(sources[ok])
        parts_dst.append(has_pc[ok])
        parts_kind.append(np.full(int(ok.sum()), K_CLOCK, dtype=np.int64))
    if not parts_src:
        return _EMPTY, _EMPTY, _EMPTY
    return np.concatenate(parts_src), np.concatenate(parts_dst), np.concatenate(parts_kind)


def _clock_lookup(cols: SpanColumns) -> Any:
    """A vectorised logical clock → row function (-1 where no span has that clock)."""
    clock = cols.clock
    n = len(clock)
    if n and clock[0] >= 0 and np.array_equal(clock, np.arange(clock[0], clock[0] + n)):
        # The usual layout: one clock per row, rows in clock order.  Plain indexing.
        first = int(clock[0])

        def direct(clocks: np.ndarray) -> np.ndarray:
            pos = clocks - first
            hit = (pos >= 0) & (pos < n)
            return np.where(hit, pos, -1)

        return direct
    order = np.argsort(clock, kind="stable")
    sorted_clock = clock[order]

    def lookup(clocks: np.ndarray) -> np.ndarray:
        if len(sorted_clock) == 0:
            return np.full(len(clocks), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(sorted_clock, clocks), 0, len(sorted_clock) - 1)
        hit = (sorted_clock[pos] == clocks) & (clocks >= 0)
        return np.where(hit, order[pos], -1)

    return lookup


def _data_flow(cols: SpanColumns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """write → the read that consumed it, matched on the kernel object behind the fd.

    Per read: the latest write to the same object that had begun before the read returned;
    in the same thread the write must have finished before the read began (program order).
    One sorted search over all objects at once; only reads whose nearest write is such an
    unfinished same-thread write step further back in Python.
    """
    calls = [name.removeprefix("syscall:") for name in cols.names]
    is_write = np.asarray([c in WRITE_CALLS for c in calls] + [False], dtype=bool)
    is_read = np.asarray([c in READ_CALLS for c in calls] + [False], dtype=bool)
    rows = cols.rows_mentioning(ATTR_FD_OBJECT, among=np.flatnonzero((is_write | is_read)[cols.name_code]))
    ev_rows: list[int] = []
    ev_objs: list[str] = []
    for row, attrs in zip(rows.tolist(), cols.attrs_many(rows)):
        obj = attrs.get(ATTR_FD_OBJECT)
        result = attrs.get(ATTR_SYSCALL_RESULT)
        if not isinstance(obj, str) or not obj or (isinstance(result, int) and result <= 0):
            continue
        if obj.startswith("/dev/") and not obj.startswith("/dev/shm/"):
            continue  # a terminal or /dev/null: what is read back is not what was written
        ev_rows.append(row)
        ev_objs.append(obj)
    if not ev_rows:
        return _EMPTY, _EMPTY, _EMPTY
    ev = np.asarray(ev_rows, dtype=np.int64)
    encoded = pa.array(ev_objs, pa.string()).dictionary_encode()  # codes in first-seen order
    obj = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    objects = encoded.dictionary.to_pylist()
    writing = is_write[cols.name_code[ev]]
    w, w_obj = ev[writing], obj[writing]
    r, r_obj = ev[~writing], obj[~writing]
    if len(w) == 0 or len(r) == 0:
        return _EMPTY, _EMPTY, _EMPTY
    start, end, tid = cols.start, cols.end, cols.tid
    # (object, time) as one sortable integer: times replaced by their rank among all times used.
    times = np.unique(np.concatenate([start[w], end[r]]))
    span = len(times) + 1
    w_t = np.searchsorted(times, start[w])
    order = np.lexsort((w, cols.clock[w], w_t, w_obj))
    w, w_obj, w_key = w[order], w_obj[order], (w_obj * span + w_t)[order]
    k = np.searchsorted(w_key, r_obj * span + np.searchsorted(times, end[r]), side="left") - 1
    found = k >= 0
    found[found] = w_obj[k[found]] == r_obj[found]
    source = np.where(found, w[np.maximum(k, 0)], -1)
    unfinished = found & (tid[source] == tid[r]) & (end[source] > start[r])
    for j in np.flatnonzero(unfinished).tolist():
        row, kk = int(r[j]), int(k[j]) - 1
        while kk >= 0 and w_obj[kk] == r_obj[j] and tid[w[kk]] == tid[row] and end[w[kk]] > start[row]:
            kk -= 1
        source[j] = int(w[kk]) if kk >= 0 and w_obj[kk] == r_obj[j] else -1
    keep = np.flatnonzero(source >= 0)
    keep = keep[np.lexsort((r[keep], r_obj[keep]))]  # objects in first-seen order, reads in row order
    is_pipe = np.asarray([o.startswith(("pipe:", "socket:")) for o in objects], dtype=bool)
    kind = np.where(is_pipe[r_obj[keep]], K_PIPE, K_OBJECT).astype(np.int64)
    return source[keep], r[keep], kind


def _rx_graph(n: int, src: np.ndarray, dst: np.ndarray) -> rx.PyDiGraph:
    """A rustworkx multigraph of `n` nodes (payload = index) and the given edges, in order."""
    graph = rx.PyDiGraph(check_cycle=False, multigraph=True, node_count_hint=n, edge_count_hint=len(src))
    graph.add_nodes_from(range(n))
    graph.extend_from_edge_list(zip(src.tolist(), dst.tolist()))
    return graph


def _topologically_ordered(n: int, src: np.ndarray, dst: np.ndarray, keys: list[np.ndarray]) -> bool:
    """True when some key strictly increases along every edge: then the graph is a DAG.

    The tracer's spans nearly always satisfy this for the logical clock or the row order, so
    the cycle search (and the rustworkx graph it needs) is skipped for a well-formed trace.
    """
    if len(src) == 0:
        return True
    return any(len(key) == n and bool(np.all(key[src] < key[dst])) for key in keys)


def build_graph(spans: pa.Table | SpanColumns) -> CausalGraph:
    """Build the causal graph of one trace's spans (RLE rows stay one node each)."""
    cols = spans if isinstance(spans, SpanColumns) else load_columns(spans)
    n = cols.n
    child = np.flatnonzero(cols.parent >= 0)
    po_src, po_dst = _program_order(cols)
    l_src, l_dst, l_kind = _links(cols)
    d_src, d_dst, d_kind = _data_flow(cols)
    extra_src = np.concatenate([l_src, d_src])
    extra_dst = np.concatenate([l_dst, d_dst])
    extra_kind = np.concatenate([l_kind, d_kind])
    if len(extra_src):
        # An explicit link that repeats a tree or program-order edge adds nothing; of
        # repeated links the first stays.
        po_prev = np.full(n, -1, dtype=np.int64)
        po_prev[po_dst] = po_src
        new = np.flatnonzero((cols.parent[extra_dst] != extra_src) & (po_prev[extra_dst] != extra_src))
        _, first = np.unique(extra_src[new] * max(n, 1) + extra_dst[new], return_index=True)
        keep = new[np.sort(first)]
        extra_src, extra_dst, extra_kind = extra_src[keep], extra_dst[keep], extra_kind[keep]
    src = np.concatenate([cols.parent[child], po_src, extra_src]).astype(np.int64, copy=False)
    dst = np.concatenate([child, po_dst, extra_dst]).astype(np.int64, copy=False)
    kind = np.empty(len(src), dtype=np.int8)
    kind[: len(child)] = K_PARENT
    kind[len(child) : len(child) + len(po_src)] = K_PROGRAM
    kind[len(child) + len(po_src) :] = extra_kind
    cg = CausalGraph(cols, src, dst, kind, np.zeros(len(src), dtype=bool))
    if cols.duplicate_ids:
        cg.defects.append(Defect("duplicate-span-id", f"{cols.duplicate_ids} span id(s) appear more than once"))
    if not _topologically_ordered(n, src, dst, [cols.clock, np.arange(n)]):
        _break_cycles(cg)
    return cg


def _break_cycles(cg: CausalGraph, limit: int = 1000) -> None:
    """Report every cycle as a defect and remove its weakest edge so the rest stays a DAG."""
    graph = cg.graph  # built here: the cycle search is rustworkx's
    for _ in range(limit):
        if rx.is_directed_acyclic_graph(graph):
            return
        cycle = rx.digraph_find_cycle(graph)
        if not cycle:
            return
        # Edge indices of the cycle's hops (the first matching live edge of each pair).
        hops: list[int] = []
        for u, v in cycle:
            indices = graph.edge_indices_from_endpoints(u, v)
            hops.append(int(indices[0]))
        worst = max(hops, key=lambda e: (_BREAK_RANK[int(cg.edge_kind[e])], e))
        ids = [cg.cols.id_of(u) for u, _ in cycle]
        kinds = sorted({EDGE_KINDS[int(cg.edge_kind[e])] for e in hops})
        cg.defects.append(
            Defect(
                "cycle",
                f"causal cycle through {len(cycle)} span(s) ({', '.join(kinds)} edges); "
                f"removed the {EDGE_KINDS[int(cg.edge_kind[worst])]} edge "
                f"{cg.cols.id_of(cg.edge_src[worst])} → {cg.cols.id_of(cg.edge_dst[worst])}",
                ids,
            )
        )
        graph.remove_edge_from_index(worst)
        cg.removed[worst] = True
    if not rx.is_directed_acyclic_graph(graph):
        cg.defects.append(Defect("cycle", f"more than {limit} cycles; analysis results are unreliable"))
