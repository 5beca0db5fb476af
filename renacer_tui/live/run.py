"""`renacer-tui -- CMD` on a terminal: the live TUI around a capture child, and what is said
when it ends (the trace id, where the program's output went, a detached capture's pid)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from renacer_tui.app import RenacerApp
from renacer_tui.live.child import PROG, CaptureChild


def run_live_tui(capture_args: list[str], command: list[str]) -> int:
    """Run CMD under a capture child and show it live; returns the program's exit code."""
    child = CaptureChild(capture_args, command)
    try:
        reader = child.start()
    except OSError as exc:
        print(f"{PROG}: cannot start the capture: {exc.strerror or exc}", file=sys.stderr)
        return 1
    db = _option_value(capture_args, "--db")
    no_store = "--no-store" in capture_args
    app = RenacerApp(store_path=None if no_store else (Path(db) if db else None), store_enabled=not no_store)
    app.start_live(reader, command, child)
    started = time.monotonic()
    try:
        app.run()
    finally:
        if child.returncode is None and child.decision is None:
            child.kill_program(app.live_pids())
        child.stop_feed()
        feed_thread = getattr(app.live_screen, "feed_thread", None)
        if feed_thread is not None:
            feed_thread.join(5.0)
    code = child.finish()
    trace_id = app.live_trace_id()
    if child.decision == "detach" and not child.attached and child.returncode is None:
        print(f"{PROG}: detached; capture pid {child.pid} keeps tracing in the background", file=sys.stderr)
    if trace_id:
        print(f"{PROG}: trace_id={trace_id} ({time.monotonic() - started:.1f}s)", file=sys.stderr)
    _report_output(child.log_path, keep=child.decision == "detach")
    return code


def _report_output(path: Path, keep: bool) -> None:
    try:
        size = path.stat().st_size
    except OSError:
        return
    if size == 0 and not keep:
        path.unlink(missing_ok=True)
    else:
        print(f"{PROG}: program output in {path}", file=sys.stderr)


def _option_value(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None
