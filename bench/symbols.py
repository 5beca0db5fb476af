"""`python -m bench symbols`: symbolising the spans of a `--source` trace, cold and warm (issue 14).

A real `gcc -g` program (a few functions, so its stacks have distinct lines) gives the frames;
`--rows` rows (1 M by default) in batches of `--batch` carry one of `--stacks` distinct stacks
of `--depth` frames each (or none, one row in eight), as the span builder hands them to the symbolising stage
(the stacks as batch metadata, `tracer.rows.encode_stacks`). Timed: `SourceAnnotator.annotate`
over all the batches with a fresh symboliser and an empty line-table cache (cold), then again
with the stacks already symbolised (warm); median of `--reps`.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pyarrow as pa

from bench.common import base_parser, machine, machine_line, median, report, target_row, targets_table, timed
from renacer_tui.tracer.rows import STACKS_METADATA, encode_stacks
from renacer_tui.tracer.symbols.annotate import SourceAnnotator
from renacer_tui.tracer.symbols.symbolise import Symboliser, format_frame

PROGRAM = "\n".join(
    [r"#include <unistd.h>"]
    + [f"int f{i}(int x) {{ return x + (int)getppid() + {i}; }}" for i in range(16)]
    + ["int main(void) { int s = 0;"] + [f"  s += f{i}(s);" for i in range(16)] + ["  return s > 0 ? 0 : 1; }", ""]
)


def _frames(exe: Path, count: int, depth: int) -> list[list[str]]:
    """`count` distinct stacks of `depth` frames of the program (f<i> … main), at real code
    addresses: each becomes a `code.stacktrace` of `depth` lines, as deep stacks of real
    programs (an interpreter's, a compiler's) do."""
    symbols = {}
    for line in subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            symbols[parts[2]] = int(parts[0], 16)
    rng = random.Random(count)
    stacks = []
    for i in range(count):
        inner = [format_frame(str(exe), symbols[f"f{rng.randrange(16)}"] + 8) for _ in range(depth - 1)]
        stacks.append(inner + [format_frame(str(exe), symbols["main"] + 12 + 4 * (i % 16))])
    return stacks


def _batches(template: pa.RecordBatch, stacks: list[list[str]], rows: int, size: int, seed: int) -> list[pa.RecordBatch]:
    rng = random.Random(seed)
    out = []
    for start in range(0, rows, size):
        n = min(size, rows - start)
        chosen = [None if rng.random() < 0.125 else rng.choice(stacks) for _ in range(n)]
        batch = template.slice(0, n).replace_schema_metadata({STACKS_METADATA: encode_stacks(chosen)})
        out.append(batch)
    return out


def main(argv: list[str]) -> int:
    parser = base_parser("symbols", __doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--stacks", type=int, default=64)
    parser.add_argument("--depth", type=int, default=12, help="frames per stack")
    args = parser.parse_args(argv)
    rows = 20_000 if args.quick else args.rows
    reps = 1 if args.quick else (args.reps or 3)
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="renacer-bench-symbols-"))
    try:
        (work / "prog.c").write_text(PROGRAM)
        exe = work / "prog"
        subprocess.run(["gcc", "-g", "-O0", "-fno-omit-frame-pointer", "-o", str(exe), str(work / "prog.c")], check=True)
        from tests.test_store_basic import make_batch, trace_hex

        template = make_batch(trace_hex(1), args.batch)
        batches = _batches(template, _frames(exe, args.stacks, args.depth), rows, args.batch, 17)
        cold, warm = [], []
        filled = 0
        for rep in range(reps):
            annotator = SourceAnnotator(Symboliser(cache_directory=work / f"cache-{rep}"))
            seconds, done = timed(lambda: [annotator.annotate(b) for b in batches])
            cold.append(seconds)
            seconds, done = timed(lambda: [annotator.annotate(b) for b in batches])
            warm.append(seconds)
            filled = sum(b.column("c_source").null_count for b in done)
        filled = rows - filled
        per_million = median(warm) * 1_000_000 / rows
        targets = [target_row("warm, per 1 M rows", per_million, 2.0, "s"),
                   target_row("cold, per 1 M rows", median(cold) * 1_000_000 / rows, 10.0, "s")]
        markdown = "\n".join([
            f"`python -m bench symbols` — {machine_line(info)}; {rows:,} rows in batches of {args.batch:,}, "
            f"{args.stacks} distinct stacks of {args.depth} frames, medians of {reps}; rows given a c_source: {filled:,}",
            "",
            targets_table(targets),
        ])
        return report("symbols", {"machine": info, "rows": rows, "cold": cold, "warm": warm, "filled": filled,
                                  "targets": targets}, markdown, args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
