"""A SIGKILLed tracer keeps the calls its open RLE runs had folded (they leave every flush window)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from renacer_tui.store import Store


def _folded_reads(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        table = Store.open(db).query("SELECT COALESCE(SUM(rle_count), 0) FROM spans WHERE span_name = 'syscall:read'")
    except Exception:  # the catalog is not there yet
        return 0
    return int(table.column(0)[0].as_py())


def test_killed_tracer_keeps_the_folded_tail(tmp_path: Path) -> None:
    db = tmp_path / "db"
    tracer = subprocess.Popen(
        [sys.executable, "-m", "renacer_tui", "run", "--no-tui", "--db", str(db), "-o", "/dev/null",
         "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=20000000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(4.0)  # start-up, then a few seconds of one read/write loop: one RLE run
        os.kill(tracer.pid, signal.SIGKILL)
        tracer.wait(30)
    finally:
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()
    # the store writer outlives the tracer and writes what it was sent; wait for it to settle
    seen, stable = -1, 0
    for _ in range(100):
        reads = _folded_reads(db)
        stable = stable + 1 if reads == seen else 0
        seen = reads
        if stable >= 5 and reads:
            break
        time.sleep(0.2)
    # dd makes thousands of reads a second under ptrace; before, the open run died with the tracer
    # and only the start-up reads were kept (a handful)
    assert seen > 1000, seen
