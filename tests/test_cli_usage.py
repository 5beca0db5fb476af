"""Usage mistakes anywhere in the command tree: exit 2 and exactly one line on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--bogus", "--", "true"], "--bogus"),
        (["run", "-s", "many", "--", "true"], "--string-limit"),
        (["--format", "xml", "--", "true"], "xml"),
        (["--otlp-protocol", "\x1b[31mquic", "--", "true"], "--otlp-protocol"),
        (["db", "nosuch"], "nosuch"),
        (["db", "query", "--format", "xml", "SELECT 1"], "xml"),
        (["graph", "critical-path", "--limit", "x"], "--limit"),
        (["export", "--format", "jsonl"], "--trace-id"),
        (["view", "--trace-id", "\x1b[31m[bold]zz"], "bad trace id"),
    ],
)
def test_usage_error_is_one_line_exit_2(db_path: Path, args: list[str], named: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "renacer_tui", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert named in lines[0] and "Traceback" not in result.stderr
    assert "\x1b" not in result.stderr  # a hostile argument is echoed escaped


def test_every_first_word_names_the_command_its_module_registers() -> None:
    """`cli.main` routes by first word without typer; the typer app must agree with that table."""
    from renacer_tui.cli import SUBCOMMANDS, build_app

    app = build_app()
    registered = {info.name for info in app.registered_commands} | {info.name for info in app.registered_groups}
    assert registered == set(SUBCOMMANDS)
