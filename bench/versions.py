"""`python -m bench versions --old PYTHON [--reps N] [--count N]`: the per-stop cost of two builds
of renacer-tui in one round — another checkout's interpreter (a venv with that revision
installed) against this one — with `strace -f` as the baseline, interleaved, medians.

For refactors that must not move the stop loop: set up the old build with
`git worktree add /tmp/old REV && python3 -m venv --system-site-packages /tmp/old/.venv &&
/tmp/old/.venv/bin/pip install --no-deps -e /tmp/old`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.common import machine, machine_line, markdown_table, median, ratio, run_command


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench versions", description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the Python of the build to compare with")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--count", type=int, default=100_000, help="dd bs=1 count (two stops per call)")
    args = parser.parse_args(argv)
    work = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={args.count}"]
    db = tempfile.mkdtemp(prefix="renacer-bench-")
    ours = ["--no-tui", "-o", "/dev/null", "--db", db, "--"]
    cases = {
        "strace -f": ["strace", "-f", "-o", "/dev/null", *work],
        "old build": [args.old, "-m", "renacer_tui", *ours, *work],
        "this build": [sys.executable, "-m", "renacer_tui", *ours, *work],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for rep in range(args.reps):
        order = list(cases.items()) if rep % 2 == 0 else list(reversed(cases.items()))
        for name, command in order:
            # run outside any checkout: `-m renacer_tui` must import each build's own installed code
            run = run_command(command, cwd=Path(db))
            if run.returncode != 0:
                print(f"{name} failed ({run.returncode}): {run.stderr[-500:]}", file=sys.stderr)
                return 1
            times[name].append(run.seconds)
    stops = 2 * args.count
    base = median(times["strace -f"])
    print(f"{machine_line(machine())}; {' '.join(work)} (~{stops:,} stops); medians of {args.reps}")
    rows = [(name, f"{median(t):.3f} s", f"{median(t) / stops * 1e6:.2f} µs", f"{ratio(median(t), base):.2f} ×")
            for name, t in times.items()]
    print(markdown_table(["build", "wall", "per stop", "/ strace"], rows))
    return 0
