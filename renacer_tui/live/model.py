"""The live screen's model: what the UI knows about a trace while it is being captured.

The feed delivers Arrow record batches at up to hundreds of thousands of spans per second.  The
reader thread calls `LiveModel.absorb_group` with the batches that arrived together; it
aggregates them at once (a zero-copy table) with vectorised pyarrow compute (per-syscall and
per-process counts, durations, errors) and keeps the batches themselves in a ring bounded by
row count — the store keeps the whole record, the UI only a window.  Lines are formatted
lazily, only for the rows a pane shows (toolong's LogLines idea), so a million spans cost what
fifty do.  The same table goes to the live anti-pattern detector (`renacer_tui.live.alerts`),
outside the lock.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from rich.text import Text
from textual.cache import LRUCache

from renacer_tui.gpu_label import GPU_MARK, GPU_STYLE, gpu_detail
from renacer_tui.live.alerts import Alert, LiveAlerts
from renacer_tui.model.attributes import (
    ATTR_PROCESS_EXIT_CODE,
    ATTR_PROCESS_SIGNAL,
    ATTR_SIGNAL_NAME,
    ATTR_SYSCALL_ARGS,
    ATTR_SYSCALL_ERRNO,
    ATTR_SYSCALL_NAME,
    ATTR_SYSCALL_RESULT,
    ATTR_SYSCALL_UNFINISHED,
    ATTR_THREAD_ID,
    EVENT_SIGNAL,
    parse_attributes,
)
from renacer_tui.model.kinds import SYSCALL_PREFIX, is_gpu
from renacer_tui.model.readable import format_duration, signal_name
from renacer_tui.model.schema import STATUS_ERROR
from renacer_tui.model.syscalls import CREATORS
from renacer_tui.text import escape

_CLONE_NAMES = frozenset(SYSCALL_PREFIX + name for name in CREATORS)
#: Attribute keys the line format shows in their own place, not in the argument list.
_NOT_ARGS = {ATTR_SYSCALL_NAME, ATTR_SYSCALL_RESULT, ATTR_SYSCALL_ERRNO, ATTR_SYSCALL_UNFINISHED, ATTR_THREAD_ID}
HISTORY_SECONDS = 30
#: Formatted lines kept for repaints: a few screens' worth (more only gives the GC work).
CACHED_LINES = 1024


@dataclass
class ProcessStat:
    """One process of the trace as the live panes show it."""

    pid: int
    comm: str
    parent: int | None = None
    syscalls: int = 0
    errors: int = 0
    exit_code: int | None = None
    signal: str | None = None  # "SIGKILL": the tracer records the signal's name

    @property
    def alive(self) -> bool:
        return self.exit_code is None and self.signal is None


@dataclass
class SyscallStat:
    """Calls, total time and errors of one syscall name, plus a per-second rate history."""

    name: str
    calls: int = 0
    total_ns: int = 0
    errors: int = 0
    pending: int = 0  # calls in the current second
    history: deque[int] = field(default_factory=lambda: deque([0] * HISTORY_SECONDS, maxlen=HISTORY_SECONDS))


def trace_signal(value: Any) -> str:
    """A signal as its name ("SIGKILL"), whether the trace holds the name or the number."""
    try:
        return signal_name(int(value))
    except (TypeError, ValueError):
        return escape(value)


def _quote(value: str) -> str:
    """A traced string argument as strace shows it: quoted, escaped."""
    return '"' + escape(value).replace('"', '\\"') + '"'


class SpanLine(Text):
    """A span's line, knowing where its call's arguments are: a pane narrower than the line
    cuts them (`fitted`), never the result and the duration at its end."""

    args_at: tuple[int, int] | None = None  # [start, end) of the arguments in the plain text

    def fitted(self, width: int) -> Text:
        """The line in `width` cells: the arguments shortened to `…` when it does not fit."""
        if self.args_at is None or self.cell_len <= width:
            return self
        start, end = self.args_at
        keep = (end - start) - (self.cell_len - width) - 1  # room for the arguments, less the "…"
        if keep < 0:
            return self  # not even the tail fits: the pane crops the end as before
        fitted = self[: start + keep]
        fitted.append("…", style="dim")
        fitted.append_text(self[end:])
        return fitted


def span_line(row: Mapping[str, Any], t0: int) -> Text:
    """One strace-like line for a span row: time, pid, call(args) = result <duration>."""
    name = row["span_name"]
    attrs = parse_attributes(row.get("attributes"))
    rel = (row["start_time_nanos"] - t0) / 1e9 if t0 else 0.0
    dur = format_duration(max(0, row["end_time_nanos"] - row["start_time_nanos"]))
    is_error = row.get("status") == STATUS_ERROR
    line = SpanLine(no_wrap=True, end="")
    line.append(f"{rel:10.6f} ", style="dim")
    line.append(f"{row['process_pid']:>7} ", style="cyan")
    if is_gpu(name):  # GPU work: its own marker and colour, what it did, GPU vs host time
        line.append(GPU_MARK + escape(name), style=GPU_STYLE)
        detail = gpu_detail(attrs)
        if detail:
            line.append(f"  {detail}")
        line.append(f"  <{dur}>", style="dim")
        return line
    if not name.startswith("syscall:"):
        line.append(escape(name), style="bold magenta")
        if ATTR_PROCESS_EXIT_CODE in attrs:
            line.append(f" exited {escape(attrs[ATTR_PROCESS_EXIT_CODE])}")
        if ATTR_PROCESS_SIGNAL in attrs:
            line.append(f" killed by signal {escape(attrs[ATTR_PROCESS_SIGNAL])}", style="red")
        line.append(f"  <{dur}>", style="dim")
        return line
    call = name[len("syscall:") :]
    if isinstance(attrs.get(ATTR_SYSCALL_ARGS), str):  # the tracer's strace-formatted arguments
        args = [escape(attrs[ATTR_SYSCALL_ARGS])]
    else:
        args = [
            f"{key.removeprefix('syscall.')}={_quote(value) if isinstance(value, str) else escape(value)}"
            for key, value in attrs.items()
            if key.startswith("syscall.") and key not in _NOT_ARGS
        ]
    line.append(escape(call), style="bold")
    line.append("(")
    start = len(line.plain)
    line.append(", ".join(args))
    line.args_at = (start, len(line.plain))
    line.append(")")
    rle = row.get("rle_count") or 1
    if rle > 1:
        line.append(f" ×{rle}", style="yellow")
    result = attrs.get(ATTR_SYSCALL_RESULT)
    if attrs.get(ATTR_SYSCALL_UNFINISHED):
        line.append(" = ? <unfinished>", style="yellow")
    elif is_error:
        message = row.get("status_message") or attrs.get(ATTR_SYSCALL_ERRNO) or "error"
        line.append(f" = {escape(result) if result is not None else -1} {escape(message)}", style="bold red")
    elif result is not None:
        line.append(f" = {escape(result)}")
    line.append(f"  <{dur}>", style="dim")
    delivered = [parse_attributes(e["attributes"]).get(ATTR_SIGNAL_NAME, "?")
                 for e in row.get("events") or () if e["name"] == EVENT_SIGNAL]
    if delivered:  # the thread's next call after a signal's delivery (strace's `--- SIG… ---` line)
        line.append(f"  (after {', '.join(map(escape, delivered))})", style="yellow")
    return line


@dataclass(frozen=True)
class InFlight:
    """A call a thread is blocked in (from the capture's in-flight snapshots)."""

    span_id: str
    tid: int
    comm: str
    name: str
    args: str  # as decoded at entry (what the kernel fills in is still a pointer)
    start_ns: int  # Unix epoch ns


class LiveModel:
    """Thread-safe aggregate of the live feed; `absorb` in the reader thread, reads in the UI."""

    def __init__(self, capacity: int = 100_000, alerts: LiveAlerts | bool = True) -> None:
        self.capacity = capacity
        self.detector: LiveAlerts | None = alerts if isinstance(alerts, LiveAlerts) else (LiveAlerts() if alerts else None)
        self.alerts: list[Alert] = []  # raised so far, in order; the screen shows each once
        self._lock = threading.Lock()
        self._chunks: deque[tuple[int, pa.RecordBatch]] = deque()  # (global index of row 0, batch)
        self._first = 0  # global index of the oldest row still held
        self._cache: LRUCache[int, Text] = LRUCache(CACHED_LINES)  # formatted lines by global row
        self.version = 0
        self.rows = 0  # spans (rows) received
        self.calls = 0  # syscalls, RLE expanded
        self.errors = 0
        self.dropped = 0
        self.trace_id: str | None = None
        self.t0 = 0
        self.finished = False
        self.run_attributes: dict[str, Any] = {}
        self.processes: dict[int, ProcessStat] = {}
        self.syscalls: dict[str, SyscallStat] = {}
        self._clone_children: dict[int, int] = {}  # child tid → creating pid
        self._inflight: dict[str, InFlight] = {}  # by span id: what each blocked thread waits in
        self._rate: deque[tuple[float, int]] = deque()

    # -- writer side (reader thread) ------------------------------------------------------
    def absorb_group(self, batches: Sequence[pa.RecordBatch], metadata: Mapping[str, Any] | None = None) -> None:
        """Fold several batches that arrived together at once: the aggregates and the detector
        run once over all of them (a zero-copy table), the ring keeps the batches as they came."""
        if batches:
            self._absorb(pa.Table.from_batches(batches) if len(batches) > 1 else batches[0], list(batches), metadata)

    def absorb(self, batch: pa.RecordBatch, metadata: Mapping[str, Any] | None = None) -> None:
        """Fold one batch into the aggregates and the line ring."""
        self._absorb(batch, [batch], metadata)

    def _absorb(self, spans: pa.RecordBatch | pa.Table, batches: list[pa.RecordBatch], metadata: Mapping[str, Any] | None) -> None:
        n = spans.num_rows
        with self._lock:
            if metadata and "dropped" in metadata:
                self.dropped = max(self.dropped, int(metadata["dropped"]))
            if n == 0:
                self.version += 1
                return
            if self.trace_id is None:
                self.trace_id = spans.column("trace_id")[0].as_py()
                self.t0 = int(pc.min(spans.column("start_time_nanos")).as_py())
            self._absorb_syscalls(spans)
            self._absorb_other(spans)
            if self._inflight:  # a call shown as blocked has returned: its span is here
                ids = spans.column("span_id")
                done = pc.filter(ids, pc.is_in(ids, value_set=pa.array(list(self._inflight), pa.string())))
                for span_id in done.to_pylist():
                    self._inflight.pop(span_id, None)
                if self.finished:
                    self._inflight.clear()
            for batch in batches:
                if batch.num_rows:
                    self._chunks.append((self.rows, batch))
                    self.rows += batch.num_rows
            self._rate.append((time.monotonic(), n))
            while self._chunks and self.rows - self._chunks[0][0] - self._chunks[0][1].num_rows >= self.capacity:
                start, old = self._chunks.popleft()
                self._first = start + old.num_rows
            self.version += 1
        self._detect(spans)  # outside the lock: the UI thread never waits for the detector

    def set_inflight(self, batch: pa.RecordBatch) -> None:
        """Replace what the threads are blocked in with the capture's latest snapshot."""
        calls = {}
        for row in batch.to_pylist():
            if not row["span_name"].startswith(SYSCALL_PREFIX):
                continue
            attrs = parse_attributes(row["attributes"])
            calls[row["span_id"]] = InFlight(row["span_id"], int(row["thread_id"]), row["process_name"] or "",
                                             row["span_name"][len(SYSCALL_PREFIX):], str(attrs.get(ATTR_SYSCALL_ARGS, "")),
                                             int(row["start_time_nanos"]))
        with self._lock:
            self._inflight = calls
            self.version += 1

    def blocked(self) -> list[InFlight]:
        """The calls threads are blocked in now, the longest waiting first."""
        with self._lock:
            return sorted(self._inflight.values(), key=lambda call: call.start_ns)

    def _absorb_syscalls(self, batch: pa.RecordBatch | pa.Table) -> None:
        names = batch.column("span_name")
        is_sys = pc.starts_with(names, "syscall:")
        table = pa.table(
            {
                "name": names,
                "pid": batch.column("process_pid"),
                "comm": batch.column("process_name"),
                "dur": pc.subtract(batch.column("end_time_nanos"), batch.column("start_time_nanos")),
                "calls": batch.column("rle_count"),
                "err": pc.cast(pc.equal(batch.column("status"), STATUS_ERROR), pa.int64()),
            }
        ).filter(is_sys)
        if table.num_rows == 0:
            return
        by_name = table.group_by("name").aggregate([("calls", "sum"), ("dur", "sum"), ("err", "sum")])
        for name, calls, dur, err in zip(*(by_name.column(c).to_pylist() for c in ("name", "calls_sum", "dur_sum", "err_sum"))):
            stat = self.syscalls.get(name)
            if stat is None:
                stat = self.syscalls[name] = SyscallStat(name[len("syscall:") :])
            stat.calls += calls
            stat.pending += calls
            stat.total_ns += dur
            stat.errors += err
            self.calls += calls
            self.errors += err
        by_pid = table.group_by("pid", use_threads=False).aggregate([("calls", "sum"), ("err", "sum"), ("comm", "last")])  # last: the name after exec
        for pid, calls, err, comm in zip(*(by_pid.column(c).to_pylist() for c in ("pid", "calls_sum", "err_sum", "comm_last"))):
            proc = self.processes.get(pid)
            if proc is None:
                proc = self.processes[pid] = ProcessStat(pid, comm, parent=self._clone_children.get(pid))
            proc.comm = comm or proc.comm
            proc.syscalls += calls
            proc.errors += err
        clones = table.filter(pc.is_in(table.column("name"), pa.array(sorted(_CLONE_NAMES))))
        if clones.num_rows:
            mask = pc.is_in(names, pa.array(sorted(_CLONE_NAMES)))
            sub = batch.filter(mask)
            for pid, attrs in zip(sub.column("process_pid").to_pylist(), sub.column("attributes").to_pylist()):
                result = parse_attributes(attrs).get(ATTR_SYSCALL_RESULT)
                if isinstance(result, int) and result > 0:
                    self._clone_children[result] = pid
                    child = self.processes.get(result)
                    if child is not None and child.parent is None and result != pid:
                        child.parent = pid

    def _detect(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Live anti-pattern alerts (reader thread only); a detector failure turns alerts off, never the feed."""
        if self.detector is None:
            return
        try:
            self.alerts.extend(self.detector.absorb(batch))
        except Exception as exc:  # alerts are a convenience: say why they stopped, once
            self.detector = None
            self.alerts.append(Alert("alerts-off", "low", f"live alerts stopped: {type(exc).__name__}: {exc}", ("alerts-off",)))

    def _absorb_other(self, batch: pa.RecordBatch | pa.Table) -> None:
        mask = pc.invert(pc.starts_with(batch.column("span_name"), "syscall:"))
        other = batch.filter(mask)
        for row in other.to_pylist():
            attrs = parse_attributes(row["attributes"])
            name = row["span_name"]
            if name.startswith("renacer:run"):
                self.finished = True
                self.run_attributes = attrs
                continue
            if not name.startswith("process:"):
                continue
            pid = row["process_pid"]
            proc = self.processes.get(pid)
            if proc is None:
                proc = self.processes[pid] = ProcessStat(pid, row["process_name"], parent=self._clone_children.get(pid))
            if ATTR_PROCESS_EXIT_CODE in attrs and attrs[ATTR_PROCESS_EXIT_CODE] is not None:
                proc.exit_code = int(attrs[ATTR_PROCESS_EXIT_CODE])
            if ATTR_PROCESS_SIGNAL in attrs and attrs[ATTR_PROCESS_SIGNAL] is not None:
                proc.signal = trace_signal(attrs[ATTR_PROCESS_SIGNAL])

    # -- reader side (UI thread) ------------------------------------------------------------
    @property
    def line_count(self) -> int:
        """Rows held in the window (the span pane's virtual height)."""
        return self.rows - self._first

    @property
    def first_index(self) -> int:
        """Global index of the oldest held row (grows as the ring drops old batches)."""
        return self._first

    def line(self, index: int) -> Text | None:
        """The formatted line for window row `index` (0 = oldest held), None if out of range."""
        return self.lines(index, 1)[0]

    def lines(self, index: int, count: int) -> list[Text | None]:
        """Formatted lines for window rows `index`..`index+count-1` (None past either end).

        A pane asks for the rows it shows all at once: the rows not yet formatted are read with
        one slice per held batch instead of one per row.
        """
        with self._lock:
            first = self._first + index
            wanted = range(max(first, self._first), min(first + count, self.rows))
            missing = [g for g in wanted if g not in self._cache]
            if missing and self._chunks:
                starts = [start for start, _ in self._chunks]
                lo, hi = missing[0], missing[-1] + 1
                pos = bisect.bisect_right(starts, lo) - 1
                while lo < hi and pos < len(starts):
                    start, batch = self._chunks[pos]
                    stop = min(hi, start + batch.num_rows)
                    for offset, row in enumerate(batch.slice(lo - start, stop - lo).to_pylist()):
                        if lo + offset not in self._cache:
                            self._cache.set(lo + offset, span_line(row, self.t0))
                    lo, pos = stop, pos + 1
            return [self._cache.get(g) if g in wanted else None for g in range(first, first + count)]

    def spans_per_second(self, window: float = 1.0) -> float:
        """Rows received per second over the last `window` seconds."""
        now = time.monotonic()
        with self._lock:
            while self._rate and self._rate[0][0] < now - window:
                self._rate.popleft()
            return sum(n for _, n in self._rate) / window

    def roll_history(self) -> None:
        """Close the current second of every syscall's rate history (called once a second)."""
        with self._lock:
            for stat in self.syscalls.values():
                stat.history.append(stat.pending)
                stat.pending = 0

    def top_syscalls(self, limit: int = 12) -> list[SyscallStat]:
        """The busiest syscall names by total time, then calls."""
        with self._lock:
            stats = sorted(self.syscalls.values(), key=lambda s: (s.total_ns, s.calls), reverse=True)
            return stats[:limit]

    def process_tree(self) -> list[tuple[int, ProcessStat]]:
        """Processes in tree order as (depth, stat): children under the process that forked them."""
        with self._lock:
            procs = dict(self.processes)
        children: dict[int | None, list[int]] = {}
        for pid, proc in procs.items():
            parent = proc.parent if proc.parent in procs and proc.parent != pid else None
            children.setdefault(parent, []).append(pid)
        ordered: list[tuple[int, ProcessStat]] = []
        stack = [(0, pid) for pid in sorted(children.get(None, []), reverse=True)]
        seen: set[int] = set()
        while stack:
            depth, pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            ordered.append((depth, procs[pid]))
            stack.extend((depth + 1, child) for child in sorted(children.get(pid, []), reverse=True))
        return ordered

    @property
    def alive_processes(self) -> int:
        with self._lock:
            return sum(1 for p in self.processes.values() if p.alive)
