"""A headless run imports only what a run uses: its start-up is part of the traced program's time."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import os, sys
from pathlib import Path
from renacer_tui.run_options import RunOptions
from renacer_tui.run_pipeline import run_traced
code = run_traced(RunOptions(command=["/bin/true"], store=False, output=Path(os.devnull)))
print(code, " ".join(sorted(name for name in ("duckdb", "typer", "pyarrow.parquet", "opentelemetry.sdk", "grpc") if name in sys.modules)))
"""


def test_a_headless_run_does_not_import_query_or_export_libraries() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    code, _, loaded = result.stdout.strip().partition(" ")
    assert code == "0" and loaded == "", result.stdout
