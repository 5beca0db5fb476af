"""The `Store` facade: the one object the tracer glue, the CLI, the analysis and the TUI use.

`Store.open()` resolves the location (`--db` > `RENACER_DB` > config > default), opens the
catalog, recovers orphan segments left by a crash, and hands out segment sinks (write side)
and Arrow tables (read side).  Reads never fail because one segment is bad: the segment is
skipped and a warning naming it lands in `store.warnings` (the CLI prints them once).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import pyarrow as pa

from renacer_tui.model.attributes import ATTR_RUN_ID
from renacer_tui.model.readable import one_line
from renacer_tui.model.schema import SPAN_SCHEMA
from renacer_tui.store.catalog import CATALOG_NAME, Catalog, CatalogDamaged
from renacer_tui.store.config import Config, ensure_db_dir, load_config, resolve_db_path, tighten_db_dir

if TYPE_CHECKING:  # DuckDB and Parquet are imported on first use, not by a tracer that only writes
    from renacer_tui.model.sink import SpanSink
    from renacer_tui.store.config import DatabaseConfig
    from renacer_tui.store.query import QueryEngine

LIST_TRACES_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("command", pa.string()),
        ("started_ns", pa.int64()),
        ("duration_ns", pa.int64()),
        ("processes", pa.int64()),
        ("spans", pa.int64()),
        ("errors", pa.int64()),
        ("rows", pa.int64()),
        ("runs", pa.int64()),
    ]
)


#: Makes the sink of a run whose segments a child process writes: (store root, run id, config).
SegmentChild = Callable[[Path, str, "DatabaseConfig"], "SpanSink"]
#: When `database.retention_days` was last applied (the file's mtime).
RETENTION_MARKER = ".retention-checked"
RETENTION_PERIOD_S = 86400.0
#: How a damaged catalog is to be repaired, in every message that names one.
REPAIR_HINT = "run `renacer-tui db doctor --quarantine` to set it aside and rebuild it from the segments"


@dataclass(frozen=True)
class RunStorage:
    """Where a run's rows ended up: catalogued (queryable), on disk only, or not in the store."""

    root: Path
    sent: int
    catalogued: int
    uncatalogued: int

    @property
    def complete(self) -> bool:
        """Every row sent is in a catalogued segment (what a query will see)."""
        return self.catalogued >= self.sent

    @property
    def missing(self) -> int:
        return max(self.sent - self.catalogued - self.uncatalogued, 0)

    def summary(self) -> str:
        """` into ROOT` when everything is there, else the honest count (for the run's summary line)."""
        if self.complete:
            return f" into {self.root}"
        parts = [f"; the store at {self.root} holds {self.catalogued} of these rows"]
        if self.uncatalogued:
            parts.append(
                f", {self.uncatalogued} more in segments written but not catalogued"
                " (recovered when the store is next opened writable)"
            )
        if self.missing:
            parts.append(f", {self.missing} not stored")
        return "".join(parts)


def _segment_rows(full: Path, run_id: str) -> int:
    """Rows of one segment file of `run_id` (0 when unreadable or another run's)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(full)
    except (OSError, pa.ArrowException):
        return 0
    stored_run = (meta.metadata or {}).get(ATTR_RUN_ID.encode(), b"").decode("utf-8", "replace")
    return int(meta.num_rows) if stored_run == run_id else 0


def _empty_or_missing(path: Path) -> str:
    """"missing", "empty" (0 bytes: SQLite opens it as a new database) or "" for a file with content."""
    try:
        return "" if path.stat().st_size else "empty"
    except FileNotFoundError:
        return "missing"
    except OSError:
        return ""


class Store:
    """A span store directory: `catalog.sqlite` + `spans/date=…/*.parquet`."""

    def __init__(self, root: Path, config: Config, catalog: Catalog | None = None) -> None:
        self.root = root
        self.config = config
        self.catalog = catalog if catalog is not None else Catalog(root)
        self.warnings: list[str] = list(config.warnings)  # unknown config keys, with file and line
        #: Why `catalog.sqlite` is damaged when this store answers from its segments instead ("").
        self.catalog_damage = ""
        self._engine: QueryEngine | None = None
        self._sinks: list[SpanSink] = []

    @classmethod
    def open(
        cls, path: str | os.PathLike[str] | None = None, *, config: Config | None = None, from_segments: bool = False
    ) -> "Store":
        """Open (creating if needed, mode 0700) the store at `path` or the configured location.

        A damaged `catalog.sqlite` (truncated, overwritten, not SQLite) raises CatalogDamaged,
        unless `from_segments`: then the store reads from a catalog rebuilt in memory from the
        segments' own metadata, leaves every file as it is, and refuses writes (readers: `db
        query`, `db traces`, `export`…; `db doctor --quarantine` repairs the file).
        """
        cfg = config if config is not None else load_config()
        root = ensure_db_dir(resolve_db_path(path, cfg))
        note = tighten_db_dir(root)
        catalog_file = root / CATALOG_NAME
        fresh = _empty_or_missing(catalog_file)
        try:
            store = cls(root, cfg)
        except CatalogDamaged as exc:
            if not from_segments:
                raise CatalogDamaged(exc.path, f"{exc.reason}; {REPAIR_HINT}") from None
            store = cls.from_segments(root, cfg, exc.reason)
        if note is not None:
            store.warn(note)
        if store.catalog_damage:
            return store
        if store.catalog.read_only:
            if store.catalog.read_only_reason != "the store is not writable":  # a failure, not a choice
                store.warn(f"catalog {store.catalog.read_only_reason}; reads only")
            return store  # orphans are recovered by the next writable open
        if store._has_orphans():
            from renacer_tui.store.maintenance import recover_orphans

            recovered = recover_orphans(store)
            if fresh and recovered:  # deleted, or cut to 0 bytes: nothing of it could be kept
                what = "missing" if fresh == "missing" else "empty (0 bytes)"
                store.warn(
                    f"catalog {catalog_file} was {what}: rebuilt from {len(recovered)} segment(s)' own metadata "
                    "(the commands and exit codes of their runs were only in the catalog)"
                )
        store._apply_retention()
        return store

    @classmethod
    def from_segments(cls, root: Path, config: Config, damage: str) -> "Store":
        """A read-only store over a catalog rebuilt in memory from the segment files (none changed)."""
        from renacer_tui.store.maintenance import recover_orphans

        store = cls(root, config, Catalog(root, in_memory=True))
        store.catalog_damage = damage
        recovered = recover_orphans(store)
        store.catalog.read_only_reason = "rebuilt in memory from the segments: the catalog file is damaged"
        store.warn(
            f"catalog {root / CATALOG_NAME} is damaged ({damage}); answering from {len(recovered)} segment(s)' "
            f"own metadata; {REPAIR_HINT}"
        )
        return store

    def _apply_retention(self) -> None:
        """`database.retention_days`, applied at most once a day: drop segments older than that.

        The check is one indexed catalog query; the marker file's mtime says when it last ran,
        so a tracer's start-up pays for it once a day and a vacuum only when something expired.
        A failure (busy, full disk) is a warning: retention must never stop a run or a read.
        """
        marker = self.root / RETENTION_MARKER
        now = time.time()
        try:
            if now - marker.stat().st_mtime < RETENTION_PERIOD_S:
                return
        except FileNotFoundError:
            pass
        except OSError:
            return
        days = self.config.database.retention_days
        cutoff = time.time_ns() - days * 86400 * 10**9
        try:
            expired = self.catalog.rows("SELECT COUNT(*) AS n FROM segments WHERE max_end_ns < ?", [cutoff])[0]["n"]
            if expired:
                from renacer_tui.store.maintenance import vacuum

                removed = vacuum(self, days * 86400.0)
                self.warn(f"retention: removed {removed['segments']} segment(s) older than {days} days (database.retention_days)")
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            os.close(fd)
            os.utime(marker)
        except Exception as exc:  # CatalogError, OSError: say it, keep going
            self.warn(f"retention not applied: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")

    def _has_orphans(self) -> bool:
        """Segment files on disk the catalog does not list (a crash, an unfinished removal).

        Checked with a directory walk and one catalog query, so the common case — nothing to
        recover — costs a tracer's start-up no Parquet import.
        """
        from renacer_tui.store.writer import SEGMENT_SUFFIX, SPANS_DIR

        base = self.root / SPANS_DIR
        if not base.is_dir():
            return False
        on_disk = {
            (Path(dirpath) / name).relative_to(self.root).as_posix()
            for dirpath, _dirs, names in os.walk(base)
            for name in names
            if name.endswith(SEGMENT_SUFFIX)
        }
        if not on_disk:
            return False
        known = {row["path"] for row in self.catalog.rows("SELECT path FROM segments")}
        return not on_disk <= known

    def warn(self, message: str) -> None:
        """Record a warning once (the CLI prints `warnings`; the TUI shows them)."""
        if message not in self.warnings:
            self.warnings.append(message)

    # -- write side ---------------------------------------------------------------------
    def begin_run(
        self,
        run_id: str,
        trace_id: str,
        command: str,
        *,
        cwd: str | None = None,
        host: str | None = None,
        pid: int | None = None,
        started_ns: int | None = None,
    ) -> None:
        """Catalog a run as `running` (its tracer's pid and host let `doctor` spot dead ones)."""
        self.catalog.begin_run(
            run_id,
            trace_id,
            command,
            cwd if cwd is not None else os.getcwd(),
            host if host is not None else socket.gethostname(),
            pid if pid is not None else os.getpid(),
            started_ns if started_ns is not None else time.time_ns(),
        )

    def end_run(
        self,
        run_id: str,
        exit_code: int | None,
        dropped_spans: int = 0,
        spans_represented: int | None = None,
        *,
        ended_ns: int | None = None,
        status: str | None = None,
        dropped_by_sink: Mapping[str, int] | None = None,
    ) -> None:
        """Record the run's end; status defaults to `ok` (exit 0) or `error`."""
        self.catalog.end_run(
            run_id,
            ended_ns if ended_ns is not None else time.time_ns(),
            exit_code,
            dropped_spans,
            spans_represented,
            status if status is not None else ("ok" if exit_code == 0 else "error"),
            dropped_by_sink,
        )

    def segment_sink(self, run_id: str, *, child: SegmentChild | None = None, store_payloads: bool | None = None) -> SpanSink:
        """A sink writing this run's spans as segments (hand it to the fanout).

        `child` (the tracer passes `sinks.segments.segment_sink_process` when forking is safe)
        makes the sink whose segments a child process writes, keeping Parquet and catalog work
        off the capture loop's GIL; without it the sink runs in-process.  `store_payloads`
        overrides `[database] store_payloads` for this run (`--store-payloads`).
        """
        database = self.config.database
        if store_payloads is not None:
            database = replace(database, store_payloads=store_payloads)
        sink: SpanSink
        if child is not None and self._engine is None:
            # SQLite state must not cross a fork (the child would hang on inherited lock
            # bookkeeping): close our connection first, reopen it once the child exists.
            self.catalog.close()
            try:
                sink = child(self.root, run_id, database)
            finally:
                self.catalog = Catalog(self.root)
        else:
            from renacer_tui.store.writer import SegmentSink

            sink = SegmentSink(self.root, self.catalog, run_id, database)
        self._sinks.append(sink)
        return sink

    def run_storage(self, run_id: str, rows_sent: int) -> "RunStorage":
        """What of a run's `rows_sent` rows the store really holds, for the end-of-run summary.

        A segment written but not catalogued (the disk filled between the Parquet file and
        the SQLite row) is on disk and recovered by the next writable open, but no query sees
        it yet; the summary must not call it stored.  Files are looked for only when the
        catalog holds fewer rows than were sent (the common case costs one indexed query).
        """
        rows = self.catalog.rows("SELECT COALESCE(SUM(rows), 0) AS n FROM segments WHERE run_id = ?", [run_id])
        catalogued = int(rows[0]["n"])
        pending = 0
        if catalogued < rows_sent:
            from renacer_tui.store.writer import SEGMENT_SUFFIX, SPANS_DIR, safe_name

            known = {r["path"] for r in self.catalog.rows("SELECT path FROM segments WHERE run_id = ?", [run_id])}
            for full in (self.root / SPANS_DIR).glob(f"date=*/{safe_name(run_id)}-*{SEGMENT_SUFFIX}"):
                if full.relative_to(self.root).as_posix() not in known:
                    pending += _segment_rows(full, run_id)
        return RunStorage(self.root, rows_sent, catalogued, pending)

    # -- read side ----------------------------------------------------------------------
    @property
    def engine(self) -> QueryEngine:
        if self._engine is None:
            from renacer_tui.store.query import QueryEngine

            self._engine = QueryEngine(self.root, self.catalog, self.warn)
        return self._engine

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Read-only SQL over views `spans`, `spans_raw`, `runs`, `traces`, `segments` (QueryError)."""
        return self.engine.query(sql, params)

    def trace_spans(self, trace_id: str) -> pa.Table:
        """Stored rows of one trace (RLE not expanded), by start time; reads only its segments."""
        paths = self.catalog.segment_paths_for([trace_id])
        files = self.engine.usable_files(paths)
        import pyarrow.parquet as pq

        tables = []
        for full in files:
            try:
                table = pq.read_table(full, filters=[("trace_id", "=", trace_id)], schema=SPAN_SCHEMA)
            except (OSError, pa.ArrowException) as exc:
                rel = full.relative_to(self.root.resolve()).as_posix()
                self.engine._mark_bad(rel, f"unreadable segment ({one_line(exc)})")
                continue
            tables.append(table.replace_schema_metadata(None))
        if not tables:
            return SPAN_SCHEMA.empty_table()
        table = pa.concat_tables(tables)
        import pyarrow.compute as pc

        order = pc.sort_indices(table, [("start_time_nanos", "ascending"), ("logical_clock", "ascending")])
        return table.take(order)

    def list_traces(self, limit: int = 100) -> pa.Table:
        """Recent traces, newest first: id, first command, start, duration, processes, spans, errors."""
        rows = self.catalog.rows(
            """
            SELECT t.trace_id, COALESCE(t.first_command, '') AS command, t.started_ns,
                   MAX(COALESCE(t.ended_ns, 0), COALESCE(st.max_end, 0)) - t.started_ns AS duration_ns,
                   (SELECT COUNT(DISTINCT j.value) FROM segment_traces s2, json_each(s2.pids) j
                     WHERE s2.trace_id = t.trace_id) AS processes,
                   COALESCE(st.spans, 0) AS spans, COALESCE(st.errors, 0) AS errors,
                   COALESCE(st.rows, 0) AS rows, t.runs
            FROM traces t
            LEFT JOIN (SELECT trace_id, SUM(spans) AS spans, SUM(errors) AS errors, SUM(rows) AS rows,
                              MAX(max_end_ns) AS max_end
                       FROM segment_traces GROUP BY trace_id) st ON st.trace_id = t.trace_id
            ORDER BY t.started_ns DESC LIMIT ?
            """,
            [int(limit)],
        )
        skipped = self._skipped_segments([r["trace_id"] for r in rows])
        for r in rows:
            for lost in skipped.get(r["trace_id"], []):
                for key in ("spans", "errors", "rows"):
                    r[key] = max(int(r[key]) - int(lost[key] or 0), 0)
        return pa.Table.from_pylist(rows, schema=LIST_TRACES_SCHEMA)

    def _skipped_segments(self, trace_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Per trace, the `segment_traces` rows of its segments every query skips — missing, of
        another size than catalogued, or already found unreadable (`segment_checks`) — each
        warned with the query engine's words; a cheap stat per segment, no file is read."""
        if not trace_ids:
            return {}
        marks = ",".join("?" * len(trace_ids))
        rows = self.catalog.rows(
            f"SELECT st.path, st.trace_id, st.rows, st.spans, st.errors, s.bytes FROM segment_traces st "
            f"JOIN segments s ON s.path = st.path WHERE st.trace_id IN ({marks})",
            list(trace_ids),
        )
        checks = self.catalog.segment_checks() if rows else {}
        out: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            full = self.root / row["path"]
            try:
                st = full.stat()
            except OSError:
                why = "missing segment"
            else:
                verdict = checks.get(row["path"])
                if row["bytes"] is not None and st.st_size != row["bytes"]:
                    why = f"truncated or altered segment ({st.st_size} of {row['bytes']} bytes)"
                elif verdict is not None and verdict[:2] == (st.st_mtime_ns, st.st_size) and verdict[2]:
                    why = verdict[2]
                else:
                    continue
            self.warn(f"skipping {why}: {full}")
            out.setdefault(row["trace_id"], []).append(row)
        return out

    def close(self) -> None:
        """Close sinks handed out (flushing them), the query engine and the catalog."""
        errors = []
        for sink in self._sinks:
            try:
                sink.close()
            except Exception as exc:  # keep closing the rest; report the first
                errors.append(exc)
        self._sinks.clear()
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        self.catalog.close()
        if errors:
            raise errors[0]

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
