"""`python -m bench sampling`: what adaptive sampling saves in the store, and what it keeps (issue 17).

Each workload is traced into a fresh store twice, interleaved, without sampling and with
`--sample-threshold-us 100 --sample-rate 0.01` (the spec's `[sampling]` example): segment
bytes, stored rows, wall time, and from the `spans` view the calls counted and the summed
duration per syscall.  Sampling only merges fast calls into the rows that stand for them, so
the counts must be the same as without it (a program that runs the same way); the bytes are
the saving.  Workloads: a C loop of 20 000 `lseek`s with distinct offsets (RLE cannot fold
them), `python3 -c "import email.mime.multipart, http.client, json"` and `ls -lR` of the
stdlib's folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import base_parser, machine, machine_line, markdown_table, median, python_env, report, run_command

SAMPLING = ["--sample-threshold-us", "100", "--sample-rate", "0.01"]
LSEEKS = r"""
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    int fd = open("/etc/hostname", O_RDONLY);
    for (int i = 0; i < 20000; i++) lseek(fd, i, SEEK_SET);
    return 0;
}
"""


def _workloads(base: Path) -> dict[str, list[str]]:
    source = base / "lseeks.c"
    source.write_text(LSEEKS)
    exe = base / "lseeks"
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(source)], check=True)
    stdlib = Path(shutil.__file__).parent
    return {
        "C lseek loop": [str(exe)],
        "python imports": [sys.executable, "-c", "import email.mime.multipart, http.client, json"],
        "ls -lR stdlib": ["ls", "-lR", str(stdlib)],
    }


def _trace(db: Path, command: list[str], sampled: bool) -> dict[str, Any]:
    argv = [sys.executable, "-m", "renacer_tui", "--no-tui", "--db", str(db), *(SAMPLING if sampled else []),
            "--", *command]
    run = run_command(argv, env=python_env())
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: exit {run.returncode}: {run.stderr[-300:]}")
    from renacer_tui.store.store import Store

    store = Store.open(db)
    counts = store.query("SELECT span_name, COUNT(*) AS calls FROM spans WHERE span_name LIKE 'syscall:%' "
                         "GROUP BY 1").to_pylist()
    rows = store.query("SELECT COUNT(*) AS n FROM spans_raw").to_pylist()[0]["n"]
    segment_bytes = sum(path.stat().st_size for path in (db / "spans").rglob("*.parquet"))
    return {"seconds": run.seconds, "bytes": segment_bytes, "rows": int(rows),
            "calls": {r["span_name"]: int(r["calls"]) for r in counts}}


def main(argv: list[str]) -> int:
    parser = base_parser("sampling", __doc__.splitlines()[0])
    args = parser.parse_args(argv)
    reps = 1 if args.quick else (args.reps or 3)
    info = machine()
    base = Path(tempfile.mkdtemp(prefix="renacer-bench-sampling-"))
    try:
        results: dict[str, Any] = {}
        for name, command in _workloads(base).items():
            runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
            for rep in range(reps):  # interleaved: the machine's drift hits both alike
                for mode in ("off", "on"):
                    runs[mode].append(_trace(base / f"{name}-{mode}-{rep}".replace(" ", "_"), command, mode == "on"))
            results[name] = runs
        table = []
        for name, runs in results.items():
            off, on = runs["off"], runs["on"]
            calls_off = median([sum(r["calls"].values()) for r in off])
            calls_on = median([sum(r["calls"].values()) for r in on])
            table.append([
                name, calls_off, calls_on, median([r["rows"] for r in off]), median([r["rows"] for r in on]),
                median([r["bytes"] for r in off]) / 1024, median([r["bytes"] for r in on]) / 1024,
                median([r["bytes"] for r in off]) / max(median([r["bytes"] for r in on]), 1),
                median([r["seconds"] for r in off]), median([r["seconds"] for r in on]),
            ])
        markdown = "\n".join([
            "### Adaptive sampling (`--sample-threshold-us 100 --sample-rate 0.01`)",
            "",
            f"`python -m bench sampling{' --quick' if args.quick else ''}` — {machine_line(info)}, medians of {reps}, interleaved.",
            "",
            markdown_table(["workload", "calls (off)", "calls (on)", "rows (off)", "rows (on)", "KiB (off)",
                            "KiB (on)", "bytes saved ×", "s (off)", "s (on)"], table),
        ])
        return report("sampling", {"machine": info, "reps": reps, "results": results}, markdown, args.out)
    finally:
        shutil.rmtree(base, ignore_errors=True)
