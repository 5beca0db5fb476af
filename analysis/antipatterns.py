"""Anti-pattern detection, calibrated so a clean program yields no medium or high finding.

Why not the spec's rules verbatim: "out-degree > 100" and "the same syscall > 5 times in a
10-span window" fire on every dynamically linked program (the loader alone mmaps and closes in
bursts).  Each rule here asks for evidence a reviewer would accept — a process doing nearly all
the work while at least two other workers run beside it (a launcher waiting for its one child
is not a god process), thousands of identical calls back to back, a single syscall
blocking the critical path for 100 ms — and counts an RLE row as the `rle_count` calls it
stands for.  Thresholds are arguments: the UI and CLI read them from `[graph]` in
~/.renacer/config.toml (`renacer_tui.thresholds`), and they can be overridden per call.
"""

from __future__ import annotations

import errno
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from renacer_tui.analysis.critical_path import CriticalPath, critical_path
from renacer_tui.analysis.graph import CausalGraph
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

SEVERITIES = ("high", "medium", "low")
#: Every `Finding.kind` the rules below produce (trace assertions name them, with `_` for `-`).
KINDS = ("god-process", "tight-loop", "blocking-io", "small-writes", "redundant-lookup", "failed-storm", "pcie-bottleneck")
_EVIDENCE_IDS = 20



class GraphSettings(Protocol):
    """What the thresholds need of config.toml's `[graph]` table (`store.config.GraphConfig`)."""

    def threshold(self, name: str, default: Any) -> Any: ...


@dataclass(frozen=True)
class Thresholds:
    """Detection thresholds; field names are the `[graph]` keys that override them."""

    god_process_threshold: int = 100  # syscalls (spec key)
    god_process_share: float = 0.8  # …and at least this share of all syscalls, with ≥ 2 processes
    tight_loop_min_calls: int = 1000  # back-to-back identical calls in one thread
    blocking_io_ms: float = 100.0  # one I/O syscall on the critical path at least this long
    small_write_bytes: int = 64
    small_writes_min: int = 256  # small writes to one fd
    redundant_lookup_min: int = 100  # opens/stats of one path
    failed_storm_min: int = 200  # failed calls of one syscall with one errno
    pcie_ratio: float = 5.0  # gpu transfer time > ratio × compute time

    @classmethod
    def from_config(cls, graph: GraphSettings | None, overrides: Mapping[str, Any] | None = None) -> "Thresholds":
        """Defaults < the `[graph]` settings given < `overrides` (the caller reads the config file:
        an analysis never does)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if graph is not None:
                value = graph.threshold(f.name, None)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    values[f.name] = type(getattr(cls, f.name))(value)
        for key, value in (overrides or {}).items():
            if key not in {f.name for f in fields(cls)}:
                raise ValueError(f"unknown threshold {key!r}")
            values[key] = type(getattr(cls, key))(value)
        return replace(cls(), **values)


@dataclass
class Finding:
    """One detected anti-pattern: what, how bad, the evidence, and the one-line fix."""

    kind: str
    severity: str
    title: str
    fix: str
    span_ids: list[str] = field(default_factory=list)
    count: int = 0
    path: str | None = None
    fd: str | None = None
    pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Per rule: the threshold it is measured against and the multiples of it at which a finding is
#: rated low, medium and high.  The live alerts read the same table, so a pattern the report
#: rates low never interrupts a live run.
GRADES: dict[str, tuple[str, float, float, float]] = {
    "god-process": ("god_process_threshold", 1, 5, 50),
    "tight-loop": ("tight_loop_min_calls", 1, 1, 10),
    "small-writes": ("small_writes_min", 1, 4, 40),
    "redundant-lookup": ("redundant_lookup_min", 1, 10, 100),
    "failed-storm": ("failed_storm_min", 1, 5, 50),
}


def level_count(kind: str, severity: str, th: Thresholds) -> float:
    """The count at which a finding of `kind` is rated `severity`."""
    key, low, medium, high = GRADES[kind]
    return {"low": low, "medium": medium, "high": high}[severity] * getattr(th, key)


def grade(kind: str, count: float, th: Thresholds) -> str | None:
    """The severity of a `kind` finding over `count` calls; None under the rule's threshold."""
    for severity in SEVERITIES:  # most severe first
        if count >= level_count(kind, severity, th):
            return severity
    return None


class _Syscalls:
    """The syscall rows of a trace as columns; attributes are parsed only where a rule reads them.

    Parsing every row's JSON cost more than all the rules together (6 s at a million spans), and
    most rules only read the attributes of a few calls: the writes, the path lookups, the calls
    that failed.  Row positions `k` index `rows` (ascending), so groups built by walking `k` in
    order come out in the order a walk over every syscall would make them.
    """

    def __init__(self, cg: CausalGraph) -> None:
        cols = cg.cols
        self.cols = cols
        self.rows = cols.rows_named(lambda name: name.startswith("syscall:"))
        self.code = cols.name_code[self.rows]
        self.calls = [name[8:] for name in cols.names]  # by name code
        self.weight = cols.rle_count[self.rows]

    def call(self, k: int) -> str:
        return self.calls[int(self.code[k])]

    def calls_in(self, wanted: frozenset[str]) -> np.ndarray:
        """Positions (ascending) of the calls named in `wanted`."""
        hit = np.fromiter((call in wanted for call in self.calls), dtype=bool, count=len(self.calls))
        return np.flatnonzero(hit[self.code]) if len(hit) else np.empty(0, dtype=np.int64)

    def attrs(self, ks: np.ndarray) -> list[dict[str, Any]]:
        return self.cols.attrs_many(self.rows[ks])

    def maybe_with(self, key: str, ks: np.ndarray) -> np.ndarray:
        """The positions of `ks` (ascending) whose attributes may hold `key`; the others lack it."""
        rows = self.rows[ks]
        if len(rows) > 1 and not (rows[1:] > rows[:-1]).all():  # a run in program order, not row order
            rows = np.unique(rows)
        return np.searchsorted(self.rows, self.cols.rows_maybe_with(key, among=rows))

    def failures(self) -> tuple[list[int], list[str | None]]:
        """(position, errno name or None) of every call that may have failed, ascending.

        A call failed if its status is ERROR or its result is an errno (-4095 … -1); a call
        whose text has no `-` (nor an escape) has no negative result, so only the ERROR rows and
        the rows whose text shows a negative result are parsed.  The others have no errno.
        """
        cols = self.cols
        is_syscall = np.zeros(cols.n, dtype=bool)
        is_syscall[self.rows] = True
        error = pc.fill_null(pc.equal(cols.table.column("status"), "ERROR"), False)
        error_rows = np.flatnonzero(error.to_numpy(zero_copy_only=False))
        dash = cols.rows_with_byte("-")
        dash = dash[is_syscall[dash]]
        if len(dash):
            texts = cols.table.column("attributes").take(pa.array(dash)).to_pylist()
            dash = dash[np.fromiter((_NEGATIVE_RESULT.search(t) is not None for t in texts), dtype=bool, count=len(dash))]
        escaped = cols.escaped_rows()
        rows = np.unique(np.concatenate([error_rows[is_syscall[error_rows]], dash, escaped[is_syscall[escaped]]]))
        ks = np.searchsorted(self.rows, rows)
        status = cols.table.column("status").take(pa.array(rows, pa.int64())).to_pylist()
        message = cols.table.column("status_message").take(pa.array(rows, pa.int64())).to_pylist()
        out: list[str | None] = []
        for a, st, msg in zip(cols.attrs_many(rows), status, message):
            result = a.get(ATTR_SYSCALL_RESULT)
            failed = st == "ERROR" or (isinstance(result, int) and -4096 < result < 0)
            err = a.get(ATTR_SYSCALL_ERRNO) or msg or (-result if isinstance(result, int) and result < 0 else None)
            if isinstance(err, int):
                err = errno.errorcode.get(err, str(err))
            out.append(str(err) if failed and err else None)
        return ks.tolist(), out

    def ids(self, ks: Any) -> list[str]:
        picked = np.asarray(ks, dtype=np.int64)[:_EVIDENCE_IDS]
        return self.cols.span_id.take(pa.array(self.rows[picked], pa.int64())).to_pylist()


#: A negative `syscall.result` as JSON writes it (whitespace allowed around the colon).
_NEGATIVE_RESULT = re.compile(re.escape(f'"{ATTR_SYSCALL_RESULT}"') + r"[ \t\n\r]*:[ \t\n\r]*-")


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
        members = np.flatnonzero(inverse == j)[:_EVIDENCE_IDS]
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
    run_start = np.flatnonzero(breaks)
    run_stop = np.append(run_start[1:], len(order))
    out = []
    for r in np.flatnonzero(run_calls >= th.tight_loop_min_calls).tolist():
        members = order[run_start[r] : run_stop[r]]  # the run, in program order
        n = int(run_calls[r])
        rows = sc.rows[members]
        span_ns = int(cols.end[rows].max() - cols.start[rows].min())
        named = sc.maybe_with(ATTR_SYSCALL_PATH, members)  # the rest have no path
        paths = {a.get(ATTR_SYSCALL_PATH) for a in sc.attrs(named)} - {None}
        one_path = next(iter(paths)) if len(paths) == 1 else None
        call = sc.call(int(members[0]))
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
    writes = sc.calls_in(WRITE_CALLS)
    attrs = sc.attrs(writes)
    pids = sc.cols.pid[sc.rows[writes]].tolist()
    weights = sc.weight[writes].tolist()
    for k, a, pid, weight in zip(writes.tolist(), attrs, pids, weights):
        target = a.get(ATTR_FD_OBJECT) or (f"fd {a.get(ATTR_SYSCALL_FD)}" if a.get(ATTR_SYSCALL_FD) is not None else "fd ?")
        key = (int(pid), str(target))
        totals[key] = totals.get(key, 0) + int(weight)
        result = a.get(ATTR_SYSCALL_RESULT)
        if isinstance(result, int) and 0 <= result < th.small_write_bytes:
            groups.setdefault(key, []).append(k)
    out = []
    for key, members in groups.items():
        n = int(sc.weight[members].sum())
        if n < th.small_writes_min or n < 0.5 * totals[key]:
            continue
        member_attrs = sc.attrs(np.asarray(members))
        nbytes = sum(int(a.get(ATTR_SYSCALL_RESULT) or 0) * int(w) for a, w in zip(member_attrs, sc.weight[members].tolist()))
        fd = str(member_attrs[0].get(ATTR_SYSCALL_FD, "?"))
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
    lookups = sc.maybe_with(ATTR_SYSCALL_PATH, sc.calls_in(PATH_LOOKUPS))  # the others have no path
    for k, a in zip(lookups.tolist(), sc.attrs(lookups)):
        p = a.get(ATTR_SYSCALL_PATH)
        if isinstance(p, str) and p:
            groups.setdefault(p, []).append(k)
    out = []
    for p, members in groups.items():
        n = int(sc.weight[members].sum())
        sev = grade("redundant-lookup", n, th)
        if sev is None:
            continue
        calls = sorted({sc.calls[c] for c in np.unique(sc.code[members]).tolist()})
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
    for k, err in zip(*sc.failures()):
        if err and err not in BENIGN_ERRORS:
            groups.setdefault((sc.call(k), err), []).append(k)
    out = []
    for (call, err), members in groups.items():
        n = int(sc.weight[members].sum())
        sev = grade("failed-storm", n, th)
        if sev is None:
            continue
        paths = [a.get(ATTR_SYSCALL_PATH) for a in sc.attrs(np.asarray(members))]
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
