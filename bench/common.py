"""Shared helpers of the benchmarks: timing, statistics, machine facts, results and tables.

Why ratios and medians: these machines are shared 2-core VMs, so an absolute time says little;
every bench measures its baseline in the same run, repeats each case, interleaves the cases
(so a burst of load hits all of them alike) and reports the median and the ratio of medians.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"


def base_parser(name: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every bench shares (`--quick`, `--reps`, `--out`)."""
    parser = argparse.ArgumentParser(prog=f"python -m bench {name}", description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (smoke test)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per case (default per bench)")
    parser.add_argument("--out", type=Path, default=None, help="results JSON path (default bench/results/NAME-TIME.json)")
    return parser


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def time_many(fn: Callable[[], Any], reps: int, warmup: int = 0) -> list[float]:
    """Seconds of `reps` calls (after `warmup` untimed ones)."""
    for _ in range(warmup):
        fn()
    return [timed(fn)[0] for _ in range(reps)]


@dataclass
class CommandRun:
    """One timed subprocess: wall seconds, exit code, captured stderr tail."""

    seconds: float
    returncode: int
    stderr: str


def run_command(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 300.0) -> CommandRun:
    """Run argv with stdout to /dev/null, time it by wall clock, keep stderr (for counts)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=env, cwd=cwd, timeout=timeout,
    )
    seconds = time.perf_counter() - t0
    return CommandRun(seconds, proc.returncode, proc.stderr.decode("utf-8", "replace"))


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    """What the numbers were measured on (nproc, load, CPU, kernel, Python)."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "load": loadavg(),
        "cpu": cpu,
        "mem_gib": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def machine_line(info: dict[str, Any]) -> str:
    load = info.get("load") or []
    load_text = " ".join(f"{x:.2f}" for x in load) if load else "?"
    return (f"nproc={info.get('nproc')}, load(1/5/15 min)={load_text}, {info.get('cpu') or 'cpu ?'}, "
            f"{info.get('mem_gib')} GiB, Linux {info.get('kernel')}, Python {info.get('python')}, "
            f"{info.get('time_utc')} UTC")


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: floats with `digits` significant-ish decimals, others as text."""
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{digits - 1}f}"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(cell) for cell in row) + " |")
    return "\n".join(lines)


def target_row(what: str, measured: float, target: float, unit: str, higher_is_better: bool = False) -> dict[str, Any]:
    """One figure against its target: met or not, and by how much it misses."""
    met = measured >= target if higher_is_better else measured <= target
    miss = (target / measured if higher_is_better else measured / target) if measured and target else float("nan")
    return {"what": what, "measured": measured, "target": target, "unit": unit,
            "higher_is_better": higher_is_better, "met": bool(met), "miss_factor": miss}


def targets_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of `target_row`s (the verdict column says by how much a miss misses)."""
    cells = []
    for r in rows:
        op = "≥" if r["higher_is_better"] else "≤"
        verdict = "met" if r["met"] else f"**missed** ({r['miss_factor']:.2f}× off)"
        cells.append([r["what"], f"{fmt(r['measured'])} {r['unit']}", f"{op} {fmt(float(r['target']))} {r['unit']}", verdict])
    return markdown_table(["figure", "measured", "target", "verdict"], cells)


def write_results(name: str, data: dict[str, Any], out: Path | None = None) -> Path:
    """Write the results JSON (git-ignored bench/results/ unless `out` is given); returns the path."""
    if out is None:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"{name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return out


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def report(name: str, data: dict[str, Any], markdown: str, out: Path | None) -> int:
    """Print the Markdown (with the machine line) and write the JSON; returns exit code 0."""
    data = dict(data)
    data["bench"] = name
    data["markdown"] = markdown
    path = write_results(name, data, out)
    print(markdown)
    print(f"\nresults: {path}", file=sys.stderr)
    return 0


@functools.cache
def compile_bytecode() -> None:
    """Byte-compile the project once, as `pip install` does, so a child renacer-tui does not
    spend ~25 ms compiling its modules from source on every start (this machine sets
    PYTHONDONTWRITEBYTECODE, so nothing else would write the .pyc files)."""
    import compileall

    for package in ("renacer_tui", "tracer", "store", "analysis"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


def python_env() -> dict[str, str]:
    """The environment for child Pythons: the repository importable, its bytecode compiled."""
    compile_bytecode()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _status_mib(field: str, pid: int | None) -> float:
    """A kB field of /proc/PID/status (default: this process) in MiB; NaN when absent."""
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib(pid: int | None = None) -> float:
    """Resident set size (VmRSS, MiB) of a process (default: this one)."""
    return _status_mib("VmRSS", pid)


def peak_rss_mib(pid: int | None = None) -> float:
    """Peak resident set size (VmHWM, MiB)."""
    return _status_mib("VmHWM", pid)


def main(argv: list[str]) -> int:
    """`python -m bench common`: print the machine line every BENCHMARKS.md table carries."""
    print(machine_line(machine()))
    return 0
