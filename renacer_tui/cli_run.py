"""`renacer-tui [OPTIONS] -- CMD [ARGS…]`: trace a program (headless or in the TUI).

This module only parses; `run_pipeline.run_traced` does the work, and the TUI path hands the same
options to a capture child process (`live.run_live_tui`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from renacer_tui.run_options import RunOptions


def register(app: typer.Typer) -> None:
    """Add the `run` command (the default when no sub-command is named)."""
    app.command(
        name="run",
        help="Trace CMD under ptrace: every syscall of every process and thread as one OpenTelemetry trace.",
        context_settings={"allow_interspersed_args": False, "help_option_names": ["-h", "--help"]},
        no_args_is_help=True,
    )(run_command)


def run_command(
    command: Optional[List[str]] = typer.Argument(None, help="The program and its arguments (after --)."),
    follow: bool = typer.Option(True, "--follow/--no-follow", "-f", help="Follow forks, clones and execs."),
    attach: Optional[int] = typer.Option(None, "-p", "--attach", help="Attach to a running PID and its threads."),
    expr: List[str] = typer.Option([], "-e", "--expr", help="strace-style filter: trace=SPEC or status=LIST."),
    trace_path: List[str] = typer.Option([], "-P", "--trace-path", help="Only syscalls touching PATH."),
    string_limit: int = typer.Option(64, "-s", "--string-limit", min=0, help="Max bytes of strings to capture."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the headless trace to FILE."),
    output_format: str = typer.Option("text", "--format", help="Headless output format: text or jsonl."),
    summary: bool = typer.Option(False, "-c", "--summary", help="Print a per-syscall summary table (like strace -c)."),
    trace_id: Optional[str] = typer.Option(None, "--trace-id", help="Use this 32-hex trace id."),
    trace_parent: Optional[str] = typer.Option(None, "--trace-parent", help="Join this W3C traceparent."),
    no_tui: bool = typer.Option(False, "--no-tui", help="Run headless even on a terminal."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not write spans to the store."),
    db: Optional[Path] = typer.Option(None, "--db", help="Store location (default: RENACER_DB or ~/.renacer/db)."),
    no_rle: bool = typer.Option(False, "--no-rle", help="Keep every span (no run-length encoding)."),
    otlp_endpoint: Optional[str] = typer.Option(None, "--otlp-endpoint", help="Export spans over OTLP to URL."),
    otlp_protocol: str = typer.Option("grpc", "--otlp-protocol", help="grpc or http/protobuf."),
    otlp_header: List[str] = typer.Option([], "--otlp-header", help="OTLP header K=V (repeatable)."),
    service_name: str = typer.Option("renacer", "--service-name", help="OTLP resource service.name."),
    spin_us: int = typer.Option(0, "--spin-us", min=0, help="Spin this long on waitpid before blocking."),
    pin_cpu: Optional[int] = typer.Option(None, "--pin-cpu", min=0, help="Pin tracer and program to one CPU."),
    queue_capacity: int = typer.Option(256, "--queue-capacity", min=1, help="Batches buffered per sink."),
    feed_fd: Optional[int] = typer.Option(None, "--feed-fd", hidden=True, help="Live feed fd (used by the TUI)."),
) -> int:
    """Trace a program; exit with its exit code (128+N when it died of signal N)."""
    options = RunOptions(
        command=list(command or []),
        follow=follow,
        attach_pid=attach,
        expressions=list(expr),
        trace_paths=list(trace_path),
        string_limit=string_limit,
        output=output,
        output_format=output_format,
        summary=summary,
        trace_id=trace_id,
        trace_parent=trace_parent,
        store=not no_store,
        db=db,
        rle=not no_rle,
        otlp_endpoint=otlp_endpoint,
        otlp_protocol=otlp_protocol,
        otlp_headers=list(otlp_header),
        service_name=service_name,
        spin_us=spin_us,
        pin_cpu=pin_cpu,
        queue_capacity=queue_capacity,
        feed_fd=feed_fd,
    )
    use_tui = not no_tui and feed_fd is None and sys.stdout.isatty() and sys.stdin.isatty()
    if use_tui:
        from renacer_tui.live import run_live_tui

        code = run_live_tui(options.capture_args(), options.command)
    else:
        from renacer_tui.run_pipeline import run_traced

        code = run_traced(options)
    raise typer.Exit(code)
