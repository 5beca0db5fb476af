"""`renacer-tui export --trace-id ID --format jsonl|otlp-json|perfetto [-o FILE] [--db PATH]`.

Thin: reads the trace's stored rows through `store.Store`, formats them with
`analysis.trace_export`, writes stdout or FILE.  Problems are one line on stderr (exit 1 for an
unknown trace or an unreadable store, 2 for bad arguments), never a traceback.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Optional

import typer

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def register(app: typer.Typer) -> None:
    """Add the `export` command."""
    app.command(
        name="export",
        help="Export one stored trace as JSON Lines, OTLP/JSON, or Perfetto (Chrome trace JSON for ui.perfetto.dev).",
        context_settings={"help_option_names": ["-h", "--help"]},
    )(export_command)


def _fail(message: str, code: int) -> typer.Exit:
    print(f"renacer-tui export: {message}", file=sys.stderr)
    return typer.Exit(code)


def export_command(
    trace_id: str = typer.Option(..., "--trace-id", help="The 32-hex trace id (see `renacer-tui db traces`)."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl, otlp-json or perfetto."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to FILE instead of stdout."),
    db: Optional[Path] = typer.Option(None, "--db", help="Store location (default: RENACER_DB or ~/.renacer/db)."),
    service_name: Optional[str] = typer.Option(None, "--service-name", help="otlp-json resource service.name."),
) -> int:
    """Export a trace; exit 1 when the trace is not in the store."""
    from analysis.trace_export import FORMATS, export_trace

    wanted = trace_id.strip().lower()
    if fmt not in FORMATS:
        raise _fail(f"unknown format {fmt!r} (use {', '.join(FORMATS)})", 2)
    if not _TRACE_ID.match(wanted):
        raise _fail(f"bad trace id {trace_id!r}: expected 32 hex digits", 2)
    try:
        from store.store import Store

        store = Store.open(db)
    except Exception as exc:  # unreadable location, permissions, corrupt catalog
        raise _fail(f"cannot open the store: {_one_line(exc)}", 1)
    try:
        table = store.trace_spans(wanted)
        for warning in store.warnings:
            print(f"renacer-tui: warning: {warning}", file=sys.stderr)
    except Exception as exc:
        raise _fail(f"cannot read trace {wanted}: {_one_line(exc)}", 1)
    finally:
        store.close()
    if table.num_rows == 0:
        raise _fail(f"no trace {wanted} in {store.root}", 1)
    text = export_trace(table, fmt, service_name=service_name)
    if output is None or str(output) == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    else:
        try:
            output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot write {output}: {exc.strerror or exc}", 1)
        print(f"renacer-tui: wrote {table.num_rows} spans of trace {wanted} to {output} ({fmt})", file=sys.stderr)
    return 0


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
