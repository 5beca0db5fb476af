"""The numbers a trace assertion reads, computed from one stored trace.

Each metric is a path (`critical_path.duration_ms`, `spans["syscall:read"].count`) checked
against the vocabulary below when the config loads (`problem_with`), so a typo is an error
with a suggestion instead of a condition that silently passes.  Values come from the store's
rows and the analyses (causal graph, critical path, anti-patterns), each computed only when an
assertion asks for it.  A metric the trace cannot give (no GPU spans, no read calls for a
ratio) raises `MissingMetric`, which fails that assertion with the reason, never the run.

Counts weigh an RLE row as the `rle_count` calls it stands for; times are milliseconds.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from renacer_tui.analysis.antipatterns import KINDS as ANTIPATTERN_KINDS
from renacer_tui.check.expression import EvaluationError
from renacer_tui.model.attributes import (
    ATTR_GPU_COMPUTE_TIME,
    ATTR_GPU_TRANSFER_TIME,
    ATTR_PROCESS_EXIT_CODE,
    ATTR_RLE_TOTAL,
    ATTR_SYSCALL_ARGS,
    ATTR_SYSCALL_FLAGS,
    ATTR_SYSCALL_RESULT,
    attribute_array,
)
from renacer_tui.model.kinds import (
    GPU_PREFIX,
    PROCESS_PREFIX,
    RUN_PREFIX,
    SYSCALL_PREFIX,
    SpanCategory,
    category_of,
    is_container,
)
from renacer_tui.model.syscalls import ALL_NAMES, READ_CALLS, SYSCALL_CLASSES, WRITE_CALLS

#: Metric names in the conditions: `god_process` for the detector's `god-process`.
ANTIPATTERN_NAMES = {kind.replace("-", "_"): kind for kind in ANTIPATTERN_KINDS}
#: What `spans[SELECTOR].FIELD` can ask.
SPAN_FIELDS = ("count", "rows", "duration_ms", "errors", "rle_compressed_ratio")
_CATEGORIES = {"syscall": SpanCategory.SYSCALL, "process": SpanCategory.PROCESS, "gpu": SpanCategory.GPU,
               "run": SpanCategory.RUN, "application": SpanCategory.APPLICATION}
#: Every metric without a span selector, dotted.
FIXED_METRICS = (
    "duration_ms",
    "critical_path.duration_ms",
    "critical_path.bottleneck_ms",
    "critical_path.steps",
    "antipatterns.count",
    *(f"antipatterns.{name}.count" for name in ANTIPATTERN_NAMES),
    *(f"spans.{field}" for field in SPAN_FIELDS),
    "errors.count",
    "process.count",
    "process.exit_code",
    "io.bytes_written",
    "io.bytes_read",
    "gpu.count",
    "gpu.compute_time_ms",
    "gpu.transfer_time_ms",
    "memory.peak_bytes",
    "memory.allocated_bytes",
)


class MissingMetric(EvaluationError):
    """The trace has nothing to compute this metric from."""


def _closest(word: str, choices: Any) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def selector_problem(selector: str) -> str | None:
    """Why `spans[selector]` names nothing this trace model has (None: it is usable)."""
    if selector in _CATEGORIES or any(c in selector for c in "*?["):
        return None
    if selector.startswith("%"):
        key = selector[1:]
        if key in SYSCALL_CLASSES:
            return None
        return f"unknown syscall class {selector!r}{_closest(selector, ['%' + name for name in SYSCALL_CLASSES])}"
    if selector.startswith(SYSCALL_PREFIX):
        call = selector[len(SYSCALL_PREFIX):]
        if call in ALL_NAMES:
            return None
        return f"unknown syscall {call!r} in {selector!r}{_closest(call, ALL_NAMES)}"
    if not selector:
        return "empty span selector"
    return None  # a process:, gpu: or application span name


def problem_with(path: tuple[str, ...]) -> str | None:
    """Why `path` is not a metric (with the closest valid one), or None."""
    dotted = ".".join(path)
    if dotted in FIXED_METRICS:
        return None
    if path[0] == "spans" and len(path) == 3 and path[2] in SPAN_FIELDS:
        return selector_problem(path[1])
    if path[0] == "spans" and len(path) == 3:
        return f"unknown span field {path[2]!r} (one of {', '.join(SPAN_FIELDS)}){_closest(path[2], SPAN_FIELDS)}"
    if path[0] == "spans" and len(path) == 2:
        return f"spans[{path[1]!r}] needs a field: .count, .duration_ms, .rle_compressed_ratio, …"
    if path[0] == "antipatterns" and len(path) == 3 and path[2] == "count":
        return f"unknown anti-pattern {path[1]!r} (one of {', '.join(ANTIPATTERN_NAMES)}){_closest(path[1], ANTIPATTERN_NAMES)}"
    return f"unknown metric {dotted!r}{_closest(dotted, FIXED_METRICS)}"


def _name_matcher(selector: str) -> Callable[[str], bool]:
    """The span names `spans[selector]` covers."""
    if selector in _CATEGORIES:
        category = _CATEGORIES[selector]
        return lambda name: category_of(name) is category
    if any(c in selector for c in "*?["):
        return lambda name: fnmatch.fnmatchcase(name, selector)
    if selector.startswith("%"):
        calls = SYSCALL_CLASSES[selector[1:]]
        return lambda name: name.startswith(SYSCALL_PREFIX) and name[len(SYSCALL_PREFIX):] in calls
    return lambda name: name == selector


@dataclass
class Bottleneck:
    """The largest step of the critical path: what, where in the source, how long."""

    name: str
    source: str | None
    self_ns: int
    detail: str


class TraceMetrics:
    """Metrics of one trace; heavy analyses run on first use and are kept."""

    def __init__(self, spans: pa.Table, trace_id: str) -> None:
        from renacer_tui.analysis.loading import load_columns

        self.trace_id = trace_id
        self.cols = load_columns(spans)
        self._cache: dict[tuple[str, ...], float] = {}

    @classmethod
    def from_store(cls, store: Any, trace_id: str) -> "TraceMetrics":
        """The metrics of stored trace `trace_id` (`TraceNotFound` when it has no spans)."""
        from renacer_tui.analysis.loading import load_trace

        return cls(load_trace(store, trace_id), trace_id)

    # -- analyses, each once --------------------------------------------------------------------
    @cached_property
    def graph(self) -> Any:
        from renacer_tui.analysis.graph import build_graph

        return build_graph(self.cols)

    @cached_property
    def critical_path(self) -> Any:
        from renacer_tui.analysis.critical_path import critical_path

        return critical_path(self.graph)

    @cached_property
    def findings(self) -> list[Any]:
        from renacer_tui.analysis.antipatterns import detect
        from renacer_tui.thresholds import configured_thresholds

        return detect(self.graph, configured_thresholds(), path=self.critical_path)

    @cached_property
    def command(self) -> str:
        """The traced command line as the run span names it (`ls /`), "" when there is none."""
        for name in self.cols.names:
            if name.startswith(RUN_PREFIX):
                return name[len(RUN_PREFIX):].strip()
        return ""

    @cached_property
    def _pid_names(self) -> dict[int, str]:
        names = self.cols.table.column("process_name").to_pylist()
        out: dict[int, str] = {}
        for pid, name in zip(self.cols.pid.tolist(), names):
            out.setdefault(int(pid), name or "")
        return out

    def bottleneck(self) -> Bottleneck | None:
        """The critical path's largest step of real work (not a run or process gap), with its source."""
        cp = self.critical_path
        if not len(cp.node):
            return None
        work = np.array([not is_container(self.cols.name(int(i))) for i in cp.node.tolist()], dtype=bool)
        durations = np.where(work, cp.duration, -1) if work.any() else cp.duration
        b = int(np.argmax(durations))
        i = int(cp.node[b])
        source = self.cols.source(i)
        row = cp.rows([b])[0]
        return Bottleneck(self.cols.name(i), source, int(row["self_ns"]), row["detail"])

    # -- values ---------------------------------------------------------------------------------
    def value(self, path: tuple[str, ...], process_pattern: str | None = None) -> float:
        """The metric at `path`; `MissingMetric` when the trace cannot say.

        `process_pattern` (a regular expression) limits anti-pattern counts to findings in
        processes whose name it matches.
        """
        key = (*path, process_pattern or "")
        if key not in self._cache:
            self._cache[key] = float(self._compute(path, process_pattern))
        return self._cache[key]

    def _compute(self, path: tuple[str, ...], process_pattern: str | None) -> float:
        head = path[0]
        if path == ("duration_ms",):
            return self._wall_ns() / 1e6
        if head == "critical_path":
            cp = self.critical_path
            if path[1] == "duration_ms":
                return cp.total_ns / 1e6
            if path[1] == "steps":
                return len(cp.node)
            return int(cp.duration.max()) / 1e6 if len(cp.node) else 0.0
        if head == "antipatterns":
            return self._antipatterns(None if len(path) == 2 else ANTIPATTERN_NAMES[path[1]], process_pattern)
        if head == "spans":
            selector, field = ("*", path[1]) if len(path) == 2 else (path[1], path[2])
            return self._spans(selector, field)
        if path == ("errors", "count"):
            return self._spans("*", "errors")
        if path == ("process", "count"):
            return len(np.unique(self.cols.pid[self.cols.rows_named(lambda n: n.startswith(PROCESS_PREFIX))]))
        if path == ("process", "exit_code"):
            return self._exit_code()
        if head == "io":
            return self._io_bytes(WRITE_CALLS if path[1] == "bytes_written" else READ_CALLS)
        if head == "gpu":
            return self._gpu(path[1])
        if head == "memory":
            return self._memory(peak=path[1] == "peak_bytes")
        raise MissingMetric(f"no metric {'.'.join(path)}")  # problem_with() rejects these at load

    def _wall_ns(self) -> int:
        cols = self.cols
        if cols.n == 0:
            raise MissingMetric("the trace has no spans")
        runs = cols.rows_named(lambda n: n.startswith(RUN_PREFIX))
        if len(runs):
            return int(cols.duration[runs].max())
        return int(cols.end.max() - cols.start.min())

    def _antipatterns(self, kind: str | None, process_pattern: str | None) -> int:
        found = [f for f in self.findings if kind is None or f.kind == kind]
        if process_pattern:
            wanted = re.compile(process_pattern)
            found = [f for f in found if f.pid is not None and wanted.search(self._pid_names.get(int(f.pid), ""))]
        return len(found)

    def _spans(self, selector: str, field: str) -> float:
        cols = self.cols
        rows = cols.rows_named(_name_matcher(selector))
        weight = cols.rle_count[rows]
        calls = int(weight.sum())
        if field == "count":
            return calls
        if field == "rows":
            return len(rows)
        if field == "errors":
            status = np.asarray(cols.table.column("status").to_pylist(), dtype=object)
            return int(weight[status[rows] == "ERROR"].sum()) if len(rows) else 0
        if field == "duration_ms":
            if not len(rows):
                return 0.0
            table = cols.table.take(pa.array(rows, pa.int64()))
            totals = attribute_array(table, ATTR_RLE_TOTAL, pa.int64()).to_numpy(zero_copy_only=False)
            own = cols.duration[rows].astype(np.float64)
            use_total = (weight > 1) & ~np.isnan(totals.astype(np.float64))
            return float(np.where(use_total, totals.astype(np.float64), own).sum()) / 1e6
        # rle_compressed_ratio: the share of calls folded into another row
        if calls == 0:
            raise MissingMetric(f"no {selector} spans in the trace, so their RLE ratio is undefined")
        return 1.0 - len(rows) / calls

    def _syscall_rows(self, calls: frozenset[str]) -> np.ndarray:
        return self.cols.rows_named(lambda n: n.startswith(SYSCALL_PREFIX) and n[len(SYSCALL_PREFIX):] in calls)

    def _ints(self, rows: np.ndarray, key: str) -> np.ndarray:
        table = self.cols.table.take(pa.array(rows, pa.int64()))
        return np.asarray(attribute_array(table, key, pa.int64()).to_pylist(), dtype=object)

    def _io_bytes(self, calls: frozenset[str]) -> int:
        rows = self._syscall_rows(calls)
        if not len(rows):
            return 0
        results = self._ints(rows, ATTR_SYSCALL_RESULT)
        ok = np.array([isinstance(r, int) and r > 0 for r in results], dtype=bool)
        return int(sum(int(r) * int(w) for r, w in zip(results[ok], self.cols.rle_count[rows][ok])))

    def _exit_code(self) -> int:
        runs = self.cols.rows_named(lambda n: n.startswith(RUN_PREFIX))
        for i in runs.tolist():
            code = self.cols.attrs(i).get(ATTR_PROCESS_EXIT_CODE)
            if isinstance(code, int):
                return code
        raise MissingMetric("the trace records no exit code (no finished run span)")

    def _gpu(self, what: str) -> float:
        cols = self.cols
        rows = cols.rows_named(lambda n: n.startswith(GPU_PREFIX))
        if what == "count":
            return int(cols.rle_count[rows].sum())
        if not len(rows):
            raise MissingMetric("the trace has no GPU spans (gpu:*), so gpu metrics are undefined")
        key = ATTR_GPU_COMPUTE_TIME if what == "compute_time_ms" else ATTR_GPU_TRANSFER_TIME
        values: list[Any] = self._ints(rows, key).tolist()
        if what == "compute_time_ms":  # a kernel span without the attribute computes for its duration
            moved = self._ints(rows, ATTR_GPU_TRANSFER_TIME)  # …but a transfer span computes nothing
            values = [v if isinstance(v, int) else (0 if isinstance(t, int) else int(cols.duration[i]))
                      for v, t, i in zip(values, moved, rows.tolist())]
        elif all(v is None for v in values):
            raise MissingMetric("no GPU span records a transfer time (gpu.transfer_time_nanos)")
        return sum(int(v or 0) for v in values) / 1e6

    def _memory(self, peak: bool) -> int:
        """Bytes the traced processes asked for through brk and anonymous mmap (peak or total).

        The peak walks the calls in time order: brk growth over each process's first break,
        anonymous mappings until their munmap.
        """
        cols = self.cols
        rows = self._syscall_rows(frozenset({"brk", "mmap", "munmap"}))
        if not len(rows):
            raise MissingMetric("the trace has no brk/mmap calls to measure memory from")
        rows = rows[np.argsort(cols.start[rows], kind="stable")]
        table = cols.table.take(pa.array(rows, pa.int64()))
        args = attribute_array(table, ATTR_SYSCALL_ARGS).to_pylist()
        flags = attribute_array(table, ATTR_SYSCALL_FLAGS).to_pylist()
        results = self._ints(rows, ATTR_SYSCALL_RESULT)
        first_brk: dict[int, int] = {}
        heap: dict[int, int] = {}
        mapped: dict[tuple[int, int], int] = {}
        live = total = top = 0
        for k, i in enumerate(rows.tolist()):
            pid, call, result = int(cols.pid[i]), cols.name(i)[len(SYSCALL_PREFIX):], results[k]
            if not isinstance(result, int) or -4096 < result < 0:
                continue
            parts = [p.strip() for p in (args[k] or "").split(",")]
            if call == "brk":
                base = first_brk.setdefault(pid, result)
                size = max(result - base, 0)
                live += size - heap.get(pid, 0)
                total += max(size - heap.get(pid, 0), 0)
                heap[pid] = size
            elif call == "mmap" and "MAP_ANONYMOUS" in (flags[k] or "") and len(parts) > 1 and parts[1].isdigit():
                length = int(parts[1]) * int(cols.rle_count[i])
                mapped[(pid, result)] = mapped.get((pid, result), 0) + length
                live += length
                total += length
            elif call == "munmap" and parts and parts[0].startswith("0x"):
                live -= mapped.pop((pid, int(parts[0], 16)), 0)
            top = max(top, live)
        return top if peak else total
