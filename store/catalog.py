"""The SQLite catalog: which runs, traces and Parquet segments a store holds.

Several tracers may write one store at once, so the catalog is SQLite in WAL mode with a busy
timeout, and every change is one `BEGIN IMMEDIATE` transaction (the writer lock is taken up
front, so two writers never deadlock upgrading a read lock).  The schema is created with
sqlite-utils, imported only when a table is missing (a tracer opens an existing catalog on
every run); data changes are plain SQL inside those explicit transactions (sqlite-utils' own
`with conn:` blocks would commit an outer transaction early).

Readers use the catalog to prune: a trace id maps to the few segment files that hold it
(`segment_traces`), and every segment carries its time range, rows and byte size (a file
shorter than its catalog size is truncated, detected without opening it).  `tombstones`
remembers files that compaction/vacuum removed from the catalog so a crash between the
catalog commit and the unlink never resurrects them as "orphans".

Reading must not need write access: a store copied read-only, on a read-only mount, or on a
full disk (where SQLite cannot grow its `-shm` file) still answers queries.  When the folder or
the file is not writable the catalog opens with `mode=ro`; when even that fails (WAL without a
usable `-shm`) it opens `immutable=1`, which reads the file as it is without locks — right for a
store nobody can write.  A read-only catalog refuses writes with one `CatalogError` line.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import quote

import pyarrow as pa

CATALOG_NAME = "catalog.sqlite"
BUSY_TIMEOUT_S = 30.0


_TABLES = {"runs", "traces", "segments", "segment_traces", "tombstones", "pending", "segment_checks"}
#: Tables added after the first release: a read-only catalog made before them still reads.
_LATER_TABLES = {"segment_checks"}


class CatalogError(Exception):
    """The catalog cannot be read or written; one line for the user."""


class CatalogDamaged(CatalogError):
    """The catalog file is not a whole SQLite database (truncated, overwritten, not SQLite).

    `reason` is what is wrong with it, without the path; the segments still hold their rows
    and their own metadata, so a reader can answer from them (`Store.open(from_segments=True)`)
    and `db doctor --quarantine` sets the file aside and rebuilds the catalog from them.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"catalog {path} is damaged ({reason})")
        self.path = path
        self.reason = reason


_SQLITE_MAGIC = b"SQLite format 3\x00"
#: SQLite's words for a file that is not (or no longer) a whole database.
_DAMAGE_WORDS = ("malformed", "not a database")


def header_damage(path: Path) -> str | None:
    """What is wrong with `path`'s SQLite header, from its first 100 bytes and its size; None if
    nothing (or the file is missing or empty, which SQLite opens as a new database).

    A truncated catalog (a full disk, a copy cut short) is found here without reading a page:
    the header records the page count (valid while its version-valid-for number equals the change
    counter) and a whole file is never shorter than that many pages.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(100)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if not head:
        return None
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        return f"not an SQLite database: its {size} bytes do not start with the SQLite header"
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    change_counter, pages, valid_for = (int.from_bytes(head[i : i + 4], "big") for i in (24, 28, 92))
    if page_size >= 512 and pages and valid_for == change_counter and size < pages * page_size:
        return f"truncated: {size} bytes, its header says {pages} pages of {page_size} bytes"
    return None


def _damage_of(exc: BaseException) -> str | None:
    """SQLite's error for a damaged file, or None for any other error (busy, read-only, full)."""
    if not isinstance(exc, (sqlite3.DatabaseError, CatalogError)):
        return None
    text = str(exc).rsplit(": ", 1)[-1]
    return text if any(w in text for w in _DAMAGE_WORDS) else None


@dataclass
class TraceStats:
    """Per-trace figures of one segment (a compacted segment holds several traces)."""

    trace_id: str
    rows: int
    spans: int
    errors: int
    min_start_ns: int
    max_end_ns: int
    pids: list[int] = field(default_factory=list)


@dataclass
class SegmentInfo:
    """One Parquet segment as the catalog knows it; `path` is relative to the store root."""

    path: str
    run_id: str | None
    min_start_ns: int
    max_end_ns: int
    rows: int
    bytes: int
    created_ns: int
    traces: list[TraceStats]

    @property
    def spans(self) -> int:
        return sum(t.spans for t in self.traces)

    @property
    def errors(self) -> int:
        return sum(t.errors for t in self.traces)


def writable(root: Path) -> bool:
    """Whether a catalog in `root` can be written (folder and, when it exists, the file)."""
    path = root / CATALOG_NAME
    return os.access(root, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


class Catalog:
    """Thread-safe handle on `catalog.sqlite` (one connection, one lock)."""

    def __init__(self, root: Path, *, read_only: bool = False, in_memory: bool = False) -> None:
        """Open (creating when writable) the catalog of `root`; `read_only` never writes it.

        `in_memory`: an empty catalog in memory, nothing on disk touched (the store fills it from
        the segments' own metadata when the file is damaged).  A damaged file raises CatalogDamaged.
        """
        self.path = root / CATALOG_NAME
        self._lock = threading.RLock()
        self._local_changes = 0
        #: Why the catalog is read-only ("" when it is writable); writes raise CatalogError then.
        self.read_only_reason = ""
        if in_memory:
            self.conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self._create_schema()
            return
        damage = header_damage(self.path)
        if damage is not None:
            raise CatalogDamaged(self.path, damage)
        if read_only or (not writable(root) and self.path.exists()):
            self._open_read_only("opened read-only" if read_only else "the store is not writable")
            return
        try:
            self._open_writable()
        except CatalogError as exc:
            if not self.path.exists():
                raise
            # a full disk (no room for -shm/-wal), a read-only mount that access() missed…
            self._open_read_only(f"opened read-only: {str(exc).split(': ', 1)[-1]}", first_error=exc)

    @property
    def read_only(self) -> bool:
        return bool(self.read_only_reason)

    def _open_read_only(self, reason: str, first_error: CatalogError | None = None) -> None:
        """`mode=ro`, else `immutable=1`; the schema must already be there."""
        uri = "file:" + quote(str(self.path.resolve()))
        problem: Exception | None = first_error
        for mode in ("mode=ro", "immutable=1"):
            conn = None
            try:
                conn = sqlite3.connect(
                    f"{uri}?{mode}", uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
                )
                self.conn = conn
                missing = _TABLES - _LATER_TABLES - self._table_names()  # the first read: WAL problems show up
            except sqlite3.Error as exc:
                if conn is not None:
                    conn.close()
                problem = exc
                continue
            if missing:
                conn.close()
                raise CatalogError(f"catalog {self.path} lacks tables {', '.join(sorted(missing))} and cannot be written")
            self.read_only_reason = reason
            return
        damage = _damage_of(problem) if problem is not None else None
        if damage:
            raise CatalogDamaged(self.path, damage)
        raise CatalogError(f"cannot open catalog {self.path}: {problem}")

    def _open_writable(self) -> None:
        created = not self.path.exists()
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            conn = None
            try:
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
                self.conn = conn
                with self._lock:
                    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                        conn.execute("PRAGMA journal_mode = wal")
                    conn.execute("PRAGMA synchronous = NORMAL")
                    self._create_schema()
                if created:  # SQLite makes it 0644 & ~umask, and its -wal/-shm copy that mode
                    os.chmod(self.path, 0o600)
                return
            except (sqlite3.Error, CatalogError) as exc:
                if conn is not None:
                    conn.close()
                # Switching a fresh file to WAL while other processes open it too can fail with
                # "locked" at once (SQLite skips the busy handler there): try again.
                if "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                if isinstance(exc, CatalogDamaged):
                    raise
                damage = _damage_of(exc)
                if damage:
                    raise CatalogDamaged(self.path, damage) from None
                raise CatalogError(f"cannot open catalog {self.path}: {exc}") from None

    # -- schema -------------------------------------------------------------------------
    def _create_schema(self) -> None:
        """Create missing tables with sqlite-utils (imported only then: an existing store, the
        usual case for a tracer, opens with the standard library alone)."""
        if _TABLES <= self._table_names():
            return  # no write lock taken: concurrent tracers open without queueing
        with self.transaction() as conn:
            tables = self._table_names()
            import sqlite_utils

            db = sqlite_utils.Database(conn)
            if "runs" not in tables:
                db.table("runs").create(
                    {
                        "run_id": str, "trace_id": str, "command": str, "cwd": str, "host": str,
                        "pid": int, "started_ns": int, "ended_ns": int, "exit_code": int,
                        "spans_stored": int, "spans_represented": int, "dropped_spans": int, "status": str,
                    },
                    pk="run_id",
                    not_null={"trace_id", "started_ns", "status"},
                    defaults={"spans_stored": 0, "dropped_spans": 0, "status": "running"},
                )
                db.table("runs").create_index(["trace_id"], if_not_exists=True)
                db.table("runs").create_index(["started_ns"], if_not_exists=True)
            if "traces" not in tables:
                db.table("traces").create(
                    {"trace_id": str, "first_command": str, "started_ns": int, "ended_ns": int, "runs": int},
                    pk="trace_id",
                    defaults={"runs": 0},
                )
                db.table("traces").create_index(["started_ns"], if_not_exists=True)
            if "segments" not in tables:
                db.table("segments").create(
                    {
                        "path": str, "run_id": str, "trace_id": str, "min_start_ns": int, "max_end_ns": int,
                        "rows": int, "spans": int, "errors": int, "bytes": int, "created_ns": int,
                    },
                    pk="path",
                    not_null={"min_start_ns", "max_end_ns", "rows", "bytes"},
                )
                db.table("segments").create_index(["trace_id"], if_not_exists=True)
                db.table("segments").create_index(["min_start_ns", "max_end_ns"], if_not_exists=True)
                db.table("segments").create_index(["run_id"], if_not_exists=True)
            if "segment_traces" not in tables:
                db.table("segment_traces").create(
                    {
                        "path": str, "trace_id": str, "rows": int, "spans": int, "errors": int,
                        "min_start_ns": int, "max_end_ns": int, "pids": str,
                    },
                    pk=("path", "trace_id"),
                )
                db.table("segment_traces").create_index(["trace_id"], if_not_exists=True)
            if "tombstones" not in tables:
                db.table("tombstones").create({"path": str, "removed_ns": int}, pk="path")
            if "pending" not in tables:  # files a compaction is about to rename into place
                db.table("pending").create({"path": str, "pid": int, "host": str, "created_ns": int}, pk="path")
            if "segment_checks" not in tables:  # full reads of segments altered after writing
                db.table("segment_checks").create(
                    {"path": str, "mtime_ns": int, "size": int, "problem": str, "checked_ns": int}, pk="path"
                )
            if "run_drops" not in tables:  # which sink lost how many of a run's spans (runs.dropped_spans: the sum)
                db.table("run_drops").create({"run_id": str, "sink": str, "spans": int}, pk=("run_id", "sink"))

    def _table_names(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, writer lock taken up front; rolls back on any error."""
        if self.read_only:
            raise CatalogError(f"catalog {self.path} is read-only ({self.read_only_reason})")
        with self._lock:
            conn = self.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise CatalogError(f"catalog {self.path} is busy or unwritable: {exc}") from None
            try:
                yield conn
            except BaseException:
                self._rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(conn)
                raise CatalogError(f"cannot commit to catalog {self.path}: {exc}") from None
            self._local_changes += 1

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (e.g. disk full)

    def _write(self, fn: Any, *args: Any) -> Any:
        """Run `fn(conn, *args)` in a transaction, turning SQLite errors into CatalogError."""
        try:
            with self.transaction() as conn:
                return fn(conn, *args)
        except sqlite3.Error as exc:
            damage = _damage_of(exc)
            if damage:
                raise CatalogDamaged(self.path, damage) from None
            raise CatalogError(f"catalog {self.path}: {exc}") from None

    def version(self) -> tuple[int, int]:
        """Changes by anyone: SQLite's data_version (others' commits) and our own count."""
        with self._lock:
            return int(self.conn.execute("PRAGMA data_version").fetchone()[0]), self._local_changes

    # -- runs and traces ----------------------------------------------------------------
    def begin_run(
        self, run_id: str, trace_id: str, command: str, cwd: str, host: str, pid: int, started_ns: int
    ) -> None:
        """Record a run as started and fold it into its trace."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO runs (run_id, trace_id, command, cwd, host, pid, started_ns, "
                "spans_stored, dropped_spans, status) VALUES (?,?,?,?,?,?,?,0,0,'running')",
                (run_id, trace_id, command, cwd, host, pid, started_ns),
            )
            self._touch_trace(conn, trace_id, command, started_ns, None, new_run=True)

        self._write(apply)

    def end_run(
        self,
        run_id: str,
        ended_ns: int,
        exit_code: int | None,
        dropped_spans: int,
        spans_represented: int | None,
        status: str,
        dropped_by_sink: Mapping[str, int] | None = None,
    ) -> None:
        """Record a run's end; spans_represented defaults to what its segments hold.

        `dropped_by_sink` (sink name → spans it lost) goes to `run_drops`, one row per sink that
        lost any, so "dropped 3000" can be read as "otlp lost 3000, the store none"."""

        def apply(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT trace_id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise CatalogError(f"unknown run {run_id!r}: begin_run was never called")
            represented = spans_represented
            if represented is None:
                represented = conn.execute(
                    "SELECT COALESCE(SUM(spans), 0) FROM segments WHERE run_id = ?", (run_id,)
                ).fetchone()[0]
            conn.execute(
                "UPDATE runs SET ended_ns = ?, exit_code = ?, dropped_spans = ?, spans_represented = ?, "
                "status = ? WHERE run_id = ?",
                (ended_ns, exit_code, dropped_spans, represented, status, run_id),
            )
            for sink, spans in (dropped_by_sink or {}).items():
                if spans:
                    conn.execute("INSERT OR REPLACE INTO run_drops (run_id, sink, spans) VALUES (?,?,?)",
                                 (run_id, sink, int(spans)))
            conn.execute(
                "UPDATE traces SET ended_ns = MAX(COALESCE(ended_ns, 0), ?) WHERE trace_id = ?", (ended_ns, row[0])
            )

        self._write(apply)

    def dropped_by_sink(self, run_id: str) -> dict[str, int]:
        """Spans each sink lost for `run_id` (sinks that lost none are absent)."""
        if "run_drops" not in self._table_names():
            return {}
        rows = self.conn.execute("SELECT sink, spans FROM run_drops WHERE run_id = ? ORDER BY sink", (run_id,))
        return {str(sink): int(spans) for sink, spans in rows}

    def set_run_status(self, run_id: str, status: str) -> None:
        """Mark a run (e.g. `interrupted` when its tracer died without end_run)."""
        self._write(lambda conn: conn.execute("UPDATE runs SET status = ? WHERE run_id = ?", (status, run_id)))

    @staticmethod
    def _touch_trace(
        conn: sqlite3.Connection, trace_id: str, command: str, started_ns: int, ended_ns: int | None, new_run: bool
    ) -> None:
        conn.execute(
            "INSERT INTO traces (trace_id, first_command, started_ns, ended_ns, runs) VALUES (?,?,?,?,?) "
            "ON CONFLICT(trace_id) DO UPDATE SET "
            "first_command = CASE WHEN excluded.started_ns < traces.started_ns OR traces.first_command = '' "
            "  THEN excluded.first_command ELSE traces.first_command END, "
            "started_ns = MIN(traces.started_ns, excluded.started_ns), "
            "ended_ns = MAX(COALESCE(traces.ended_ns, 0), COALESCE(excluded.ended_ns, 0)), "
            "runs = traces.runs + excluded.runs",
            (trace_id, command, started_ns, ended_ns, 1 if new_run else 0),
        )

    # -- segments -----------------------------------------------------------------------
    def add_segment(self, seg: SegmentInfo) -> bool:
        """Catalog a renamed segment; idempotent (False if the path was already known)."""

        def apply(conn: sqlite3.Connection) -> bool:
            return self._insert_segment(conn, seg)

        return bool(self._write(apply))

    def _insert_segment(self, conn: sqlite3.Connection, seg: SegmentInfo) -> bool:
        single = seg.traces[0].trace_id if len(seg.traces) == 1 else None
        cur = conn.execute(
            "INSERT OR IGNORE INTO segments (path, run_id, trace_id, min_start_ns, max_end_ns, rows, spans, "
            "errors, bytes, created_ns) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (seg.path, seg.run_id, single, seg.min_start_ns, seg.max_end_ns, seg.rows, seg.spans, seg.errors,
             seg.bytes, seg.created_ns),
        )
        if cur.rowcount != 1:
            return False
        conn.executemany(
            "INSERT OR REPLACE INTO segment_traces (path, trace_id, rows, spans, errors, min_start_ns, max_end_ns, "
            "pids) VALUES (?,?,?,?,?,?,?,?)",
            [
                (seg.path, t.trace_id, t.rows, t.spans, t.errors, t.min_start_ns, t.max_end_ns, json.dumps(t.pids))
                for t in seg.traces
            ],
        )
        conn.execute("DELETE FROM tombstones WHERE path = ?", (seg.path,))
        if seg.run_id is not None:
            conn.execute("UPDATE runs SET spans_stored = spans_stored + ? WHERE run_id = ?", (seg.rows, seg.run_id))
        for t in seg.traces:
            command = conn.execute(
                "SELECT command FROM runs WHERE trace_id = ? ORDER BY started_ns LIMIT 1", (t.trace_id,)
            ).fetchone()
            self._touch_trace(conn, t.trace_id, command[0] if command else "", t.min_start_ns, t.max_end_ns, False)
        return True

    def add_pending(self, path: str, pid: int, host: str) -> None:
        """Announce a file about to appear, so orphan recovery leaves it alone."""
        self._write(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO pending (path, pid, host, created_ns) VALUES (?,?,?,?)",
                (path, pid, host, time.time_ns()),
            )
        )

    def drop_pending(self, paths: Sequence[str]) -> None:
        self._write(lambda conn: conn.executemany("DELETE FROM pending WHERE path = ?", [(p,) for p in paths]))

    def replace_segments(self, removed: Sequence[str], added: SegmentInfo | None = None) -> None:
        """Atomically drop segments (tombstoned) and optionally catalog their replacement."""

        def apply(conn: sqlite3.Connection) -> None:
            now = time.time_ns()
            for path in removed:
                conn.execute("DELETE FROM segments WHERE path = ?", (path,))
                conn.execute("DELETE FROM segment_traces WHERE path = ?", (path,))
                conn.execute("INSERT OR REPLACE INTO tombstones (path, removed_ns) VALUES (?,?)", (path, now))
            if added is not None:
                single = added.traces[0].trace_id if len(added.traces) == 1 else None
                conn.execute("DELETE FROM pending WHERE path = ?", (added.path,))
                conn.execute(
                    "INSERT OR REPLACE INTO segments (path, run_id, trace_id, min_start_ns, max_end_ns, rows, spans, "
                    "errors, bytes, created_ns) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (added.path, added.run_id, single, added.min_start_ns, added.max_end_ns, added.rows, added.spans,
                     added.errors, added.bytes, added.created_ns),
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO segment_traces (path, trace_id, rows, spans, errors, min_start_ns, "
                    "max_end_ns, pids) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    [
                        (added.path, t.trace_id, t.rows, t.spans, t.errors, t.min_start_ns, t.max_end_ns,
                         json.dumps(t.pids))
                        for t in added.traces
                    ],
                )

        self._write(apply)

    def delete_runs_and_traces(self, before_ns: int) -> tuple[int, int]:
        """Vacuum helper: drop runs/traces that ended before the cutoff and hold no segment."""

        def apply(conn: sqlite3.Connection) -> tuple[int, int]:
            live = "SELECT DISTINCT trace_id FROM segment_traces"
            runs = conn.execute(
                f"DELETE FROM runs WHERE COALESCE(ended_ns, started_ns) < ? AND trace_id NOT IN ({live})",
                (before_ns,),
            ).rowcount
            traces = conn.execute(
                f"DELETE FROM traces WHERE COALESCE(ended_ns, started_ns) < ? AND trace_id NOT IN ({live}) "
                "AND trace_id NOT IN (SELECT trace_id FROM runs)",
                (before_ns,),
            ).rowcount
            return runs, traces

        return self._write(apply)

    def segment_checks(self) -> dict[str, tuple[int, int, str]]:
        """Verdicts of full segment reads: path → (mtime_ns, size, problem; "" when readable)."""
        if self.read_only and "segment_checks" not in self._table_names():
            return {}
        return {
            r["path"]: (int(r["mtime_ns"]), int(r["size"]), r["problem"] or "")
            for r in self.rows("SELECT path, mtime_ns, size, problem FROM segment_checks")
        }

    def record_segment_check(self, path: str, mtime_ns: int, size: int, problem: str) -> None:
        """Remember a verdict so every reader skips the same segments; silently kept in memory
        only when the catalog cannot be written (read-only, full disk)."""
        if self.read_only:
            return
        try:
            self._write(
                lambda conn: conn.execute(
                    "INSERT OR REPLACE INTO segment_checks (path, mtime_ns, size, problem, checked_ns) VALUES (?,?,?,?,?)",
                    (path, mtime_ns, size, problem, time.time_ns()),
                )
            )
        except CatalogError:
            pass  # the reader that found it still skips it; the next one finds it again

    def forget_tombstones(self, paths: Sequence[str]) -> None:
        self._write(lambda conn: conn.executemany("DELETE FROM tombstones WHERE path = ?", [(p,) for p in paths]))

    # -- reads --------------------------------------------------------------------------
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Plain read as dicts (under the lock: the connection is shared between threads)."""
        with self._lock:
            try:
                cur = self.conn.execute(sql, list(params))
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]
            except sqlite3.Error as exc:
                damage = _damage_of(exc)
                if damage:
                    raise CatalogDamaged(self.path, damage) from None
                raise CatalogError(f"catalog {self.path}: {exc}") from None

    def segments(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM segments ORDER BY min_start_ns, path")

    def segment_paths_for(self, trace_ids: Sequence[str]) -> list[str]:
        """The segments holding any of these traces (the pruning lookup, indexed)."""
        if not trace_ids:
            return []
        marks = ",".join("?" * len(trace_ids))
        found = self.rows(
            f"SELECT DISTINCT path FROM segment_traces WHERE trace_id IN ({marks}) ORDER BY path", list(trace_ids)
        )
        return [r["path"] for r in found]

    def segment_paths_between(self, lo_ns: int | None, hi_ns: int | None) -> list[str]:
        """Segments whose [min_start_ns, max_end_ns] meets [lo_ns, hi_ns] (None: unbounded); indexed."""
        where, args = [], []
        if hi_ns is not None:
            where.append("min_start_ns <= ?")
            args.append(hi_ns)
        if lo_ns is not None:
            where.append("max_end_ns >= ?")
            args.append(lo_ns)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        return [r["path"] for r in self.rows(f"SELECT path FROM segments {clause}ORDER BY path", args)]

    def tombstoned(self) -> set[str]:
        return {r["path"] for r in self.rows("SELECT path FROM tombstones")}

    def table(self, name: str, schema: pa.Schema | None = None) -> pa.Table:
        """A catalog table as Arrow (for DuckDB registration and the Python API)."""
        with self._lock:
            try:
                cur = self.conn.execute(f"SELECT * FROM [{name}]")
                names = [d[0] for d in cur.description]
                data = cur.fetchall()
                declared = {r[1]: str(r[2]).upper() for r in self.conn.execute(f"PRAGMA table_info([{name}])")}
            except sqlite3.Error as exc:
                damage = _damage_of(exc)
                if damage:
                    raise CatalogDamaged(self.path, damage) from None
                raise CatalogError(f"catalog {self.path}: {exc}") from None
        columns = {n: [row[i] for row in data] for i, n in enumerate(names)}
        arrays = {
            n: pa.array(columns[n], type=pa.int64() if declared.get(n) == "INTEGER" else pa.string()) for n in names
        }
        return pa.table(arrays, schema=schema) if schema is not None else pa.table(arrays)

    def close(self) -> None:
        with self._lock:
            self.conn.close()
