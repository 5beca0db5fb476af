"""The tracer SIGKILLed while it traces: what the store kept of what the program made.

Shared by the fault test (`tests/faults/test_tracer_killed.py`) and its figures
(`python -m bench faults`). The program stamps each `getppid` it makes (CLOCK_REALTIME, through
the vDSO) into a file, so what it made before the kill is known whoever dies; the tracer is
killed at a given moment; then the store must open, `db doctor` must find nothing wrong, the
program must not be left stopped, and the `getppid` spans kept are counted.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

STAMPED_LOOP = r"""
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int log = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    struct timespec pause = {0, 200000}, now;
    for (int i = 0; i < 20000; i++) {
        getppid();
        clock_gettime(CLOCK_REALTIME, &now);  /* the vDSO: no syscall */
        long long stamp = now.tv_sec * 1000000000LL + now.tv_nsec;
        write(log, &stamp, sizeof stamp);
        nanosleep(&pause, 0);
    }
    return 0;
}
"""


@dataclass(frozen=True)
class KillOutcome:
    after_s: float  # when the tracer was killed, from its start
    made: int  # getppid calls the program made before the kill
    kept: int  # getppid calls the store holds
    program_state: str  # the program's /proc state 0.5 s after the kill ("gone" once reaped)
    doctor_rc: int  # `renacer-tui db doctor`'s exit code
    doctor: str  # its last line


def _program_pid(argv: list[str]) -> int | None:
    """The process running exactly `argv` (not the tracer's own processes, whose command lines
    name the program too: the decoder may outlive the kill by a while)."""
    wanted = "\0".join(argv).encode() + b"\0"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == wanted:
                    return int(entry.name)
            except OSError:
                continue
    return None


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def kill_during_trace(exe: Path, work: Path, after_s: float) -> KillOutcome:
    """Trace `exe` (STAMPED_LOOP) into `work/db`, SIGKILL the tracer `after_s` in, and look."""
    db, stamps = work / "db", work / "stamps"
    tracer = subprocess.Popen([sys.executable, "-m", "renacer_tui", "--no-tui", "--db", str(db), "-o", os.devnull, "--",
                               str(exe), str(stamps)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(after_s)
    kill_ns = time.time_ns()
    tracer.send_signal(signal.SIGKILL)
    tracer.wait(30)
    time.sleep(0.5)
    program = _program_pid([str(exe), str(stamps)])
    state = _state(program) if program is not None else "gone"
    raw = stamps.read_bytes() if stamps.exists() else b""
    made = sum(1 for stamp in struct.unpack(f"<{len(raw) // 8}q", raw[: len(raw) // 8 * 8]) if stamp < kill_ns)
    kept = _kept(db)
    doctor = subprocess.run([sys.executable, "-m", "renacer_tui", "db", "doctor", "--db", str(db)],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    lines = (doctor.stdout + doctor.stderr).strip().splitlines()
    return KillOutcome(after_s, made, kept, state, doctor.returncode, lines[-1] if lines else "")


def _kept(db: Path) -> int:
    """getppid calls stored, once the decoder (which outlives its parent) has written them."""
    from renacer_tui.store.store import Store

    deadline, kept = time.monotonic() + 30, -1
    while time.monotonic() < deadline:
        if db.exists():
            with Store.open(db) as store:
                now = store.query("SELECT COUNT(*) AS n FROM spans WHERE span_name = 'syscall:getppid'").to_pylist()[0]["n"]
            if now == kept:  # unchanged over a poll: the decoder is done
                return kept
            kept = now
        time.sleep(1.0)
    return max(kept, 0)
