"""`renacer-tui db …`: SQL, statistics and upkeep of the span store from the shell.

Thin: every command opens `store.Store`, calls the library (`Store.query`, `Store.list_traces`,
`store.maintenance`) and prints.  Values that came from a trace are printed literally (no Rich
markup, control characters escaped) in tables; csv and json carry the data exactly.  Problems
are one line on stderr: exit 2 for bad input (SQL, format, age), 1 for a store that cannot be
opened or used, never a traceback.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, TextIO

import typer

from renacer_tui.cli_common import (
    CliError,
    check_format,
    literal_console,
    one_line,
    open_store,
    print_store_warnings,
)
from renacer_tui.model import safe_json
from renacer_tui.text import escape

if TYPE_CHECKING:
    from renacer_tui.store import Store

_PROG = "renacer-tui db"
_DB_HELP = "Store location (default: RENACER_DB, database.path in ~/.renacer/config.toml, or ~/.renacer/db)."
_QUERY_FORMATS = ("table", "csv", "json")
_LIST_FORMATS = ("table", "json")
_TEXT_FORMATS = ("text", "json")
#: Layout width when stdout is not a terminal: tables keep their natural width, nothing is cut.
_PIPE_WIDTH = 100_000


def register(app: typer.Typer) -> None:
    """Add the `db` command group."""
    db_app = typer.Typer(
        name="db",
        help="Query and maintain the span store (SQL, stats, traces, vacuum, compact, doctor).",
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    db_app.command("query", help="Run one read-only SQL statement over spans, spans_raw, runs, traces, segments.")(
        query_command
    )
    db_app.command("stats", help="Counts: traces, runs, spans stored and represented, bytes, time range.")(
        stats_command
    )
    db_app.command("path", help="Print the store location.")(path_command)
    db_app.command("size", help="Bytes on disk: segments, catalog, quarantine, total.")(size_command)
    db_app.command("traces", help="Recent traces: id, first command, start, duration, processes, spans, errors.")(
        traces_command
    )
    db_app.command("vacuum", help="Delete segments, runs and traces older than an age.")(vacuum_command)
    db_app.command("compact", help="Merge small segments of finished runs into larger ones.")(compact_command)
    db_app.command("doctor", help="Check segments and runs; exit 1 while problems remain.")(doctor_command)
    app.add_typer(db_app, name="db")


# -- shared plumbing ----------------------------------------------------------------------
def _err(message: str) -> None:
    print(f"{_PROG}: {escape(message)}", file=sys.stderr)


def _fail(message: str, code: int) -> typer.Exit:
    _err(message)
    return typer.Exit(code)


def _check_format(fmt: str, allowed: tuple[str, ...]) -> str:
    try:
        return check_format(fmt, allowed)
    except CliError as exc:
        raise _fail(str(exc), exc.code) from None


def _open(db: Optional[Path], from_segments: bool = True) -> Any:
    """The store, or exit 1 with one line (unusable location, bad config, unreadable catalog).

    `from_segments`: a damaged catalog is read around (readers and doctor); vacuum and compact,
    which change the store, refuse it instead."""
    try:
        return open_store(db, from_segments=from_segments)
    except CliError as exc:
        raise _fail(str(exc), exc.code) from None


def _with_store(db: Optional[Path], action: Callable[[Any], int], *, writes: bool = False) -> int:
    """Run `action(store)`, print the store's warnings, close it; I/O failures exit 1."""
    from renacer_tui.store.catalog import CatalogError

    store = _open(db, from_segments=not writes)
    try:
        return action(store)
    except BrokenPipeError:  # `… | head`: the reader has all it wants; stop quietly like a SIGPIPE'd tool
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(141)
    except (CatalogError, OSError, ValueError) as exc:
        raise _fail(one_line(exc), 1)
    finally:
        print_store_warnings(store)
        try:
            store.close()
        except Exception as exc:  # closing flushes nothing we opened; report, do not mask
            _err(f"closing the store: {one_line(exc)}")


def _console(file: TextIO) -> Any:
    """A literal console: natural width on a pipe, the terminal's width on a terminal."""
    return literal_console(file, width=None if file.isatty() else _PIPE_WIDTH)


def _iso(ns: Optional[int]) -> str:
    if ns is None:
        return ""
    stamp = dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _duration(ns: Optional[int]) -> str:
    if ns is None:
        return ""
    if abs(ns) < 1_000_000_000:
        return f"{ns / 1e6:.3f} ms"
    return f"{ns / 1e9:.3f} s"


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# -- value rendering ----------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    """A value Python's json module writes as valid JSON (NaN/inf become null)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if type(value).__name__ == "MonthDayNano":  # DuckDB INTERVAL through Arrow (a struct sequence)
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, decimal.Decimal):  # DuckDB's SUM of BIGINT is HUGEINT → Arrow decimal
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def _plain(value: Any) -> str:
    """One csv field or table cell: text as is, structures as JSON, NULL as empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):  # structs, lists, maps, intervals
        return json.dumps(_jsonable(value), ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(_jsonable(value))


def _rows(table: Any) -> Iterator[list[Any]]:
    names = table.column_names
    for batch in table.to_batches():
        columns = [batch.column(i).to_pylist() for i in range(len(names))]
        yield from (list(row) for row in zip(*columns))


def write_table(table: Any, out: TextIO, max_rows: int = 0) -> None:
    """A Rich table; every cell and header is literal text (escaped, no markup)."""
    import pyarrow as pa
    from rich import box
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for field in table.schema:
        numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_decimal(field.type)
        grid.add_column(Text(escape(field.name), style="bold"), justify="right" if numeric else "left", overflow="fold")
    shown = 0
    for row in _rows(table):
        if max_rows and shown >= max_rows:
            break
        grid.add_row(*(Text("NULL", style="dim") if v is None else Text(escape(_plain(v))) for v in row))
        shown += 1
    console = _console(out)
    console.print(grid)
    hidden = table.num_rows - shown
    note = f"{table.num_rows} row{'s' if table.num_rows != 1 else ''}"
    if hidden:
        note += f", {hidden} not shown (raise --max-rows or use --format csv/json)"
    console.print(Text(f"({note})", style="dim"))


def write_csv(table: Any, out: TextIO) -> None:
    """CSV with a header row; on a terminal control characters are escaped, piped they are exact."""
    clean = escape if out.isatty() else (lambda s: s)
    writer = csv.writer(out, lineterminator="\n")
    # with "\n" as the line end csv leaves a field holding a bare CR unquoted, and a reader ends
    # the row there: such a row is written with every field quoted
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def put(fields: list[str]) -> None:
        (quoted if any("\r" in f for f in fields) else writer).writerow(fields)

    put([clean(n) for n in table.column_names])
    for row in _rows(table):
        put([clean(_plain(v)) for v in row])


def write_json(table: Any, out: TextIO) -> None:
    """A JSON list of objects, one object per line (control characters \\u-escaped, C1 too)."""
    names = table.column_names
    out.write("[")
    first = True
    for row in _rows(table):
        out.write("\n" if first else ",\n")
        out.write(safe_json.dumps({n: _jsonable(v) for n, v in zip(names, row)}, allow_nan=False))
        first = False
    out.write("\n]\n" if not first else "]\n")


# -- commands -----------------------------------------------------------------------------
def _read_sql(positional: Optional[str], option: Optional[str]) -> str:
    if positional is not None and option is not None:
        raise _fail("give the SQL once: either --sql or as an argument", 2)
    sql = option if option is not None else positional
    if sql is None:
        raise _fail("no SQL given (use --sql \"SELECT …\", an argument, or - to read stdin)", 2)
    if sql == "-":
        sql = sys.stdin.read()
    if not sql.strip():
        raise _fail("empty SQL", 2)
    return sql


def query_command(
    sql_arg: Optional[str] = typer.Argument(None, metavar="[SQL]", help="The SQL statement, or - to read stdin."),
    sql: Optional[str] = typer.Option(None, "--sql", help="The SQL statement (- reads it from stdin)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    max_rows: int = typer.Option(1000, "--max-rows", min=0, help="Rows shown in table format (0: all)."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> int:
    """Read-only SQL on DuckDB; bad or writing SQL is refused with exit 2."""
    _check_format(fmt, _QUERY_FORMATS)
    text = _read_sql(sql_arg, sql)

    def run(store: Store) -> int:
        from renacer_tui.store.query import QueryError

        try:
            table = store.query(text)
        except QueryError as exc:
            raise _fail(one_line(exc), 2)
        if fmt == "csv":
            write_csv(table, sys.stdout)
        elif fmt == "json":
            write_json(table, sys.stdout)
        else:
            write_table(table, sys.stdout, max_rows)
        sys.stdout.flush()
        return 0

    return _with_store(db, run)


def stats_command(
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> int:
    """What the store holds, from the catalog (no segment is read)."""
    _check_format(fmt, _TEXT_FORMATS)

    def run(store: Store) -> int:
        from renacer_tui.store.maintenance import stats

        figures = stats(store)
        if fmt == "json":
            figures = dict(figures, first=_iso(figures["first_ns"]), last=_iso(figures["last_ns"]))
            print(safe_json.dumps(figures, indent=2))
            return 0
        lines = [
            ("path", str(store.root)),
            ("traces", f"{figures['traces']}"),
            ("runs", f"{figures['runs']} ({figures['runs_running']} running)"),
            ("segments", f"{figures['segments']}"),
            ("spans stored", f"{figures['spans_stored']} rows"),
            ("spans represented", f"{figures['spans_represented']} calls"),
            ("error spans", f"{figures['error_spans']}"),
            ("dropped spans", f"{figures['dropped_spans']}"),
            ("bytes", f"{figures['bytes']} ({_bytes(figures['bytes'])})"),
            ("bytes per span", f"{figures['bytes_per_span']:.1f} ({figures['bytes_per_represented_span']:.1f} "
                               "per represented span)"),
            ("time range", f"{_iso(figures['first_ns'])} .. {_iso(figures['last_ns'])}"
             if figures["first_ns"] is not None else "(empty)"),
        ]
        for key, value in lines:
            print(f"{key:<18} {escape(value)}")
        return 0

    return _with_store(db, run)


def path_command(db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP)) -> int:
    """Where the store is (resolved, not created)."""
    try:
        from renacer_tui.store.config import resolve_db_path

        print(escape(str(resolve_db_path(db))))
    except Exception as exc:  # a malformed config file
        raise _fail(one_line(exc), 1)
    return 0


def size_command(
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> int:
    """Bytes on disk by kind."""
    _check_format(fmt, _TEXT_FORMATS)

    def run(store: Store) -> int:
        from renacer_tui.store.maintenance import size

        sizes = size(store)
        if fmt == "json":
            print(json.dumps(sizes, indent=2))
        else:
            for key in ("segments", "catalog", "quarantine", "other", "total"):
                print(f"{key:<11} {sizes[key]:>14} B  {_bytes(sizes[key]):>10}")
        return 0

    return _with_store(db, run)


def traces_command(
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many traces, newest first."),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> int:
    """Recent traces, newest first (from the catalog)."""
    _check_format(fmt, _LIST_FORMATS)

    def run(store: Store) -> int:
        import pyarrow as pa

        listing = store.list_traces(limit)
        if fmt == "json":
            rows = [dict(r, started=_iso(r["started_ns"])) for r in listing.to_pylist()]
            print(safe_json.dumps(_jsonable(rows), indent=2))
            return 0
        shown = pa.table(
            {
                "trace id": listing["trace_id"],
                "command": listing["command"],
                "start (UTC)": pa.array([_iso(v) for v in listing["started_ns"].to_pylist()], pa.string()),
                "duration": pa.array([_duration(v) for v in listing["duration_ns"].to_pylist()], pa.string()),
                "processes": listing["processes"],
                "spans": listing["spans"],
                "errors": listing["errors"],
            }
        )
        write_table(shown, sys.stdout)
        return 0

    return _with_store(db, run)


def vacuum_command(
    older_than: Optional[str] = typer.Option(
        None, "--older-than", help="Age such as 90d, 12h, 2w (default: database.retention_days)."
    ),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> int:
    """Remove data whose spans all ended before now − age."""
    from renacer_tui.store.maintenance import parse_age, vacuum

    try:
        age_s = parse_age(older_than) if older_than is not None else None
    except ValueError as exc:
        raise _fail(one_line(exc), 2)

    def run(store: Store) -> int:
        age = older_than if older_than is not None else f"{store.config.database.retention_days}d"
        done = vacuum(store, age_s)
        print(
            f"removed {done['segments']} segments ({_bytes(done['bytes'])}), {done['runs']} runs and "
            f"{done['traces']} traces older than {escape(age)}"
        )
        return 0

    return _with_store(db, run, writes=True)


def compact_command(db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP)) -> int:
    """Merge small segments; a progress bar on a terminal, quiet otherwise."""

    def run(store: Store) -> int:
        from renacer_tui.store.maintenance import compact

        if sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            with Progress(
                TextColumn("compacting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=_console(sys.stderr), transient=False,
            ) as bar:
                task = bar.add_task("compact", total=None)
                done = compact(store, progress=lambda n, total: bar.update(task, completed=n, total=total or 1))
        else:
            done = compact(store)
        if not done["written"]:
            print("nothing to compact")
        else:
            print(
                f"merged {done['merged']} segments into {done['written']} "
                f"({_bytes(done['bytes_before'])} -> {_bytes(done['bytes_after'])})"
            )
        return 0

    return _with_store(db, run, writes=True)


def doctor_command(
    quarantine: bool = typer.Option(
        False, "--quarantine", help="Move bad segments to quarantine/, drop missing ones, mark dead runs."
    ),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> int:
    """List problems; exit 1 while any remain unfixed."""

    def run(store: Store) -> int:
        from renacer_tui.store.maintenance import doctor

        problems = doctor(store, quarantine=quarantine)
        for p in problems:
            mark = "  [fixed]" if p.fixed else ""
            print(f"{p.kind:<12} {escape(p.path)}: {escape(p.detail)}{mark}")
        left = sum(1 for p in problems if not p.fixed)
        if not problems:
            print(f"no problems found in {escape(str(store.root))}")
        else:
            hint = "; `renacer-tui db doctor --quarantine` fixes them" if left and not quarantine else ""
            print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}, {len(problems) - left} fixed{hint}")
        if left:
            raise typer.Exit(1)
        return 0

    return _with_store(db, run)
