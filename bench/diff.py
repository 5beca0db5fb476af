"""`python -m bench diff`: `--capture-payloads` on a write-heavy run, and `renacer-tui diff` at 1 M syscalls (issue 15).

- `dd if=/dev/zero of=/dev/null bs=4096 count=20000` traced headless (no store) with and without
  `--capture-payloads`, interleaved, `--reps` each: the ratio of the medians (and of the fastest).

- Both traces come from `bench.analysis.synthetic_trace` (a root forking children whose syscalls
are a random mix, so RLE and the step folding leave most of them: the hard case for the
alignment), with different seeds, plus `io:stream` spans for 200 files each (half of them
equal).  Timed: the state diff, the operation diff and the text report, together, median of
`--reps`; the peak RSS of this process is reported alongside.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any

import pyarrow as pa

from bench.analysis import synthetic_trace
from bench.common import (
    base_parser,
    machine,
    machine_line,
    median,
    peak_rss_mib,
    python_env,
    report,
    run_command,
    target_row,
    targets_table,
    timed,
)
from renacer_tui.analysis.diff_ops import diff_ops
from renacer_tui.analysis.diff_report import build_report, report_text
from renacer_tui.analysis.diff_state import diff_state
from renacer_tui.model.attributes import (
    ATTR_CAPTURE_PAYLOADS,
    ATTR_IO_BYTES,
    ATTR_IO_CALLS,
    ATTR_IO_CHUNK_SHA256,
    ATTR_IO_CHUNK_SIZE,
    ATTR_IO_DIRECTION,
    ATTR_IO_FD,
    ATTR_IO_OBJECT,
    ATTR_IO_SHA256,
)
from renacer_tui.model.schema import SPAN_SCHEMA, batch_from_rows


def _with_streams(table: pa.Table, files: int, variant: int) -> pa.Table:
    """`table` plus a run span recording payloads and `files` io:stream spans."""
    trace_id = table.column("trace_id")[0].as_py()
    clock = int(table.column("logical_clock").to_numpy().max()) + 1
    rows: list[dict[str, Any]] = [{
        "trace_id": trace_id, "span_id": f"{clock:016x}", "span_name": "renacer:run bench", "logical_clock": clock,
        "start_time_nanos": 0, "end_time_nanos": 1, "attributes": {ATTR_CAPTURE_PAYLOADS: True},
    }]
    for i in range(files):
        content = f"file {i} {'v' + str(variant) if i % 2 else ''}".encode() * 3000
        chunks = "".join(hashlib.sha256(content[k : k + 4096]).digest()[:8].hex() for k in range(0, len(content), 4096))
        rows.append({
            "trace_id": trace_id, "span_id": f"{clock + 1 + i:016x}", "span_name": f"io:stream /out/{i}",
            "logical_clock": clock + 1 + i, "start_time_nanos": 0, "end_time_nanos": 1,
            "attributes": {ATTR_IO_OBJECT: f"/out/{i}", ATTR_IO_DIRECTION: "write", ATTR_IO_FD: 3,
                           ATTR_IO_BYTES: len(content), ATTR_IO_CALLS: 10, ATTR_IO_SHA256: hashlib.sha256(content).hexdigest(),
                           ATTR_IO_CHUNK_SIZE: 4096, ATTR_IO_CHUNK_SHA256: chunks},
        })
    extra = pa.Table.from_batches([batch_from_rows(rows)])
    return pa.concat_tables([table.select(SPAN_SCHEMA.names).cast(SPAN_SCHEMA), extra])


def payload_overhead(count: int, reps: int) -> dict[str, Any]:
    """Wall seconds of dd traced without and with --capture-payloads, interleaved."""
    env = python_env()
    base = [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-o", os.devnull]
    dd = ["--", "dd", "if=/dev/zero", "of=/dev/null", "bs=4096", f"count={count}"]
    times: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(reps):
        for case, flags in (("off", []), ("on", ["--capture-payloads"])):
            run = run_command([*base, *flags, *dd], env=env)
            if run.returncode != 0:
                raise RuntimeError(f"traced dd failed: {run.stderr[-500:]}")
            times[case].append(run.seconds)
    return {
        "count": count, "seconds": times,
        "median_ratio": median(times["on"]) / median(times["off"]),
        "fastest_ratio": min(times["on"]) / min(times["off"]),
    }


def main(argv: list[str]) -> int:
    parser = base_parser("diff", __doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="syscall spans per trace")
    parser.add_argument("--files", type=int, default=200, help="io:stream spans per trace")
    parser.add_argument("--dd-count", type=int, default=20_000, help="dd blocks in the --capture-payloads run")
    args = parser.parse_args(argv)
    reps = args.reps or 3
    spans, files, count = (20_000, 20, 500) if args.quick else (args.spans, args.files, args.dd_count)
    if args.quick:
        reps = 1
    info = machine()
    overhead = payload_overhead(count, reps if args.quick else max(reps, 5))
    a = _with_streams(synthetic_trace(spans, 100, 0.01, seed=5), files, 1)
    b = _with_streams(synthetic_trace(spans, 100, 0.01, seed=6), files, 2)

    def whole() -> str:
        state = diff_state(a, b, None, None, [])
        ops = diff_ops(a, b, 0.05)
        return report_text(build_report("A", "B", "both", state, ops))

    times = []
    for _ in range(reps):
        t, _text = timed(whole)
        times.append(t)
    ops = diff_ops(a, b, 0.05)
    result = {
        "reps": reps, "rows_a": a.num_rows, "rows_b": b.num_rows, "median_s": median(times),
        "approximate": ops.approximate, "steps": len(ops.steps), "peak_rss_mib": peak_rss_mib(),
    }
    result["payloads"] = overhead
    result["targets"] = [
        target_row(f"dd bs=4096 count={count}: --capture-payloads / off, medians", overhead["median_ratio"], 1.15, "×"),
        target_row(f"diff of two traces of {a.num_rows:,} spans", result["median_s"], 5, "s"),
    ]
    markdown = "\n".join([
        machine_line(info), "",
        f"`python -m bench diff{' ' + ' '.join(argv) if argv else ''}`: {a.num_rows:,} and {b.num_rows:,} rows,"
        f" {len(ops.steps):,} aligned steps ({'approximate' if ops.approximate else 'exact'} alignment),"
        f" median {result['median_s']:.2f} s of {reps}, peak RSS {result['peak_rss_mib']:.0f} MiB"
        f" (the two generated traces included); --capture-payloads on dd: {overhead['median_ratio']:.2f}× the run"
        f" without (fastest runs {overhead['fastest_ratio']:.2f}×)", "",
        targets_table(result["targets"]),
    ])
    return report("diff", {"machine": info, **result}, markdown, args.out)
