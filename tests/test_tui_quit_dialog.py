"""The quit dialog's text fits an 80×24 terminal, for a launched and an attached program (issue 17, item 10).

The choices used to be one 95-column line inside a 72-column box: "detach (it runs on, still
traced and sto" was all a user on a default terminal could read.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
from tui_helpers import screen_text
from tui_helpers import wait_until as wait_for

from renacer_tui.app import RenacerApp
from renacer_tui.live.child import CaptureChild
from renacer_tui.live.screen import LiveScreen, QuitDialog

pytestmark = pytest.mark.asyncio


def dialog_words(app: RenacerApp) -> str:
    """The screen's text with the dialog's border and the line breaks of wrapping removed."""
    return " ".join(re.sub(r"[█▀▄▔▁]", " ", screen_text(app)).split())


async def test_quit_dialog_is_readable_at_80x24(db_path: Path) -> None:
    child = CaptureChild([], ["sleep", "30"])
    app = RenacerApp()
    app.start_live(child.start(), ["sleep", "30"], child)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.live_screen is not None and app.live_screen.model.rows > 5)
            for attached in (False, True):
                if attached:  # the `-p PID` wording, on the same live screen
                    app.push_screen(QuitDialog(attached=True))
                else:
                    await pilot.press("q")
                await pilot.pause(0.2)
                dialog = app.screen
                assert isinstance(dialog, QuitDialog)
                words = dialog_words(app)
                assert "The traced program is still running." in words
                assert "k kill it (SIGKILL)" in words
                detach = "the process keeps running, untraced" if attached else "it runs on in the background, traced and stored"
                assert f"d detach: {detach}" in words
                assert "esc stay" in words
                box = dialog.query_one("#quit-dialog").region
                assert box.right <= 80 and box.bottom <= 24
                await pilot.press("escape")
                await pilot.pause()
                assert isinstance(app.screen, LiveScreen)
            await pilot.press("q")
            await pilot.pause()
            await pilot.press("k")
            await pilot.pause()
        child.finish()
    finally:
        if child.returncode is None and child.pid is not None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)
