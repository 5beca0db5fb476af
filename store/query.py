"""SQL over the store: DuckDB views on the Parquet segments and the catalog, read-only.

Views (rebuilt when the catalog changes):
  `spans_raw`  rows as stored (an RLE row stands for `rle_count` calls);
  `spans`      one row per call: RLE rows expanded with `range(rle_count)`, times spread evenly
               from the first start to the last end, each duration = total / N; plus
               `rle_index`, `rle_group`, `duration_ns`, `duration_ms`;
  `span_events` one row per span event (`event_name`, `time_unix_nano`, `event_attributes`);
  `runs`, `traces`, `segments`  the catalog (copied into DuckDB: its sqlite scanner would need
               a download).

Pruning: a query whose only span table has a top-level `trace_id = '…'` / `IN (…)` / `= ?`
conjunct, or integer bounds on `start_time_nanos` (`>=`, `<`, `BETWEEN`, `=` …), is run against
views over the segments the catalog says can hold such rows — detected on DuckDB's own parse
tree (`json_serialize_sql`), never by regex on the text.

Read-only: one statement, of an allowed type (SELECT, EXPLAIN of a SELECT, DESCRIBE/SHOW,
read-only PRAGMAs); external file access is limited to the segments folder and the
configuration is locked, so even a crafted SELECT cannot read or write elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from renacer_tui.model.readable import one_line
from renacer_tui.model.schema import SPAN_SCHEMA
from renacer_tui.store.catalog import Catalog
from renacer_tui.store.config import private_mkdir
from renacer_tui.store.writer import SPANS_DIR

#: A segment file modified this long after it was catalogued was altered (copied without
#: keeping times, edited, damaged): it is read in full before use.  Written files are never
#: modified after `created_ns`, and file times are never later than the clock.
ALTERED_SLACK_NS = 1_000_000_000

#: DuckDB's spill folder, inside the store (created by DuckDB only when a query spills).
QUERY_TMP_DIR = ".query-tmp"

#: Read-only PRAGMAs (everything else, e.g. `PRAGMA threads`, changes state).
_READ_PRAGMAS = frozenset(
    {"table_info", "show_tables", "show_tables_expanded", "database_list", "version", "functions", "show",
     "platform", "user_agent", "storage_info", "database_size", "collations", "metadata_info"}
)
_SPAN_TABLES = ("spans", "spans_raw")
#: Errors about the SQL itself: never worth probing segment files for.
_USER_ERRORS = (
    duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException, duckdb.PermissionException,
    duckdb.ConversionException, duckdb.InterruptException, duckdb.OutOfRangeException, duckdb.TypeMismatchException,
)
_EXPLAIN = re.compile(r"^\s*explain(\s+analy[sz]e)?\b", re.IGNORECASE)
_PRAGMA_NAME = re.compile(r"^\s*pragma\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)


class QueryError(Exception):
    """Bad or forbidden SQL; the message is one line."""




def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parquet_source(files: Sequence[Path]) -> str:
    """A `read_parquet([...])` expression (or the empty span relation when there are none)."""
    if not files:
        return "_empty_spans"
    listing = ", ".join(_sql_str(str(f)) for f in files)
    # By name, over the empty span table: segments written before a nullable column existed
    # (events, links) read it as null instead of failing the whole view.
    return (
        f"(SELECT * FROM _empty_spans UNION ALL BY NAME "
        f"SELECT * FROM read_parquet([{listing}], hive_partitioning = false, union_by_name = true))"
    )


def spans_view_sql(source: str) -> str:
    """The `spans` relation over a raw source: RLE rows expanded to one row per call."""
    plain = [n for n in SPAN_SCHEMA.names if n not in ("start_time_nanos", "end_time_nanos", "rle_count")]
    cols = ", ".join(plain)
    total = (
        "COALESCE(TRY_CAST(json_extract_string(attributes, '$.\"renacer.rle.total_duration_ns\"') AS BIGINT), "
        "end_time_nanos - start_time_nanos)"
    )
    return f"""
SELECT {cols}, start_time_nanos, end_time_nanos, CAST(1 AS BIGINT) AS rle_count,
       CAST(0 AS BIGINT) AS rle_index, rle_count AS rle_group,
       end_time_nanos - start_time_nanos AS duration_ns,
       (end_time_nanos - start_time_nanos) / 1e6 AS duration_ms
FROM {source} WHERE rle_count <= 1
UNION ALL
SELECT {cols}, s AS start_time_nanos, s + d AS end_time_nanos, CAST(1 AS BIGINT) AS rle_count,
       i AS rle_index, rle_count AS rle_group, d AS duration_ns, d / 1e6 AS duration_ms
FROM (
  SELECT *, start_time_nanos + i * GREATEST(end_time_nanos - start_time_nanos - d, 0) // (rle_count - 1) AS s
  FROM (
    SELECT r.*, g.i, {total} // r.rle_count AS d
    FROM {source} r, range(r.rle_count) g(i) WHERE r.rle_count > 1
  )
)"""


#: One row per span event (decisions, signals, received events), beside its span's identity.
SPAN_EVENTS_SQL = """
SELECT s.trace_id, s.span_id, s.span_name, s.process_pid, s.thread_id,
       e.name AS event_name, e.time_unix_nano, e.attributes AS event_attributes
FROM spans_raw s, UNNEST(s.events) AS u(e)"""


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Reject anything but a single read statement (QueryError)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from None
    if len(statements) != 1:
        raise QueryError(f"expected exactly one SQL statement, got {len(statements)}")
    kind = statements[0].type
    if kind == duckdb.StatementType.SELECT:
        return
    if kind == duckdb.StatementType.EXPLAIN:
        inner = _EXPLAIN.sub("", sql, count=1)
        inner_statements = con.extract_statements(inner) if inner.strip() else []
        if len(inner_statements) == 1 and inner_statements[0].type == duckdb.StatementType.SELECT:
            return
        raise QueryError("only EXPLAIN of a SELECT is allowed: the store is read-only")
    if kind == duckdb.StatementType.PRAGMA:
        match = _PRAGMA_NAME.match(sql)
        if match and match.group(1).lower() in _READ_PRAGMAS:
            return
        raise QueryError("this PRAGMA is not allowed: the store is read-only")
    raise QueryError(f"{kind.name} statements are not allowed: the store is read-only (use SELECT)")


def _pruning_conjuncts(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]] | None:
    """Top-level AND-conjuncts of a plain SELECT over one span table (named once), else None."""
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
    except (duckdb.Error, ValueError, IndexError, TypeError):
        return None
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        return None
    node = tree["statements"][0]["node"]
    text = json.dumps(node)
    mentions = sum(text.count(f'"table_name": "{t}"') for t in _SPAN_TABLES)
    source = node.get("from_table") or {}
    if (
        node.get("type") != "SELECT_NODE"
        or mentions != 1
        or source.get("type") != "BASE_TABLE"
        or source.get("table_name", "").lower() not in _SPAN_TABLES
        or source.get("schema_name")
    ):
        return None
    return _conjuncts(node.get("where_clause"))


def pruned_trace_ids(con: duckdb.DuckDBPyConnection, sql: str, params: Any) -> list[str] | None:
    """Trace ids a query is provably limited to, or None when the query needs every segment.

    True only when the statement is a plain SELECT over one span table (named once) whose WHERE
    has a top-level AND-conjunct `trace_id = <literal|parameter>` or `trace_id IN (<literals>)`.
    """
    return trace_ids_of(_pruning_conjuncts(con, sql) or [], params)


def trace_ids_of(conjuncts: Sequence[dict[str, Any]], params: Any) -> list[str] | None:
    """The first `trace_id = …` / `IN (…)` conjunct's ids, or None."""
    for conjunct in conjuncts:
        ids = _trace_id_values(conjunct, params)
        if ids is not None:
            return ids
    return None


#: `column <op> value` → which bound of the column the value gives (op as written left to right).
_LOWER_OPS = {"COMPARE_GREATERTHANOREQUALTO": 0, "COMPARE_GREATERTHAN": 1}
_UPPER_OPS = {"COMPARE_LESSTHANOREQUALTO": 0, "COMPARE_LESSTHAN": -1}
_FLIPPED = {
    "COMPARE_GREATERTHANOREQUALTO": "COMPARE_LESSTHANOREQUALTO", "COMPARE_GREATERTHAN": "COMPARE_LESSTHAN",
    "COMPARE_LESSTHANOREQUALTO": "COMPARE_GREATERTHANOREQUALTO", "COMPARE_LESSTHAN": "COMPARE_GREATERTHAN",
    "COMPARE_EQUAL": "COMPARE_EQUAL",
}


def time_bounds_of(conjuncts: Sequence[dict[str, Any]], params: Any) -> tuple[int | None, int | None]:
    """Inclusive (lo, hi) that every row's `start_time_nanos` must lie in, from integer conjuncts.

    Every call the `spans` view makes of a stored row starts within that row's
    [start, end], so a segment that cannot overlap [lo, hi] holds no matching row.
    """
    lo: int | None = None
    hi: int | None = None

    def lower(v: int) -> None:
        nonlocal lo
        lo = v if lo is None else max(lo, v)

    def upper(v: int) -> None:
        nonlocal hi
        hi = v if hi is None else min(hi, v)

    for expr in conjuncts:
        kind = expr.get("type", "")
        if kind == "COMPARE_BETWEEN" and _is_col(expr.get("input", {}), "start_time_nanos"):
            low, high = _int_value(expr.get("lower", {}), params), _int_value(expr.get("upper", {}), params)
            if low is not None:
                lower(low)
            if high is not None:
                upper(high)
            continue
        if kind not in _FLIPPED:
            continue
        left, right = expr.get("left", {}), expr.get("right", {})
        if _is_col(right, "start_time_nanos") and not _is_col(left, "start_time_nanos"):
            left, right, kind = right, left, _FLIPPED[kind]
        if not _is_col(left, "start_time_nanos"):
            continue
        value = _int_value(right, params)
        if value is None:
            continue
        if kind in _LOWER_OPS or kind == "COMPARE_EQUAL":
            lower(value + _LOWER_OPS.get(kind, 0))
        if kind in _UPPER_OPS or kind == "COMPARE_EQUAL":
            upper(value + _UPPER_OPS.get(kind, 0))
    clamp = lambda v: None if v is None else max(_INT64_MIN, min(_INT64_MAX, v))  # noqa: E731 (SQLite ints)
    return clamp(lo), clamp(hi)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _is_col(expr: dict[str, Any], name: str) -> bool:
    return expr.get("class") == "COLUMN_REF" and [c.lower() for c in expr.get("column_names", [])][-1:] == [name]


def _int_value(expr: dict[str, Any], params: Any) -> int | None:
    """An exact integer literal or integer parameter (anything else: no bound)."""
    if expr.get("class") == "CONSTANT" and expr.get("literal", {}).get("kind") in ("INTEGER", "BIGINT", "HUGEINT"):
        try:
            return int(expr["literal"]["text"])
        except (KeyError, ValueError):
            return None
    if expr.get("class") == "PARAMETER" and params is not None:
        value = _param(expr, params)
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


def _param(expr: dict[str, Any], params: Any) -> Any:
    ident = str(expr.get("identifier", ""))
    if isinstance(params, dict):
        return params.get(ident)
    if ident.isdigit() and 0 < int(ident) <= len(params):
        return params[int(ident) - 1]
    return None


def _conjuncts(expr: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not expr:
        return []
    if expr.get("type") == "CONJUNCTION_AND":
        return [c for child in expr.get("children", []) for c in _conjuncts(child)]
    return [expr]


def _is_trace_col(expr: dict[str, Any]) -> bool:
    return _is_col(expr, "trace_id")


def _value(expr: dict[str, Any], params: Any) -> str | None:
    if expr.get("class") == "CONSTANT" and expr.get("literal", {}).get("kind") == "STRING":
        return str(expr["literal"]["text"])
    if expr.get("class") == "PARAMETER" and params is not None:
        value = _param(expr, params)
        return value if isinstance(value, str) else None
    return None


def _trace_id_values(expr: dict[str, Any], params: Any) -> list[str] | None:
    kind = expr.get("type")
    if kind == "COMPARE_EQUAL":
        left, right = expr.get("left", {}), expr.get("right", {})
        if _is_trace_col(right):
            left, right = right, left
        if _is_trace_col(left):
            value = _value(right, params)
            return [value] if value is not None else None
    if kind == "COMPARE_IN":
        children = expr.get("children", [])
        if children and _is_trace_col(children[0]):
            values = [_value(c, params) for c in children[1:]]
            if values and all(v is not None for v in values):
                return [v for v in values if v is not None]
    return None


class QueryEngine:
    """One in-memory DuckDB database over a store; thread-safe (a cursor per query)."""

    def __init__(self, root: Path, catalog: Catalog, warn: Callable[[str], None]) -> None:
        self.root = root
        self.catalog = catalog
        self._warn = warn
        self._lock = threading.RLock()
        self._version: tuple[int, int] | None = None
        self.bad: set[str] = set()  # relative segment paths found unreadable
        self.files: list[Path] = []  # segment files behind the current full views
        self.last_files: list[Path] = []  # files the last query's span views read
        self._active: set[duckdb.DuckDBPyConnection] = set()
        self.con = duckdb.connect(
            ":memory:", config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
        )
        spans_dir = root / SPANS_DIR
        if not spans_dir.is_dir() and not catalog.read_only:
            private_mkdir(spans_dir, root)
        self.con.execute("SET parquet_metadata_cache = true")
        # DuckDB's default spill folder is <cwd>/.tmp, and it joins the allowed directories: SQL
        # could read whatever lies there.  Spill inside the (private) store, or not at all when
        # the store cannot be written.
        spill = "" if catalog.read_only else str((root / QUERY_TMP_DIR).resolve())
        self.con.execute(f"SET temp_directory = {_sql_str(spill)}")
        self.con.execute(f"SET allowed_directories = [{_sql_str(str(spans_dir.resolve()) + '/')}]")
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")
        self.con.register("_empty_arrow", SPAN_SCHEMA.empty_table())
        self.con.execute("CREATE TABLE _empty_spans AS SELECT * FROM _empty_arrow")
        self.con.unregister("_empty_arrow")

    # -- views --------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Rebuild views and catalog tables if the catalog changed since the last query."""
        with self._lock:
            version = self.catalog.version()
            if not force and version == self._version:
                return
            segments = self.catalog.segments()
            self.files = self.usable_files([s["path"] for s in segments], segments)
            source = parquet_source(self.files)
            self.con.execute(f"CREATE OR REPLACE VIEW spans_raw AS SELECT * FROM {source}")
            self.con.execute(f"CREATE OR REPLACE VIEW spans AS {spans_view_sql(source)}")
            self.con.execute(f"CREATE OR REPLACE VIEW span_events AS {SPAN_EVENTS_SQL}")
            for name in ("runs", "traces", "segments"):
                self.con.register("_catalog_arrow", self.catalog.table(name))
                self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _catalog_arrow")
                self.con.unregister("_catalog_arrow")
            self._version = version

    def usable_files(self, paths: Sequence[str], rows: Sequence[dict[str, Any]] | None = None) -> list[Path]:
        """Absolute files for these segments, minus missing/truncated/unreadable ones (warned).

        Every query must skip the same segments, whichever columns it reads: a damaged data page
        fails a query that reads it while `COUNT(*)` (footer row counts) would still count the
        rows.  So a segment whose file changed after it was catalogued (mtime later than its
        `created_ns`) is read in full once before any query uses it, and the verdict is kept in
        the catalog's `segment_checks` with the file's mtime and size, as is any segment a query
        found unreadable: other readers, later processes too, skip it from their first query.
        """
        if rows is None:
            marks = ",".join("?" * len(paths))
            rows = (
                self.catalog.rows(f"SELECT path, bytes, created_ns FROM segments WHERE path IN ({marks})", paths)
                if paths else []
            )
        known = {r["path"]: r for r in rows}
        checks = self.catalog.segment_checks() if paths else {}
        out = []
        for rel in paths:
            if rel in self.bad:
                continue
            full = self.root / rel
            try:
                st = full.stat()
            except OSError:
                self._mark_bad(rel, "missing segment")
                continue
            row = known.get(rel, {})
            expected = row.get("bytes")
            if expected is not None and st.st_size != expected:
                self._mark_bad(rel, f"truncated or altered segment ({st.st_size} of {expected} bytes)")
                continue
            problem = self._checked(rel, full, st, row.get("created_ns"), checks.get(rel))
            if problem:
                self._mark_bad(rel, problem, record=False)
                continue
            out.append(full.resolve())
        return out

    def _checked(
        self, rel: str, full: Path, st: os.stat_result, created_ns: int | None, verdict: tuple[int, int, str] | None
    ) -> str:
        """Why this segment must be skipped ("" when it may be read): a recorded or a fresh verdict."""
        if verdict is not None and verdict[:2] == (st.st_mtime_ns, st.st_size):
            return verdict[2]
        if created_ns is None or st.st_mtime_ns <= created_ns + ALTERED_SLACK_NS:
            return ""  # as written: its readers find damage themselves (and record it)
        try:
            pq.read_table(full)
            problem = ""
        except (OSError, pa.ArrowException) as exc:
            problem = f"unreadable segment, altered after it was written ({one_line(exc)})"
        self.catalog.record_segment_check(rel, st.st_mtime_ns, st.st_size, problem)
        return problem

    def _mark_bad(self, rel: str, why: str, record: bool = True) -> None:
        """Skip `rel` from now on and say so; `record` keeps the verdict for every reader."""
        if rel not in self.bad:
            self.bad.add(rel)
            self._warn(f"skipping {why}: {self.root / rel}")
            if record and why.startswith("unreadable"):
                try:
                    st = (self.root / rel).stat()
                except OSError:
                    return
                self.catalog.record_segment_check(rel, st.st_mtime_ns, st.st_size, why)

    # -- queries ------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run one read-only statement; Arrow result. Unreadable segments are skipped, warned."""
        if not isinstance(sql, str) or not sql.strip():
            raise QueryError("empty SQL")
        check_read_only(self.con, sql)
        for _attempt in range(64):
            cur = self.con.cursor()
            with self._lock:
                self._active.add(cur)
            files: list[Path] = []
            try:
                try:
                    self.refresh()  # reads every segment's footer (union_by_name): may fail too
                finally:
                    files = list(self.files)
                paths = self._pruned_paths(cur, sql, params)
                if paths is not None:
                    files = self.usable_files(paths)
                    source = parquet_source(files)
                    cur.execute(f"CREATE TEMP VIEW spans_raw AS SELECT * FROM {source}")
                    cur.execute(f"CREATE TEMP VIEW spans AS {spans_view_sql(source)}")
                self.last_files = files
                rel = cur.sql(sql, params=params) if params is not None else cur.sql(sql)
                return rel.to_arrow_table() if rel is not None else pa.table({})
            except duckdb.Error as exc:
                culprit = self._culprit(exc, files)
                if culprit is None and not isinstance(exc, _USER_ERRORS):
                    culprit = self._probe(files)
                if culprit is None:
                    raise QueryError(one_line(exc)) from None
                self._mark_bad(culprit, f"unreadable segment ({one_line(exc)})")
                self._version = None
            finally:
                with self._lock:
                    self._active.discard(cur)
                cur.close()
        raise QueryError("too many unreadable segments")

    def _pruned_paths(self, cur: duckdb.DuckDBPyConnection, sql: str, params: Any) -> list[str] | None:
        """Segments a query can need (trace ids and/or a start-time range), or None for all."""
        conjuncts = _pruning_conjuncts(cur, sql)
        if not conjuncts:
            return None
        trace_ids = trace_ids_of(conjuncts, params)
        lo, hi = time_bounds_of(conjuncts, params)
        if trace_ids is None and lo is None and hi is None:
            return None
        paths = self.catalog.segment_paths_for(trace_ids) if trace_ids is not None else None
        if lo is not None or hi is not None:
            in_range = self.catalog.segment_paths_between(lo, hi)
            paths = in_range if paths is None else [p for p in paths if p in set(in_range)]
        return paths

    def _culprit(self, exc: BaseException, files: Sequence[Path]) -> str | None:
        """The segment an I/O error names, relative to the store root, if any."""
        message = str(exc)
        for full in files:
            if str(full) in message:
                return full.relative_to(self.root.resolve()).as_posix()
        return None

    def _probe(self, files: Sequence[Path]) -> str | None:
        """Find an unreadable segment when DuckDB's error names none (footer, then full read)."""
        root = self.root.resolve()
        for reader in (pq.read_metadata, pq.read_table):
            for full in files:
                try:
                    reader(full)
                except (OSError, pa.ArrowException):
                    return full.relative_to(root).as_posix()
        return None

    def interrupt(self) -> None:
        """Cancel a running query (from another thread)."""
        with self._lock:
            for cur in list(self._active):
                cur.interrupt()

    def close(self) -> None:
        with self._lock:
            self.con.close()
