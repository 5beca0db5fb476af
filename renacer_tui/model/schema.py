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
    ]
)

COLUMN_NAMES: tuple[str, ...] = tuple(SPAN_SCHEMA.names)
_NAME_SET = frozenset(COLUMN_NAMES)


def empty_table() -> pa.Table:
    """A zero-row table with the span schema (handy default for readers)."""
    return SPAN_SCHEMA.empty_table()


def batch_from_columns(columns: Mapping[str, Sequence[Any]]) -> pa.RecordBatch:
    """A batch built by column name, checked against SPAN_SCHEMA (never by position).

    Raises ValueError naming the missing and unknown columns, so a producer that drifts from the
    schema fails where it builds the batch, not in a reader.
    """
    names = set(columns)
    if names != _NAME_SET:
        missing = sorted(_NAME_SET - names)
        unknown = sorted(names - _NAME_SET)
        raise ValueError(f"span columns do not match SPAN_SCHEMA: missing {missing}, unknown {unknown}")
    return pa.RecordBatch.from_arrays([pa.array(columns[f.name], type=f.type) for f in SPAN_SCHEMA], schema=SPAN_SCHEMA)


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
            columns[name].append(value)
    return pa.RecordBatch.from_pydict(columns, schema=SPAN_SCHEMA)


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
}
