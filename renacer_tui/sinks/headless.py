"""Headless outputs of a run: strace-like text, JSONL (every column), and the `-c` summary.

Each is a span sink (`name`, `write(batch)`, `close()`) the fan-out feeds from its own thread,
so rendering text never runs on the capture loop.  Arguments arrive already escaped by
`tracer.formats` (no raw control character reaches the terminal); what this module adds is
layout.
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from renacer_tui.model import safe_json
from renacer_tui.model.attributes import (
    ATTR_DIRFD_OBJECT,
    ATTR_FD_DETAILS,
    ATTR_FD_OBJECT,
    ATTR_FILTERED,
    ATTR_PROCESS_CORE_DUMPED,
    ATTR_PROCESS_EXIT_CODE,
    ATTR_PROCESS_SIGNAL,
    ATTR_RESULT_FD_DETAILS,
    ATTR_RESULT_FD_OBJECT,
    ATTR_RLE_TOTAL,
    ATTR_SAMPLED,
    ATTR_SIGNAL_INFO,
    ATTR_SIGNAL_NAME,
    ATTR_SYSCALL_ARGS,
    ATTR_SYSCALL_DUMP,
    ATTR_SYSCALL_ERRNO,
    ATTR_SYSCALL_FD,
    ATTR_SYSCALL_INJECTED,
    ATTR_SYSCALL_RESULT,
    ATTR_SYSCALL_RESULT_TEXT,
    ATTR_SYSCALL_UNFINISHED,
    ATTR_THREAD_ID,
    EVENT_EXITED,
    EVENT_KILLED,
    EVENT_SIGNAL,
    EVENT_STOPPED,
    EVENT_THREAD_EXITED,
    EVENT_THREAD_KILLED,
    parse_attributes,
    parse_attributes_keeping_raw,
)
from renacer_tui.model.kinds import SYSCALL_PREFIX, is_process, is_syscall
from renacer_tui.model.sink import SpanSink
from renacer_tui.model.syscalls import FD_PAIRS
from renacer_tui.sinks.summary_order import summary_key
from renacer_tui.tracer import formats as F
from renacer_tui.tracer.decode import pipe_fds, plan_named
from renacer_tui.tracer.rows import read_watermark


def _text_rows(batch: pa.RecordBatch) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The rows the text output shows, as (row, decoded attributes), in the order strace prints
    them: the syscalls the user asked for at their entry, a process at its end (its `+++` line).

    A `renacer.filtered` call is only kept as the parent of the process it created.  RLE holds a
    few rows per thread back, so a batch is not in call order: it is restored here.  The
    attributes are decoded, never searched as text: a path argument may well contain a key such
    as `renacer.filtered`."""
    out = []
    for row in batch.to_pylist():
        name = row["span_name"]
        if is_syscall(name):
            attrs = parse_attributes(row["attributes"])
            if not attrs.get(ATTR_FILTERED):
                out.append(((row["start_time_nanos"], row["logical_clock"]), row, attrs))
        elif is_process(name):
            out.append(((row["end_time_nanos"], row["logical_clock"]), row, parse_attributes(row["attributes"])))
    out.sort(key=lambda entry: entry[0])
    return [(row, attrs) for _order, row, attrs in out]


def signal_lines(row: dict[str, Any]) -> list[tuple[int, int, str]]:
    """(time, thread, `--- SIGCHLD {si_signo=…} ---`) for each signal event of the span."""
    out = []
    for event in row.get("events") or ():
        if event["name"] in (EVENT_SIGNAL, EVENT_STOPPED):
            attrs = parse_attributes(event["attributes"])
            name = attrs.get(ATTR_SIGNAL_NAME, "?")
            text = (f"--- {name} {attrs.get(ATTR_SIGNAL_INFO, '')} ---" if event["name"] == EVENT_SIGNAL
                    else f"--- stopped by {name} ---")
            out.append((int(event["time_unix_nano"]), int(attrs.get(ATTR_THREAD_ID, row["thread_id"])), text))
    return out


def _ending_text(event: dict[str, Any], killed: bool, killers: frozenset[str] | None) -> str | None:
    attrs = parse_attributes(event["attributes"])
    if not killed:
        return f"+++ exited with {attrs.get(ATTR_PROCESS_EXIT_CODE)} +++"
    if killers is not None and attrs.get(ATTR_PROCESS_SIGNAL) not in killers:
        return None
    core = " (core dumped)" if attrs.get(ATTR_PROCESS_CORE_DUMPED) else ""
    return f"+++ killed by {attrs.get(ATTR_PROCESS_SIGNAL)}{core} +++"


def exit_line(row: dict[str, Any], killers: frozenset[str] | None = None) -> str | None:
    """A process span's `+++ exited with 0 +++` / `+++ killed by SIGKILL (core dumped) +++`
    (a kill only when its signal is in `killers`, the -e signal= set, as strace)."""
    for event in row.get("events") or ():
        if event["name"] in (EVENT_EXITED, EVENT_KILLED):
            return _ending_text(event, event["name"] == EVENT_KILLED, killers)
    return None


def thread_exit_lines(row: dict[str, Any], killers: frozenset[str] | None = None) -> list[tuple[int, int, str]]:
    """(time, thread, `+++ exited with 0 +++`) for a thread that ended while others went on."""
    out = []
    for event in row.get("events") or ():
        if event["name"] in (EVENT_THREAD_EXITED, EVENT_THREAD_KILLED):
            text = _ending_text(event, event["name"] == EVENT_THREAD_KILLED, killers)
            if text is not None:
                out.append((int(event["time_unix_nano"]), int(row["thread_id"]), text))
    return out


def pid_prefix(tid: int) -> str:
    """strace -f's `[pid  1234] ` before a line."""
    return f"[pid {tid:>6}] "


def call_ending(row: dict[str, Any], attrs: dict[str, Any]) -> str:
    """What follows a call's arguments: `) = result <seconds>` (× count for RLE rows); a call
    that never returned reads `) = ? <unfinished>`, and exit/exit_group `) = ?` as in strace."""
    count = int(row["rle_count"])
    seconds = (row["end_time_nanos"] - row["start_time_nanos"]) / 1e9
    if attrs.get(ATTR_SYSCALL_UNFINISHED):
        return ") = ?" if row["span_name"] in _NO_RETURN else ") = ? <unfinished>"
    errname = attrs.get(ATTR_SYSCALL_ERRNO)
    if errname:
        code = F.errno_code(errname)
        result = F.error_result(code) if code is not None else f"-1 {errname} ({errname})"
    else:
        value = attrs.get(ATTR_SYSCALL_RESULT, "?")
        plan = plan_named(row["span_name"][len(SYSCALL_PREFIX):])
        address = isinstance(value, int) and value > 0 and (value > 0xFFFFFFFF or (plan is not None and plan.hex_result))
        result = attrs.get(ATTR_SYSCALL_RESULT_TEXT) or (f"{value:#x}" if address else str(value))
    repeat = f" ×{count}" if count > 1 else ""
    if attrs.get(ATTR_SAMPLED):  # adaptive sampling: kept for `count` fast calls, not repeated
        repeat += " (sampled)"
    injected = " (INJECTED)" if attrs.get(ATTR_SYSCALL_INJECTED) else ""
    return f") = {result}{injected} <{seconds:.6f}>{repeat}"


_NO_RETURN = frozenset({SYSCALL_PREFIX + "exit", SYSCALL_PREFIX + "exit_group"})


def format_syscall_line(row: dict[str, Any], show_pid: bool, attrs: dict[str, Any] | None = None) -> str:
    """One strace-style line: `[pid  N] name(args) = result <seconds>` (× count for RLE rows).

    `attrs` is the row's decoded attributes when the caller already has them."""
    if attrs is None:
        attrs = parse_attributes(row["attributes"])
    name = row["span_name"][len(SYSCALL_PREFIX):]
    prefix = pid_prefix(int(row["thread_id"])) if show_pid else ""
    return f"{prefix}{name}({attrs.get(ATTR_SYSCALL_ARGS, '')}{call_ending(row, attrs)}"


def with_fd_paths(row: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    """strace -y: the fd argument as `3</etc/hostname>` and a returned fd as `= 3</etc/hostname>`,
    from what /proc said each refers to (`syscall.fd_object`, `syscall.result_fd_object`)."""
    name = row["span_name"][len(SYSCALL_PREFIX):]
    shown = dict(attrs)
    target, fd = attrs.get(ATTR_FD_DETAILS, attrs.get(ATTR_FD_OBJECT)), attrs.get(ATTR_SYSCALL_FD)
    plan = plan_named(name)
    position = plan.fd_index if plan is not None else None
    if target is not None and fd is not None and position is not None:
        pieces = F.arguments(str(attrs.get(ATTR_SYSCALL_ARGS, "")))
        if position < len(pieces) and pieces[position] == str(fd):
            pieces[position] = f"{fd}<{target}>"
            shown[ATTR_SYSCALL_ARGS] = ", ".join(pieces)
    directory = attrs.get(ATTR_DIRFD_OBJECT)
    if directory is not None and plan is not None and plan.dirfd_index is not None:  # `AT_FDCWD</tmp>`
        pieces = F.arguments(str(shown.get(ATTR_SYSCALL_ARGS, "")))
        if plan.dirfd_index < len(pieces):
            pieces[plan.dirfd_index] += f"<{directory}>"
            shown[ATTR_SYSCALL_ARGS] = ", ".join(pieces)
    returned = attrs.get(ATTR_RESULT_FD_DETAILS, attrs.get(ATTR_RESULT_FD_OBJECT))
    if isinstance(returned, list):  # pipe/socketpair: `[3<pipe:[7]>, 4<pipe:[7]>]`
        pieces = F.arguments(str(shown.get(ATTR_SYSCALL_ARGS, "")))
        index = FD_PAIRS.get(name, len(pieces))
        fds = pipe_fds(pieces[index]) if index < len(pieces) else None
        if fds is not None and len(returned) == 2:
            pieces[index] = f"[{fds[0]}<{returned[0]}>, {fds[1]}<{returned[1]}>]"
            shown[ATTR_SYSCALL_ARGS] = ", ".join(pieces)
    elif returned is not None and not attrs.get(ATTR_SYSCALL_ERRNO):
        shown[ATTR_SYSCALL_RESULT_TEXT] = f"{attrs.get(ATTR_SYSCALL_RESULT)}<{returned}>"
    return shown



def split_call(row: dict[str, Any], attrs: dict[str, Any]) -> tuple[str, str, str]:
    """(name, the arguments strace prints at entry, the rest) of a syscall row."""
    name = row["span_name"][len(SYSCALL_PREFIX):]
    args = str(attrs.get(ATTR_SYSCALL_ARGS, ""))
    plan = plan_named(name)
    head, tail = (args, "") if plan is None else F.split_arguments(args, plan.entry_args)
    return name, head, tail


#: One thing the text output shows, in time order: (time, kind, row, attrs, task, text).
_Event = tuple[int, str, dict[str, Any], dict[str, Any], int, str]


class TextSink(SpanSink):
    """strace-like text lines: one per syscall (an RLE row is one line marked `×N`), strace's
    `--- SIG… {…} ---` line before the call a signal was delivered ahead of, and `+++ exited
    with N +++` / `+++ killed by SIG… +++` at each process's end.

    Calls are laid out as strace does: a call is printed at its entry, so one that blocks (the
    builder's in-flight snapshots, `write_inflight`) shows while it waits; when another line
    comes between a call's entry and its exit, the entry ends `<unfinished ...>` and the exit
    reads `<... read resumed>…) = 5`."""

    name = "text"

    def __init__(self, stream: IO[str], show_pid: bool = True, stack_trace: bool = False, timestamps: int = 0,
                 relative: bool = False, exits: bool = True,
                 per_task: Callable[[int], IO[str]] | None = None, signals: frozenset[str] | None = None,
                 fd_paths: bool = False) -> None:
        self._stream = stream
        self._fd_paths = fd_paths  # -y
        self._show_pid = show_pid and per_task is None
        self._stack_trace = stack_trace  # -k: the symbolised stack under each line
        self._timestamps = timestamps  # -t / -tt / -ttt
        self._relative = relative  # -r
        self._exits = exits  # the `+++ exited with N +++` lines (-qq leaves them out)
        self._previous_ns: int | None = None  # the previous line's entry, for -r
        #: -ff: the stream of each task's own file (FILE.TID); every line then goes to its task's
        self._per_task = per_task
        self._signals = signals  # -e signal=: the names whose kills get a `+++ killed by` line
        #: per output (None: the one stream; a task's id under -ff): the call whose entry ends
        #: the last line written, not yet followed by its exit
        self._open: dict[int | None, str] = {}
        self._shown: set[str] = set()  # calls whose entry is printed and exit is not yet
        self._signalled: set[tuple[str, int]] = set()  # (span, time) of signal lines shown in flight
        self._pending: list[_Event] = []  # events after the watermark, in no order yet
        self._watermark: int | None = None
        self._watermarked = False  # a batch with a watermark came: its source is the builder

    def _events(self, batch: pa.RecordBatch) -> list[_Event]:
        events: list[_Event] = []
        for row, attrs in _text_rows(batch):
            for t_ns, tid, text in signal_lines(row):
                if self._signalled and (row["span_id"], t_ns) in self._signalled:
                    self._signalled.discard((row["span_id"], t_ns))  # shown with the call in flight
                else:
                    events.append((t_ns, "line", row, attrs, tid, text))
            if is_process(row["span_name"]):
                ending = exit_line(row, self._signals) if self._exits else None
                if ending is not None:
                    events.append((int(row["end_time_nanos"]), "line", row, attrs, int(row["process_pid"]), ending))
                continue
            tid = int(row["thread_id"])
            if self._exits:
                for t_ns, thread, text in thread_exit_lines(row, self._signals):
                    events.append((t_ns, "line", row, attrs, thread, text))
            if self._fd_paths:
                attrs = with_fd_paths(row, attrs)
            if int(row["rle_count"]) > 1 or (row["span_name"] in _NO_RETURN and attrs.get(ATTR_SYSCALL_UNFINISHED)):
                # a folded run is one line; so is an exit, which strace knows never returns
                events.append((int(row["start_time_nanos"]), "whole", row, attrs, tid, ""))
                continue
            events.append((int(row["start_time_nanos"]), "entry", row, attrs, tid, ""))
            events.append((int(row["end_time_nanos"]), "exit", row, attrs, tid, ""))
        return events

    def write(self, batch: pa.RecordBatch) -> None:
        self._pending.extend(self._events(batch))
        self._release(batch)

    def write_inflight(self, batch: pa.RecordBatch) -> None:
        """Print the entry of each call that blocks, once, while it is still waiting."""
        for row in batch.to_pylist():
            if is_syscall(row["span_name"]):
                attrs = parse_attributes(row["attributes"])
                if self._fd_paths:
                    attrs = with_fd_paths(row, attrs)
                for t_ns, tid, text in signal_lines(row):  # delivered ahead of it, or while it waits
                    if (row["span_id"], t_ns) not in self._signalled:
                        self._signalled.add((row["span_id"], t_ns))
                        self._pending.append((t_ns, "line", row, attrs, tid, text))
                self._pending.append((int(row["start_time_nanos"]), "entry", row, attrs, int(row["thread_id"]), ""))
        self._release(batch)

    def _release(self, batch: pa.RecordBatch) -> None:
        """Write the pending events that are final: all of them, unless the builder's
        watermark says a call that started earlier has yet to arrive (RLE holds a thread's
        last few calls back), then those before it."""
        carried, watermark = read_watermark(batch)
        if carried:
            self._watermark, self._watermarked = watermark, True
        elif not self._watermarked:  # batches of another source (tests, a replay): nothing waits
            self._watermark = None
        pending = self._pending
        pending.sort(key=lambda event: event[0])  # stable: a call's entry stays before its exit
        limit = self._watermark
        cut = len(pending) if limit is None else bisect.bisect_left(pending, limit, key=lambda event: event[0])
        ready, self._pending = pending[:cut], pending[cut:]
        out: dict[int | None, list[str]] = {}
        for t_ns, kind, row, attrs, tid, text in ready:
            key = tid if self._per_task is not None else None
            pieces = out.setdefault(key, [])
            if kind == "line":
                self._break(key, pieces)
                pieces.append(self._line(tid, t_ns, text) + "\n")
            elif kind == "whole":
                self._break(key, pieces)
                pieces.append(self._line(tid, t_ns, format_syscall_line(row, False, attrs)) + "\n")
                self._below(attrs, pieces)
            elif kind == "entry":
                if row["span_id"] not in self._shown:  # shown once: from a snapshot or its span
                    self._shown.add(row["span_id"])
                    self._entry(key, row, attrs, pieces)
            else:
                self._exit(key, row, attrs, pieces)
        self._emit(out)

    def _entry(self, key: int | None, row: dict[str, Any], attrs: dict[str, Any], pieces: list[str]) -> None:
        self._break(key, pieces)
        name, head, _tail = split_call(row, attrs)
        pieces.append(self._line(int(row["thread_id"]), int(row["start_time_nanos"]), f"{name}({head}"))
        self._open[key] = row["span_id"]

    def _exit(self, key: int | None, row: dict[str, Any], attrs: dict[str, Any], pieces: list[str]) -> None:
        span_id = row["span_id"]
        self._shown.discard(span_id)
        name, _head, tail = split_call(row, attrs)
        ending = call_ending(row, attrs)
        if self._open.get(key) == span_id:
            del self._open[key]
            pieces.append(f"{tail}{ending}\n")
        else:
            self._break(key, pieces)
            tid = int(row["thread_id"])
            pieces.append(self._line(tid, int(row["end_time_nanos"]), f"<... {name} resumed>{tail}{ending}") + "\n")
        self._below(attrs, pieces)

    def _break(self, key: int | None, pieces: list[str]) -> None:
        """End a line left open at a call's entry: another line comes before its exit."""
        if self._open.pop(key, None) is not None:
            pieces.append(" <unfinished ...>\n")

    def _below(self, attrs: dict[str, Any], pieces: list[str]) -> None:
        """The lines under a call's: its bytes (-e read=/write=), then its stack (-k)."""
        dump = attrs.get(ATTR_SYSCALL_DUMP)
        if isinstance(dump, str) and dump:
            pieces.append(dump + "\n")
        if self._stack_trace:  # -k: the symbolised stack under the line
            from renacer_tui.tracer.symbols.annotate import stack_lines

            pieces.extend(frame + "\n" for frame in stack_lines(attrs))

    def _emit(self, out: dict[int | None, list[str]]) -> None:
        for key, pieces in out.items():
            if pieces:
                stream = self._stream if key is None or self._per_task is None else self._per_task(key)
                stream.write("".join(pieces))
                stream.flush()

    def _line(self, tid: int, t_ns: int, text: str) -> str:
        """`text` after strace's prefixes: `[pid N]` (-f), then the time (-t/-tt/-ttt, -r)."""
        if self._relative:
            text = f"{time_stamp_relative(t_ns - (t_ns if self._previous_ns is None else self._previous_ns))} {text}"
            self._previous_ns = t_ns
        elif self._timestamps:
            text = f"{time_stamp(t_ns, self._timestamps)} {text}"
        return f"{pid_prefix(tid)}{text}" if self._show_pid else text

    def close(self) -> None:
        self._watermark, self._watermarked = None, False
        self._release(pa.record_batch({}))  # what is still held back: nothing else will come
        out: dict[int | None, list[str]] = {}
        for key in list(self._open):
            self._break(key, out.setdefault(key, []))
        self._emit(out)
        self._stream.flush()


class TaskFiles:
    """strace -ff's files: `FILE.TID`, one per traced task, opened at its first line."""

    def __init__(self, base: Path) -> None:
        self._base = base
        self._open: dict[int, IO[str]] = {}

    def __call__(self, tid: int) -> IO[str]:
        stream = self._open.get(tid)
        if stream is None:
            stream = self._open[tid] = open(f"{self._base}.{tid}", "w", encoding="utf-8", errors="replace")
        return stream

    def close(self) -> None:
        for stream in self._open.values():
            stream.close()
        self._open.clear()


def time_stamp(epoch_ns: int, level: int) -> str:
    """strace's -t (`HH:MM:SS`), -tt (`HH:MM:SS.uuuuuu`) and -ttt (`SECONDS.uuuuuu`) prefixes, local time."""
    import time

    seconds, micros = divmod(epoch_ns // 1000, 1_000_000)
    if level >= 3:
        return f"{seconds}.{micros:06d}"
    clock = time.strftime("%H:%M:%S", time.localtime(seconds))
    return clock if level == 1 else f"{clock}.{micros:06d}"


def time_stamp_relative(delta_ns: int) -> str:
    """strace's -r prefix: seconds since the previous call's entry, `%6d.%06d`."""
    seconds, micros = divmod(max(0, delta_ns) // 1000, 1_000_000)
    return f"{seconds:6d}.{micros:06d}"


def json_line(row: dict[str, Any]) -> str:
    """One stored row as a JSON Lines object: every column, the span's and its events' and links'
    attributes decoded (text that is not a JSON object kept under `renacer.attributes_raw`)."""
    row["attributes"] = parse_attributes_keeping_raw(row.get("attributes"))
    for column in ("events", "links"):
        for item in row.get(column) or ():
            item["attributes"] = parse_attributes_keeping_raw(item.get("attributes"))
    return safe_json.dumps(row, separators=(",", ":"))


class JsonlSink(SpanSink):
    """One JSON object per span with every column of the span schema (attributes decoded)."""

    name = "jsonl"

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, batch: pa.RecordBatch) -> None:
        out = [json_line(row) for row in batch.to_pylist()]
        if out:
            self._stream.write("\n".join(out) + "\n")
            self._stream.flush()

    def close(self) -> None:
        self._stream.flush()


@dataclass
class SyscallTotals:
    """Counters of one syscall name for the `-c` table."""

    calls: int = 0
    errors: int = 0
    total_ns: int = 0


class SummarySink(SpanSink):
    """Calls, errors and time per syscall that returned; `format_summary()` prints strace -c's table."""

    name = "summary"

    def __init__(self, sort_by: str = "time", stream: IO[str] | None = None) -> None:
        #: where the run prints the table at its end (-o FILE, else stderr)
        self.stream: IO[str] = stream if stream is not None else sys.stderr
        self.totals: dict[str, SyscallTotals] = {}  # in first-seen order (-S nothing)
        self._key = summary_key(sort_by)

    def write(self, batch: pa.RecordBatch) -> None:
        names = batch.column("span_name").to_pylist()
        counts = batch.column("rle_count").to_pylist()
        status = batch.column("status").to_pylist()
        starts = batch.column("start_time_nanos").to_pylist()
        ends = batch.column("end_time_nanos").to_pylist()
        texts = batch.column("attributes").to_pylist()
        for i, name in enumerate(names):
            if not is_syscall(name):
                continue
            attrs = parse_attributes(texts[i])
            if attrs.get(ATTR_SYSCALL_UNFINISHED) or attrs.get(ATTR_FILTERED):
                continue  # strace -c counts calls that returned and were asked for
            totals = self.totals.setdefault(name[len(SYSCALL_PREFIX):], SyscallTotals())
            count = counts[i]
            totals.calls += count
            if status[i] == "ERROR":
                totals.errors += count
            if count > 1:  # an RLE row: its total call time, not first-start to last-end
                totals.total_ns += int(attrs.get(ATTR_RLE_TOTAL, ends[i] - starts[i]))
            else:
                totals.total_ns += ends[i] - starts[i]

    def close(self) -> None:
        """Nothing to release: the table is printed by the run when the trace ends."""

    def format_summary(self) -> str:
        """The table, sorted by total time like `strace -c` (or as `-S` asked)."""
        header = f"{'% time':>6} {'seconds':>11} {'usecs/call':>11} {'calls':>9} {'errors':>9} syscall"
        rule = f"{'-' * 6} {'-' * 11} {'-' * 11} {'-' * 9} {'-' * 9} {'-' * 16}"
        grand_ns = sum(t.total_ns for t in self.totals.values())
        lines = [header, rule]
        items = list(self.totals.items())
        ordered = items if self._key is None else sorted(items, key=self._key)
        for name, t in ordered:
            share = 100.0 * t.total_ns / grand_ns if grand_ns else 0.0
            per_call = t.total_ns / 1000 / t.calls if t.calls else 0.0
            shown_errors = str(t.errors) if t.errors else ""
            lines.append(f"{share:6.2f} {t.total_ns / 1e9:11.6f} {per_call:11.0f} {t.calls:9d} {shown_errors:>9} {name}")
        calls = sum(t.calls for t in self.totals.values())
        errors = sum(t.errors for t in self.totals.values())
        per_call = grand_ns / 1000 / calls if calls else 0.0
        lines.append(rule)
        lines.append(f"{100.0:6.2f} {grand_ns / 1e9:11.6f} {per_call:11.0f} {calls:9d} {errors or '':>9} total")
        return "\n".join(lines)
