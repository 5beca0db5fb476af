"""Fault suite: eight tracers into one store at once (more tracers than cores, so they contend for
the catalog's lock and the CPU). Every tracer's rows are stored under its own trace, every run
ends ok, and `db doctor` finds nothing wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from concurrent_tracers import trace_concurrently


def test_eight_tracers_into_one_store_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "db"
    outcomes = trace_concurrently(db, 8, ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=1 count=800 2>/dev/null; ls /"])
    assert len({o.trace_id for o in outcomes}) == 8 and all(o.trace_id for o in outcomes), outcomes
    for outcome in outcomes:
        assert outcome.returncode == 0 and outcome.reported > 1600, outcome
        assert outcome.stored == outcome.reported and outcome.status == "ok", outcome
    doctor = subprocess.run([sys.executable, "-m", "renacer_tui", "db", "doctor", "--db", str(db)],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
