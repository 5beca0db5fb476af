"""`renacer-tui diff --trace-a A --trace-b B`: did two runs do the same thing, and how efficiently?

The spec's §6.3 comparison: state-based (the bytes each trace read and wrote, by stream hash;
needs traces recorded with `--capture-payloads`), operation-based (the normalised syscall
sequences aligned), or both.  Exit 0 when the traces are equivalent, 1 when not, 2 for usage
errors: a malformed or unknown trace id, a bad option value, or a state diff of a trace without
payload hashes (the message says how to record one).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from renacer_tui.cli_common import CliError, check_format, normalize_trace_id, one_line, open_store, print_store_warnings
from renacer_tui.model import safe_json
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
        sys.stdout.write(safe_json.dumps(report_json(report), indent=2) + "\n")
    else:
        sys.stdout.write(escape_report(report_text(report)))
    sys.stdout.flush()
    return 0 if report.equivalent else 1


def escape_report(text: str) -> str:
    """The report with traced text made harmless for a terminal (control characters shown)."""
    return "\n".join(escape(line) for line in text.split("\n"))


def load_pair(ids: tuple[str, str], db: Optional[Path]) -> tuple[Any, Any]:
    """Both traces from the store; an unknown id is a usage error (exit 2)."""
    from renacer_tui.diff_data import TraceMissing, distinct_labels, load_for_diff

    store = open_store(db)
    try:
        out = []
        for which, trace_id in zip("AB", ids):
            try:
                out.append(load_for_diff(store, trace_id))
            except TraceMissing:
                raise CliError(f"no trace {trace_id} (trace {which}) in {escape(store.root)}; see `renacer-tui db traces`", 2) from None
            except Exception as exc:
                raise CliError(f"cannot read trace {trace_id}: {one_line(exc)}", 1) from None
        print_store_warnings(store)
    finally:
        store.close()
    a, b = out
    distinct_labels(a, b)
    return a, b


def compare_loaded(loaded: tuple[Any, Any], method: str, tolerance: float, maps: list[tuple[str, str]]) -> Any:
    """The diff report (CliError exit 2 when a state diff lacks payload hashes)."""
    from renacer_tui.diff_data import NoPayloads, compare

    try:
        return compare(*loaded, method, tolerance, maps)
    except NoPayloads as exc:
        raise CliError(f"{exc}, or compare with --method operation", 2) from None
