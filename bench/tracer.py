"""`python -m bench tracer`: renacer-tui's capture against strace on the same workloads (issues 2, 10).

One run measures, per workload and per scheduling (default, and tracer + program pinned to one
CPU): the untraced program, `strace -f -o /dev/null`, `strace -f --seccomp-bpf -e trace=%file`,
renacer-tui headless (`--no-tui --no-store -c`, the fastest honest headless mode: every syscall is
decoded into a span and summarised, nothing is written) and renacer-tui filtered (`-e trace=%file`,
seccomp in the kernel), renacer-tui full with `--spin-us 0` (no polling for the next stop: the
scheduling lever), and the bare stop loop (`bench/bare_loop.py`: no span building).  Cases are interleaved within each repetition so load bursts hit them
alike; figures are medians and ratios of medians.  It also checks that renacer's syscall count
equals `strace -f -c`'s, and reports renacer's start-up (tracing `true`) on its own, because
Python's import time is part of what a user pays, against the same interpreter's bare start
(`-c pass`).  "renacer inline" is the old path (`--inline-decode`: spans built on the stop loop)
beside the default one (raw records, spans built in the decoder process).  The filtered case is
also run on a long dd (`--filter-dd-count`) where start-up is amortised, and the capture and
decoder processes' peak RSS is read from /proc while a very long dd runs (`--rss-count`).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    base_parser,
    machine,
    machine_line,
    markdown_table,
    median,
    python_env,
    ratio,
    report,
    run_command,
    target_row,
    targets_table,
)

FILE_FILTER = "trace=%file"
#: Issue 10's targets for renacer full / strace -f (the rest: 1.2×).
_FULL_TARGETS = {("dd", "pinned"): 1.0, ("dd", "default"): 0.5}


def workloads(quick: bool, dd_count: int, loop_count: int) -> dict[str, list[str]]:
    """The issue's three workloads (tiny versions under --quick)."""
    if quick:
        return {"dd": ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=100"]}
    return {
        "dd": ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={dd_count}"],
        "sh-loop": ["sh", "-c", f"for i in $(seq {loop_count}); do /bin/true; done"],
        "python-import": ["python3", "-c", "import json, sqlite3"],
    }


def renacer_argv(extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-c", *extra, "--"]


def cases(sched: str, cpu: int, spin_us: int) -> dict[str, list[str]]:
    """Case name → argv prefix (the workload follows) under one scheduling."""
    pin = ["taskset", "-c", str(cpu)] if sched == "pinned" else []
    ours_pin = ["--pin-cpu", str(cpu)] if sched == "pinned" else []
    out = {
        "untraced": pin,
        "strace": pin + ["strace", "-f", "-o", "/dev/null"],
        "strace seccomp %file": pin + ["strace", "-f", "--seccomp-bpf", "-e", FILE_FILTER, "-o", "/dev/null"],
        "renacer full": renacer_argv(ours_pin),
        "renacer inline": renacer_argv(ours_pin + ["--inline-decode"]),  # the old path: spans built on the loop
        # the stop loop alone (no span building): how much of renacer's cost is the loop itself
        "renacer bare loop": [sys.executable, str(Path(__file__).with_name("bare_loop.py")), *ours_pin, "--"],
        "renacer %file": renacer_argv(ours_pin + ["-e", FILE_FILTER]),
    }
    if spin_us >= 0:  # the scheduling lever: renacer full with another spin than its default 50 µs
        out[f"renacer full spin {spin_us}us"] = renacer_argv(ours_pin + ["--spin-us", str(spin_us)])
    return out


_CAPTURE = re.compile(r"^renacer-(?:tui|capture): .*? in ([0-9.]+)s", re.MULTILINE)
_STOPS = re.compile(r"(\d+) ptrace stops")
_TOTAL = re.compile(r"^\s*100\.00\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?total\s*$", re.MULTILINE)


def summary_calls(text: str) -> int | None:
    """Total calls from a `strace -c`-style summary (strace's or renacer's `-c`)."""
    found = _TOTAL.findall(text)
    return int(found[-1]) if found else None


def strace_count(workload: list[str], extra: list[str], env: dict[str, str]) -> int | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "summary.txt"
        run_command(["strace", "-f", "-c", *extra, "-o", str(path), *workload], env=env)
        return summary_calls(path.read_text()) if path.exists() else None


def _one(values: list[Any]) -> Any:
    """The single value every run agreed on, or all the distinct values seen (text)."""
    return values[0] if len(values) == 1 else " / ".join(str(v) for v in values)


def _agreement(theirs: list[Any], ours: list[Any]) -> str:
    """'yes' when every run agreed on one count; '±' when the workload itself varies run to run."""
    if theirs == ours and len(ours) == 1:
        return "yes"
    if set(theirs) & set(ours) and None not in theirs + ours:
        return "yes (workload varies run to run)"
    return "**no**"


def measure(args: Any) -> dict[str, Any]:
    env = python_env()
    loads = workloads(args.quick, args.dd_count, args.loop_count)
    scheds = ["default", "pinned"]
    reps = args.reps or (1 if args.quick else 5)
    results: dict[str, Any] = {"reps": reps, "workloads": {k: shlex.join(v) for k, v in loads.items()}, "runs": {}}
    times: dict[tuple[str, str, str], list[float]] = {}
    counts: dict[tuple[str, str, str], list[int | None]] = {}
    captures: dict[tuple[str, str, str], list[float]] = {}
    stops: dict[tuple[str, str, str], list[int]] = {}
    failures: list[str] = []
    for rep in range(reps):
        for wname, workload in loads.items():
            for sched in scheds:
                for cname, prefix in cases(sched, args.cpu, args.spin_us).items():
                    run = run_command(prefix + workload, env=env)
                    if run.returncode != 0:
                        failures.append(f"{wname}/{sched}/{cname}: exit {run.returncode}: {run.stderr.strip()[-200:]}")
                    times.setdefault((wname, sched, cname), []).append(run.seconds)
                    if cname.startswith("renacer"):
                        counts.setdefault((wname, sched, cname), []).append(summary_calls(run.stderr))
                        stop_count = _STOPS.search(run.stderr)
                        if stop_count:
                            stops.setdefault((wname, sched, cname), []).append(int(stop_count.group(1)))
                        own = _CAPTURE.search(run.stderr)  # its own time from the first stop to the end
                        if own:
                            captures.setdefault((wname, sched, cname), []).append(float(own.group(1)))
    # Start-up: renacer tracing `true` against strace tracing `true`.
    startup: dict[str, list[float]] = {"true untraced": [], "strace true": [], "renacer true": [], "python -c pass": []}
    for _ in range(reps if args.quick else max(reps, 5)):
        startup["true untraced"].append(run_command(["true"], env=env).seconds)
        startup["strace true"].append(run_command(["strace", "-f", "-o", "/dev/null", "true"], env=env).seconds)
        startup["renacer true"].append(run_command(renacer_argv([]) + ["true"], env=env).seconds)
        startup["python -c pass"].append(run_command([sys.executable, "-c", "pass"], env=env).seconds)
    startup_med = {k: median(v) for k, v in startup.items()}
    results["startup_s"] = startup_med
    results["filtered"] = _filtered_long_dd(args, env, reps)
    results["rss"] = _peak_rss(args, env) if args.rss_count > 0 else None
    results["failures"] = failures
    # Span counts against strace -f -c (full and filtered), each run as often as renacer ran.
    count_rows = []
    for wname, workload in loads.items():
        row: dict[str, Any] = {"workload": wname}
        for label, case, extra in (("", "renacer full", []), (" %file", "renacer %file", ["--seccomp-bpf", "-e", FILE_FILTER])):
            theirs = sorted({strace_count(workload, extra, env) for _ in range(reps)}, key=str)
            ours = sorted({c for s in scheds for c in counts.get((wname, s, case), [])}, key=str)
            row["strace" + label] = _one(theirs)
            row["renacer" + label] = _one(ours)
            row["equal" + label] = _agreement(theirs, ours)
        count_rows.append(row)
    results["counts"] = count_rows
    # Medians and ratios.
    rows = []
    target_rows = []
    for wname in loads:
        for sched in scheds:
            names = list(cases(sched, args.cpu, args.spin_us))
            med = {c: median(times[(wname, sched, c)]) for c in names}
            for cname in names:
                base = med["strace seccomp %file"] if "%file" in cname else med["strace"]
                row = {
                    "workload": wname, "sched": sched, "case": cname, "median_s": med[cname],
                    "samples_s": times[(wname, sched, cname)],
                    "x_untraced": ratio(med[cname], med["untraced"]),
                    "x_strace": ratio(med[cname], base) if cname.startswith("renacer") else None,
                }
                if cname.startswith("renacer"):
                    row["own_capture_s"] = median(captures.get((wname, sched, cname), []))
                    row["ptrace_stops"] = int(median(stops[(wname, sched, cname)])) if stops.get((wname, sched, cname)) else None
                    # Its own time from the first stop to the end (start-up excluded) against strace's wall.
                    row["x_strace_capture_only"] = ratio(row["own_capture_s"], base)
                rows.append(row)
            target = _FULL_TARGETS.get((wname, sched), 1.2)
            target_rows.append(target_row(f"{wname} {sched}: full / strace -f", ratio(med["renacer full"], med["strace"]),
                                          target, "×"))
    f = results["filtered"]
    target_rows.append(target_row(f"%file on dd count={f['dd_count']}, pinned / strace --seccomp-bpf",
                                  ratio(f["renacer %file"], f["strace seccomp %file"]), 1.5, "×"))
    target_rows.append(target_row("start-up: `--no-tui -- true` minus the same interpreter's `-c pass`",
                                  (startup_med["renacer true"] - startup_med["python -c pass"]) * 1000, 60.0, "ms"))
    results["rows"] = rows
    results["targets"] = target_rows
    return results


def _filtered_long_dd(args: Any, env: dict[str, str], reps: int) -> dict[str, float]:
    """`-e trace=%file` where start-up is amortised: a long dd, pinned, against strace --seccomp-bpf."""
    count = 100 if args.quick else args.filter_dd_count
    dd = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={count}"]
    pinned = cases("pinned", args.cpu, -1)
    times: dict[str, list[float]] = {"strace seccomp %file": [], "renacer %file": []}
    for _ in range(reps):
        for name in times:
            times[name].append(run_command(pinned[name] + dd, env=env).seconds)
    return {"dd_count": count, **{name: median(values) for name, values in times.items()}}


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _peak_rss(args: Any, env: dict[str, str]) -> dict[str, Any]:
    """Peak RSS of the capture process and of the decoder process (its child) over a long dd,
    read from /proc/PID/status VmHWM every 50 ms (the last reading before each exits)."""
    import subprocess
    import time

    count = 1000 if args.quick else args.rss_count
    argv = renacer_argv(["--pin-cpu", str(args.cpu)]) + ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={count}"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    capture = decoder = 0
    decoder_pid = None
    while proc.poll() is None:
        capture = max(capture, _vm_hwm_kib(proc.pid) or 0)
        if decoder_pid is None:
            try:
                children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            except OSError:
                children = []
            for child in children:  # the decoder is the renacer child that is not dd
                if "renacer_tui" in Path(f"/proc/{child}/cmdline").read_bytes().decode("utf-8", "replace"):
                    decoder_pid = int(child)
        if decoder_pid is not None:
            decoder = max(decoder, _vm_hwm_kib(decoder_pid) or 0)
        time.sleep(0.05)
    proc.communicate()
    return {"dd_count": count, "capture_mib": capture / 1024, "decoder_mib": decoder / 1024,
            "seconds": time.perf_counter() - t0, "returncode": proc.returncode}


def _times(value: float | None) -> str:
    if value is None:
        return ""
    return "n/a" if value != value else f"{value:.2f}×"


def render(results: dict[str, Any], info: dict[str, Any], command: str) -> str:
    out = [f"### tracer (`{command}`)", "", f"Machine: {machine_line(info)}; {results['reps']} repetitions, medians.", ""]
    out.append("Workloads: " + "; ".join(f"**{k}** `{v}`" for k, v in results["workloads"].items()))
    out.append("")
    cells = []
    for r in results["rows"]:
        x_strace = r["x_strace"]
        cells.append([r["workload"], r["sched"], r["case"], r["median_s"], r["x_untraced"],
                      _times(x_strace),
                      r.get("own_capture_s", ""), _times(r.get("x_strace_capture_only")),
                      "" if r.get("ptrace_stops") is None else r["ptrace_stops"]])
    out.append(markdown_table(["workload", "scheduling", "case", "median s", "× untraced", "× strace (same filter)",
                               "renacer capture s (own)", "× strace, capture only", "ptrace stops"], cells))
    out.append("")
    s = results["startup_s"]
    out.append(f"Start-up (tracing `true`): untraced {s['true untraced'] * 1000:.1f} ms, strace {s['strace true'] * 1000:.1f} ms, "
               f"renacer {s['renacer true'] * 1000:.1f} ms, the same interpreter's `-c pass` {s['python -c pass'] * 1000:.1f} ms. "
               f"Filtered on a long dd, pinned: renacer %file {results['filtered']['renacer %file']:.3f} s, "
               f"strace --seccomp-bpf {results['filtered']['strace seccomp %file']:.3f} s. ")
    rss = results.get("rss")
    if rss:
        out.append(f"Peak RSS over dd count={rss['dd_count']:,} pinned ({rss['seconds']:.1f} s): capture process "
                   f"{rss['capture_mib']:.1f} MiB, decoder process {rss['decoder_mib']:.1f} MiB. ")
    out.append("\"renacer capture s (own)\" is the time renacer "
               "reports from its first ptrace stop to the end (start-up excluded, 10 ms resolution); \"× strace, capture only\" "
               "divides it by strace's whole wall time.")
    out.append("")
    out.append(markdown_table(["workload", "strace -f -c calls", "renacer calls", "equal", "strace %file", "renacer %file", "equal %file"],
                              [[c["workload"], c["strace"], c["renacer"], c["equal"], c["strace %file"], c["renacer %file"], c["equal %file"]]
                               for c in results["counts"]]))
    out.append("")
    out.append(targets_table(results["targets"]))
    if results["failures"]:
        out.append("")
        out.append("Failures: " + "; ".join(results["failures"][:5]))
    return "\n".join(out)


def main(argv: list[str]) -> int:
    parser = base_parser("tracer", __doc__.splitlines()[0])
    parser.add_argument("--dd-count", type=int, default=20000, help="dd bs=1 count (syscall-heavy workload)")
    parser.add_argument("--loop-count", type=int, default=200, help="iterations of the fork-heavy sh loop")
    parser.add_argument("--cpu", type=int, default=0, help="CPU for the pinned runs")
    parser.add_argument("--filter-dd-count", type=int, default=200000, help="dd count for the filtered (%%file) target")
    parser.add_argument("--rss-count", type=int, default=2000000, help="dd count of the RSS run (0: skip it)")
    parser.add_argument("--spin-us", type=int, default=0,
                        help="also run renacer full with --spin-us N, against its default 50 (0: no spin; -1: skip)")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("strace", "taskset") if shutil.which(tool) is None]
    if missing:
        print(f"bench tracer: needs {', '.join(missing)} on PATH", file=sys.stderr)
        return 2
    if args.cpu not in os.sched_getaffinity(0):
        print(f"bench tracer: CPU {args.cpu} is not available", file=sys.stderr)
        return 2
    info = machine()
    results = measure(args)
    info_after = machine()
    info["load_after"] = info_after["load"]
    command = "python -m bench tracer" + ("" if not argv else " " + " ".join(argv))
    return report("tracer", {"machine": info, **results}, render(results, info, command), args.out)
