"""`renacer-tui view [--trace-id ID] [--db PATH]`: browse stored traces in the TUI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from renacer_tui.cli_common import CliError, normalize_trace_id, open_store


def register(app: typer.Typer) -> None:
    """Add the `view` command to the CLI."""
    app.command("view", help="Browse stored traces (span tree, SQL console, analysis).")(view_command)


def view_command(
    trace_id: Optional[str] = typer.Option(None, "--trace-id", help="Open this trace's span tree directly."),
    db: Optional[Path] = typer.Option(None, "--db", help="Store location (default: RENACER_DB or ~/.renacer/db)."),
) -> int:
    """Open the traces browser, or one trace when --trace-id is given."""
    try:
        wanted = normalize_trace_id(trace_id) if trace_id is not None else None
        store = open_store(db)
    except CliError as exc:
        print(f"renacer-tui: {exc}", file=sys.stderr)
        return exc.code
    try:
        if wanted is not None and not store.trace_spans(wanted).num_rows:
            print(f"renacer-tui: no spans stored for trace {wanted}", file=sys.stderr)
            return 1
        from renacer_tui.app import RenacerApp

        app = RenacerApp(store=store)
        if wanted is not None:
            app.start_trace(wanted)
        else:
            app.start_traces()
        app.run()
    finally:
        store.close()
    return 0
