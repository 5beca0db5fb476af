"""Spans table → in-memory numpy columns, the one input shape every analysis reads.

Why a separate step: every analysis (graph, critical path, anti-patterns, PageRank) wants the
same few columns as flat arrays indexed by row, and parsing the JSON `attributes` of a million
rows costs more than all the graph work together.  So the columns are converted once, ids are
resolved to row indices with Arrow's hash kernels (`pc.index_in`) instead of a Python dict, and
attributes are parsed lazily: only rows whose JSON text mentions a key somebody asks for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from renacer_tui.model.schema import SOURCE_COLUMNS, SPAN_SCHEMA

if TYPE_CHECKING:
    from renacer_tui.store import Store


class TraceNotFound(LookupError):
    """The store holds no span of the requested trace id."""


def _int_column(table: pa.Table, name: str, fill: int) -> np.ndarray:
    column = table.column(name)
    if column.null_count:
        column = pc.fill_null(column, fill)
    return column.to_numpy().astype(np.int64, copy=False)


@dataclass
class SpanColumns:
    """The spans of one trace as numpy arrays; row `i` is graph node `i`."""

    table: pa.Table
    span_id: pa.Array
    parent: np.ndarray  # int64 row index of the parent span, -1 for a root (or unknown parent)
    start: np.ndarray  # int64 epoch ns
    end: np.ndarray  # int64 epoch ns, never before start
    name_code: np.ndarray  # int32 index into `names`
    names: list[str]
    pid: np.ndarray
    tid: np.ndarray
    clock: np.ndarray
    parent_clock: np.ndarray  # -1 where null
    rle_count: np.ndarray
    duplicate_ids: int = 0
    _attr_cache: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _span_id_list: list[str] | None = field(default=None, repr=False)
    _escaped: np.ndarray | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.start)

    @property
    def duration(self) -> np.ndarray:
        return self.end - self.start

    def name(self, i: int) -> str:
        return self.names[int(self.name_code[i])]

    def span_ids(self) -> list[str]:
        if self._span_id_list is None:
            self._span_id_list = self.span_id.to_pylist()
        return self._span_id_list

    def id_of(self, i: int) -> str:
        return self.span_ids()[int(i)]

    def index_of(self, span_ids: Iterable[str]) -> np.ndarray:
        """Row indices of the given span ids (-1 where not in this trace)."""
        values = pa.array(list(span_ids), type=pa.string())
        found = pc.index_in(values, value_set=self.span_id)
        return pc.fill_null(found, -1).to_numpy().astype(np.int64, copy=False)

    def rows_named(self, predicate: Any) -> np.ndarray:
        """Rows whose span name satisfies `predicate(name) -> bool` (evaluated once per name)."""
        wanted = np.fromiter((bool(predicate(name)) for name in self.names), dtype=bool, count=len(self.names))
        return np.flatnonzero(wanted[self.name_code]) if len(wanted) else np.empty(0, dtype=np.int64)

    def rows_mentioning(self, *keys: str, among: np.ndarray | None = None) -> np.ndarray:
        """Rows (of `among`, default all) whose attribute text contains any of `keys`.

        The cheap pre-filter before JSON: a literal search over the column's raw UTF-8 buffer
        (one C-speed scan per key, no per-row work), hits mapped to rows through the offsets;
        a hit straddling two rows is not a hit of either.
        """
        column = self.table.column("attributes")
        if among is not None:
            among = np.asarray(among, dtype=np.int64)
            hits = _rows_containing_any(column.take(pa.array(among)), keys)
            return among[hits]
        return _rows_containing_any(column, keys)

    def rows_maybe_with(self, *keys: str, among: np.ndarray | None = None) -> np.ndarray:
        """Rows (of `among`, sorted, default all) whose parsed attributes may hold any of `keys`.

        A superset of the rows whose JSON object has the key: the text names it literally, or
        holds a backslash (a `\\u` escape can spell a key's letters without naming it).
        """
        named = self.rows_mentioning(*keys, among=among)
        escaped = self.escaped_rows()
        if among is not None and len(escaped):
            among = np.asarray(among, dtype=np.int64)
            if len(among) == 0:
                return among
            at = np.searchsorted(among, escaped).clip(max=len(among) - 1)
            escaped = escaped[among[at] == escaped]
        return np.union1d(named, escaped) if len(escaped) else named

    def escaped_rows(self) -> np.ndarray:
        """Rows whose attribute text holds a backslash (cached: one byte scan of the column)."""
        if self._escaped is None:
            self._escaped = self.rows_with_byte("\\")
        return self._escaped

    def rows_with_byte(self, char: str) -> np.ndarray:
        """Rows whose attribute text holds the ASCII character `char` (a numpy scan of the buffer)."""
        return _rows_with_byte(self.table.column("attributes"), ord(char))

    def attrs_many(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """`attrs(i)` for every row of `rows`, the texts fetched from Arrow in one `take`."""
        missing = [i for i in rows.tolist() if i not in self._attr_cache]
        if missing:
            texts = self.table.column("attributes").take(pa.array(missing, pa.int64())).to_pylist()
            for i, text in zip(missing, texts):
                self._attr_cache[i] = _parse_attrs(text)
        cache = self._attr_cache
        return [cache[i] for i in rows.tolist()]

    def attrs(self, i: int) -> dict[str, Any]:
        """The parsed attributes of row `i` (cached; malformed JSON reads as empty)."""
        i = int(i)
        cached = self._attr_cache.get(i)
        if cached is None:
            cached = self._attr_cache[i] = _parse_attrs(self.table.column("attributes")[i].as_py())
        return cached

    def text(self, column: str, i: int) -> str | None:
        """One value of a text column (status_message, c_source, …) for row `i`."""
        return self.table.column(column)[int(i)].as_py()

    def source(self, i: int) -> str | None:
        """Row `i`'s source line, the first of SOURCE_COLUMNS that it has (None: no source known)."""
        return next((value for column in SOURCE_COLUMNS if (value := self.text(column, i))), None)


def _parse_attrs(text: str | None) -> dict[str, Any]:
    """One row's attributes JSON; malformed or non-object JSON reads as empty."""
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _rows_containing_any(column: pa.ChunkedArray | pa.Array, keys: tuple[str, ...]) -> np.ndarray:
    """Indices of the strings of `column` that contain `"key"` for any of `keys`."""
    found: list[np.ndarray] = []
    base = 0
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        found += [base + rows for key in keys if len(rows := _rows_containing(chunk, f'"{key}"'))]
        base += len(chunk)
    if not found:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(found))


def _rows_containing(chunk: pa.Array, needle: str) -> np.ndarray:
    """Indices of the non-null strings of `chunk` that contain `needle`."""
    if len(chunk) == 0 or chunk.null_count == len(chunk):
        return np.empty(0, dtype=np.int64)
    if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
        chunk = chunk.cast(pa.string())
    _, offsets_buf, data = chunk.buffers()
    if data is None:
        return np.empty(0, dtype=np.int64)
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width, count=chunk.offset + len(chunk) + 1)[chunk.offset :].astype(np.int64, copy=False)
    pattern = re.compile(re.escape(needle.encode()))
    view = memoryview(data)[int(offsets[0]) : int(offsets[-1])]
    hits = np.fromiter((m.start() for m in pattern.finditer(view)), dtype=np.int64) + int(offsets[0])
    if len(hits) == 0:
        return np.empty(0, dtype=np.int64)
    rows = np.searchsorted(offsets, hits, side="right") - 1
    rows = rows[hits + len(needle.encode()) <= offsets[rows + 1]]
    if chunk.null_count:
        rows = rows[chunk.is_valid().to_numpy(zero_copy_only=False)[rows]]
    return np.unique(rows)


def _string_buffers(chunk: pa.Array) -> tuple[np.ndarray, Any] | None:
    """(offsets as int64, data buffer) of a string chunk; None when it holds no text."""
    if len(chunk) == 0 or chunk.null_count == len(chunk):
        return None
    if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
        chunk = chunk.cast(pa.string())
    _, offsets_buf, data = chunk.buffers()
    if data is None:
        return None
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width, count=chunk.offset + len(chunk) + 1)[chunk.offset :].astype(np.int64, copy=False)
    return offsets, data


def _rows_with_byte(column: pa.ChunkedArray | pa.Array, byte: int) -> np.ndarray:
    """Indices of the non-null strings of `column` that contain the byte `byte` (< 128)."""
    found: list[np.ndarray] = []
    base = 0
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        buffers = _string_buffers(chunk)
        if buffers is not None:
            offsets, data = buffers
            lo, hi = int(offsets[0]), int(offsets[-1])
            hits = np.flatnonzero(np.frombuffer(data, dtype=np.uint8, count=hi)[lo:] == byte) + lo
            if len(hits):
                rows = np.searchsorted(offsets, hits, side="right") - 1
                rows = rows[np.concatenate([[True], rows[1:] != rows[:-1]])]
                if chunk.null_count:
                    rows = rows[chunk.is_valid().to_numpy(zero_copy_only=False)[rows]]
                found.append(base + rows)
        base += len(chunk)
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def _resolve_parents(span_id: pa.Array, parent_ids: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """(row of each span's parent or -1, number of distinct span ids) from one hash pass.

    Span ids and parent ids are dictionary-encoded together, span ids first: codes are given
    in first-seen order, so span ids get 0 … u-1 and a parent code below u names the first
    row carrying that id.
    """
    n = len(span_id)
    if n == 0:
        return np.empty(0, dtype=np.int64), 0
    both = pa.concat_arrays([span_id, *(chunk.cast(span_id.type) for chunk in parent_ids.chunks)])
    codes = pc.fill_null(pc.dictionary_encode(both).indices, -1).to_numpy(zero_copy_only=False)
    own, of_parent = codes[:n], codes[n:]
    unique = int(own.max()) + 1 if n else 0
    seen_before = np.empty_like(own)
    seen_before[0] = -1
    np.maximum.accumulate(own[:-1], out=seen_before[1:])
    first_row = np.flatnonzero(own > seen_before)  # first_row[c]: where code c first appears
    parent = np.full(n, -1, dtype=np.int64)
    known = np.flatnonzero((of_parent >= 0) & (of_parent < unique))
    parent[known] = first_row[of_parent[known]]
    return parent, unique


def load_columns(table: pa.Table) -> SpanColumns:
    """Convert a SPAN_SCHEMA table (RLE rows as stored) into `SpanColumns`."""
    missing = [name for name in ("span_id", "start_time_nanos", "end_time_nanos", "span_name") if name not in table.schema.names]
    if missing:
        raise ValueError(f"spans table lacks column(s): {', '.join(missing)}")
    table = table.select([name for name in SPAN_SCHEMA.names if name in table.schema.names])
    table = table.combine_chunks()
    span_id = table.column("span_id").chunk(0) if table.num_rows else pa.array([], pa.string())
    parent, unique = _resolve_parents(span_id, table.column("parent_span_id"))
    start = _int_column(table, "start_time_nanos", 0)
    end = np.maximum(_int_column(table, "end_time_nanos", 0), start)
    encoded = pc.dictionary_encode(table.column("span_name")).combine_chunks()
    names = encoded.dictionary.to_pylist()
    name_code = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32) if len(encoded) else np.empty(0, np.int32)
    rows = np.arange(len(parent))
    parent[parent == rows] = -1  # a span naming itself as parent is a root, not a loop
    return SpanColumns(
        table=table,
        span_id=span_id,
        parent=parent,
        start=start,
        end=end,
        name_code=name_code,
        names=names,
        pid=_int_column(table, "process_pid", 0),
        tid=_int_column(table, "thread_id", 0),
        clock=_int_column(table, "logical_clock", -1),
        parent_clock=_int_column(table, "parent_logical_clock", -1),
        rle_count=np.maximum(_int_column(table, "rle_count", 1), 1),
        duplicate_ids=table.num_rows - unique,
    )


def load_trace(store: Store, trace_id: str) -> pa.Table:
    """The stored spans of `trace_id` through the store's public API; `TraceNotFound` if none."""
    trace_id = trace_id.strip().lower()
    table = store.trace_spans(trace_id)
    if table is None or table.num_rows == 0:
        raise TraceNotFound(f"no spans for trace id {trace_id!r}")
    return table
