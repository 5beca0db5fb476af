"""Critical path of a trace and Coz-style what-if, without double counting.

Why not the spec's DP: it adds a child's duration to its parent's along parent→child edges, so a
syscall nested in its process span is counted twice and the "path" can exceed the wall time.

The walk here is the one Jaeger UI uses, extended across processes.  Start at the root with the
bound at its end.  Repeatedly pick, among the current span's *candidates*, the one that ends
latest at or before the bound; the current span owns the gap between that end and the bound;
descend into the candidate.  When nothing is left the span owns the time back to its start and
the walk climbs to its parent.  Candidates are the span's children in the same process (clipped
to the parent) plus its cross-thread happens-before / data-flow sources that finished while it
ran: a parent blocked in wait() hands the path to the child it reaped, a blocked read to the
writer that fed it.  A process that outlives the one that forked it (a background job) is a
candidate of the run span, since only the run waits for it.  The bound only ever moves backwards, so segments never overlap and their
sum is at most the root's duration.

What-if replays the trace with some spans made k× faster: every start and end is recomputed as
the latest of its constraints (program order, parent offset, fork offsets, last inner item), the
original gaps preserved, and the critical path recomputed on the new times.  With no speedup
the replay reproduces the recorded times exactly; a speedup can only make things earlier.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import rustworkx as rx

from renacer_tui.analysis.graph import (
    EDGE_KINDS,
    K_CLOCK,
    K_FORK,
    K_OBJECT,
    K_PIPE,
    K_PROGRAM,
    K_SIGNAL,
    K_WAIT,
    CausalGraph,
)
from renacer_tui.model.attributes import (
    ATTR_FD_OBJECT,
    ATTR_GPU_BYTES,
    ATTR_GPU_DIRECTION,
    ATTR_GPU_KIND,
    ATTR_GPU_WORKGROUPS,
    ATTR_SYSCALL_FD,
    ATTR_SYSCALL_PATH,
)
from renacer_tui.model.kinds import SpanCategory, category_of, is_gpu, is_syscall
from renacer_tui.model.readable import format_duration

_HANDOFF_KINDS = (K_WAIT, K_SIGNAL, K_PIPE, K_OBJECT, K_CLOCK)
_IS_HANDOFF = np.zeros(len(EDGE_KINDS), dtype=bool)  # lookup by edge kind (cheaper than np.isin)
_IS_HANDOFF[list(_HANDOFF_KINDS)] = True
_NONE = np.empty(0, dtype=np.int64)


class SpeedupError(ValueError):
    """A what-if speedup names nothing in the trace or has an unusable factor."""


@dataclass
class CriticalPath:
    """Non-overlapping path segments in time order (arrays; `rows()` materialises them)."""

    cg: CausalGraph
    node: np.ndarray
    start: np.ndarray
    end: np.ndarray
    root: int
    wall_ns: int

    @property
    def duration(self) -> np.ndarray:
        return self.end - self.start

    @property
    def total_ns(self) -> int:
        return int(self.duration.sum()) if len(self.node) else 0

    @property
    def bottleneck(self) -> int:
        """Index of the largest segment (-1 for an empty path)."""
        return int(np.argmax(self.duration)) if len(self.node) else -1

    def rows(self, indices: Any = None) -> list[dict[str, Any]]:
        """Segments as dicts: span id, name, start, end, self time, share of the total."""
        cols = self.cg.cols
        total = max(self.total_ns, 1)
        picked = range(len(self.node)) if indices is None else indices
        out = []
        for k in picked:
            i = int(self.node[k])
            dur = int(self.end[k] - self.start[k])
            out.append(
                {
                    "index": int(k),
                    "span_id": cols.id_of(i),
                    "name": cols.name(i),
                    "start_ns": int(self.start[k]),
                    "end_ns": int(self.end[k]),
                    "self_ns": dur,
                    "share": dur / total,
                    "calls": int(cols.rle_count[i]),  # > 1: an RLE row standing for that many calls
                    "detail": describe(self.cg, i),
                }
            )
        return out

    def top(self, limit: int) -> list[int]:
        """Indices of the `limit` largest segments, in time order."""
        if limit >= len(self.node):
            return list(range(len(self.node)))
        largest = np.argpartition(-self.duration, limit - 1)[:limit]
        return sorted(int(k) for k in largest)

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        picked = None if limit is None else self.top(limit)
        b = self.bottleneck
        return {
            "trace_wall_ns": self.wall_ns,
            "total_ns": self.total_ns,
            "steps": len(self.node),
            "bottleneck": self.rows([b])[0] if b >= 0 else None,
            "segments": self.rows(picked),
        }


def describe(cg: CausalGraph, i: int) -> str:
    """A short human hint for a span: path or fd, as the spec's example shows, and the source
    line that made the call when source correlation recorded one (`@ sim.py:42`)."""
    attrs = cg.cols.attrs(i)
    if is_gpu(cg.cols.name(i)):  # what the GPU did: a kernel's workgroups, a transfer's size
        groups = attrs.get(ATTR_GPU_WORKGROUPS)
        if isinstance(groups, list) and groups:
            return f"{attrs.get(ATTR_GPU_KIND, 'compute')} {'×'.join(str(g) for g in groups)} workgroups"
        nbytes = attrs.get(ATTR_GPU_BYTES)
        if isinstance(nbytes, int):
            return f"{attrs.get(ATTR_GPU_DIRECTION, 'transfer')} {nbytes:,} B"
        return str(attrs.get(ATTR_GPU_KIND) or "")
    hint = ""
    for key in (ATTR_SYSCALL_PATH, ATTR_FD_OBJECT):
        value = attrs.get(key)
        if isinstance(value, str) and value:
            hint = value
            break
    else:
        fd = attrs.get(ATTR_SYSCALL_FD)
        hint = f"fd={fd}" if isinstance(fd, int) else ""
    source = source_of(cg, i)
    if source is None:
        return hint
    return f"{hint} @ {source}" if hint else f"@ {source}"


def source_of(cg: CausalGraph, i: int) -> str | None:
    """The call's source line: the Python line when a transpiler map gave one, else C or Rust."""
    return cg.cols.source(i)


@dataclass
class _Structure:
    """Clipped intervals and each span's candidate list, sorted by candidate end."""

    cs: np.ndarray
    ce: np.ndarray
    owner: np.ndarray  # per candidate slot (sorted by owner, then end): the span it belongs to
    cand: np.ndarray
    cend: np.ndarray
    handoff_pos: np.ndarray  # bool per candidate slot: came from a cross-thread edge
    has_candidates: np.ndarray  # bool per node: owns at least one slot
    tree_child: np.ndarray  # bool per node: a candidate child of its parent (same process)
    # Only with `for_replay` (empty otherwise, so the walk's arrays can reuse their memory; with
    # it, the walk's sorted slots above are empty instead: the replay never reads them):
    inner_src: np.ndarray  # candidate (child or handoff source) …
    inner_dst: np.ndarray  # … of this span, unsorted: the replay's end constraints
    handoff_src_mask: np.ndarray  # bool per inner pair: a cross-thread hand-off, not a child

    def slots(self, s: int) -> tuple[int, int]:
        """[first, last + 1) of span `s`'s candidate slots."""
        return bisect_left(self.owner, s), bisect_right(self.owner, s)


def _main_root(cg: CausalGraph, start: np.ndarray, end: np.ndarray) -> int:
    roots = np.flatnonzero(cg.cols.parent < 0)
    if len(roots) == 0:
        return -1
    # The root spanning the most time (the run span covers everything it started).
    order = np.lexsort((start[roots], -(end[roots] - start[roots])))
    return int(roots[order[0]])


def _orphan_processes(cg: CausalGraph, end: np.ndarray) -> np.ndarray:
    """`process:` spans that end after the process whose fork span they hang under."""
    cols = cg.cols
    procs = cols.rows_named(lambda name: name.startswith("process:"))
    fork = cols.parent[procs]
    procs, fork = procs[fork >= 0], fork[fork >= 0]
    creator = cols.parent[fork]
    ok = (creator >= 0) & (cols.pid[fork] != cols.pid[procs])
    procs, creator = procs[ok], creator[ok]
    ok = (cols.pid[creator] == cols.pid[fork[ok]]) & (end[procs] > end[creator])
    return procs[ok]


def _gpu_handoffs(cols: Any, cs: np.ndarray, ce: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """gpu: span → each syscall of its process that was running when the GPU work ended.

    The GPU runs beside the host: a thread that sat in a call (a futex, an ioctl, a poll on the
    driver's fence) while a kernel finished was waiting for it, as a blocked read waits for its
    writer.  Where no call spans the kernel's end (a driver that spins in user space) there is
    nothing to hand over and the kernel stays a child of whichever span made it.
    """
    gpu = cols.rows_named(is_gpu)
    if len(gpu) == 0:
        return _NONE, _NONE
    calls = cols.rows_named(is_syscall)
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    for pid in np.unique(cols.pid[gpu]).tolist():
        g = gpu[cols.pid[gpu] == pid]
        mine = calls[cols.pid[calls] == pid]
        for tid in np.unique(cols.tid[mine]).tolist():
            t = mine[cols.tid[mine] == tid]
            t = t[np.argsort(cs[t], kind="stable")]
            k = np.searchsorted(cs[t], ce[g], side="left") - 1  # the last call begun before the end
            hit = k >= 0
            hit[hit] = ce[t[k[hit]]] >= ce[g[hit]]
            src.append(g[hit])
            dst.append(t[k[hit]])
    if not src:
        return _NONE, _NONE
    return np.concatenate(src).astype(np.int64), np.concatenate(dst).astype(np.int64)


def _inside_applications(cols: Any, cs: np.ndarray, ce: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(application span, syscall) pairs: the calls a process made inside its own span.

    A program's OTLP span hangs beside its syscalls under the process span, not above them; left
    so, the walk would enter it and never see the openat and read it was waiting on.  Each call
    goes to the innermost application span of its process that contains it.
    """
    apps = cols.rows_named(lambda name: category_of(name) is SpanCategory.APPLICATION)
    apps = apps[(cols.pid[apps] > 0) & (ce[apps] > cs[apps])]
    if len(apps) == 0:
        return _NONE, _NONE
    calls = cols.rows_named(is_syscall)
    owner = np.full(len(calls), -1, dtype=np.int64)
    order = np.lexsort((cs[calls], cols.pid[calls]))
    calls = calls[order]
    key_pid, key_start = cols.pid[calls], cs[calls]
    for a in apps[np.argsort(-(ce[apps] - cs[apps]), kind="stable")].tolist():  # outermost first
        pid = cols.pid[a]
        lo = np.searchsorted(key_pid, pid, side="left")
        hi = np.searchsorted(key_pid, pid, side="right")
        first = lo + np.searchsorted(key_start[lo:hi], cs[a], side="left")
        last = lo + np.searchsorted(key_start[lo:hi], ce[a], side="right")
        inside = np.arange(first, last)
        inside = inside[ce[calls[inside]] <= ce[a]]
        owner[inside] = a
    keep = owner >= 0
    return owner[keep], calls[keep]


def _structure(cg: CausalGraph, start: np.ndarray, end: np.ndarray, for_replay: bool = False) -> _Structure:
    cols = cg.cols
    n = cols.n
    parent = cols.parent
    kids = np.flatnonzero(parent >= 0)
    kid_parent = parent[kids]
    same = (cols.pid[kids] == cols.pid[kid_parent]) | (parent[kid_parent] < 0)
    kids, kid_parent = kids[same], kid_parent[same]
    tree_child = np.zeros(n, dtype=bool)
    tree_child[kids] = True
    # Clip children to their parents (converges in same-process tree depth rounds); the
    # arrays are only copied when some child sticks out (a well-formed trace has none).
    cs, ce = start, end
    kid_cs, kid_ce = start[kids], end[kids]
    if ((kid_cs < start[kid_parent]) | (kid_ce > end[kid_parent])).any():
        cs, ce = start.copy(), end.copy()
        for _ in range(n + 1):
            new_cs = np.maximum(start[kids], cs[kid_parent])
            new_ce = np.minimum(end[kids], ce[kid_parent])
            if np.array_equal(new_cs, cs[kids]) and np.array_equal(new_ce, ce[kids]):
                break
            cs[kids] = new_cs
            ce[kids] = new_ce
        kid_cs, kid_ce = cs[kids], ce[kids]
    nonempty = kid_ce > kid_cs
    if not nonempty.all():
        kids, kid_parent, kid_ce = kids[nonempty], kid_parent[nonempty], kid_ce[nonempty]
    del kid_cs, nonempty, same
    src, dst, kind = cg.live_edges()
    hand = np.flatnonzero(_IS_HANDOFF[kind])
    h_src, h_dst = src[hand], dst[hand]
    cross = cols.tid[h_src] != cols.tid[h_dst]
    h_src, h_dst = h_src[cross], h_dst[cross]
    # A source that finished while the target ran: the target was waiting for it.  Times are
    # when the tracer saw each stop, so a write can look as if it ended just after the read it
    # woke: a source that began before the target returned counts, its end clipped to the target's.
    ok = (ce[h_src] > cs[h_dst]) & (cs[h_src] < ce[h_dst])
    h_src, h_dst = h_src[ok], h_dst[ok]
    # A process that outlives the one that forked it (a background job, a daemon) is waited
    # for by nobody but the run itself: it is a candidate of the main root.
    root = _main_root(cg, start, end)
    orphans = _orphan_processes(cg, end) if root >= 0 else np.empty(0, np.int64)
    orphans = orphans[(orphans != root) & (ce[orphans] > cs[root])] if len(orphans) else orphans
    # GPU work: the host call that was waiting when a kernel or transfer finished hands the
    # path to that gpu: span; an application span owns the syscalls its process made inside it.
    g_src, g_dst = _gpu_handoffs(cols, cs, ce)
    h_src, h_dst = np.concatenate([h_src, g_src]), np.concatenate([h_dst, g_dst])
    a_owner, a_cand = _inside_applications(cols, cs, ce)
    owner = np.concatenate([kid_parent, np.full(len(orphans), max(root, 0), dtype=np.int64), a_owner, h_dst])
    cand = np.concatenate([kids, orphans, a_cand, h_src])
    cend = np.concatenate(
        [kid_ce, np.minimum(ce[orphans], ce[max(root, 0)]), ce[a_cand], np.minimum(ce[h_src], ce[h_dst])]
    )
    is_handoff = np.zeros(len(cand), dtype=bool)
    is_handoff[len(cand) - len(h_src) :] = True
    del kids, kid_parent, kid_ce
    has_candidates = np.zeros(n, dtype=bool)
    has_candidates[owner] = True
    if for_replay:  # the replay reads the pairs as they are: no sorted slots (the walk's) needed
        return _Structure(cs=cs, ce=ce, owner=_NONE, cand=_NONE, cend=_NONE, handoff_pos=_NONE,
                          has_candidates=has_candidates, tree_child=tree_child,
                          inner_src=cand, inner_dst=owner, handoff_src_mask=is_handoff)
    order = np.lexsort((cand, cend, owner))
    st = _Structure(
        cs=cs,
        ce=ce,
        owner=owner[order],
        cand=cand[order],
        cend=cend[order],
        handoff_pos=is_handoff[order],
        has_candidates=has_candidates,
        tree_child=tree_child,
        inner_src=_NONE,
        inner_dst=_NONE,
        handoff_src_mask=_NONE,
    )
    return st


def critical_path(cg: CausalGraph, start: np.ndarray | None = None, end: np.ndarray | None = None) -> CriticalPath:
    """The critical path of the trace (optionally on replayed `start`/`end` times)."""
    start = cg.cols.start if start is None else start
    end = cg.cols.end if end is None else end
    root = _main_root(cg, start, end)
    if root < 0:
        empty = np.empty(0, np.int64)
        return CriticalPath(cg, empty, empty, empty, -1, 0)
    st = _structure(cg, start, end)
    node, lo_a, hi_a = _walk(cg.cols.parent, st, root)
    node, lo_a, hi_a = _merge_adjacent(node, lo_a, hi_a)
    return CriticalPath(cg, node, lo_a, hi_a, root, int(st.ce[root] - st.cs[root]))


#: Runs of leaf picks shorter than this are walked step by step (cheaper than array slicing).
_MIN_RUN = 16


def _leaf_runs(parent: np.ndarray, st: _Structure, root: int, floor: int) -> np.ndarray:
    """Slots that start no run of leaf picks: `bisect` over them finds where a run ends.

    Slot j is a *leaf* when its candidate is a same-process child of the slot's owner with no
    candidates of its own that starts after the floor: the walk descends into it, it owns its
    whole clipped interval, and the walk climbs straight back to the owner.  Slot j *continues*
    the run of slot j + 1 when both are leaves of one owner and j ends by the time j + 1's
    candidate starts: back at the owner, the bound is that start and the walk picks j next.
    """
    cand, cend, owner = st.cand, st.cend, st.owner
    cs, ce = st.cs, st.ce
    cand_cs = cs[cand]
    leaf = (
        ~st.handoff_pos
        & (parent[cand] == owner)
        & ~st.has_candidates[cand]
        & (cand != root)
        & (cand_cs > floor)
        & (cend == ce[cand])
        & (cend > cand_cs)
    )
    link = np.zeros(len(cand), dtype=bool)
    link[1:] = leaf[1:] & leaf[:-1] & (owner[1:] == owner[:-1]) & (cend[:-1] <= cand_cs[1:])
    return np.flatnonzero(~link)


def _walk(parent: np.ndarray, st: _Structure, root: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Jaeger walk (module docstring); runs of leaf picks are emitted as whole arrays.

    Step by step the walk costs a few microseconds of Python per segment; a process's
    syscalls in program order are one run of leaf picks, so a million-syscall trace takes a
    handful of steps and a few array operations per process.
    """
    cs, ce = st.cs, st.ce
    cand, cend, handoff = st.cand, st.cend, st.handoff_pos
    floor = int(cs[root])
    breaks = _leaf_runs(parent, st, root, floor)
    ptr: dict[int, int] = {}
    first_slot: dict[int, int] = {}
    out = _Segments(2 * len(cand) + 64)
    origins: list[int] = []
    s = root
    bound = int(ce[root])
    while bound > floor:
        if bound > ce[s] and s != root:
            # The bound lies after this span: its parent owns that time (or picks it later).
            up = int(parent[s])
            s = up if up >= 0 else (origins.pop() if origins else root)
            continue
        first = first_slot.get(s, -1)
        if first < 0:
            first, ptr[s] = st.slots(s)
            first_slot[s] = first
        p = bisect_right(cend, bound, first, ptr[s])
        own_start = int(cs[s])
        if p > first and cend[p - 1] > own_start and cend[p - 1] > floor:
            p -= 1
            r = int(breaks[bisect_right(breaks, p) - 1])
            if p - r + 1 >= _MIN_RUN:
                # A run of leaf picks p, p-1, …, r: each leaf owns its interval, the owner
                # the gaps between them.
                out.leaf_run(s, bound, cand[r : p + 1][::-1], cend[r : p + 1][::-1], cs)
                ptr[s] = r
                bound = int(cs[cand[r]])
                continue
            ptr[s] = p
            e = int(cend[p])
            if bound > e:
                out.add(s, e, bound)
            bound = e
            if handoff[p]:
                origins.append(s)
            s = int(cand[p])
            continue
        ptr[s] = p
        if bound > own_start:
            low = own_start if own_start > floor else floor
            out.add(s, low, bound)
            bound = low
        if s == root:
            break
        up = int(parent[s])
        s = up if up >= 0 else (origins.pop() if origins else root)
    return out.in_time_order()


class _Segments:
    """The walk's output, written latest first into arrays allocated once (no list of parts)."""

    def __init__(self, capacity: int) -> None:
        self.node = np.empty(capacity, dtype=np.int64)
        self.lo = np.empty(capacity, dtype=np.int64)
        self.hi = np.empty(capacity, dtype=np.int64)
        self.size = 0

    def _reserve(self, extra: int) -> None:
        if self.size + extra > len(self.node):
            grow = max(2 * len(self.node), self.size + extra)
            for name in ("node", "lo", "hi"):
                bigger = np.empty(grow, dtype=np.int64)
                bigger[: self.size] = getattr(self, name)[: self.size]
                setattr(self, name, bigger)

    def add(self, node: int, lo: int, hi: int) -> None:
        self._reserve(1)
        k = self.size
        self.node[k], self.lo[k], self.hi[k] = node, lo, hi
        self.size = k + 1

    def leaf_run(self, s: int, bound: int, kids: np.ndarray, kid_end: np.ndarray, cs: np.ndarray) -> None:
        """One run of leaf picks under span `s`: per kid, the owner's gap above it, then the kid."""
        kid_start = cs[kids]
        gap_hi = np.empty(len(kids), dtype=np.int64)
        gap_hi[0] = bound
        gap_hi[1:] = kid_start[:-1]
        gap = gap_hi > kid_end
        m, gaps = len(kids), int(np.count_nonzero(gap))
        k = self.size
        self._reserve(m + gaps)
        if gaps == m:  # the usual case: the owner's time between every two kids
            self.node[k : k + 2 * m : 2], self.lo[k : k + 2 * m : 2], self.hi[k : k + 2 * m : 2] = s, kid_end, gap_hi
            self.node[k + 1 : k + 2 * m : 2], self.lo[k + 1 : k + 2 * m : 2] = kids, kid_start
            self.hi[k + 1 : k + 2 * m : 2] = kid_end
        else:
            at = k + np.cumsum(gap.astype(np.int64) + 1) - 1  # where each kid's segment goes
            self.node[at], self.lo[at], self.hi[at] = kids, kid_start, kid_end
            g = at[gap] - 1
            self.node[g], self.lo[g], self.hi[g] = s, kid_end[gap], gap_hi[gap]
        self.size = k + m + gaps

    def in_time_order(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = self.size
        return self.node[:k][::-1], self.lo[:k][::-1], self.hi[:k][::-1]


def _merge_adjacent(node: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Join consecutive segments of one span that touch (descend/return into the same span)."""
    if len(node) < 2:
        return node, lo, hi
    joins = (node[1:] == node[:-1]) & (lo[1:] == hi[:-1])
    if not joins.any():
        return node, lo, hi
    starts = np.concatenate([[True], ~joins])
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.concatenate([first[1:] - 1, [len(node) - 1]])
    del group
    return node[first], lo[first], hi[last]


# ---------------------------------------------------------------------------- what-if


@dataclass
class WhatIf:
    """The outcome of a virtual speedup: totals before/after and the new path."""

    speedups: dict[str, float]
    matched: int
    before: CriticalPath
    after: CriticalPath

    @property
    def saved_ns(self) -> int:
        return self.before.total_ns - self.after.total_ns

    @property
    def change(self) -> float:
        """Relative change of the total (negative = faster)."""
        return -self.saved_ns / self.before.total_ns if self.before.total_ns else 0.0

    def sentence(self) -> str:
        what = ", ".join(f"{k} were {_factor_text(v)}× faster" for k, v in self.speedups.items())
        return (
            f"if {what} the run would take {format_duration(self.after.total_ns)} "
            f"({self.change * 100:+.1f} %, was {format_duration(self.before.total_ns)})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "speedups": self.speedups,
            "matched_spans": self.matched,
            "before_ns": self.before.total_ns,
            "after_ns": self.after.total_ns,
            "change": self.change,
            "sentence": self.sentence(),
        }


def _factor_text(v: float) -> str:
    return f"{v:g}"


def speedup_factors(cg: CausalGraph, speedups: Mapping[str, float]) -> tuple[np.ndarray, int]:
    """Per-span duration multipliers (1/k) for span ids or span names; `SpeedupError` if unknown."""
    cols = cg.cols
    factor = np.ones(cols.n, dtype=np.float64)
    matched = np.zeros(cols.n, dtype=bool)
    for key, k in speedups.items():
        if not isinstance(k, (int, float)) or not np.isfinite(k) or k <= 0:
            raise SpeedupError(f"speedup for {key!r} must be a positive number, got {k!r}")
        first = pc.index(cols.span_id, pa.scalar(key.lower(), cols.span_id.type)).as_py()  # a scan, no hash of 1 M ids
        hit = np.array([first] if first >= 0 else [], dtype=np.int64)
        if len(hit) == 0:
            names = {key, f"syscall:{key}"}
            hit = cols.rows_named(lambda name: name in names)
        if len(hit) == 0:
            raise SpeedupError(f"no span id or span name {key!r} in this trace")
        factor[hit] = factor[hit] / float(k)
        matched[hit] = True
    return factor, int(matched.sum())


def replay(cg: CausalGraph, factor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-time every span with its own time scaled by `factor` (1 = as recorded)."""
    cols = cg.cols
    n = cols.n
    start, end = cols.start, cols.end
    st = _structure(cg, start, end, for_replay=True)
    f = factor
    # Event graph: node i = start of span i, node n + i = its end; edge weight = delay (ns).
    e_src: list[np.ndarray] = []
    e_dst: list[np.ndarray] = []
    e_w: list[np.ndarray] = []

    def add(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> None:
        e_src.append(a.astype(np.int64, copy=False))
        e_dst.append(b.astype(np.int64, copy=False))
        e_w.append(np.maximum(w, 0).astype(np.float64, copy=False))

    src, dst, kind = cg.live_edges()
    po = kind == K_PROGRAM
    a, b = src[po], dst[po]
    a = _sibling_source(cols.parent, a, b)
    seq = end[a] <= start[b]
    container = np.where(st.tree_child[b], cols.parent[b], b)
    add(n + a[seq], b[seq], (start[b[seq]] - end[a[seq]]) * f[container[seq]])
    has_po = np.zeros(n, bool)
    has_po[b[seq]] = True
    child = np.flatnonzero((cols.parent >= 0) & ~has_po)
    p = cols.parent[child]
    inside = start[child] >= start[p]  # a child recorded before its parent keeps its own time
    child, p = child[inside], p[inside]
    add(p, child, (start[child] - start[p]) * f[p])
    fk = np.isin(kind, (K_FORK, K_CLOCK, K_SIGNAL))
    a, b = src[fk], dst[fk]
    later = start[b] >= start[a]
    add(a[later], b[later], (start[b[later]] - start[a[later]]) * f[a[later]])
    inner_s, inner_d = _last_inner_per_thread(cols.tid, end, st.inner_src, st.inner_dst)
    has_inner = np.zeros(n, bool)
    has_inner[inner_d] = True
    # The span's own tail is what follows its *last* inner item; an earlier-ending thread's
    # item is followed by that same tail, not by the time the other threads kept running.
    last_end = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_end, inner_d, end[inner_s])
    add(n + inner_s, n + inner_d, (end[inner_d] - last_end[inner_d]) * f[inner_d])
    # A hand-off source seen ending after its target (see `_structure`): the target's end
    # follows the source's start, the time between them being the source's own.
    skew = st.handoff_src_mask & (end[st.inner_src] > end[st.inner_dst])
    sk_s, sk_d = st.inner_src[skew], st.inner_dst[skew]
    has_inner[sk_d] = True
    add(sk_s, n + sk_d, (end[sk_d] - start[sk_s]) * f[sk_s])
    nodes = np.arange(n)
    add(nodes, n + nodes, np.where(has_inner, 0, (end - start) * f))
    es, ed, ew = np.concatenate(e_src), np.concatenate(e_dst), np.concatenate(e_w)
    # Relative to the first start: epoch nanoseconds (~1.8e18) lose ~256 ns in a float64.
    t0 = int(start.min()) if n else 0
    base = (np.concatenate([start, end]) - t0).astype(np.float64)
    # Lay events out thread by thread in row order (start, end, next start, …), so that most
    # events follow the one laid out before them.
    rows = np.argsort(cols.tid, kind="stable")
    layout = np.empty(2 * n, dtype=np.int64)
    layout[0::2], layout[1::2] = rows, rows + n
    t = _latest_times(es, ed, ew, base, layout)
    new_start = np.rint(t[:n]).astype(np.int64) + t0
    new_end = np.maximum(np.rint(t[n:]).astype(np.int64) + t0, new_start)
    return new_start, new_end


def _inverse(perm: np.ndarray) -> np.ndarray:
    """The inverse of a permutation of 0 … len - 1 (int32 where it fits)."""
    index = np.int32 if len(perm) < 2**31 else np.int64
    inv = np.empty(len(perm), dtype=index)
    inv[perm] = np.arange(len(perm), dtype=index)
    return inv


#: Chains at least this long are summed by numpy; shorter ones by a Python loop (cheaper there).
_NUMPY_CHAIN = 24


def _latest_times(
    es: np.ndarray,
    ed: np.ndarray,
    ew: np.ndarray,
    base: np.ndarray,
    layout: np.ndarray,
    as_list: bool | None = None,
    numpy_chain: int = _NUMPY_CHAIN,
) -> np.ndarray:
    """Each event's time: the latest of (source's time + delay) over its incoming edges, in float64.

    An event without incoming edges keeps `base`.  Answers bit for bit what relaxing every event
    in a topological order gives (t[v] = max over edges u → v of t[u] + w), without a Python step
    per event.  `layout` orders the events (any order is correct; a good one is fast): an event
    whose only incoming edge comes from the event laid out just before it is a *link*, and
    maximal runs of links are chains.  A chain's first event takes the maximum over its edges;
    the rest are a running sum of the link delays from it, which `np.cumsum` adds in the same
    order (so with the same rounding) as the step-by-step relaxation.  Chains are taken in a
    topological order of the graph of chains: a cycle there is exactly a cycle of events.
    `as_list` and `numpy_chain` choose how the sums are kept and taken (None: by chain count).
    """
    size = len(base)
    if size == 0:
        return base.copy()
    # Positions as int32 where they fit: this runs on arrays of millions of events, and on a
    # machine where fresh memory is slow to touch their size is much of the time.
    index = np.int32 if size < 2**31 else np.int64
    pos = _inverse(layout)
    src_pos, dst_pos = pos[es], pos[ed]
    del pos
    # A link: the event's only incoming edge, from the event laid out just before it.  Without
    # counting every event's edges: an event is no link's end if any other edge reaches it, or
    # two edges from the one before (a multigraph's duplicates).
    after = (src_pos + 1) == dst_pos  # bool per edge
    blocked = np.zeros(size, dtype=bool)
    blocked[dst_pos[~after]] = True
    after_dst = dst_pos[after]
    seen = np.empty(size, dtype=index)
    seen[after_dst] = np.arange(len(after_dst), dtype=index)  # the last such edge per event wins
    blocked[after_dst[seen[after_dst] != np.arange(len(after_dst), dtype=index)]] = True
    del seen, after_dst
    link = after & ~blocked[dst_pos]
    del after, blocked
    link_dst = dst_pos[link]
    linked = np.zeros(size, dtype=bool)
    linked[link_dst] = True
    delay = np.zeros(size, dtype=np.float64)  # by position: the link's delay
    delay[link_dst] = ew[link]
    head = np.flatnonzero(~linked)  # chain c is positions head[c] … head[c + 1] - 1
    stop = np.append(head[1:], size)
    other = ~link  # every other edge ends at the first event of a chain
    o_src, o_dst, o_w = src_pos[other], dst_pos[other], ew[other]
    del src_pos, dst_pos, other, link, link_dst, linked
    chain_of_src = np.searchsorted(head, o_src, side="right") - 1
    chain_of_dst = np.searchsorted(head, o_dst, side="right") - 1
    g = rx.PyDiGraph(check_cycle=False, multigraph=True, node_count_hint=len(head))
    g.add_nodes_from(range(len(head)))
    g.extend_from_edge_list(zip(chain_of_src.tolist(), chain_of_dst.tolist()))
    try:
        order = rx.topological_sort(g)
    except rx.DAGHasCycle:
        raise SpeedupError("cannot replay this trace: its recorded times contradict its causal order") from None
    by_dst = np.argsort(o_dst, kind="stable")
    o_src, o_dst, o_w = o_src[by_dst], o_dst[by_dst], o_w[by_dst]
    first = np.searchsorted(o_dst, head, side="left").tolist()
    last = np.searchsorted(o_dst, head, side="right").tolist()
    in_src, in_w = o_src.tolist(), o_w.tolist()
    heads, stops = head.tolist(), stop.tolist()
    # Few chains (the usual case: a thread's calls are one chain between two hand-offs): times
    # stay in a numpy array the chains' sums are written into.  Many: Python lists, whose
    # element access is cheaper than a numpy array's.
    if as_list is None:
        as_list = len(head) * 16 > size
    t: Any = base[layout]  # by position
    d: Any = delay
    if as_list:
        t, d = t.tolist(), delay.tolist()
    for c in order:
        lo, hi = heads[c], stops[c]
        k, k_end = first[c], last[c]
        if k < k_end:
            best = -np.inf
            for k in range(k, k_end):
                cand = t[in_src[k]] + in_w[k]
                if cand > best:
                    best = cand
            t[lo] = best
        if hi - lo >= numpy_chain:
            run = delay[lo:hi].copy()
            run[0] = t[lo]
            if as_list:
                t[lo:hi] = np.cumsum(run).tolist()
            else:
                np.cumsum(run, out=t[lo:hi])
        elif hi - lo > 1:
            x = t[lo]
            if as_list:
                for p in range(lo + 1, hi):
                    x = x + d[p]
                    t[p] = x
            else:
                sums = []
                for w in delay[lo + 1 : hi].tolist():
                    x = x + w
                    sums.append(x)
                t[lo + 1 : hi] = sums
    return (np.asarray(t) if as_list else t)[_inverse(layout)]


def _sibling_source(parent: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For program order a → b, the ancestor of `a` that is a sibling of `b` (where there is one).

    With nested spans in one thread (A ⊃ a1, then B) the clock order says a1 → B, but the gap
    between them holds the rest of A: B waits for A's end, and A's own time must scale with A.
    """
    up = a.copy()
    for _ in range(len(parent)):
        climb = (parent[up] != parent[b]) & (parent[up] >= 0)
        if not climb.any():
            break
        up[climb] = parent[up[climb]]
    ok = (parent[up] == parent[b]) & (up != b)
    return np.where(ok, up, a)


def _last_inner_per_thread(
    tid: np.ndarray, end: np.ndarray, s: np.ndarray, d: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per span and thread, the inner item that ends last: the one its end waits for.

    Earlier items of that thread reach it through program order, so only the last one bounds
    the span's end; one per thread so a sped-up thread hands the end to a slower sibling.  An
    item that ends after the span (a child overhanging its parent) does not bound it.
    """
    inside = end[s] <= end[d]
    s, d = s[inside], d[inside]
    if len(s) == 0:
        return s, d
    order = np.lexsort((end[s], tid[s], d))
    s, d = s[order], d[order]
    last = np.ones(len(s), bool)
    last[:-1] = (d[1:] != d[:-1]) | (tid[s[1:]] != tid[s[:-1]])
    return s[last], d[last]


def what_if(cg: CausalGraph, speedups: Mapping[str, float], before: CriticalPath | None = None) -> WhatIf:
    """Critical path if the named spans (ids or names) were k× faster (Coz's virtual speedup)."""
    if not speedups:
        raise SpeedupError("no speedup given")
    factor, matched = speedup_factors(cg, speedups)
    before = before if before is not None else critical_path(cg)
    new_start, new_end = replay(cg, factor)
    after = critical_path(cg, new_start, new_end)
    return WhatIf({k: float(v) for k, v in speedups.items()}, matched, before, after)


def parse_speedup(text: str) -> tuple[str, float]:
    """`NAME_OR_SPAN_ID=10x` (or `=10`) → (key, 10.0); `SpeedupError` on anything else."""
    key, sep, value = text.strip().rpartition("=")
    key = key.strip()
    value = value.strip().lower().removesuffix("x").removesuffix("×").strip()
    if not sep or not key:
        raise SpeedupError(f"bad speedup {text!r}: expected NAME_OR_SPAN_ID=FACTORx, e.g. read=10x")
    try:
        factor = float(value)
    except ValueError:
        raise SpeedupError(f"bad speedup factor in {text!r}: expected a number like 10x") from None
    if not np.isfinite(factor) or factor <= 0:
        raise SpeedupError(f"bad speedup factor in {text!r}: must be a positive number")
    return key, factor
