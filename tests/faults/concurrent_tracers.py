"""N tracers started at once, all writing into one store: what each said it recorded and what
the store holds of it.

Shared by the fault test (`tests/faults/test_concurrent_tracers.py`) and its figures
(`python -m bench faults`). Each tracer runs `--no-rle`, so its closing line's row count is
exactly the rows it handed the store; the store is then read once, per trace id.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_ROWS = re.compile(r"\((\d+) rows\)")
_TRACE = re.compile(r"^trace_id=([0-9a-f]{32})$", re.M)


@dataclass(frozen=True)
class TracerOutcome:
    """One tracer of the crowd: its exit code, the rows it reported, the rows stored, the run's status."""

    trace_id: str
    returncode: int
    reported: int
    stored: int
    status: str
    seconds: float


def trace_concurrently(db: Path, tracers: int, workload: list[str]) -> list[TracerOutcome]:
    """Start `tracers` runs of `workload` at once into the store at `db` and wait for all."""
    argv = [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-rle", "--db", str(db), "-o", os.devnull, "--",
            *workload]
    started = time.monotonic()
    procs = [subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for _ in range(tracers)]
    ended: list[tuple[int, str, float]] = []
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        ended.append((proc.returncode, err, time.monotonic() - started))
    from renacer_tui.store.store import Store

    with Store.open(db) as store:
        stored = {row["trace_id"]: row["n"] for row in
                  store.query("SELECT trace_id, COUNT(*) AS n FROM spans_raw GROUP BY trace_id").to_pylist()}
        status = {row["trace_id"]: row["status"] for row in
                  store.query("SELECT trace_id, status FROM runs").to_pylist()}
    outcomes = []
    for code, err, seconds in ended:
        trace, rows = _TRACE.search(err), _ROWS.search(err)
        tid = trace.group(1) if trace else ""
        outcomes.append(TracerOutcome(tid, code, int(rows.group(1)) if rows else -1, stored.get(tid, 0),
                                      status.get(tid, "missing"), seconds))
    return outcomes
