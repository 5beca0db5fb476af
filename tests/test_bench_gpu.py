"""`python -m bench gpu --quick` runs on the software adapter and writes a well-formed result."""

from __future__ import annotations

from pathlib import Path

import pytest
from gpu_helpers import require_adapter
from test_bench_smoke import run_bench


@pytest.mark.timeout(300)
def test_gpu_bench_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_adapter()
    data = run_bench("gpu", tmp_path, capsys)
    assert data["adapters"], "at least the adapter the tests run on"
    for adapter in data["adapters"]:
        overhead = adapter["overhead"]
        assert len(overhead["on_ms"]) == len(overhead["off_ms"]) == 4
        assert overhead["spans"] == 4 + 3  # one span per profiled kernel, the three warm-ups included
        assert all(figures["correct"] and figures["spans"] == 4 for figures in adapter["demo"].values())
