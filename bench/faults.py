"""`python -m bench faults`: the tracer SIGKILLed at random moments, what was kept (issue 17).

N runs (10 by default) of a loop that stamps each `getppid` it makes, each with the tracer
killed at a seeded random moment between 0.3 s and 2 s in (tests/faults/kill_points.py): calls
made before the kill, calls the store kept, the program's state after (never a stop), and
`db doctor`'s verdict.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import base_parser, machine, machine_line, markdown_table, report
from tests.faults.kill_points import STAMPED_LOOP, kill_during_trace


def main(argv: list[str]) -> int:
    parser = base_parser("faults", __doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=17)
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
        markdown = "\n".join([
            "### Tracer SIGKILLed at random moments",
            "",
            f"`python -m bench faults` — {machine_line(info)}, {runs} runs, seed {args.seed}.",
            "",
            markdown_table(["killed after s", "getppid made", "kept", "lost", "kept share", "program after",
                            "db doctor"], rows),
        ])
        return report("faults", {"machine": info, "outcomes": [o.__dict__ for o in outcomes]}, markdown, args.out)
    finally:
        shutil.rmtree(base, ignore_errors=True)
