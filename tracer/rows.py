"""Span rows in flight and their conversion to Arrow record batches of `SPAN_SCHEMA`.

The capture loop's per-stop budget is tiny, so a span lives as a slotted `Row` until it is
emitted; columns and the attribute JSON are built only when a batch is cut.  A row that RLE
folded into another keeps an `alias` to it, so links and happens-before edges that pointed at
the folded call resolve to the row that represents it.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pyarrow as pa

from renacer_tui.model.attributes import (
    ATTR_FD_OBJECT,
    ATTR_LINKS,
    ATTR_RLE_FIRST,
    ATTR_RLE_LAST,
    ATTR_RLE_MAX,
    ATTR_RLE_TOTAL,
    ATTR_STACK,
    ATTR_SYSCALL_ARGS,
    ATTR_SYSCALL_ERRNO,
    ATTR_SYSCALL_FD,
    ATTR_SYSCALL_FLAGS,
    ATTR_SYSCALL_NAME,
    ATTR_SYSCALL_PATH,
    ATTR_SYSCALL_RESULT,
)
from renacer_tui.model.schema import EVENTS_TYPE, LINKS_TYPE, SPAN_KIND_INTERNAL, batch_from_columns
from renacer_tui.tracer.formats import escape_text

#: One encoder for every row: json.dumps with non-default options builds a new one per call.
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


#: Schema metadata key of a batch whose rows carry stacks (see `encode_stacks`).
STACKS_METADATA = b"renacer.stacks"
#: Schema metadata key of the builder's batches: the earliest start of a call that has not
#: reached a batch yet (held back by RLE, or in flight and not shown), in ns; empty when none.
#: The text output holds its later lines back until then, so it stays in time order.
WATERMARK_METADATA = b"renacer.watermark"


def with_watermark(batch: pa.RecordBatch, watermark: int | None) -> pa.RecordBatch:
    """`batch` with `WATERMARK_METADATA` added to its schema metadata."""
    metadata = dict(batch.schema.metadata or {})
    metadata[WATERMARK_METADATA] = b"" if watermark is None else str(watermark).encode()
    return batch.replace_schema_metadata(metadata)


def read_watermark(batch: pa.RecordBatch) -> tuple[bool, int | None]:
    """(whether `batch` carries a watermark, its value: None when nothing is held back)."""
    raw = (batch.schema.metadata or {}).get(WATERMARK_METADATA)
    if raw is None:
        return False, None
    try:
        return True, int(raw) if raw else None
    except ValueError:
        return False, None


def encode_stacks(stacks: list[Any]) -> bytes:
    """Every row's stack as `{"stacks": [distinct stacks], "rows": [index or -1 per row]}`:
    the symbolising stage reads the stacks of a batch from this one small document instead of
    parsing every row's attributes (a loop's rows share a few stacks)."""
    table: dict[tuple[str, ...], int] = {}
    index = [table.setdefault(tuple(stack), len(table)) if stack else -1 for stack in stacks]
    return _encode_json({"stacks": [list(stack) for stack in table], "rows": index}).encode("utf-8")


class Row:
    """One span (or one RLE run of identical calls) before emission."""

    __slots__ = (
        "span_id", "parent_span_id", "start", "end", "name", "status", "status_message",
        "pid", "pname", "pcmdline", "tid", "clock", "prev", "attrs", "links", "key",
        "count", "total", "max", "last_start", "alias", "keep", "linked", "call", "payload",
        "events", "otel_links",
    )

    def __init__(self, span_id: str, clock: int, name: str, start: int, tid: int, pid: int) -> None:
        self.span_id = span_id
        self.clock = clock
        self.name = name
        self.start = start
        self.end = start
        self.tid = tid
        self.pid = pid
        self.parent_span_id: str | None = None
        self.status = "UNSET"
        self.status_message: str | None = None
        self.pname = ""
        self.pcmdline = ""
        self.prev: Row | int | None = None  # happens-before source: a Row, a clock, or none
        self.attrs: dict[str, Any] = {}
        self.links: list[tuple[str, Row]] = []
        self.key: tuple | None = None  # RLE identity; None = never folded
        self.count = 1
        self.total = 0
        self.max = 0
        self.last_start = start
        self.alias: Row | None = None
        self.keep = False  # structural (e.g. created a process): survives filters
        # a link's source, a span with OTLP links or a call shown in flight: never folded by RLE
        self.linked = False
        # a finished syscall's (name, args text, result, errno name, fd, fd object, path, flags):
        # its attributes, built only when the row is emitted
        self.call: tuple | None = None
        self.payload: Any = None  # --capture-payloads: the call's tracer.payload_hash.PayloadRef
        # OpenTelemetry span events [(name, time_unix_nano, attributes)] and links
        # [(trace id, span id, trace state, attributes)]: None for nearly every row
        self.events: list[tuple[str, int, dict[str, Any]]] | None = None
        self.otel_links: list[tuple[str, str, str | None, dict[str, Any]]] | None = None

    def resolve(self) -> "Row":
        row = self
        while row.alias is not None:
            row = row.alias
        return row

    def absorb(self, other: "Row") -> None:
        """Fold `other` (identical but for its times) into this RLE run."""
        if self.count == 1:
            self.total = self.end - self.start
            self.max = self.total
        duration = other.end - other.start
        self.count += other.count
        self.total += duration if other.count == 1 else other.total
        self.max = max(self.max, duration if other.count == 1 else other.max)
        self.last_start = other.last_start
        self.end = other.end
        other.alias = self
        # A folded row is never emitted, so its own predecessor is never asked for: dropping it
        # lets a long loop's folded rows be freed instead of chaining every call of the thread.
        other.prev = None


def call_attributes(call: tuple) -> dict[str, Any]:
    """The `syscall.*` attributes of a finished call (see `Row.call`)."""
    name, args_text, ret, errname, fd, obj, path, flags = call
    attrs: dict[str, Any] = {ATTR_SYSCALL_NAME: name, ATTR_SYSCALL_ARGS: args_text}
    if errname is not None:
        attrs[ATTR_SYSCALL_RESULT] = -1
        attrs[ATTR_SYSCALL_ERRNO] = errname
    else:
        attrs[ATTR_SYSCALL_RESULT] = ret
    if fd is not None:
        attrs[ATTR_SYSCALL_FD] = fd
    if obj is not None:
        attrs[ATTR_FD_OBJECT] = escape_text(obj)
    if path is not None:
        attrs[ATTR_SYSCALL_PATH] = path
    if flags is not None:
        attrs[ATTR_SYSCALL_FLAGS] = flags
    return attrs


class BatchBuilder:
    """Collects finished rows and hands `pa.RecordBatch`es to `on_batch`."""

    def __init__(
        self,
        trace_id: str,
        service_name: str,
        service_version: str,
        on_batch: Callable[[pa.RecordBatch], None],
        batch_rows: int,
        interval_ns: int,
    ) -> None:
        self.trace_id = trace_id
        self.service_name = service_name
        self.service_version = service_version
        self.on_batch = on_batch
        self.batch_rows = batch_rows
        self.interval_ns = interval_ns
        self.rows: list[Row] = []
        #: the builder's `watermark()`, put on every batch (`WATERMARK_METADATA`)
        self.watermark: Callable[[], int | None] | None = None
        self.last_emit_ns = 0
        self.emitted = 0
        self.represented = 0
        self.syscalls_represented = 0
        #: Called before a batch's attributes are built (the payload hasher's `sync`).
        self.before_batch: Callable[[], None] | None = None

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self.flush()

    def due(self, now_ns: int) -> bool:
        return now_ns - self.last_emit_ns >= self.interval_ns

    def flush(self, now_ns: int | None = None) -> None:
        if now_ns is not None:
            self.last_emit_ns = now_ns
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        if self.before_batch is not None:
            self.before_batch()
        batch = self.to_batch(rows)
        if self.watermark is not None:
            batch = with_watermark(batch, self.watermark())
        self.emitted += len(rows)
        for row in rows:
            self.represented += row.count
            if row.name.startswith("syscall:"):
                self.syscalls_represented += row.count
        self.on_batch(batch)

    def to_batch(self, rows: list[Row]) -> pa.RecordBatch:
        """`rows` as one `SPAN_SCHEMA` batch (also the in-flight snapshots, which are not emitted)."""
        n = len(rows)
        attributes: list[str] = []
        parent_clocks: list[int | None] = []
        stacks: list[Any] = []  # --source: each row's stack, also handed on beside the JSON
        for row in rows:
            attrs = row.attrs
            stacks.append(attrs.get(ATTR_STACK))
            if row.call is not None:
                built = call_attributes(row.call)
                if attrs:
                    built.update(attrs)
                attrs = built
            if row.payload is not None:
                attrs = dict(attrs)
                attrs.update(row.payload.attributes())
            if row.count > 1:
                attrs = dict(attrs)
                attrs[ATTR_RLE_FIRST] = row.start
                attrs[ATTR_RLE_LAST] = row.last_start
                attrs[ATTR_RLE_TOTAL] = row.total
                attrs[ATTR_RLE_MAX] = row.max
            if row.links:
                attrs = dict(attrs)
                attrs[ATTR_LINKS] = [
                    {"type": kind, "span_id": src.resolve().span_id, "logical_clock": src.resolve().clock}
                    for kind, src in row.links
                ]
            attributes.append(_encode_json(attrs))
            prev = row.prev
            if isinstance(prev, Row):
                # settled now: keep the clock, not the row (and through it the thread's history)
                prev = row.prev = prev.resolve().clock
            parent_clocks.append(prev)
        no_text = pa.nulls(n, pa.string())
        batch = batch_from_columns(
            {
                "trace_id": pa.array([self.trace_id] * n, pa.string()),
                "span_id": [r.span_id for r in rows],
                "parent_span_id": [r.parent_span_id for r in rows],
                "start_time_nanos": [r.start for r in rows],
                "end_time_nanos": [r.end for r in rows],
                "span_name": [r.name for r in rows],
                "span_kind": pa.array([SPAN_KIND_INTERNAL] * n, pa.string()),
                "status": [r.status for r in rows],
                "status_message": [r.status_message for r in rows],
                "attributes": attributes,
                "rust_source": no_text,
                "python_source": no_text,
                "c_source": no_text,
                "process_pid": [r.pid for r in rows],
                "process_name": [r.pname for r in rows],
                "process_cmdline": [r.pcmdline for r in rows],
                "service_name": pa.array([self.service_name] * n, pa.string()),
                "service_version": pa.array([self.service_version] * n, pa.string()),
                "thread_id": [r.tid for r in rows],
                "logical_clock": [r.clock for r in rows],
                "parent_logical_clock": parent_clocks,
                "rle_count": [r.count for r in rows],
                "events": _events_column(rows),
                "links": _links_column(rows),
            }
        )
        if any(stacks):
            batch = batch.replace_schema_metadata({STACKS_METADATA: encode_stacks(stacks)})
        return batch


def _events_column(rows: list[Row]) -> pa.Array:
    """The `events` column: all null unless a row has events (decision traces)."""
    if all(r.events is None for r in rows):
        return pa.nulls(len(rows), EVENTS_TYPE)
    return pa.array(
        [
            None if r.events is None
            else [{"name": name, "time_unix_nano": t, "attributes": _encode_json(attrs)} for name, t, attrs in r.events]
            for r in rows
        ],
        EVENTS_TYPE,
    )


def _links_column(rows: list[Row]) -> pa.Array:
    """The `links` column: all null unless a row has OTLP links (an HTTP request's traceparent)."""
    if all(r.otel_links is None for r in rows):
        return pa.nulls(len(rows), LINKS_TYPE)
    return pa.array(
        [
            None if r.otel_links is None
            else [
                {"trace_id": trace_id, "span_id": span_id, "trace_state": state, "attributes": _encode_json(attrs)}
                for trace_id, span_id, state, attrs in r.otel_links
            ]
            for r in rows
        ],
        LINKS_TYPE,
    )
