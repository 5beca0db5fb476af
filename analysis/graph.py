"""The causal graph of one trace: spans as nodes, typed edges, on rustworkx.

Why edges come from identities and not from timestamps: the spec links consecutive spans of the
whole trace by time and pairs writes with reads by fd *number*, which invents causality between
unrelated threads and breaks as soon as an fd is reused.  Here happens-before is program order
within one thread (by Lamport clock) plus the tracer's explicit links (fork, wait, signal, pipe,
`parent_logical_clock`), and data flow follows the kernel object (`syscall.fd_object`, e.g.
``pipe:[123]``) from the write to the read that consumed it.

The graph is built in bulk from numpy arrays (`extend_from_edge_list` over a zip iterator is the
fastest path into rustworkx); node `i` is row `i` of the spans table and edge `k` is entry `k` of
the `edge_*` arrays.  A cycle is a defect of the recording: it is reported in `defects` and the
weakest edge of it is taken out so the analyses still run on a DAG.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import rustworkx as rx

from analysis.loading import SpanColumns, load_columns
from store.schema import ATTR_FD_OBJECT, ATTR_LINKS, ATTR_SYSCALL_RESULT

# Edge categories (the spec's three) and kinds (where the edge came from).
PARENT_CHILD, HAPPENS_BEFORE, DATA_FLOW = 0, 1, 2
EDGE_TYPES = ("parent-child", "happens-before", "data-flow")
K_PARENT, K_PROGRAM, K_FORK, K_WAIT, K_SIGNAL, K_CLOCK, K_PIPE, K_OBJECT = range(8)
EDGE_KINDS = ("parent", "program-order", "fork", "wait", "signal", "clock", "pipe", "object")
_KIND_TYPE = np.array([PARENT_CHILD, HAPPENS_BEFORE, HAPPENS_BEFORE, HAPPENS_BEFORE, HAPPENS_BEFORE, HAPPENS_BEFORE, DATA_FLOW, DATA_FLOW])
_LINK_KIND = {"fork": K_FORK, "clone": K_FORK, "vfork": K_FORK, "wait": K_WAIT, "signal": K_SIGNAL, "pipe": K_PIPE}
#: When a cycle must be broken, the edge of the highest rank goes first (data flow is inferred,
#: the tree is recorded).
_BREAK_RANK = {K_OBJECT: 7, K_PIPE: 6, K_CLOCK: 5, K_SIGNAL: 4, K_WAIT: 3, K_FORK: 2, K_PROGRAM: 1, K_PARENT: 0}

WRITE_CALLS = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2", "send", "sendto", "sendmsg", "sendmmsg"})
READ_CALLS = frozenset({"read", "readv", "pread64", "preadv", "preadv2", "recv", "recvfrom", "recvmsg", "recvmmsg"})
#: Spans that contain other spans rather than follow each other: not part of program order.
_CONTAINER_PREFIXES = ("process:", "renacer:")


@dataclass
class Defect:
    """Something in the recording that contradicts causality (a cycle), kept for the report."""

    kind: str
    message: str
    span_ids: list[str] = field(default_factory=list)


@dataclass
class CausalGraph:
    """Spans + typed edges; `graph` is the rustworkx view, `edge_*` the same edges as arrays."""

    cols: SpanColumns
    graph: rx.PyDiGraph
    edge_src: np.ndarray
    edge_dst: np.ndarray
    edge_kind: np.ndarray
    edge_weight: np.ndarray  # ns: the duration of the source span (the cost of crossing it)
    removed: np.ndarray  # bool per edge: taken out to break a cycle
    defects: list[Defect] = field(default_factory=list)

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


def _links(cols: SpanColumns) -> tuple[list[int], list[int], list[int]]:
    """Edges from `renacer.links` on effect spans and from `parent_logical_clock`."""
    src: list[int] = []
    dst: list[int] = []
    kinds: list[int] = []
    rows = cols.rows_mentioning(ATTR_LINKS)
    wanted_ids: list[str] = []
    wanted_clocks: list[int] = []
    pending: list[tuple[int, int]] = []
    for row in rows.tolist():
        links = cols.attrs(row).get(ATTR_LINKS)
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
            kind = _LINK_KIND.get(str(link.get("type", "")).lower(), K_CLOCK)
            wanted_ids.append(str(link.get("span_id") or ""))
            clock = link.get("logical_clock")
            wanted_clocks.append(int(clock) if isinstance(clock, int) and not isinstance(clock, bool) else -1)
            pending.append((row, kind))
    clock_index = _clock_lookup(cols)
    if pending:
        by_id = cols.index_of(wanted_ids)
        by_clock = clock_index(np.asarray(wanted_clocks, dtype=np.int64))
        for (row, kind), a, b in zip(pending, by_id.tolist(), by_clock.tolist()):
            source = a if a >= 0 else b
            if source >= 0 and source != row:
                src.append(source)
                dst.append(row)
                kinds.append(kind)
    has_pc = np.flatnonzero(cols.parent_clock >= 0)
    if len(has_pc):
        sources = clock_index(cols.parent_clock[has_pc])
        ok = (sources >= 0) & (sources != has_pc)
        src.extend(sources[ok].tolist())
        dst.extend(has_pc[ok].tolist())
        kinds.extend([K_CLOCK] * int(ok.sum()))
    return src, dst, kinds


def _clock_lookup(cols: SpanColumns) -> Any:
    """A vectorised logical clock → row function (-1 where no span has that clock)."""
    order = np.argsort(cols.clock, kind="stable")
    sorted_clock = cols.clock[order]

    def lookup(clocks: np.ndarray) -> np.ndarray:
        if len(sorted_clock) == 0:
            return np.full(len(clocks), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(sorted_clock, clocks), 0, len(sorted_clock) - 1)
        hit = (sorted_clock[pos] == clocks) & (clocks >= 0)
        return np.where(hit, order[pos], -1)

    return lookup


def _data_flow(cols: SpanColumns) -> tuple[list[int], list[int], list[int]]:
    """write → the read that consumed it, matched on the kernel object behind the fd."""
    rows = cols.rows_mentioning(ATTR_FD_OBJECT)
    by_object: dict[str, list[tuple[int, int, int]]] = {}
    for row in rows.tolist():
        call = cols.name(row).removeprefix("syscall:")
        is_write = call in WRITE_CALLS
        if not is_write and call not in READ_CALLS:
            continue
        attrs = cols.attrs(row)
        obj = attrs.get(ATTR_FD_OBJECT)
        result = attrs.get(ATTR_SYSCALL_RESULT)
        if not isinstance(obj, str) or not obj or (isinstance(result, int) and result <= 0):
            continue
        if obj.startswith("/dev/") and not obj.startswith("/dev/shm/"):
            continue  # a terminal or /dev/null: what is read back is not what was written
        by_object.setdefault(obj, []).append((row, 1 if is_write else 0, int(cols.clock[row])))
    src: list[int] = []
    dst: list[int] = []
    kinds: list[int] = []
    start, end, tid = cols.start, cols.end, cols.tid
    for obj, events in by_object.items():
        kind = K_PIPE if obj.startswith(("pipe:", "socket:")) else K_OBJECT
        writes = sorted((e for e in events if e[1]), key=lambda e: (start[e[0]], e[2]))
        if not writes:
            continue
        write_starts = np.asarray([start[w[0]] for w in writes], dtype=np.int64)
        for row, is_write, clock in events:
            if is_write:
                continue
            # The latest write that had begun before this read returned; in the same thread the
            # write must have finished before the read began (program order).
            k = int(np.searchsorted(write_starts, end[row], side="left")) - 1
            while k >= 0:
                w = writes[k][0]
                if tid[w] != tid[row] or end[w] <= start[row]:
                    break
                k -= 1
            if k >= 0:
                src.append(writes[k][0])
                dst.append(row)
                kinds.append(kind)
    return src, dst, kinds


def build_graph(spans: pa.Table | SpanColumns) -> CausalGraph:
    """Build the causal graph of one trace's spans (RLE rows stay one node each)."""
    cols = spans if isinstance(spans, SpanColumns) else load_columns(spans)
    n = cols.n
    child = np.flatnonzero(cols.parent >= 0)
    po_src, po_dst = _program_order(cols)
    l_src, l_dst, l_kind = _links(cols)
    d_src, d_dst, d_kind = _data_flow(cols)
    extra_src = np.asarray(l_src + d_src, dtype=np.int64)
    extra_dst = np.asarray(l_dst + d_dst, dtype=np.int64)
    extra_kind = np.asarray(l_kind + d_kind, dtype=np.int64)
    if len(extra_src):
        # An explicit link that repeats a tree or program-order edge adds nothing.
        po_prev = np.full(n, -1, dtype=np.int64)
        po_prev[po_dst] = po_src
        dup = (cols.parent[extra_dst] == extra_src) | (po_prev[extra_dst] == extra_src)
        pairs = extra_src * max(n, 1) + extra_dst
        _, first = np.unique(pairs, return_index=True)
        keep = np.zeros(len(pairs), dtype=bool)
        keep[first] = True
        keep &= ~dup
        extra_src, extra_dst, extra_kind = extra_src[keep], extra_dst[keep], extra_kind[keep]
    src = np.concatenate([cols.parent[child], po_src, extra_src]).astype(np.int64)
    dst = np.concatenate([child, po_dst, extra_dst]).astype(np.int64)
    kind = np.concatenate(
        [np.full(len(child), K_PARENT), np.full(len(po_src), K_PROGRAM), extra_kind]
    ).astype(np.int8)
    graph = rx.PyDiGraph(check_cycle=False, multigraph=True, node_count_hint=n, edge_count_hint=len(src))
    graph.add_nodes_from(range(n))
    graph.extend_from_edge_list(zip(src.tolist(), dst.tolist()))
    weight = cols.duration[src].astype(np.float64) if len(src) else np.empty(0)
    cg = CausalGraph(cols, graph, src, dst, kind, weight, np.zeros(len(src), dtype=bool))
    if cols.duplicate_ids:
        cg.defects.append(Defect("duplicate-span-id", f"{cols.duplicate_ids} span id(s) appear more than once"))
    _break_cycles(cg)
    return cg


def _break_cycles(cg: CausalGraph, limit: int = 1000) -> None:
    """Report every cycle as a defect and remove its weakest edge so the rest stays a DAG."""
    graph = cg.graph
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
