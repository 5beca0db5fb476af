"""What the TUI tests share: a stored trace of a real run, waiting on the app, the screen as text."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from rich.console import Console


def record(*command: str, cwd: Path | None = None, check: bool = False, flags: tuple[str, ...] = ()) -> str:
    """Trace COMMAND headless into the store (RENACER_DB) and return its trace id.

    `check=True` also requires the traced program to exit 0; `flags` go to renacer-tui.
    """
    result = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", *flags, "-o", "/dev/null", "--", *command],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=cwd,
    )
    if check:
        assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r"^trace_id=([0-9a-f]{32})$", result.stderr, re.M)
    assert match, result.stderr[-2000:]
    return match.group(1)


async def wait_until(pilot: Any, condition: Callable[[], Any], timeout: float = 20.0) -> None:
    """Let the app run until `condition()` holds (workers and messages need real time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the UI"
        await pilot.pause(0.05)


def screen_text(app: Any) -> str:
    """What a terminal shows now, as plain text (Textual's screenshot path, without SVG)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system="truecolor", record=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()
