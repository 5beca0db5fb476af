"""The span: one Arrow schema shared by the tracer, the store, the exporters and the UI.

This module is the single representation of a span (the spec's §4.1 columns plus the
golden-thread additions).  The tracer builds record batches with exactly this schema, the
store writes them to Parquet unchanged, and every reader (DuckDB views, analysis, TUI) reads
these column names.  Nothing else in the project defines span columns.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Sequence

import pyarrow as pa

#: Span kinds, as OpenTelemetry names them (stored as text for SQL readability).
SPAN_KIND_INTERNAL = "INTERNAL"
SPAN_KIND_CLIENT = "CLIENT"
SPAN_KIND_SERVER = "SERVER"

#: Span status codes, as OpenTelemetry names them.
STATUS_UNSET = "UNSET"
STATUS_OK = "OK"
STATUS_ERROR = "ERROR"

#: An OpenTelemetry span event: a named point in time inside a span, with its own attributes
#: (JSON object text, like the span's).  Decisions, signals and exits travel as events.
EVENT_TYPE = pa.struct(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("time_unix_nano", pa.int64(), nullable=False),
        pa.field("attributes", pa.string(), nullable=False),
    ]
)
#: An OpenTelemetry span link: a causal edge to a span of this or another trace (an HTTP request's
#: announced traceparent, a received span's links).  renacer's own in-trace edges stay in the
#: `renacer.links` attribute, which carries the logical clocks the graph needs.
LINK_TYPE = pa.struct(
    [
        pa.field("trace_id", pa.string(), nullable=False),
        pa.field("span_id", pa.string(), nullable=False),
        pa.field("trace_state", pa.string(), nullable=True),
        pa.field("attributes", pa.string(), nullable=False),
    ]
)
EVENTS_TYPE = pa.list_(EVENT_TYPE)
LINKS_TYPE = pa.list_(LINK_TYPE)

SPAN_SCHEMA = pa.schema(
    [
        # W3C identifiers, lower-case hex text so the spec's SQL (`trace_id = '4bf9…'`) works.
        pa.field("trace_id", pa.string(), nullable=False),  # 32 hex
        pa.field("span_id", pa.string(), nullable=False),  # 16 hex
        pa.field("parent_span_id", pa.string(), nullable=True),  # 16 hex or null for a root
        # Unix epoch nanoseconds. For an RLE row: start of the first call, end of the last.
        pa.field("start_time_nanos", pa.int64(), nullable=False),
        pa.field("end_time_nanos", pa.int64(), nullable=False),
        pa.field("span_name", pa.string(), nullable=False),  # "syscall:read", "process:ls", …
        pa.field("span_kind", pa.string(), nullable=False),  # INTERNAL | CLIENT | SERVER
        pa.field("status", pa.string(), nullable=False),  # UNSET | OK | ERROR
        pa.field("status_message", pa.string(), nullable=True),  # e.g. "ENOENT"
        pa.field("attributes", pa.string(), nullable=False),  # JSON object text
        pa.field("rust_source", pa.string(), nullable=True),
        pa.field("python_source", pa.string(), nullable=True),
        pa.field("c_source", pa.string(), nullable=True),
        pa.field("process_pid", pa.int32(), nullable=False),
        pa.field("process_name", pa.string(), nullable=False),
        pa.field("process_cmdline", pa.string(), nullable=False),
        pa.field("service_name", pa.string(), nullable=False),
        pa.field("service_version", pa.string(), nullable=False),
        # Golden-thread additions.
        pa.field("thread_id", pa.int32(), nullable=False),  # kernel tid; == pid for main thread
        pa.field("logical_clock", pa.int64(), nullable=False),  # global Lamport sequence
        pa.field("parent_logical_clock", pa.int64(), nullable=True),  # happens-before source
        pa.field("rle_count", pa.int64(), nullable=False),  # 1 unless collapsed by RLE
        # First-class OpenTelemetry data; null (not an empty list) when a span has none.  Segments
        # written before these columns existed read them as null.
        pa.field("events", EVENTS_TYPE, nullable=True),
        pa.field("links", LINKS_TYPE, nullable=True),
    ]
)

COLUMN_NAMES: tuple[str, ...] = tuple(SPAN_SCHEMA.names)
#: The source-line columns, the one a reader shows first first: a transpiler map's Python line
#: (the line the user wrote) over the generated program's own C or Rust line.
SOURCE_COLUMNS: tuple[str, ...] = ("python_source", "c_source", "rust_source")
_NAME_SET = frozenset(COLUMN_NAMES)


def empty_table() -> pa.Table:
    """A zero-row table with the span schema (handy default for readers)."""
    return SPAN_SCHEMA.empty_table()


def batch_from_columns(columns: Mapping[str, Sequence[Any] | pa.Array]) -> pa.RecordBatch:
    """A batch built by column name, checked against SPAN_SCHEMA (never by position).

    Raises ValueError naming the missing and unknown columns, so a producer that drifts from the
    schema fails where it builds the batch, not in a reader.
    """
    names = set(columns)
    if names != _NAME_SET:
        missing = sorted(_NAME_SET - names)
        unknown = sorted(names - _NAME_SET)
        raise ValueError(f"span columns do not match SPAN_SCHEMA: missing {missing}, unknown {unknown}")
    arrays = []
    for field in SPAN_SCHEMA:
        value = columns[field.name]
        if isinstance(value, pa.Array):
            arrays.append(value if value.type == field.type else value.cast(field.type))
        else:
            arrays.append(pa.array(value, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=SPAN_SCHEMA)


def batch_from_rows(rows: Iterable[Mapping[str, Any]]) -> pa.RecordBatch:
    """Build a record batch from row dicts; `attributes` may be a dict (encoded as JSON).

    Used by tests, importers and synthetic producers; the tracer's hot path builds columns
    directly.
    """
    columns: dict[str, list[Any]] = {name: [] for name in COLUMN_NAMES}
    for row in rows:
        for name in COLUMN_NAMES:
            value = row.get(name, _DEFAULTS.get(name))
            if name == "attributes" and not isinstance(value, str):
                value = json.dumps(value or {}, separators=(",", ":"), sort_keys=True)
            elif name in ("events", "links") and value:
                value = [_with_json_attributes(item) for item in value]
            columns[name].append(value)
    return pa.RecordBatch.from_pydict(columns, schema=SPAN_SCHEMA)


def _with_json_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    """An event or link dict whose `attributes` may be a dict, encoded as JSON like the span's."""
    attributes = item.get("attributes", "{}")
    if not isinstance(attributes, str):
        attributes = json.dumps(attributes or {}, separators=(",", ":"), sort_keys=True)
    return {**item, "attributes": attributes}


def conform(table: pa.Table) -> pa.Table:
    """`table` with SPAN_SCHEMA's columns in order, missing nullable ones (events and links of
    segments older than those columns) filled with nulls."""
    columns = []
    for field in SPAN_SCHEMA:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        elif field.nullable:
            columns.append(pa.nulls(table.num_rows, field.type))
        else:
            raise ValueError(f"span table lacks the required column {field.name!r}")
    return pa.Table.from_arrays(columns, schema=SPAN_SCHEMA)


_DEFAULTS: dict[str, Any] = {
    "parent_span_id": None,
    "span_kind": SPAN_KIND_INTERNAL,
    "status": STATUS_UNSET,
    "status_message": None,
    "attributes": "{}",
    "rust_source": None,
    "python_source": None,
    "c_source": None,
    "process_cmdline": "",
    "service_name": "renacer",
    "service_version": "0.1.0",
    "parent_logical_clock": None,
    "rle_count": 1,
    "events": None,
    "links": None,
}
