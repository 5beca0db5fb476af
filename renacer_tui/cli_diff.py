"""`renacer-tui diff --trace-a A --trace-b B`: did two runs do the same thing, and how efficiently?

The spec's §6.3 comparison: state-based (the bytes each trace read and wrote, by stream hash;
needs traces recorded with `--capture-payloads`), operation-based (the normalised syscall
sequences aligned), or both.  Exit 0 when the traces are equivalent, 1 when not, 2 for usage
errors: a malformed or unknown trace id, a bad option value, or a state diff of a trace without
payload hashes (the message says how to record one).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from renacer_tui.cli_common import CliError, check_format, normalize_trace_id, one_line, open_store, print_store_warnings
from renacer_tui.text import escape

_METHODS = {"state": "state", "state-based": "state", "operation": "operation", "operation-based": "operation",
            "both": "both"}


def register(app: typer.Typer) -> None:
    """Add the `diff` command."""
    app.command(
        "diff",
        help="Compare two stored traces: same observable state (payload hashes)? same operations? more efficient?",
    )(diff_command)


def diff_command(
    trace_a: str = typer.Option(..., "--trace-a", help="The first (original) trace id."),
    trace_b: str = typer.Option(..., "--trace-b", help="The second (rewritten) trace id."),
    method: str = typer.Option("both", "--method", help="state, operation or both."),
    tolerance: float = typer.Option(0.05, "--tolerance", help="Relative difference in counts and times taken as equal."),
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
    map_path: Optional[list[str]] = typer.Option(None, "--map-path", help="OLD=NEW: read paths under OLD as under NEW (repeatable)."),
    db: Optional[Path] = typer.Option(None, "--db", help="Store location (default: RENACER_DB or ~/.renacer/db)."),
) -> int:
    """Compare two traces; exit 0 when equivalent, 1 when not."""
    try:
        return _diff(trace_a, trace_b, method, tolerance, fmt, map_path or [], db)
    except CliError as exc:
        print(f"renacer-tui diff: {exc}", file=sys.stderr)
        return exc.code


def _diff(trace_a: str, trace_b: str, method: str, tolerance: float, fmt: str, maps: list[str], db: Optional[Path]) -> int:
    from renacer_tui.analysis.diff_report import report_json, report_text
    from renacer_tui.analysis.diff_state import PathMapError, parse_path_maps

    chosen = _METHODS.get(method.strip().lower())
    if chosen is None:
        raise CliError(f"unknown --method {escape(method)!r} (use state, operation or both)", 2)
    if not 0 <= tolerance < 1:
        raise CliError(f"--tolerance {tolerance} is out of range (use a fraction from 0 to below 1, e.g. 0.05)", 2)
    kind = check_format(fmt, ("text", "json"))
    try:
        path_maps = parse_path_maps(maps)
    except PathMapError as exc:
        raise CliError(escape(str(exc)), 2) from None
    ids = normalize_trace_id(trace_a), normalize_trace_id(trace_b)
    loaded = load_pair(ids, db)
    report = compare_loaded(loaded, chosen, tolerance, path_maps)
    if kind == "json":
        sys.stdout.write(json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(escape_report(report_text(report)))
    sys.stdout.flush()
    return 0 if report.equivalent else 1


def escape_report(text: str) -> str:
    """The report with traced text made harmless for a terminal (control characters shown)."""
    return "\n".join(escape(line) for line in text.split("\n"))


class LoadedTrace:
    """A stored trace's spans, its run's working directory and a short label."""

    def __init__(self, trace_id: str, table: Any, cwd: str | None) -> None:
        self.trace_id = trace_id
        self.table = table
        self.cwd = cwd
        self.label = root_process_name(table) or trace_id[:8]


def root_process_name(table: Any) -> str | None:
    """The comm of the trace's first process (the program that was run, after its exec)."""
    import pyarrow.compute as pc

    from renacer_tui.model.kinds import PROCESS_PREFIX

    procs = table.filter(pc.starts_with(table.column("span_name"), PROCESS_PREFIX))
    if procs.num_rows == 0:
        return None
    first = pc.index(procs.column("logical_clock"), pc.min(procs.column("logical_clock"))).as_py()
    return str(procs.column("span_name")[first].as_py())[len(PROCESS_PREFIX):]


def load_pair(ids: tuple[str, str], db: Optional[Path]) -> tuple[LoadedTrace, LoadedTrace]:
    """Both traces from the store; an unknown id is a usage error (exit 2)."""
    store = open_store(db)
    try:
        out = []
        for which, trace_id in zip("AB", ids):
            try:
                table = store.trace_spans(trace_id)
            except Exception as exc:
                raise CliError(f"cannot read trace {trace_id}: {one_line(exc)}", 1) from None
            if table.num_rows == 0:
                raise CliError(f"no trace {trace_id} (trace {which}) in {escape(store.root)}; see `renacer-tui db traces`", 2)
            rows = store.catalog.rows("SELECT cwd FROM runs WHERE trace_id = ? ORDER BY started_ns LIMIT 1", [trace_id])
            out.append(LoadedTrace(trace_id, table, rows[0]["cwd"] if rows else None))
        print_store_warnings(store)
    finally:
        store.close()
    a, b = out
    if a.label == b.label:
        a.label, b.label = f"{a.label} ({a.trace_id[:8]})", f"{b.label} ({b.trace_id[:8]})"
    return a, b


def compare_loaded(loaded: tuple[LoadedTrace, LoadedTrace], method: str, tolerance: float, maps: list[tuple[str, str]]) -> Any:
    """The diff report of two loaded traces (CliError exit 2 when a state diff lacks payload hashes)."""
    from renacer_tui.analysis.diff_ops import diff_ops
    from renacer_tui.analysis.diff_report import build_report
    from renacer_tui.analysis.diff_state import diff_state, has_payloads

    a, b = loaded
    state = None
    if method in ("state", "both"):
        missing = [f"{which} ({t.trace_id})" for which, t in (("A", a), ("B", b)) if not has_payloads(t.table)]
        if missing:
            raise CliError(
                f"trace {' and '.join(missing)} has no payload hashes: record it with"
                " `renacer-tui --capture-payloads -- CMD`, or compare with --method operation",
                2,
            )
        state = diff_state(a.table, b.table, a.cwd, b.cwd, maps)
    ops = diff_ops(a.table, b.table, tolerance)
    return build_report(a.label, b.label, method, state, ops)
