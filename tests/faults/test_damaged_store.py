"""Damaged stores (issue 17): real runs write the store, then a segment or the catalog is damaged
for real, and every command must say what it skipped in one line, never a traceback, agree with
every other query on which rows are gone, and lose nothing intact.

Segments: truncated to 0 bytes, to half, to just before the Parquet footer, with the footer's
magic cut, and deleted while catalogued.  Catalog: truncated to 0 bytes, to half, mid-page, not
SQLite at all, deleted while the segments remain, a stale `-wal` and garbage `-wal`/`-journal`
beside it.  A damaged catalog is read around (a catalog rebuilt in memory from the segments' own
metadata, with one warning naming the damage and the repair); `db doctor` names it and
`--quarantine` rebuilds it; a run into it says `store unavailable (...)` and keeps the program's
exit code.  Hypothesis cuts a segment and the catalog at any byte, in process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renacer_tui.store import Store

PROGRAM = ["sh", "-c", "ls / >/dev/null"]
RUNS = 3


@dataclass(frozen=True)
class Pristine:
    root: Path
    home: Path
    segments: list[Path]  # sorted; one per run
    traces: list[str]  # the trace id of each segment, same order
    rows: dict[str, int]  # trace id → COUNT(*) FROM spans
    raw: dict[str, int]  # trace id → stored rows (export writes these)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RENACER_DB", "TRACEPARENT")}
    env["HOME"] = str(home)
    return env


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "renacer_tui", *args], capture_output=True, text=True,
                          env=_env(home), timeout=120)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    base = tmp_path_factory.mktemp("pristine")
    root, home = base / "db", base / "home"
    home.mkdir()
    for _ in range(RUNS):
        done = _cli(home, "run", "--no-tui", "--db", str(root), "-o", "/dev/null", "--", *PROGRAM)
        assert done.returncode == 0, done.stderr
    segments = sorted((root / "spans").rglob("*.parquet"))
    assert len(segments) == RUNS
    traces = [str(pq.read_table(s, columns=["trace_id"])["trace_id"][0]) for s in segments]
    with Store.open(root) as store:
        rows = {r["trace_id"]: r["n"] for r in store.query("SELECT trace_id, COUNT(*) AS n FROM spans GROUP BY 1").to_pylist()}
        raw = {t: store.trace_spans(t).num_rows for t in traces}
    assert sorted(rows) == sorted(traces) and all(rows.values())
    return Pristine(root, home, segments, traces, rows, raw)


def _copy(p: Pristine, where: Path) -> Path:
    root = where / "db"
    shutil.copytree(p.root, root, copy_function=shutil.copy2)
    return root


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning:" in line]


def _no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    for line in done.stderr.splitlines():
        assert line.startswith(("renacer-tui", "trace_id=")), f"stray stderr line: {line!r}"


# -- damage, applied for real ------------------------------------------------------------------
def _footer_len(path: Path) -> int:
    data = path.read_bytes()
    assert data[-4:] == b"PAR1"
    return int.from_bytes(data[-8:-4], "little")


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


SEGMENT_DAMAGE: dict[str, Callable[[Path], None]] = {
    "to-0-bytes": lambda seg: _truncate(seg, 0),
    "to-half": lambda seg: _truncate(seg, seg.stat().st_size // 2),
    "before-footer": lambda seg: _truncate(seg, seg.stat().st_size - 8 - _footer_len(seg)),
    "footer-magic-cut": lambda seg: _truncate(seg, seg.stat().st_size - 2),
    "deleted": lambda seg: seg.unlink(),
}


@pytest.mark.parametrize("damage", sorted(SEGMENT_DAMAGE))
def test_a_damaged_segment_is_skipped_alike_by_every_command(pristine: Pristine, tmp_path: Path, damage: str) -> None:
    root = _copy(pristine, tmp_path)
    bad = root / pristine.segments[1].relative_to(pristine.root)
    lost, kept = pristine.traces[1], [pristine.traces[0], pristine.traces[2]]
    intact = {t: _digest(root / s.relative_to(pristine.root)) for t, s in zip(pristine.traces, pristine.segments) if t != lost}
    SEGMENT_DAMAGE[damage](bad)
    home, db = pristine.home, ["--db", str(root)]

    def says_skipped(done: subprocess.CompletedProcess[str]) -> None:
        lines = _warnings(done.stderr)
        assert len(lines) == 1 and str(bad) in lines[0] and "skipping" in lines[0], done.stderr

    count = _cli(home, "db", "query", *db, "-f", "json", "SELECT COUNT(*) AS n FROM spans")
    _no_traceback(count)
    assert count.returncode == 0 and json.loads(count.stdout) == [{"n": sum(pristine.rows[t] for t in kept)}]
    says_skipped(count)
    data = _cli(home, "db", "query", *db, "-f", "json",
                "SELECT trace_id, COUNT(*) AS n, SUM(length(attributes)) > 0 AS a FROM spans GROUP BY 1 ORDER BY 1")
    _no_traceback(data)
    assert data.returncode == 0
    assert {r["trace_id"]: r["n"] for r in json.loads(data.stdout)} == {t: pristine.rows[t] for t in kept}
    says_skipped(data)
    traces = _cli(home, "db", "traces", *db, "-f", "json")
    _no_traceback(traces)
    listed = {r["trace_id"]: r for r in json.loads(traces.stdout)}
    assert traces.returncode == 0 and set(listed) == set(pristine.traces)
    assert listed[lost]["rows"] == 0 and all(listed[t]["rows"] == pristine.raw[t] for t in kept)
    says_skipped(traces)
    doctor = _cli(home, "db", "doctor", *db)
    _no_traceback(doctor)
    assert doctor.returncode == 1
    kind = "missing" if damage == "deleted" else "corrupt"
    assert [line for line in doctor.stdout.splitlines() if line.startswith(kind) and bad.name in line]
    assert "db doctor --quarantine" in doctor.stdout
    for tid in kept:
        out = tmp_path / f"{tid}.jsonl"
        export = _cli(home, "export", *db, "--trace-id", tid, "-o", str(out))
        _no_traceback(export)
        assert export.returncode == 0 and len(out.read_text().splitlines()) == pristine.raw[tid]
    export = _cli(home, "export", *db, "--trace-id", lost, "-o", str(tmp_path / "lost.jsonl"))
    _no_traceback(export)
    assert export.returncode == 1 and "no readable rows" in export.stderr
    says_skipped(export)
    # a run into the store works, and nothing intact was touched
    run = _cli(home, "run", "--no-tui", *db, "-o", "/dev/null", "--", "sh", "-c", "exit 3")
    _no_traceback(run)
    assert run.returncode == 3 and "store unavailable" not in run.stderr
    assert {t: _digest(root / s.relative_to(pristine.root)) for t, s in zip(pristine.traces, pristine.segments) if t != lost} == intact
    # the quarantine repairs it: then nothing is wrong, and every intact row is still there
    fixed = _cli(home, "db", "doctor", *db, "--quarantine")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    after = _cli(home, "db", "doctor", *db)
    assert after.returncode == 0 and "no problems found" in after.stdout, after.stdout
    with Store.open(root) as store:
        got = {r["trace_id"]: r["n"] for r in store.query("SELECT trace_id, COUNT(*) AS n FROM spans GROUP BY 1").to_pylist()}
    assert {t: got.get(t) for t in kept} == {t: pristine.rows[t] for t in kept} and lost not in got


def _stale_wal(root: Path) -> None:
    """An older state's committed WAL put back beside a newer catalog (a copy restored by halves)."""
    side = root.parent / "side"
    shutil.copytree(root, side)
    conn = sqlite3.connect(side / "catalog.sqlite", isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("DELETE FROM segments WHERE rowid = (SELECT MIN(rowid) FROM segments)")
    conn.execute("UPDATE runs SET command = 'STALE'")
    shutil.copy(side / "catalog.sqlite-wal", root / "catalog.sqlite-wal")
    conn.close()


def _garbage_wal_and_journal(root: Path) -> None:
    (root / "catalog.sqlite-wal").write_bytes(os.urandom(40000))
    (root / "catalog.sqlite-journal").write_bytes(os.urandom(5000))


def _header_pages(root: Path) -> tuple[int, int]:
    head = (root / "catalog.sqlite").read_bytes()[:100]
    return int.from_bytes(head[16:18], "big"), int.from_bytes(head[28:32], "big")


CATALOG_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    # name: (damage, what the first reader says: "damaged" (read around), "rebuilt" (on disk), "")
    "to-0-bytes": (lambda r: _truncate(r / "catalog.sqlite", 0), "rebuilt"),
    "to-half": (lambda r: _truncate(r / "catalog.sqlite", (r / "catalog.sqlite").stat().st_size // 2), "damaged"),
    "mid-page": (lambda r: _truncate(r / "catalog.sqlite", _header_pages(r)[0] * (_header_pages(r)[1] - 2) + 1000),
                 "damaged"),
    "not-sqlite": (lambda r: (r / "catalog.sqlite").write_bytes(os.urandom((r / "catalog.sqlite").stat().st_size)),
                   "damaged"),
    "deleted": (lambda r: (r / "catalog.sqlite").unlink(), "rebuilt"),
    "stale-wal": (_stale_wal, ""),
    "garbage-wal-and-journal": (_garbage_wal_and_journal, ""),
}


@pytest.mark.parametrize("damage", sorted(CATALOG_DAMAGE))
def test_a_damaged_catalog_loses_no_stored_span(pristine: Pristine, tmp_path: Path, damage: str) -> None:
    root = _copy(pristine, tmp_path)
    digests = {s.name: _digest(s) for s in (root / "spans").rglob("*.parquet")}
    apply, said = CATALOG_DAMAGE[damage]
    apply(root)
    home, db = pristine.home, ["--db", str(root)]
    total = sum(pristine.rows.values())

    def warned(done: subprocess.CompletedProcess[str], expected: str) -> None:
        lines = _warnings(done.stderr)
        if expected == "damaged":
            assert len(lines) == 1 and "is damaged" in lines[0] and "db doctor --quarantine" in lines[0], done.stderr
        elif expected == "rebuilt":
            assert len(lines) == 1 and "rebuilt from 3 segment(s)" in lines[0], done.stderr
        else:
            assert lines == [], done.stderr

    count = _cli(home, "db", "query", *db, "-f", "json", "SELECT COUNT(*) AS n FROM spans")
    _no_traceback(count)
    assert count.returncode == 0 and json.loads(count.stdout) == [{"n": total}], count.stderr
    warned(count, said)
    later = "damaged" if said == "damaged" else ""  # a missing/empty catalog is rebuilt on disk, once
    data = _cli(home, "db", "query", *db, "-f", "json", "SELECT trace_id, COUNT(*) AS n FROM spans GROUP BY 1")
    _no_traceback(data)
    assert {r["trace_id"]: r["n"] for r in json.loads(data.stdout)} == pristine.rows
    warned(data, later)
    traces = _cli(home, "db", "traces", *db, "-f", "json")
    _no_traceback(traces)
    listed = {r["trace_id"]: r["rows"] for r in json.loads(traces.stdout)}
    assert traces.returncode == 0 and listed == pristine.raw
    warned(traces, later)
    for tid in pristine.traces:
        out = tmp_path / f"{tid}.jsonl"
        export = _cli(home, "export", *db, "--trace-id", tid, "-o", str(out))
        _no_traceback(export)
        assert export.returncode == 0 and len(out.read_text().splitlines()) == pristine.raw[tid]
    doctor = _cli(home, "db", "doctor", *db)
    _no_traceback(doctor)
    if said == "damaged":
        assert doctor.returncode == 1
        assert [line for line in doctor.stdout.splitlines() if line.startswith("catalog") and "--quarantine" in line]
        run = _cli(home, "run", "--no-tui", *db, "-o", "/dev/null", "--", "sh", "-c", "exit 3")
        _no_traceback(run)
        assert run.returncode == 3 and "store unavailable (" in run.stderr and "db doctor --quarantine" in run.stderr
        fixed = _cli(home, "db", "doctor", *db, "--quarantine")
        assert fixed.returncode == 0 and "[fixed]" in fixed.stdout, fixed.stdout + fixed.stderr
        assert list((root / "quarantine").glob("catalog-*/catalog.sqlite"))  # kept, not deleted
    else:
        assert doctor.returncode == 0, doctor.stdout
    run = _cli(home, "run", "--no-tui", *db, "-o", "/dev/null", "--", "sh", "-c", "exit 3")
    _no_traceback(run)
    assert run.returncode == 3 and "store unavailable" not in run.stderr, run.stderr
    after = _cli(home, "db", "query", *db, "-f", "json", "SELECT COUNT(*) AS n FROM spans")
    assert json.loads(after.stdout)[0]["n"] > total and _warnings(after.stderr) == [], after.stderr
    assert {s.name: _digest(s) for s in (root / "spans").rglob("*.parquet") if s.name in digests} == digests


# -- any cut point, in process -------------------------------------------------------------------
_FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FAST
@given(fraction=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_a_segment_cut_anywhere_is_skipped_by_every_reader(pristine: Pristine, fraction: float) -> None:
    with tempfile.TemporaryDirectory() as where:
        root = _copy(pristine, Path(where))
        bad = root / pristine.segments[0].relative_to(pristine.root)
        _truncate(bad, int(bad.stat().st_size * fraction))
        kept = pristine.traces[1:]
        with Store.open(root) as store:
            assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": sum(pristine.rows[t] for t in kept)}]
            by_trace = store.query("SELECT trace_id, COUNT(attributes) AS n FROM spans GROUP BY 1").to_pylist()
            assert {r["trace_id"]: r["n"] for r in by_trace} == {t: pristine.rows[t] for t in kept}
            assert store.trace_spans(pristine.traces[0]).num_rows == 0
            assert [store.trace_spans(t).num_rows for t in kept] == [pristine.raw[t] for t in kept]
            assert len(store.warnings) == 1 and str(bad) in store.warnings[0]


@_FAST
@given(fraction=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_a_catalog_cut_anywhere_loses_no_span(pristine: Pristine, fraction: float) -> None:
    with tempfile.TemporaryDirectory() as where:
        root = _copy(pristine, Path(where))
        catalog = root / "catalog.sqlite"
        _truncate(catalog, int(catalog.stat().st_size * fraction))
        with Store.open(root, from_segments=True) as store:
            got = store.query("SELECT trace_id, COUNT(*) AS n FROM spans GROUP BY 1").to_pylist()
            assert {r["trace_id"]: r["n"] for r in got} == pristine.rows
            assert [store.trace_spans(t).num_rows for t in pristine.traces] == [pristine.raw[t] for t in pristine.traces]
            assert {r["trace_id"] for r in store.list_traces().to_pylist()} == set(pristine.traces)
            assert len(store.warnings) <= 1
