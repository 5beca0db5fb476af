"""The receiver bench runs at `--quick` size and writes a well-formed result (it must not rot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_bench_smoke import run_bench


def test_receiver_bench_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str], db_path: Path) -> None:
    data = run_bench("receiver", tmp_path, capsys)
    ingest = data["ingest"]
    assert ingest["sent"] > 0 and ingest["stored"] == ingest["sent"]  # nothing lost on the way in
    assert ingest["latency_p95_ms"] >= ingest["latency_p50_ms"] > 0
    assert data["overhead"]["receiver_s"] > 0 and data["overhead"]["no_receiver_s"] > 0
