"""`renacer-tui export --trace-id ID --format jsonl|otlp-json|perfetto [-o FILE] [--db PATH]`.

Thin: reads the trace's stored rows through `store.Store`, formats them with
`exporters.trace_files`, writes stdout or FILE.  Problems are one line on stderr (exit 1 for an
unknown trace or an unreadable store, 2 for bad arguments), never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from renacer_tui.cli_common import (
    CliError,
    emit_text,
    normalize_trace_id,
    one_line,
    open_store,
    print_store_warnings,
)


def register(app: typer.Typer) -> None:
    """Add the `export` command."""
    app.command(
        name="export",
        help="Export one stored trace as JSON Lines, OTLP/JSON, or Perfetto (Chrome trace JSON for ui.perfetto.dev).",
        context_settings={"help_option_names": ["-h", "--help"]},
    )(export_command)


def export_command(
    trace_id: str = typer.Option(..., "--trace-id", help="The 32-hex trace id (see `renacer-tui db traces`)."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl, otlp-json or perfetto."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to FILE instead of stdout."),
    db: Optional[Path] = typer.Option(None, "--db", help="Store location (default: RENACER_DB or ~/.renacer/db)."),
    service_name: Optional[str] = typer.Option(None, "--service-name", help="otlp-json resource service.name."),
) -> int:
    """Export a trace; exit 1 when the trace is not in the store."""
    try:
        _export(trace_id, fmt, output, db, service_name)
    except CliError as exc:
        print(f"renacer-tui export: {exc}", file=sys.stderr)
        raise typer.Exit(exc.code)
    return 0


def _export(trace_id: str, fmt: str, output: Optional[Path], db: Optional[Path], service_name: Optional[str]) -> None:
    from renacer_tui.exporters.trace_files import FORMATS, export_trace

    if fmt not in FORMATS:
        raise CliError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})", 2)
    wanted = normalize_trace_id(trace_id)
    store = open_store(db)
    try:
        table = store.trace_spans(wanted)
        catalogued = bool(store.catalog.segment_paths_for([wanted])) if table.num_rows == 0 else True
        print_store_warnings(store)
    except Exception as exc:
        raise CliError(f"cannot read trace {wanted}: {one_line(exc)}", 1) from None
    finally:
        store.close()
    if table.num_rows == 0 and catalogued:
        raise CliError(f"trace {wanted} has no readable rows: every segment holding it was skipped (see the warning)", 1)
    if table.num_rows == 0:
        raise CliError(f"no trace {wanted} in {store.root}", 1)
    emit_text(export_trace(table, fmt, service_name=service_name), output, f"{table.num_rows} spans of trace {wanted} ({fmt})")
