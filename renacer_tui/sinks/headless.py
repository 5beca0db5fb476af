"""Headless outputs of a run: strace-like text, JSONL (every column), and the `-c` summary.

Each is a span sink (`name`, `write(batch)`, `close()`) the fan-out feeds from its own thread,
so rendering text never runs on the capture loop.  Arguments arrive already escaped by
`tracer.formats` (no raw control character reaches the terminal); what this module adds is
layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa

from renacer_tui.model.attributes import (
    ATTR_FILTERED,
    ATTR_RLE_TOTAL,
    ATTR_SYSCALL_ARGS,
    ATTR_SYSCALL_ERRNO,
    ATTR_SYSCALL_RESULT,
    ATTR_SYSCALL_UNFINISHED,
    parse_attributes,
    parse_attributes_keeping_raw,
)
from renacer_tui.model.kinds import SYSCALL_PREFIX, is_syscall
from renacer_tui.model.sink import SpanSink
from renacer_tui.tracer import formats as F


def _syscall_rows(batch: pa.RecordBatch) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The syscall spans the user asked for, as (row, decoded attributes) (process and run spans
    are not calls; a `renacer.filtered` call is only kept as the parent of the process it created).

    The attributes are decoded, never searched as text: a path argument may well contain a key
    such as `renacer.filtered`."""
    out = []
    for row in batch.to_pylist():
        if not is_syscall(row["span_name"]):
            continue
        attrs = parse_attributes(row["attributes"])
        if not attrs.get(ATTR_FILTERED):
            out.append((row, attrs))
    return out


def format_syscall_line(row: dict[str, Any], show_pid: bool, attrs: dict[str, Any] | None = None) -> str:
    """One strace-style line: `[pid  N] name(args) = result <seconds>` (× count for RLE rows).

    `attrs` is the row's decoded attributes when the caller already has them."""
    if attrs is None:
        attrs = parse_attributes(row["attributes"])
    name = row["span_name"][len(SYSCALL_PREFIX):]
    prefix = f"[pid {row['thread_id']:>6}] " if show_pid else ""
    call = f"{prefix}{name}({attrs.get(ATTR_SYSCALL_ARGS, '')})"
    count = int(row["rle_count"])
    seconds = (row["end_time_nanos"] - row["start_time_nanos"]) / 1e9
    if attrs.get(ATTR_SYSCALL_UNFINISHED):
        return f"{call} = ? <unfinished>"
    errname = attrs.get(ATTR_SYSCALL_ERRNO)
    if errname:
        code = F.errno_code(errname)
        result = F.error_result(code) if code is not None else f"-1 {errname} ({errname})"
    else:
        value = attrs.get(ATTR_SYSCALL_RESULT, "?")
        result = f"{value:#x}" if isinstance(value, int) and value > 0xFFFFFFFF else str(value)
    repeat = f" ×{count}" if count > 1 else ""
    return f"{call} = {result} <{seconds:.6f}>{repeat}"


def _with_stacks(rows: list[tuple[dict[str, Any], dict[str, Any]]], lines: list[str]) -> list[str]:
    """Each line followed by its call's stack, as strace -k prints it (rows: (row, attributes))."""
    from renacer_tui.tracer.symbols.annotate import stack_lines

    out: list[str] = []
    for (_row, attrs), line in zip(rows, lines):
        out.append(line)
        out.extend(stack_lines(attrs))
    return out


class TextSink(SpanSink):
    """strace-like text lines, one per syscall (an RLE row is one line marked `×N`)."""

    name = "text"

    def __init__(self, stream: IO[str], show_pid: bool = True, stack_trace: bool = False) -> None:
        self._stream = stream
        self._show_pid = show_pid
        self._stack_trace = stack_trace  # -k: the symbolised stack under each line

    def write(self, batch: pa.RecordBatch) -> None:
        # RLE holds a few rows per thread back, so a batch is not in call order: restore it
        rows = sorted(_syscall_rows(batch), key=lambda pair: pair[0]["logical_clock"])
        lines = [format_syscall_line(row, self._show_pid, attrs) for row, attrs in rows]
        if self._stack_trace:
            lines = _with_stacks(rows, lines)
        if lines:
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()

    def close(self) -> None:
        self._stream.flush()


def json_line(row: dict[str, Any]) -> str:
    """One stored row as a JSON Lines object: every column, the span's and its events' and links'
    attributes decoded (text that is not a JSON object kept under `renacer.attributes_raw`)."""
    row["attributes"] = parse_attributes_keeping_raw(row.get("attributes"))
    for column in ("events", "links"):
        for item in row.get(column) or ():
            item["attributes"] = parse_attributes_keeping_raw(item.get("attributes"))
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


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

    def __init__(self) -> None:
        self.totals: dict[str, SyscallTotals] = {}

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
        """The table, sorted by total time like `strace -c`."""
        header = f"{'% time':>6} {'seconds':>11} {'usecs/call':>11} {'calls':>9} {'errors':>9} syscall"
        rule = f"{'-' * 6} {'-' * 11} {'-' * 11} {'-' * 9} {'-' * 9} {'-' * 16}"
        grand_ns = sum(t.total_ns for t in self.totals.values())
        lines = [header, rule]
        ordered = sorted(self.totals.items(), key=lambda item: (-item[1].total_ns, -item[1].calls, item[0]))
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
