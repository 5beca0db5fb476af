"""`python -m bench faults`: the tracer SIGKILLed at random moments, and many tracers into one
store at once: what was kept (issue 17).

N runs (10 by default) of a loop that stamps each `getppid` it makes, each with the tracer
killed at a seeded random moment between 0.3 s and 2 s in (tests/faults/kill_points.py): calls
made before the kill, calls the store kept, the program's state after (never a stop), and
`db doctor`'s verdict. Then `--tracers` (8) tracers started at once into one store
(tests/faults/concurrent_tracers.py): rows each reported against rows the store holds.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import base_parser, machine, machine_line, markdown_table, report
from tests.faults.concurrent_tracers import trace_concurrently
from tests.faults.kill_points import STAMPED_LOOP, kill_during_trace


def main(argv: list[str]) -> int:
    parser = base_parser("faults", __doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--tracers", type=int, default=8, help="tracers started at once into one store")
    args = parser.parse_args(argv)
    runs = 2 if args.quick else (args.reps or 10)
    info = machine()
    base = Path(tempfile.mkdtemp(prefix="renacer-bench-faults-"))
    try:
        source = base / "loop.c"
        source.write_text(STAMPED_LOOP)
        exe = base / "loop"
        subprocess.run(["gcc", "-O1", "-o", str(exe), str(source)], check=True)
        rng = random.Random(args.seed)
        moments = sorted(rng.uniform(0.3, 2.0) for _ in range(runs))
        outcomes = []
        for i, after in enumerate(moments):
            work = base / f"run-{i}"
            work.mkdir()
            outcomes.append(kill_during_trace(exe, work, after))
        rows = [[f"{o.after_s:.2f}", o.made, o.kept, o.made - o.kept, f"{100 * o.kept / max(o.made, 1):.1f} %",
                 o.program_state, "ok" if o.doctor_rc == 0 else o.doctor] for o in outcomes]
        count = 2000 if args.quick else 20000
        crowd = trace_concurrently(base / "crowd-db", args.tracers,
                                   ["sh", "-c", f"dd if=/dev/zero of=/dev/null bs=1 count={count} 2>/dev/null; ls -R /etc >/dev/null"])
        crowd_rows = [[i + 1, o.returncode, o.reported, o.stored, o.reported - o.stored, o.status, f"{o.seconds:.1f} s"]
                      for i, o in enumerate(crowd)]
        markdown = "\n".join([
            "### Tracer SIGKILLed at random moments",
            "",
            f"`python -m bench faults` — {machine_line(info)}, {runs} runs, seed {args.seed}.",
            "",
            markdown_table(["killed after s", "getppid made", "kept", "lost", "kept share", "program after",
                            "db doctor"], rows),
            "",
            f"### {args.tracers} tracers into one store at once",
            "",
            f"Each: `--no-rle -- sh -c 'dd if=/dev/zero of=/dev/null bs=1 count={count}; ls -R /etc'`.",
            "",
            markdown_table(["tracer", "exit", "rows reported", "rows stored", "lost", "run", "ended after"], crowd_rows),
        ])
        return report("faults", {"machine": info, "outcomes": [o.__dict__ for o in outcomes],
                                 "concurrent": [o.__dict__ for o in crowd]}, markdown, args.out)
    finally:
        shutil.rmtree(base, ignore_errors=True)
