"""File names that are not UTF-8 reach every pane escaped, as strace shows them, never as U+FFFD.

A name is bytes on Linux; the tracer renders the bytes it read (`"raw\\377\\376\\200name"`, as strace), so
the live span pane, the stored span tree's detail pane and SQL all show the same literal text.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input
from tui_helpers import record, screen_text
from tui_helpers import wait_until as until

from renacer_tui.app import RenacerApp
from renacer_tui.live.child import CaptureChild
from renacer_tui.live.span_log import SpanLog
from renacer_tui.screens.span_tree import SpanTreeScreen
from renacer_tui.store import Store

pytestmark = pytest.mark.asyncio

RAW = b"raw\xff\xfe\x80name"
NAME = os.fsdecode(RAW)  # surrogate-escaped: subprocess hands the program the raw bytes
SHOWN = "raw\\377\\376\\200name"


def make_file(directory: Path) -> None:
    with open(os.path.join(os.fsencode(directory), RAW), "wb") as handle:
        handle.write(b"x\n")


async def test_non_utf8_name_in_the_live_span_pane(db_path: Path, tmp_path: Path) -> None:
    make_file(tmp_path)
    command = ["sh", "-c", 'cd "$1" && cat "$2"', "sh", str(tmp_path), NAME]  # relative: the line fits
    child = CaptureChild([], command)
    app = RenacerApp()
    app.start_live(child.start(), command, child)
    async with app.run_test(size=(200, 40)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.returncode is not None and screen.feed_closed)
        await pilot.pause(0.3)
        lines = [screen.model.line(i).plain for i in range(screen.model.line_count)]
        target = next(i for i, line in enumerate(lines) if line.find("openat(") >= 0 and SHOWN in line)
        log = screen.query_one(SpanLog)
        log.follow = False
        log.scroll_to(y=max(0, target - 2), animate=False, immediate=True)
        await pilot.pause()
        text = screen_text(app)
        assert SHOWN in text and "\ufffd" not in text and "\udcff" not in text
        await pilot.press("q")
        await pilot.pause()
    assert child.finish() == 0


async def test_non_utf8_name_in_the_stored_span_tree(db_path: Path, tmp_path: Path) -> None:
    make_file(tmp_path)
    trace_id = record("cat", NAME, cwd=tmp_path, check=True)
    app = RenacerApp(store=Store.open(db_path))
    app.start_traces()
    async with app.run_test(size=(200, 40)) as pilot:
        table = app.screen.query_one("#traces", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert "cat " + SHOWN in screen_text(app)  # the command column
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.tree_view is not None)
        tree = app.screen
        await pilot.pause()
        tree.query_one("#find", Input).value = "syscall.pathname=" + SHOWN
        await pilot.press("slash")
        await pilot.press("enter")
        row = tree.current_row()
        assert row is not None and tree.index.names[row] == "syscall:openat"
        detail = tree.query_one("#detail", DataTable)
        values = [str(detail.get_row_at(i)[1]) for i in range(detail.row_count)]
        assert SHOWN in values
        text = screen_text(app)
        assert trace_id in text and SHOWN in text and "\ufffd" not in text
