"""Verbatim copies of analysis code as it was before it was made columnar (issue 18).

Test-only: tests/test_analysis_perf_equiv.py checks that the shipped, vectorised rules and
replay give exactly these answers.  Kept as they were (per-syscall Python loops and dicts over
fully parsed attributes; a Python relaxation over the event graph in topological order), so do
not "fix" them: they are the definition the fast paths are measured against.
"""

from __future__ import annotations

import errno
from typing import Any, Mapping

import numpy as np
import rustworkx as rx

from renacer_tui.analysis.antipatterns import _EVIDENCE_IDS, SEVERITIES, Finding, Thresholds, grade
from renacer_tui.analysis.critical_path import (
    CriticalPath,
    SpeedupError,
    _last_inner_per_thread,
    _sibling_source,
    _structure,
    critical_path,
)
from renacer_tui.analysis.graph import K_CLOCK, K_FORK, K_PROGRAM, K_SIGNAL, CausalGraph
from renacer_tui.model.attributes import (
    ATTR_FD_OBJECT,
    ATTR_GPU_BYTES,
    ATTR_GPU_COMPUTE_TIME,
    ATTR_GPU_TRANSFER_TIME,
    ATTR_RLE_MAX,
    ATTR_SYSCALL_ERRNO,
    ATTR_SYSCALL_FD,
    ATTR_SYSCALL_PATH,
    ATTR_SYSCALL_RESULT,
)
from renacer_tui.model.kinds import is_gpu
from renacer_tui.model.readable import format_duration
from renacer_tui.model.syscalls import (
    BENIGN_ERRORS,
    BLOCKING_IO,
    PATH_LOOKUPS,
    WRITE_CALLS,
    waits_on_storage,
)

# ---------------------------------------------------------------- antipatterns.detect


class _Syscalls:
    """The syscall rows of a trace with the attributes the rules read (parsed once)."""

    def __init__(self, cg: CausalGraph) -> None:
        cols = cg.cols
        self.cols = cols
        self.rows = cols.rows_named(lambda name: name.startswith("syscall:"))
        self.call = [cols.name(i)[8:] for i in self.rows.tolist()]
        self.attrs = [cols.attrs(i) for i in self.rows.tolist()]
        self.weight = cols.rle_count[self.rows]
        status = cols.table.column("status").to_pylist()
        message = cols.table.column("status_message").to_pylist()
        self.errno: list[str | None] = []
        for k, i in enumerate(self.rows.tolist()):
            a = self.attrs[k]
            result = a.get(ATTR_SYSCALL_RESULT)
            failed = status[i] == "ERROR" or (isinstance(result, int) and -4096 < result < 0)
            err = a.get(ATTR_SYSCALL_ERRNO) or message[i] or (-result if isinstance(result, int) and result < 0 else None)
            if isinstance(err, int):
                err = errno.errorcode.get(err, str(err))
            self.errno.append(str(err) if failed and err else None)

    def ids(self, ks: list[int]) -> list[str]:
        return [self.cols.id_of(int(self.rows[k])) for k in ks[:_EVIDENCE_IDS]]


def detect(
    cg: CausalGraph,
    thresholds: Thresholds | Mapping[str, Any] | None = None,
    path: CriticalPath | None = None,
) -> list[Finding]:
    """All findings of the trace, most severe first."""
    th = thresholds if isinstance(thresholds, Thresholds) else Thresholds.from_config(None, thresholds)
    sc = _Syscalls(cg)
    cp = path if path is not None else critical_path(cg)
    findings = [
        *_god_process(sc, th),
        *_tight_loops(sc, th),
        *_blocking_io(cg, cp, th),
        *_small_writes(sc, th),
        *_redundant_lookups(sc, th),
        *_failed_storms(sc, th),
        *_pcie(cg, th),
    ]
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (rank[f.severity], -f.count))


def _process_spans(cols: Any) -> tuple[dict[int, int], dict[int, set[int]]]:
    """pid → its `process:` span row, and pid → the pids of its ancestor processes.

    A process span hangs under the fork span that created it, which belongs to the parent.
    """
    rows = cols.rows_named(lambda name: name.startswith("process:"))
    span_of: dict[int, int] = {}
    for i in rows.tolist():
        span_of.setdefault(int(cols.pid[i]), i)
    parent_pid: dict[int, int] = {}
    for pid, i in span_of.items():
        fork = int(cols.parent[i])
        if fork >= 0 and int(cols.pid[fork]) != pid and int(cols.pid[fork]) in span_of:
            parent_pid[pid] = int(cols.pid[fork])
    ancestors: dict[int, set[int]] = {}
    for pid in span_of:
        seen: set[int] = set()
        up = parent_pid.get(pid)
        while up is not None and up not in seen:
            seen.add(up)
            up = parent_pid.get(up)
        ancestors[pid] = seen
    return span_of, ancestors


def _god_process(sc: _Syscalls, th: Thresholds) -> list[Finding]:
    """One process doing nearly all the work while other *workers* run beside it.

    The processes that count against a candidate are those alive at the same time that are not
    its ancestors: a shell or launcher blocked in wait() for the one program it started is not
    a peer, and neither is a helper that ran before or after.  At least two peers are needed,
    so `sh -c prog` or a program that runs one subprocess is never a god process.
    """
    cols = sc.cols
    pids = cols.pid[sc.rows]
    uniq, inverse = np.unique(pids, return_inverse=True)
    if len(uniq) < 3:
        return []
    counts = np.bincount(inverse, weights=sc.weight).astype(np.int64)
    span_of, ancestors = _process_spans(cols)
    # Lifetime of each process: its process span, else its first to its last syscall.
    _, first = np.unique(inverse, return_index=True)
    last = len(inverse) - 1 - np.unique(inverse[::-1], return_index=True)[1]
    lo = cols.start[sc.rows[first]].copy()
    hi = cols.end[sc.rows[last]].copy()
    for j, pid in enumerate(uniq.tolist()):
        i = span_of.get(int(pid))
        if i is not None:
            lo[j], hi[j] = cols.start[i], cols.end[i]
    index_of = {int(pid): j for j, pid in enumerate(uniq.tolist())}
    out = []
    for j in np.flatnonzero(counts >= th.god_process_threshold).tolist():
        pid = int(uniq[j])
        peer = (lo < hi[j]) & (hi > lo[j])
        peer[j] = False
        for up in ancestors.get(pid, ()):
            if up in index_of:
                peer[index_of[up]] = False
        peers = np.flatnonzero(peer)
        if len(peers) < 2:
            continue
        total = int(counts[j] + counts[peers].sum())
        share = counts[j] / total
        if share < th.god_process_share:
            continue
        n = int(counts[j])
        sev = grade("god-process", n, th)
        members = np.flatnonzero(inverse == j).tolist()
        name = cols.text("process_name", int(sc.rows[last[j]])) or "?"
        out.append(
            Finding(
                "god-process",
                sev or "low",
                f"God process: {name} (pid {pid}) makes {n} of the {total} syscalls of {len(peers) + 1} concurrent "
                f"processes ({share:.0%}; threshold {th.god_process_threshold})",
                "split the work across processes or threads, or batch the calls it makes",
                sc.ids(members),
                n,
                pid=pid,
            )
        )
    return out


def _tight_loops(sc: _Syscalls, th: Thresholds) -> list[Finding]:
    if len(sc.rows) == 0:
        return []
    cols = sc.cols
    order = np.lexsort((cols.clock[sc.rows], cols.tid[sc.rows]))
    tid = cols.tid[sc.rows][order]
    code = cols.name_code[sc.rows][order]
    breaks = np.concatenate([[True], (tid[1:] != tid[:-1]) | (code[1:] != code[:-1])])
    run_id = np.cumsum(breaks) - 1
    run_calls = np.bincount(run_id, weights=sc.weight[order]).astype(np.int64)
    out = []
    for r in np.flatnonzero(run_calls >= th.tight_loop_min_calls).tolist():
        members = order[run_id == r].tolist()
        n = int(run_calls[r])
        rows = sc.rows[members]
        span_ns = int(cols.end[rows].max() - cols.start[rows].min())
        paths = {sc.attrs[k].get(ATTR_SYSCALL_PATH) for k in members} - {None}
        one_path = next(iter(paths)) if len(paths) == 1 else None
        call = sc.call[members[0]]
        out.append(
            Finding(
                "tight-loop",
                grade("tight-loop", n, th) or "low",
                f"Tight loop: syscall:{call} called {n} times back to back in {format_duration(span_ns)}"
                + (f" on {one_path}" if one_path else ""),
                f"hoist the {call} out of the loop or cache its result",
                sc.ids(members),
                n,
                path=one_path,
                pid=int(cols.pid[rows[0]]),
            )
        )
    return out


def _blocking_io(cg: CausalGraph, cp: CriticalPath, th: Thresholds) -> list[Finding]:
    cols = cg.cols
    limit = int(th.blocking_io_ms * 1e6)
    out = []
    seen: set[int] = set()
    for k in np.flatnonzero(cp.duration >= limit).tolist():
        i = int(cp.node[k])
        name = cols.name(i)
        if i in seen or not name.startswith("syscall:") or name[8:] not in BLOCKING_IO:
            continue
        seen.add(i)
        single = int(cols.duration[i])
        if cols.rle_count[i] > 1:  # an RLE row spans many calls: judge the slowest one
            single = int(cols.attrs(i).get(ATTR_RLE_MAX) or 0)
        if single < limit:
            continue
        attrs = cols.attrs(i)
        target = attrs.get(ATTR_SYSCALL_PATH) or attrs.get(ATTR_FD_OBJECT)
        if waits_on_storage(name[8:], attrs.get(ATTR_FD_OBJECT) or attrs.get(ATTR_SYSCALL_PATH)):
            continue  # the disk's latency, not the program's design: a slow machine is no anti-pattern
        fd = attrs.get(ATTR_SYSCALL_FD)
        out.append(
            Finding(
                "blocking-io",
                "high" if single >= 10 * limit else "medium",
                f"Blocking I/O on the critical path: {name} took {format_duration(single)}"
                + (f" on {target}" if target else (f" on fd {fd}" if fd is not None else "")),
                "make it asynchronous, prefetch, or move it off the critical path",
                [cols.id_of(i)],
                int(cols.rle_count[i]),
                path=target if isinstance(target, str) else None,
                fd=str(fd) if fd is not None else None,
                pid=int(cols.pid[i]),
            )
        )
    return out


def _small_writes(sc: _Syscalls, th: Thresholds) -> list[Finding]:
    groups: dict[tuple[int, str], list[int]] = {}
    totals: dict[tuple[int, str], int] = {}
    for k, call in enumerate(sc.call):
        if call not in WRITE_CALLS:
            continue
        a = sc.attrs[k]
        target = a.get(ATTR_FD_OBJECT) or (f"fd {a.get(ATTR_SYSCALL_FD)}" if a.get(ATTR_SYSCALL_FD) is not None else "fd ?")
        key = (int(sc.cols.pid[sc.rows[k]]), str(target))
        totals[key] = totals.get(key, 0) + int(sc.weight[k])
        result = a.get(ATTR_SYSCALL_RESULT)
        if isinstance(result, int) and 0 <= result < th.small_write_bytes:
            groups.setdefault(key, []).append(k)
    out = []
    for key, members in groups.items():
        n = int(sc.weight[members].sum())
        if n < th.small_writes_min or n < 0.5 * totals[key]:
            continue
        nbytes = sum(int(sc.attrs[k].get(ATTR_SYSCALL_RESULT) or 0) * int(sc.weight[k]) for k in members)
        fd = str(sc.attrs[members[0]].get(ATTR_SYSCALL_FD, "?"))
        out.append(
            Finding(
                "small-writes",
                grade("small-writes", n, th) or "low",
                f"Small writes: {n} writes under {th.small_write_bytes} B ({nbytes} B in all) to {key[1]}",
                "buffer the output (e.g. setvbuf/BufWriter) and write it in one call",
                sc.ids(members),
                n,
                path=key[1] if not key[1].startswith("fd ") else None,
                fd=fd,
                pid=key[0],
            )
        )
    return out


def _redundant_lookups(sc: _Syscalls, th: Thresholds) -> list[Finding]:
    groups: dict[str, list[int]] = {}
    for k, call in enumerate(sc.call):
        if call in PATH_LOOKUPS:
            p = sc.attrs[k].get(ATTR_SYSCALL_PATH)
            if isinstance(p, str) and p:
                groups.setdefault(p, []).append(k)
    out = []
    for p, members in groups.items():
        n = int(sc.weight[members].sum())
        sev = grade("redundant-lookup", n, th)
        if sev is None:
            continue
        calls = sorted({sc.call[k] for k in members})
        out.append(
            Finding(
                "redundant-lookup",
                sev,
                f"Redundant lookups: {p} opened/stat'ed {n} times ({', '.join(calls)})",
                "look the path up once and keep the fd or the stat result",
                sc.ids(members),
                n,
                path=p,
                pid=int(sc.cols.pid[sc.rows[members[0]]]),
            )
        )
    return out




def _failed_storms(sc: _Syscalls, th: Thresholds) -> list[Finding]:
    groups: dict[tuple[str, str], list[int]] = {}
    for k, err in enumerate(sc.errno):
        if err and err not in BENIGN_ERRORS:
            groups.setdefault((sc.call[k], err), []).append(k)
    out = []
    for (call, err), members in groups.items():
        n = int(sc.weight[members].sum())
        sev = grade("failed-storm", n, th)
        if sev is None:
            continue
        paths = [sc.attrs[k].get(ATTR_SYSCALL_PATH) for k in members]
        distinct = len({p for p in paths if p})
        sample = next((p for p in paths if p), None)
        shape = f" over {distinct} paths (a search path)" if distinct > 1 else (f" on {sample}" if sample else "")
        out.append(
            Finding(
                "failed-storm",
                sev,
                f"Failed-syscall storm: {n} × syscall:{call} → {err}{shape}",
                "shorten the search path (PATH, LD_LIBRARY_PATH, sys.path) or cache the miss"
                if err == "ENOENT"
                else f"check the cause of {err} once instead of retrying",
                sc.ids(members),
                n,
                path=sample,
                pid=int(sc.cols.pid[sc.rows[members[0]]]),
            )
        )
    return out


def _pcie(cg: CausalGraph, th: Thresholds) -> list[Finding]:
    """GPU data movement that dwarfs the GPU's compute, per span or per process.

    A span that carries both sums (`gpu.transfer_time_nanos` and `gpu.compute_time_nanos`) is
    judged alone.  The profiler (`renacer_tui.gpu`) makes one span per transfer and one per
    compute pass, so those are summed per process: a program whose uploads and read-backs take
    more than `pcie_ratio` times its kernels is bound by the bus, not by the GPU.
    """
    cols = cg.cols
    out = []
    moved: dict[int, list[tuple[float, int]]] = {}
    computed: dict[int, float] = {}
    for i in cols.rows_named(is_gpu).tolist():
        attrs = cols.attrs(i)
        transfer = _number(attrs.get(ATTR_GPU_TRANSFER_TIME))
        compute = _number(attrs.get(ATTR_GPU_COMPUTE_TIME))
        if transfer is not None and compute is not None:
            if transfer > th.pcie_ratio * compute:
                out.append(
                    Finding(
                        "pcie-bottleneck",
                        "high",
                        f"PCIe bottleneck: {cols.name(i)} moves data for {format_duration(transfer)} to compute for {format_duration(compute)}",
                        "keep the data resident on the GPU or batch transfers",
                        [cols.id_of(i)],
                        1,
                        pid=int(cols.pid[i]),
                    )
                )
        elif transfer is not None:
            moved.setdefault(int(cols.pid[i]), []).append((transfer, i))
        elif compute is not None:
            computed[int(cols.pid[i])] = computed.get(int(cols.pid[i]), 0.0) + compute
    for pid, transfers in moved.items():
        compute = computed.get(pid)
        total = sum(t for t, _ in transfers)
        if compute is None or total <= th.pcie_ratio * compute:
            continue  # no kernel in the process: nothing for the transfers to starve
        transfers.sort(key=lambda item: -item[0])
        nbytes = sum(int(_number(cols.attrs(i).get(ATTR_GPU_BYTES)) or 0) for _, i in transfers)
        out.append(
            Finding(
                "pcie-bottleneck",
                "high" if total > 2 * th.pcie_ratio * compute else "medium",
                f"PCIe bottleneck: pid {pid} moves {nbytes / 2**20:.1f} MiB in {len(transfers)} GPU transfers taking "
                f"{format_duration(total)}, against {format_duration(compute)} of compute ({total / max(compute, 1):.0f}×; "
                f"threshold {th.pcie_ratio:g}×)",
                "keep the data resident on the GPU, upload only what the kernels read, or batch transfers",
                [cols.id_of(i) for _, i in transfers[:_EVIDENCE_IDS]],
                len(transfers),
                pid=pid,
            )
        )
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# ---------------------------------------------------------------- critical_path.replay


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
        e_src.append(a.astype(np.int64))
        e_dst.append(b.astype(np.int64))
        e_w.append(np.maximum(w, 0).astype(np.float64))

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
    g = rx.PyDiGraph(check_cycle=False, multigraph=True, node_count_hint=2 * n)
    g.add_nodes_from(range(2 * n))
    g.extend_from_edge_list(zip(es.tolist(), ed.tolist()))
    # Relative to the first start: epoch nanoseconds (~1.8e18) lose ~256 ns in a float64.
    t0 = int(start.min()) if n else 0
    base = (np.concatenate([start, end]) - t0).astype(np.float64)
    has_in = np.zeros(2 * n, bool)
    has_in[ed] = True
    t = np.where(has_in, -np.inf, base)  # exogenous events keep their recorded time
    incoming_order = np.argsort(ed, kind="stable")
    ed_sorted = ed[incoming_order]
    first = np.searchsorted(ed_sorted, np.arange(2 * n), side="left").tolist()
    last = np.searchsorted(ed_sorted, np.arange(2 * n), side="right").tolist()
    in_src = es[incoming_order].tolist()
    in_w = ew[incoming_order].tolist()
    tl = t.tolist()
    try:
        topo = rx.topological_sort(g)
    except rx.DAGHasCycle:
        raise SpeedupError("cannot replay this trace: its recorded times contradict its causal order") from None
    for v in topo:
        lo_v, hi_v = first[v], last[v]
        if lo_v == hi_v:
            continue
        best = tl[v]
        for k in range(lo_v, hi_v):
            cand = tl[in_src[k]] + in_w[k]
            if cand > best:
                best = cand
        tl[v] = best
    t = np.asarray(tl)
    new_start = np.rint(t[:n]).astype(np.int64) + t0
    new_end = np.maximum(np.rint(t[n:]).astype(np.int64) + t0, new_start)
    return new_start, new_end


def speedup_factors(cg: CausalGraph, speedups: Mapping[str, float]) -> tuple[np.ndarray, int]:
    """Per-span duration multipliers (1/k) for span ids or span names; `SpeedupError` if unknown."""
    cols = cg.cols
    factor = np.ones(cols.n, dtype=np.float64)
    matched = np.zeros(cols.n, dtype=bool)
    for key, k in speedups.items():
        if not isinstance(k, (int, float)) or not np.isfinite(k) or k <= 0:
            raise SpeedupError(f"speedup for {key!r} must be a positive number, got {k!r}")
        rows = cols.index_of([key.lower()])
        hit = rows[rows >= 0]
        if len(hit) == 0:
            names = {key, f"syscall:{key}"}
            hit = cols.rows_named(lambda name: name in names)
        if len(hit) == 0:
            raise SpeedupError(f"no span id or span name {key!r} in this trace")
        factor[hit] = factor[hit] / float(k)
        matched[hit] = True
    return factor, int(matched.sum())


# ---------------------------------------------------------------- checks against the reference


def checked_detect(cg: CausalGraph, thresholds: Thresholds | Mapping[str, Any] | None = None) -> list[Finding]:
    """The shipped detector's findings, asserted equal (every field, same order) to the reference's.

    The reference runs on a graph of its own, so neither shares the other's parsed attributes.
    """
    from renacer_tui.analysis.antipatterns import detect as shipped_detect
    from renacer_tui.analysis.graph import build_graph

    got = shipped_detect(cg, thresholds, path=critical_path(cg))
    fresh = build_graph(cg.cols.table)
    expected = detect(fresh, thresholds, path=critical_path(fresh))
    assert got == expected
    return got


def checked_replay(cg: CausalGraph, factor: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The shipped replay's times, asserted equal to the reference's; None where both refuse
    the trace (SpeedupError: its recorded times contradict its causal order)."""
    from renacer_tui.analysis.critical_path import replay as shipped_replay

    try:
        expected = replay(cg, factor)
    except SpeedupError:
        try:
            shipped_replay(cg, factor)
        except SpeedupError:
            return None
        raise AssertionError("the reference refused a trace the shipped replay accepted") from None
    got = shipped_replay(cg, factor)  # a SpeedupError here fails the test
    assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    return got


def relax_in_topological_order(es: np.ndarray, ed: np.ndarray, ew: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The event times as the reference `replay` computes them from its edges (the same loop)."""
    size = len(base)
    g = rx.PyDiGraph(check_cycle=False, multigraph=True, node_count_hint=size)
    g.add_nodes_from(range(size))
    g.extend_from_edge_list(zip(es.tolist(), ed.tolist()))
    has_in = np.zeros(size, bool)
    has_in[ed] = True
    t = np.where(has_in, -np.inf, base)
    incoming_order = np.argsort(ed, kind="stable")
    ed_sorted = ed[incoming_order]
    first = np.searchsorted(ed_sorted, np.arange(size), side="left").tolist()
    last = np.searchsorted(ed_sorted, np.arange(size), side="right").tolist()
    in_src = es[incoming_order].tolist()
    in_w = ew[incoming_order].tolist()
    tl = t.tolist()
    try:
        topo = rx.topological_sort(g)
    except rx.DAGHasCycle:
        raise SpeedupError("cannot replay this trace: its recorded times contradict its causal order") from None
    for v in topo:
        lo_v, hi_v = first[v], last[v]
        if lo_v == hi_v:
            continue
        best = tl[v]
        for k in range(lo_v, hi_v):
            cand = tl[in_src[k]] + in_w[k]
            if cand > best:
                best = cand
        tl[v] = best
    return np.asarray(tl)
