"""`renacer-tui demo gpu [--size N] [--transfer-heavy]`: syscalls and GPU kernels in one trace.

The demo is a real traced run: the WGSL matmul program (`renacer_tui.gpu.matmul`, this
interpreter) goes through the same run path as `renacer-tui -- CMD` (`cli_run.run_main`), so its
syscalls come from ptrace and its `gpu:` spans from the profiler inside it, over the run's OTLP
receiver, into one trace.  On a terminal the live TUI opens; `--no-tui` prints the summary.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from renacer_tui.text import escape


def register(app: typer.Typer) -> None:
    """Add the `demo` group (`demo gpu`) to the CLI."""
    demo = typer.Typer(help="Traced demonstrations.", no_args_is_help=True)
    demo.command("gpu", help="Trace a WGSL matmul (checked against numpy): syscalls and gpu: spans in one trace.")(
        gpu_command
    )
    app.add_typer(demo, name="demo")


def matmul_command(size: int | None, transfer_heavy: bool, batch_mib: int | None = None, timestamps: bool = True) -> list[str]:
    """The traced program's argv."""
    command = [sys.executable, "-m", "renacer_tui.gpu.matmul"]
    if size is not None:
        command.append(f"--size={size}")
    if transfer_heavy:
        command.append("--transfer-heavy")
    if batch_mib is not None:
        command.append(f"--batch-mib={batch_mib}")
    if not timestamps:
        command.append("--no-timestamps")
    return command


def gpu_command(
    size: Optional[int] = typer.Option(None, "--size", help="Matrix size N (256; 16 with --transfer-heavy)."),
    transfer_heavy: bool = typer.Option(False, "--transfer-heavy", help="Large uploads and read-backs, small compute."),
    batch_mib: Optional[int] = typer.Option(None, "--batch-mib", help="With --transfer-heavy: MiB uploaded per input (128)."),
    timestamps: bool = typer.Option(True, "--timestamps/--no-timestamps", help="GPU timestamp queries (else host timing)."),
    no_tui: bool = typer.Option(False, "--no-tui", help="Run headless even on a terminal."),
    db: Optional[Path] = typer.Option(None, "--db", help="Store location (default: RENACER_DB or ~/.renacer/db)."),
) -> int:
    """Trace the matmul demo; the exit code is the demo's (1: wrong result, 3: no GPU adapter)."""
    if size is not None and not 1 <= size <= 4096:
        print(f"renacer-tui demo gpu: --size must be between 1 and 4096, not {size}", file=sys.stderr)
        return 2
    if batch_mib is not None and (batch_mib < 1 or not transfer_heavy):
        print("renacer-tui demo gpu: --batch-mib needs --transfer-heavy and at least 1", file=sys.stderr)
        return 2
    args = ["--no-tui"] if no_tui else []
    if db is not None:
        args.append(f"--db={db}")
    from renacer_tui.cli_run import run_main

    code = run_main([*args, "--", *matmul_command(size, transfer_heavy, batch_mib, timestamps)])
    if code == 0 and no_tui:
        print(escape("renacer-tui demo gpu: browse it with `renacer-tui view`, "
                     "or `renacer-tui graph critical-path` / `graph antipatterns` on the trace id above"), file=sys.stderr)
    return code
