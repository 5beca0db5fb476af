"""Make the README's screenshots: one SVG per screen, from real traces, headless.

    python screenshots/make_screenshots.py [OUT_DIR]

It traces a small shell workload live (the capture child, exactly as `renacer-tui -- CMD`
runs it) into a throw-away store, then drives the app with Textual's pilot and saves
`app.save_screenshot` SVGs of the live screen, the span tree, the SQL console with a result,
the traces browser and help — and the critical-path and anti-pattern screens when this build
has them.  Nothing touches the user's store.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZE = (120, 36)
# Reads a config file, misses a few (errors), forks cat/ls/grep, and copies 20000 bytes one at a
# time with dd (a read/write cycle that RLE folds into one row each).
WORKLOAD = (
    "for f in /etc/hostname /etc/os-release /etc/renacer-missing.conf; do cat $f >/dev/null 2>&1; done; "
    "ls /usr/bin | grep -c py >/dev/null; "
    "dd if=/dev/zero of=/dev/null bs=1 count=20000 2>/dev/null; "
    "sleep 0.2"
)
SQL = (
    "SELECT span_name, count(*) AS calls, round(sum(duration_ns) / 1e6, 3) AS total_ms,\n"
    "       count(*) FILTER (WHERE status = 'ERROR') AS errors\n"
    "FROM spans WHERE span_name LIKE 'syscall:%' GROUP BY span_name ORDER BY total_ms DESC LIMIT 15"
)


async def until(pilot: Any, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the screen did not get ready in time")
        await pilot.pause(0.05)


async def live_and_stored(out: Path) -> str:
    """The live screen on a real capture; then the stored screens on the same trace."""
    from renacer_tui.app import RenacerApp
    from renacer_tui.live.child import CaptureChild
    from renacer_tui.screens.help import HelpScreen
    from renacer_tui.screens.span_tree import SpanTreeScreen
    from renacer_tui.screens.sql_console import SqlConsoleScreen
    from renacer_tui.screens.traces import TracesScreen

    command = ["sh", "-c", WORKLOAD]
    child = CaptureChild([], command)
    app = RenacerApp()
    app.start_live(child.start(), command, child)
    async with app.run_test(size=SIZE) as pilot:
        live = app.live_screen
        await until(pilot, lambda: live.returncode is not None and live.feed_closed)
        await pilot.pause(1.2)  # one more rate sample for the sparklines, one header tick
        app.save_screenshot("live.svg", str(out))
        trace_id = live.model.trace_id
        assert trace_id is not None

        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.tree is not None)
        await pilot.press("e")  # the first error, its attributes in the detail pane
        await pilot.pause(0.3)
        app.save_screenshot("span_tree.svg", str(out))

        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, SqlConsoleScreen))
        sql = app.screen
        sql.query_one("#editor").load_text(SQL)
        await pilot.press("f5")
        await until(pilot, lambda: not sql.running and (sql.last_result is not None or sql.last_error is not None))
        if sql.last_error:
            raise RuntimeError(f"the screenshot query failed: {sql.last_error}")
        await pilot.pause(0.3)
        app.save_screenshot("sql_console.svg", str(out))

        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, TracesScreen) and bool(app.screen.shown))
        await pilot.pause(0.2)
        app.save_screenshot("traces.svg", str(out))

        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.5)
        app.save_screenshot("help.svg", str(out))
        await pilot.press("escape")

        for kind in ("critical_path", "antipatterns"):
            if importlib.util.find_spec(f"renacer_tui.screens.{kind}") is None:
                continue
            before = app.screen
            app.open_analysis(kind, trace_id)
            await until(pilot, lambda: app.screen is not before)
            await pilot.pause(3.0)  # the analysis runs in a worker
            app.save_screenshot(f"{kind}.svg", str(out))
            app.pop_screen()
            await pilot.pause()
        app.exit()
    child.finish()
    return trace_id


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="renacer-shots-") as tmp:
        os.environ["RENACER_DB"] = str(Path(tmp) / "db")
        os.chdir(tmp)  # the capture child's program output log and any stray files stay here
        trace_id = asyncio.run(live_and_stored(out))
    for svg in sorted(out.glob("*.svg")):
        print(f"{svg}  ({svg.stat().st_size:,} bytes)")
    print(f"trace {trace_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
