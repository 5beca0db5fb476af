"""`python -m bench tui`: what the live screen absorbs, what it costs the traced program (issue 4).

- Absorption: a synthetic span stream (4096-row batches, the span builder's size) is written as
  the real Arrow IPC live feed to a file by a child process, then `cat` pours it through a pipe
  into the real app (`RenacerApp.start_live` with a `FeedReader`, headless `run_test`).
  Figures: spans/s from the first byte to the feed's end, frame interval and render time p95
  (the live screen's compositor updates), event-loop stall p95 (a 5 ms asyncio probe), and the
  UI process's RSS after all spans (default 1 M).
- Slowdown: `dd bs=1 count=20000` traced headless (`--no-tui --no-store -c`) against the same
  through the TUI's own capture child (`CaptureChild`, `--feed-fd`) feeding the headless app,
  interleaved; wall time of the capture process.  Each TUI rep runs in a fresh UI process, as
  the headless reps do, and waits for the capture the way the app does (blocked in a thread).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    base_parser,
    machine,
    machine_line,
    median,
    peak_rss_mib,
    percentile,
    python_env,
    ratio,
    report,
    rss_mib,
    run_command,
    target_row,
    targets_table,
)

BATCH_ROWS = 4096


def generate_feed(path: Path, spans: int) -> int:
    """Write `spans` synthetic spans as a live-feed IPC stream to `path`; returns rows written."""
    import numpy as np
    import pyarrow as pa

    from bench.store import attribute_pool, synthetic_trace
    from renacer_tui.sinks.feed import FeedSink

    rng = np.random.default_rng(13)
    pool = pa.array(attribute_pool(rng), pa.string())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    sink = FeedSink(fd)
    written = 0
    start = time.time_ns()
    while written < spans:
        trace = synthetic_trace(rng, min(65_536, spans - written), start + written * 5_000, pool)
        for offset in range(0, trace.num_rows, BATCH_ROWS):
            sink.write(trace.slice(offset, BATCH_ROWS))
        written += trace.num_rows
    sink.close()
    return written


async def absorb(feed_path: Path, spans: int, size: tuple[int, int]) -> dict[str, Any]:
    """Pour the feed file through a pipe into the headless app; time it and sample frames."""
    from renacer_tui.app import RenacerApp
    from renacer_tui.live.model import LiveModel
    from renacer_tui.sinks.feed import FeedReader

    gc.collect()
    rss_before = rss_mib()
    read_fd, write_fd = os.pipe()
    reader = FeedReader(read_fd)
    model = LiveModel()
    app = RenacerApp(store_enabled=False)
    app.start_live(reader, ["synthetic-feed"], None, model)
    frames: list[tuple[float, float]] = []  # (start, duration) of each compositor update
    stalls: list[float] = []
    async with app.run_test(headless=True, size=size) as pilot:
        await pilot.pause()
        screen = app.live_screen
        original = screen._on_timer_update

        def timed_update() -> None:
            t = time.perf_counter()
            original()
            frames.append((t, time.perf_counter() - t))

        screen._on_timer_update = timed_update  # instance attribute: the screen's update timer calls it
        screen._update_timer._callback = timed_update
        stop = asyncio.Event()

        async def probe() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.005)
                stalls.append(time.perf_counter() - t - 0.005)

        probe_task = asyncio.create_task(probe())
        t0 = time.perf_counter()
        cat = subprocess.Popen(["cat", str(feed_path)], stdout=write_fd, stdin=subprocess.DEVNULL)
        os.close(write_fd)
        while not screen.feed_closed:
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - t0
        await pilot.pause(0.3)  # the frames showing the last batch (and a header tick) belong to the run
        stop.set()
        await probe_task
        cat.wait()
        gc.collect()
        rss_after = rss_mib()
        rows = model.rows
        lines_held = model.line_count
        shown = app.live_screen.query_one("#spans").virtual_size.height
    # Frames while spans flowed, plus the first one after the end (it shows the last batch).
    t_end = t0 + elapsed
    flowing = [(t, d) for t, d in frames if t0 <= t <= t_end]
    flowing += [(t, d) for t, d in frames if t > t_end][:1]
    if len(flowing) < 2:  # a tiny feed can end within one frame: take every frame since the start
        flowing = [(t, d) for t, d in frames if t >= t0]
    intervals = [b[0] - a[0] for a, b in zip(flowing, flowing[1:])]
    durations = [d for _, d in flowing]
    return {
        "spans": rows, "expected": spans, "seconds": elapsed, "spans_per_s": ratio(rows, elapsed),
        "frames": len(flowing), "frame_interval_p50_ms": percentile(intervals, 50) * 1000,
        "frame_interval_p95_ms": percentile(intervals, 95) * 1000, "render_p95_ms": percentile(durations, 95) * 1000,
        "loop_stall_p95_ms": percentile(stalls, 95) * 1000, "loop_stall_max_ms": max(stalls, default=0.0) * 1000,
        "rss_before_mib": rss_before, "rss_after_mib": rss_after, "peak_rss_mib": peak_rss_mib(),
        "lines_held": lines_held, "pane_height": shown, "dropped_seen": model.dropped,
    }


async def tui_capture_once(workload: list[str], size: tuple[int, int]) -> tuple[float, int, int]:
    """Trace `workload` through the TUI's capture child with the app reading; (seconds, exit, spans)."""
    from renacer_tui.app import RenacerApp
    from renacer_tui.live.child import CaptureChild

    child = CaptureChild(["--no-store"], workload)
    app = RenacerApp(store_enabled=False)
    try:
        t0 = time.perf_counter()
        reader = child.start()
        app.start_live(reader, workload, child)
        async with app.run_test(headless=True, size=size) as pilot:
            # Wait as the app does (a thread blocked in waitpid), not by polling: a 2 ms poll
            # woke the measured UI process 500 times a second and cost the traced dd ~10%.
            await asyncio.to_thread(child.wait)
            seconds = time.perf_counter() - t0
            deadline = time.monotonic() + 10
            while not app.live_screen.feed_closed and time.monotonic() < deadline:
                await pilot.pause(0.01)
            calls = app.live_screen.model.calls
        code = child.finish()
    finally:
        child.log_path.unlink(missing_ok=True)
    return seconds, code, calls


def tui_capture_in_child(dd_count: int, size: tuple[int, int], env: dict[str, str]) -> tuple[float, int, int]:
    """One TUI rep in a fresh UI process, as a user gets it (not the bench process, which holds
    the absorption run's heap and threads); its imports happen before its clock starts."""
    argv = [sys.executable, "-m", "bench", "tui", "--tui-rep", "--dd-count", str(dd_count),
            "--width", str(size[0]), "--height", str(size[1])]
    out = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    try:
        seconds, code, seen = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"bench tui: TUI rep failed (exit {out.returncode}): {out.stderr[-500:]}") from None
    return float(seconds), int(code), int(seen)


def slowdown(reps: int, dd_count: int, size: tuple[int, int]) -> dict[str, Any]:
    workload = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={dd_count}"]
    headless_argv = [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-c", "--", *workload]
    headless, tui, calls, codes = [], [], [], []
    env = python_env()
    for _ in range(reps):
        run = run_command(headless_argv, env=env)
        if run.returncode != 0:  # a failed run's time says nothing about tracing dd
            raise SystemExit(f"bench tui: headless traced dd failed (exit {run.returncode}): {run.stderr[-500:]}")
        headless.append(run.seconds)
        codes.append(run.returncode)
        seconds, code, seen = tui_capture_in_child(dd_count, size, env)
        if code != 0 or seen == 0:
            raise SystemExit(f"bench tui: dd traced through the TUI's capture child failed (exit {code}, {seen} calls seen)")
        tui.append(seconds)
        codes.append(code)
        calls.append(seen)
    return {"reps": reps, "headless_s": median(headless), "tui_s": median(tui), "ratio": ratio(median(tui), median(headless)),
            "ratio_of_min": ratio(min(tui), min(headless)),  # runs are bimodal on this VM: fastest vs fastest too
            "samples_headless": headless, "samples_tui": tui, "calls_seen_by_ui": calls, "exit_codes": codes}


def render(r: dict[str, Any], info: dict[str, Any], command: str) -> str:
    a = r["absorb"]
    s = r["slowdown"]
    lines = [f"### tui (`{command}`)", "", f"Machine: {machine_line(info)} (load after: {info.get('load_after')}).", ""]
    lines.append("| figure | value |")
    lines.append("|---|---|")
    lines.append(f"| spans fed (4096-row batches, real IPC feed over a pipe) | {a['spans']:,} of {a['expected']:,} |")
    lines.append(f"| absorbed in | {a['seconds']:.2f} s → **{a['spans_per_s']:,.0f} spans/s** |")
    lines.append(f"| screen updates while flowing | {a['frames']:,} (interval p50 {a['frame_interval_p50_ms']:.1f} ms, "
                 f"**p95 {a['frame_interval_p95_ms']:.1f} ms**; render p95 {a['render_p95_ms']:.1f} ms) |")
    lines.append(f"| event-loop stall (5 ms probe) | p95 {a['loop_stall_p95_ms']:.1f} ms, max {a['loop_stall_max_ms']:.1f} ms |")
    lines.append(f"| UI process RSS | {a['rss_before_mib']:.0f} MiB before → **{a['rss_after_mib']:.0f} MiB** after "
                 f"(peak {a['peak_rss_mib']:.0f} MiB); rows held {a['lines_held']:,} |")
    lines.append(f"| traced `dd bs=1 count={r['dd_count']}` ({s['reps']} reps) | headless {s['headless_s']:.3f} s, "
                 f"TUI capture child + app {s['tui_s']:.3f} s → **{s['ratio']:.3f}×** (fastest runs: {s['ratio_of_min']:.3f}×) |")
    lines.append("")
    lines.append(targets_table(r["targets"]))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = base_parser("tui", __doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans poured into the live screen")
    parser.add_argument("--dd-count", type=int, default=20000, help="dd count for the slowdown figure")
    parser.add_argument("--width", type=int, default=120)
    parser.add_argument("--height", type=int, default=40)
    parser.add_argument("--generate", type=Path, default=None, help=argparse_hidden())
    parser.add_argument("--tui-rep", action="store_true", help=argparse_hidden())
    args = parser.parse_args(argv)
    if args.generate is not None:  # child mode: write the feed file and exit
        print(generate_feed(args.generate, args.spans))
        return 0
    if args.tui_rep:  # child mode: one traced dd through the TUI's capture child, as JSON
        from renacer_tui.app import RenacerApp  # noqa: F401  (imported before the clock starts)

        workload = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={args.dd_count}"]
        print(json.dumps(asyncio.run(tui_capture_once(workload, (args.width, args.height)))))
        return 0
    spans, dd_count, reps = args.spans, args.dd_count, args.reps or 5
    if args.quick:
        spans, dd_count, reps = 20_000, 200, 1
    size = (args.width, args.height)
    info = machine()
    with tempfile.TemporaryDirectory(prefix="renacer-bench-tui-") as tmp:
        feed = Path(tmp) / "feed.arrows"
        subprocess.run([sys.executable, "-m", "bench", "tui", "--generate", str(feed), "--spans", str(spans)],
                       check=True, env=python_env(), stdout=subprocess.DEVNULL)
        result: dict[str, Any] = {"dd_count": dd_count, "feed_bytes": feed.stat().st_size}
        result["absorb"] = asyncio.run(absorb(feed, spans, size))
    result["slowdown"] = slowdown(reps, dd_count, size)
    a = result["absorb"]
    result["targets"] = [
        target_row("spans/s absorbed by the live screen", a["spans_per_s"], 100_000, "spans/s", higher_is_better=True),
        target_row("frame interval p95 while spans flow", a["frame_interval_p95_ms"], 50, "ms"),
        target_row("traced program, TUI / headless, medians", result["slowdown"]["ratio"], 1.05, "×"),
        target_row("traced program, TUI / headless, fastest runs", result["slowdown"]["ratio_of_min"], 1.05, "×"),
        target_row(f"UI RSS after {a['spans']:,} spans", a["rss_after_mib"], 300, "MiB"),
    ]
    info["load_after"] = machine()["load"]
    command = "python -m bench tui" + ("" if not argv else " " + " ".join(argv))
    return report("tui", {"machine": info, **result}, render(result, info, command), args.out)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS
