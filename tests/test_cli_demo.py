"""`renacer-tui demo gpu`: the WGSL matmul traced for real (software adapter), as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gpu_helpers import require_adapter
from test_cli_run import assert_no_traceback, renacer, trace_id_of
from test_cli_run import query_json as query

pytestmark = pytest.mark.timeout(300)


def test_demo_gpu_runs_the_matmul_under_the_tracer(db_path: Path) -> None:
    require_adapter()
    result = renacer("demo", "gpu", "--no-tui", "--size", "48")
    assert result.returncode == 0, result.stderr[-2000:]
    assert_no_traceback(result)
    assert "matmul 48x48 (compute-heavy" in result.stdout and ": correct" in result.stdout
    trace_id = trace_id_of(result)
    rows = query(
        "SELECT span_name, attributes FROM spans WHERE trace_id = '" + trace_id + "' AND span_name IN "
        "('syscall:openat', 'syscall:read', 'syscall:ioctl', 'syscall:execve')"
    )
    names = {row["span_name"] for row in rows}
    assert {"syscall:openat", "syscall:read", "syscall:execve"} <= names
    opened = [json.loads(row["attributes"]).get("syscall.pathname") for row in rows if row["span_name"] == "syscall:openat"]
    assert any(isinstance(p, str) and p.endswith("inputs.npz") for p in opened), "the inputs go through a file"
    # The profiler's spans reached the run's OTLP receiver and sit in the same trace, under the
    # process that ran the kernels.
    gpu = query(
        "SELECT g.span_name, g.attributes, g.process_pid, p.span_name AS under FROM spans g "
        "LEFT JOIN spans p ON p.span_id = g.parent_span_id AND p.trace_id = g.trace_id "
        "WHERE g.trace_id = '" + trace_id + "' AND g.span_name LIKE 'gpu:%'"
    )
    assert {row["span_name"] for row in gpu} >= {"gpu:matmul"}
    kernel = next(row for row in gpu if row["span_name"] == "gpu:matmul")
    assert json.loads(kernel["attributes"]).get("gpu.kind") == "compute"
    assert kernel["under"] is not None and kernel["process_pid"] > 0


def test_demo_gpu_usage_mistakes_are_one_line(db_path: Path) -> None:
    for args, needle in (
        (["--size", "0"], "--size must be between 1 and 4096"),
        (["--batch-mib", "8"], "--batch-mib needs --transfer-heavy"),
    ):
        result = renacer("demo", "gpu", "--no-tui", *args)
        assert result.returncode == 2 and needle in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
