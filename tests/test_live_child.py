"""The live TUI's capture child and its feed, driven directly (no screen): what its kill reaches,
what the live lines say of a real program."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from renacer_tui.live.child import CaptureChild
from tests.test_tui_live import _reap


def test_kill_reaches_processes_the_feed_has_not_shown(db_path: Path) -> None:
    """The UI's kill takes every process the capture traces, not only those on screen."""
    child = CaptureChild(["--no-store"], ["sh", "-c", "sleep 30 & sleep 30"])
    feed = child.start()
    reader = threading.Thread(target=lambda: [None for _ in feed], daemon=True)  # as the UI, drain it
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(child._traced_now()) < 3 and time.monotonic() < deadline:  # sh and both sleeps
            time.sleep(0.05)
        assert len(child._traced_now()) >= 3
        started = time.monotonic()
        child.kill_program([])  # nothing shown yet
        assert child.finish() == 128 + signal.SIGKILL
        assert time.monotonic() - started < 5  # ended by the kill, not by the SIGTERM fallback
    finally:
        _reap(child)
        reader.join(10)
        child.log_path.unlink(missing_ok=True)


def test_live_lines_mark_the_call_after_a_signal(cbuild) -> None:  # noqa: ANN001
    from renacer_tui.live.model import LiveModel
    from tests.test_signal_records import SIGNALS
    from tests.test_tui_live import real_feed

    model = LiveModel(capacity=10_000)
    for piece in real_feed([str(cbuild("signals", SIGNALS))], exit_code=4):
        model.absorb(piece)
    lines = [model.line(i).plain for i in range(model.line_count)]
    marked = [line for line in lines if "(after SIG" in line]
    assert [line.rsplit("(after ", 1)[1] for line in marked] == [
        "SIGUSR1)", "SIGUSR2)", "SIGCHLD)", "SIGCHLD)", "SIGCHLD)", "SIGUSR1)"]
    assert all(" rt_sigreturn(" in line for line in marked)
