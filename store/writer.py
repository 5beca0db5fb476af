"""The segment writer: a sink that turns span batches into immutable Parquet segments.

Why segments: a crash (even `kill -9`) may lose only what is still buffered, so the sink writes
a segment at least every `flush_interval_s` (a timer thread covers quiet programs) or every
`flush_rows` rows.  Each segment is written to `<name>.parquet.tmp`, fsynced, renamed into
`spans/date=YYYY-MM-DD/`, and only then catalogued — a reader never sees half a file, and a
file without a catalog row (crash between rename and insert) is recovered by the next open.

Rows are sorted by trace id then start time, zstd-compressed; ids and integers use delta
encodings (span ids share an 8-hex per-run prefix followed by a counter); text is plain in
small segments and dictionary-encoded where it repeats in large ones.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from renacer_tui.model.attributes import ATTR_RUN_ID
from renacer_tui.model.payload_privacy import redact_batch
from renacer_tui.model.readable import one_line
from renacer_tui.model.schema import SPAN_SCHEMA, STATUS_ERROR, conform
from renacer_tui.model.sink import SpanSink
from renacer_tui.store.catalog import Catalog, CatalogError, SegmentInfo, TraceStats
from renacer_tui.store.config import DatabaseConfig, private_mkdir

SPANS_DIR = "spans"
#: Parquet key-value metadata naming the run, so an orphan segment can be recatalogued.
SEGMENT_SUFFIX = ".parquet"
TMP_SUFFIX = ".parquet.tmp"

#: Encodings by column.  In a small segment (a short real trace) text goes PLAIN under zstd:
#: attribute JSON is nearly unique per row, and zstd squeezes the repeated names as well as a
#: dictionary does without a dictionary page per column chunk — every page and footer entry
#: counts there.  A large segment dictionary-encodes its low-cardinality text (smaller, and
#: DuckDB groups and filters on dictionary codes faster), attributes too when they repeat.
#: Integers are delta-packed: times, clocks and span-id counters are monotonic or nearly so,
#: pids/tids/RLE counts are long runs.
_DELTA_BYTES = ("span_id", "parent_span_id")
_DELTA_INTS = tuple(f.name for f in SPAN_SCHEMA if pa.types.is_integer(f.type))
_LOW_CARDINALITY = tuple(
    f.name for f in SPAN_SCHEMA if pa.types.is_string(f.type) and f.name not in _DELTA_BYTES + ("attributes",)
)
#: Rows from which a segment uses dictionaries; attributes need this many rows per distinct value.
_DICTIONARY_MIN_ROWS = 8192
_ATTRIBUTE_REPEATS = 4
#: A segment this small (a short real trace) compresses its attribute JSON — most of its bytes —
#: six zstd levels above the configured one (15 by default): a few milliseconds, ~0.7 B a row less.
_SMALL_SEGMENT_ROWS = 2048
_SMALL_ATTRIBUTES_BOOST = 6
#: Min/max statistics only where a predicate prunes row groups with them (trace lookups, time
#: ranges on start); elsewhere they are page-header and footer bytes no query reads.
_STATS_COLUMNS = ["trace_id", "start_time_nanos"]


class StoreWriteError(Exception):
    """A segment could not be written (disk full, permission…); one line for the user."""


def parquet_write_options(config: DatabaseConfig, table: pa.Table | None = None) -> dict[str, Any]:
    """Keyword arguments for `pq.write_table` / `ParquetWriter` shared by writer and compaction.

    `table` (the rows about to be written) picks the dictionary columns; without it, none.
    """
    compression = None if config.compression == "none" else config.compression
    level: int | dict[str, int] | None = config.compression_level if compression in ("zstd", "gzip", "brotli") else None
    encodings = {n: "DELTA_BYTE_ARRAY" for n in _DELTA_BYTES}
    encodings.update({n: "DELTA_BINARY_PACKED" for n in _DELTA_INTS})
    if compression == "zstd" and isinstance(level, int) and table is not None and table.num_rows <= _SMALL_SEGMENT_ROWS:
        level = {n: level for n in SPAN_SCHEMA.names} | {"attributes": min(level + _SMALL_ATTRIBUTES_BOOST, 22)}
    return {
        "compression": compression,
        "compression_level": level,
        "use_dictionary": dictionary_columns(table) if table is not None else False,
        "column_encoding": encodings,
        "write_statistics": list(_STATS_COLUMNS),
        "row_group_size": config.row_group_size,
        # The Arrow schema blob (~1.5 KB a file) repeats what the Parquet schema already says.
        "store_schema": False,
    }


def dictionary_columns(table: pa.Table) -> list[str] | bool:
    """Text columns to dictionary-encode in this table (False: none)."""
    import pyarrow.compute as pc
    if table.num_rows < _DICTIONARY_MIN_ROWS:
        return False
    columns = list(_LOW_CARDINALITY)
    if pc.count_distinct(table["attributes"]).as_py() * _ATTRIBUTE_REPEATS <= table.num_rows:
        columns.append("attributes")
    return columns


def sort_spans(table: pa.Table) -> pa.Table:
    """The on-disk order: trace id, then start time (row-group statistics then prune well)."""
    return table.sort_by([("trace_id", "ascending"), ("start_time_nanos", "ascending"), ("logical_clock", "ascending")])


def trace_stats(table: pa.Table) -> list[TraceStats]:
    """Per-trace rows, represented spans, errors, time range and pids of a span table."""
    import pyarrow.compute as pc
    if table.num_rows == 0:
        return []
    errors = pc.if_else(pc.equal(table["status"], STATUS_ERROR), table["rle_count"], 0)
    bounds = pc.min_max(table["trace_id"])
    if bounds["min"] == bounds["max"]:  # one trace (a tracer's run): plain kernels, no group-by engine
        return [
            TraceStats(
                trace_id=bounds["min"].as_py(),
                rows=table.num_rows,
                spans=int(pc.sum(table["rle_count"]).as_py()),
                errors=int(pc.sum(errors).as_py() or 0),
                min_start_ns=int(pc.min(table["start_time_nanos"]).as_py()),
                max_end_ns=int(pc.max(table["end_time_nanos"]).as_py()),
                pids=sorted(pc.unique(table["process_pid"]).to_pylist()),
            )
        ]
    work = pa.table(
        {
            "trace_id": table["trace_id"],
            "rle_count": table["rle_count"],
            "err": errors,
            "start": table["start_time_nanos"],
            "end": table["end_time_nanos"],
            "pid": table["process_pid"],
        }
    )
    agg = work.group_by("trace_id").aggregate(
        [
            ("trace_id", "count"),
            ("rle_count", "sum"),
            ("err", "sum"),
            ("start", "min"),
            ("end", "max"),
            ("pid", "distinct"),
        ]
    )
    out = []
    for row in agg.to_pylist():
        out.append(
            TraceStats(
                trace_id=row["trace_id"],
                rows=int(row["trace_id_count"]),
                spans=int(row["rle_count_sum"]),
                errors=int(row["err_sum"] or 0),
                min_start_ns=int(row["start_min"]),
                max_end_ns=int(row["end_max"]),
                pids=sorted(int(p) for p in row["pid_distinct"]),
            )
        )
    return sorted(out, key=lambda t: t.trace_id)


def segment_dir(root: Path, start_ns: int) -> Path:
    """`spans/date=YYYY-MM-DD` (UTC) of a segment's first span (Hive-style partition)."""
    day = _dt.datetime.fromtimestamp(start_ns / 1e9, tz=_dt.timezone.utc).strftime("%Y-%m-%d")
    return root / SPANS_DIR / f"date={day}"


def write_segment(
    root: Path,
    table: pa.Table,
    name: str,
    config: DatabaseConfig,
    run_id: str | None,
    before_rename: Callable[[str], None] | None = None,
) -> SegmentInfo:
    """Sort, write `<name>.parquet.tmp`, fsync, rename; returns the catalog entry (not inserted).

    `before_rename(relative_path)` runs just before the rename (compaction announces the file).
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    table = sort_spans(table)
    start = int(pc.min(table["start_time_nanos"]).as_py())
    # A row ending "before" it starts (an unfinished call) must still lie inside [start, end]:
    # time-range pruning trusts this interval.
    end = max(int(pc.max(table["end_time_nanos"]).as_py()), int(pc.max(table["start_time_nanos"]).as_py()))
    directory = segment_dir(root, start)
    final = directory / f"{name}{SEGMENT_SUFFIX}"
    tmp = directory / f"{name}{TMP_SUFFIX}"
    try:
        private_mkdir(directory, root)
        seq = 1
        while final.exists():  # never overwrite an immutable segment
            final = directory / f"{name}.{seq}{SEGMENT_SUFFIX}"
            tmp = directory / f"{name}.{seq}{TMP_SUFFIX}"
            seq += 1
        # 0600 whatever the umask: a segment holds the traced program's arguments and paths
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "wb") as fh:
            options = parquet_write_options(config, table)
            row_group_size = options.pop("row_group_size")
            with pq.ParquetWriter(fh, SPAN_SCHEMA, **options) as parquet:
                parquet.write_table(table, row_group_size=row_group_size)
                # File-level key-value metadata (no Arrow schema blob is stored to carry it).
                parquet.add_key_value_metadata({ATTR_RUN_ID: run_id or ""})
            fh.flush()
            os.fsync(fh.fileno())
        if before_rename is not None:
            before_rename(final.relative_to(root).as_posix())
        os.rename(tmp, final)
        size = final.stat().st_size
    except (OSError, pa.ArrowException, CatalogError) as exc:
        _unlink_quietly(tmp)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)
        raise StoreWriteError(f"cannot write segment {final}: {reason}") from None
    return SegmentInfo(
        path=final.relative_to(root).as_posix(),
        run_id=run_id,
        min_start_ns=start,
        max_end_ns=end,
        rows=table.num_rows,
        bytes=size,
        created_ns=time.time_ns(),
        traces=trace_stats(table),
    )


def warm_up(config: DatabaseConfig) -> None:
    """Import and first-use Arrow's compute kernels, Parquet and the codec on a one-row table.

    Imports (~20-40 ms each) and first use (~6 ms: kernel registry, codec contexts) would
    otherwise fall on the first flush — for a short run, the one the end of the run waits for.
    """
    import io

    import pyarrow.parquet as pq

    row = {f.name: (0 if pa.types.is_integer(f.type) else "0" if pa.types.is_string(f.type) else None) for f in SPAN_SCHEMA}
    table = sort_spans(pa.Table.from_pylist([row], schema=SPAN_SCHEMA))
    trace_stats(table)
    options = parquet_write_options(config, table)
    row_group_size = options.pop("row_group_size")
    with pq.ParquetWriter(io.BytesIO(), SPAN_SCHEMA, **options) as parquet:
        parquet.write_table(table, row_group_size=row_group_size)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def safe_name(text: str) -> str:
    """A file-name-safe form of a run id."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:80] or "run"


class SegmentSink(SpanSink):
    """Sink protocol (`name`, `write`, `close`) writing one run's spans as segments.

    `write()` only buffers unless a flush is due; a timer thread flushes quiet buffers so the
    crash window stays `flush_interval_s`.  A failed flush raises `StoreWriteError` from the
    next `write()`/`close()` call (or the one that flushed); segments already written stay.
    """

    name = "store"

    def __init__(self, root: Path, catalog: Catalog, run_id: str, config: DatabaseConfig) -> None:
        self.root = root
        self.catalog = catalog
        self.run_id = run_id
        self.config = config
        self._prefix = safe_name(run_id)
        self._seq = 0
        self._buffer: list[pa.RecordBatch] = []
        self._rows = 0
        self._first_at = 0.0
        self._buf_lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._error: StoreWriteError | None = None
        self._closed = False
        self.segments_written = 0
        self.rows_written = 0
        self.rows_lost = 0
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        if config.flush_interval_s > 0:
            self._timer = threading.Thread(target=self._tick, name=f"segment-flush-{self._prefix}", daemon=True)
            self._timer.start()

    def write(self, batch: pa.RecordBatch) -> None:
        """Buffer a batch of `SPAN_SCHEMA`; flush when the row or age threshold is reached."""
        if self._closed:
            raise StoreWriteError("segment sink is closed")
        self._raise_pending()
        if not batch.schema.equals(SPAN_SCHEMA):
            try:
                table = conform(pa.Table.from_batches([batch])).combine_chunks()
            except (KeyError, ValueError, pa.ArrowException) as exc:
                raise StoreWriteError(f"batch does not match the span schema: {exc}") from None
            if table.num_rows == 0:
                return
            batch = table.to_batches()[0]
        if batch.num_rows == 0:
            return
        if not self.config.store_payloads:
            batch = redact_batch(batch)
        with self._buf_lock:
            if not self._buffer:
                self._first_at = time.monotonic()
            self._buffer.append(batch)
            self._rows += batch.num_rows
            due = self._rows >= self.config.flush_rows or self._age() >= self.config.flush_interval_s
        if due:
            self.flush()

    def flush(self) -> None:
        """Write whatever is buffered as one segment now."""
        with self._io_lock:
            with self._buf_lock:
                batches, self._buffer, self._rows = self._buffer, [], 0
            if not batches:
                return
            table = pa.Table.from_batches(batches, schema=SPAN_SCHEMA)
            self._seq += 1
            name = f"{self._prefix}-{self._seq:05d}"
            try:
                info = write_segment(self.root, table, name, self.config, self.run_id)
                self.catalog.add_segment(info)
            except StoreWriteError as exc:
                self.rows_lost += table.num_rows
                raise exc
            except CatalogError as exc:  # the file is in place: the next open recovers it
                raise StoreWriteError(f"segment written but not catalogued ({exc})") from None
            self.segments_written += 1
            self.rows_written += table.num_rows

    def close(self) -> None:
        """Flush the rest and stop the timer; raises if the final write (or an earlier one) failed."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
        self._raise_pending()
        self.flush()

    def _age(self) -> float:
        return time.monotonic() - self._first_at if self._buffer else 0.0

    def _tick(self) -> None:
        # Arrow's compute kernels and Parquet load here, while the traced program runs, not on
        # the tracer's start-up path nor its last flush (the end of the run waits for that one).
        warm_up(self.config)
        period = min(0.5, max(self.config.flush_interval_s / 4, 0.05))
        while not self._stop.wait(period):
            with self._buf_lock:
                due = bool(self._buffer) and self._age() >= self.config.flush_interval_s
            if due:
                try:
                    self.flush()
                except StoreWriteError as exc:
                    self._error = self._error or exc

    def _raise_pending(self) -> None:
        if self._error is not None:
            exc, self._error = self._error, None
            raise exc
