"""Every bench runs at `--quick` size and writes a well-formed result, so the benches don't rot.

These are not timed tests: they check the benches still drive the real tracer, store, analysis
and TUI, and that the answers they check along the way (span counts equal to strace's, COUNT(*)
equal to what was written, a critical path within wall time) hold.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_bench(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    """Run `bench.NAME.main(["--quick", …])` in-process; return its parsed results JSON."""
    import importlib

    module = importlib.import_module(f"bench.{name}")
    out = tmp_path / f"{name}.json"
    assert module.main(["--quick", "--out", str(out), *extra]) == 0
    printed = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["bench"] == name
    assert data["machine"]["nproc"] >= 1 and len(data["machine"]["load"]) == 3
    assert data["markdown"] in printed and "| figure | measured | target | verdict |" in printed
    assert data["targets"], "every bench states its targets"
    for row in data["targets"]:
        assert isinstance(row["met"], bool)
        if row["what"].startswith("frame interval") and data["absorb"]["frames"] < 2:
            continue  # a --quick feed may be absorbed within a single frame: no interval to measure
        assert math.isfinite(row["measured"]) and row["measured"] > 0, row
    return data


@pytest.mark.skipif(shutil.which("strace") is None or shutil.which("taskset") is None, reason="needs strace and taskset")
def test_tracer_bench_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_bench("tracer", tmp_path, capsys, "--spin-us", "0")
    cases = {(r["sched"], r["case"]) for r in data["rows"]}
    assert ("default", "renacer full") in cases and ("pinned", "strace") in cases
    assert not data["failures"]
    dd = next(c for c in data["counts"] if c["workload"] == "dd")
    assert dd["strace"] == dd["renacer"] and dd["equal"] == "yes", dd
    assert dd["strace %file"] == dd["renacer %file"], dd
    assert data["startup_s"]["renacer true"] > data["startup_s"]["true untraced"]


def test_store_bench_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str], db_path: Path) -> None:
    data = run_bench("store", tmp_path, capsys)
    (real,) = data["bytes"]
    assert real["exit"] == 0 and real["rows"] > 100 and real["spans"] >= real["rows"]
    assert 0 < real["bytes_per_row"] < 10_000
    (synthetic,) = data["synthetic"]
    assert synthetic["queries"]["count_ok"] and synthetic["queries"]["lookup_rows_ok"]
    assert synthetic["queries"]["day_agg_spans"] > 0
    assert data["ingest"]["stored_ok"]
    assert data["observer"]["otlp_spans_received"] > 0


def test_analysis_bench_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str], db_path: Path) -> None:
    data = run_bench("analysis", tmp_path, capsys)
    s = data["synthetic"]
    assert s["nodes"] > 4000 and s["edges"] > s["nodes"]  # tree + program order at least
    assert s["path_within_wall"] and s["defects"] == 0
    assert set(s["median_s"]) >= {"build_graph", "rustworkx pagerank_20", "critical_path"}
    assert data["real"]["rows"] > 100


def test_tui_bench_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_bench("tui", tmp_path, capsys)
    a = data["absorb"]
    assert a["spans"] == a["expected"] == 20_000
    assert a["lines_held"] == 20_000 and a["frames"] >= 1
    assert data["slowdown"]["exit_codes"] == [0, 0]
    assert data["slowdown"]["calls_seen_by_ui"][0] > 100


def test_diff_bench_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_bench("diff", tmp_path, capsys)
    assert data["rows_a"] > 20_000 and data["steps"] > 0
    assert data["payloads"]["median_ratio"] > 0 and len(data["payloads"]["seconds"]["on"]) == 1


def test_symbols_bench_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_bench("symbols", tmp_path, capsys)
    assert data["rows"] == 20_000 and 0 < data["filled"] < data["rows"]  # one row in eight has no stack


def test_dispatcher_lists_the_benches() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    for name in ("analysis", "diff", "store", "tracer", "tui"):
        assert name in proc.stderr
    machine = subprocess.run([sys.executable, "-m", "bench", "common"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert machine.returncode == 0 and machine.stdout.startswith("nproc=")
