"""`renacer-tui view [--trace-id ID] [--db PATH]`: browse stored traces in the TUI."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Optional

import typer

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def register(app: typer.Typer) -> None:
    """Add the `view` command to the CLI."""
    app.command("view", help="Browse stored traces (span tree, SQL console, analysis).")(view_command)


def view_command(
    trace_id: Optional[str] = typer.Option(None, "--trace-id", help="Open this trace's span tree directly."),
    db: Optional[Path] = typer.Option(None, "--db", help="Store location (default: RENACER_DB or ~/.renacer/db)."),
) -> int:
    """Open the traces browser, or one trace when --trace-id is given."""
    if trace_id is not None:
        trace_id = trace_id.strip().lower()
        if not _TRACE_ID.match(trace_id):
            print(f"renacer-tui: --trace-id must be 32 hex digits, got {trace_id!r}", file=sys.stderr)
            return 2
    try:
        from store import Store

        store = Store.open(db)
    except Exception as exc:  # unusable store location: one line, no traceback
        print(f"renacer-tui: cannot open the store: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    try:
        if trace_id is not None and not store.trace_spans(trace_id).num_rows:
            print(f"renacer-tui: no spans stored for trace {trace_id}", file=sys.stderr)
            return 1
        from renacer_tui.app import RenacerApp

        app = RenacerApp(store=store)
        if trace_id is not None:
            app.start_trace(trace_id)
        else:
            app.start_traces()
        app.run()
    finally:
        store.close()
    return 0
