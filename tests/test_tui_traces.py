"""The traces browser and `view`, and hostile traced data in every stored-trace pane."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static
from tui_helpers import record, screen_text
from tui_helpers import wait_until as until

from renacer_tui.app import RenacerApp
from renacer_tui.screens.span_tree import SpanTreeScreen
from renacer_tui.screens.sql_console import SqlConsoleScreen
from renacer_tui.screens.traces import TracesScreen
from renacer_tui.store import Store

# "/" in "[/]" makes part of it a directory: the path as a whole is the hostile string
HOSTILE = "evil\x1b[31m[bold red]x[/]"
HOSTILE_SHOWN = "evil\\33[31m[bold red]x[/]"  # the escape made visible (octal, as strace), the markup left as text


def shown_ids(screen: TracesScreen) -> list[str]:
    return [row["trace_id"] for row in screen.shown]


@pytest.mark.asyncio
async def test_browse_search_sort_and_open(db_path: Path) -> None:
    small = record("true")
    big = record("sh", "-c", "ls / >/dev/null; cat /etc/hostname >/dev/null")
    store = Store.open(db_path)
    app = RenacerApp(store=store)
    app.start_traces()
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, TracesScreen)
            table = screen.query_one("#traces", DataTable)
            await until(pilot, lambda: table.row_count == 2)
            assert shown_ids(screen) == [big, small]  # newest first
            assert "2 of 2 traces" in str(screen.query_one("#traces-status", Static).render())

            # search by command text, then by trace id prefix
            await pilot.press("slash")
            search = screen.query_one("#search", Input)
            assert search.has_focus
            await pilot.press(*"hostn")
            assert shown_ids(screen) == [big] and table.row_count == 1
            search.value = small[:10]
            await pilot.pause()
            assert shown_ids(screen) == [small]
            search.value = "no-such-trace"
            await pilot.pause()
            assert table.row_count == 0 and "0 of 2" in str(screen.query_one("#traces-status", Static).render())
            search.value = ""
            await pilot.press("enter")  # back to the table
            assert table.has_focus and table.row_count == 2

            # sort: s cycles the column, S reverses
            while screen.sort_column != [key for key, _ in __import__("renacer_tui.screens.traces", fromlist=["COLUMNS"]).COLUMNS].index("spans"):
                await pilot.press("s")
            assert shown_ids(screen) == [big, small]  # most spans first
            await pilot.press("S")
            assert shown_ids(screen) == [small, big]
            assert "spans ↑" in str(screen.query_one("#traces-status", Static).render())

            # enter opens the selected trace's span tree; escape comes back
            table.move_cursor(row=1)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.index is not None)
            assert app.screen.trace_id == big
            await pilot.press("escape")
            assert app.screen is screen
    finally:
        store.close()


@pytest.mark.parametrize(
    ("trace_id", "code", "message"),
    [("BAD", 2, "32 hex digits"), ("0" * 31 + "1", 1, "0" * 31 + "1")],
)
def test_view_bad_trace_id_is_one_line(db_path: Path, trace_id: str, code: int, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "view", "--trace-id", trace_id],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.asyncio
async def test_hostile_file_name_is_literal_in_stored_panes(db_path: Path, tmp_path: Path) -> None:
    evil = tmp_path / HOSTILE
    evil.parent.mkdir()
    evil.write_text("x\n")
    trace_id = record("cat", HOSTILE, cwd=tmp_path)  # relative: the whole name fits the command column
    store = Store.open(db_path)
    app = RenacerApp(store=store)
    app.start_traces()
    try:
        async with app.run_test(size=(200, 40)) as pilot:
            screen = app.screen
            table = screen.query_one("#traces", DataTable)
            await until(pilot, lambda: table.row_count == 1)
            await until(pilot, lambda: "cat " in screen_text(app))  # the row drawn, not only added
            text = screen_text(app)
            assert "\x1b" not in text
            assert "cat " + HOSTILE_SHOWN in text  # the command column

            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.tree_view is not None)
            tree_screen = app.screen
            await pilot.pause()
            tree_screen.query_one("#find", Input).value = "syscall.pathname=" + HOSTILE_SHOWN  # as the pane shows it
            await pilot.press("slash")
            await pilot.press("enter")
            row = tree_screen.current_row()
            assert row is not None and tree_screen.index.names[row] == "syscall:openat"
            detail = tree_screen.query_one("#detail", DataTable)
            values = [detail.get_row_at(i)[1] for i in range(detail.row_count)]
            assert any(str(v).endswith(HOSTILE_SHOWN) for v in values)
            text = screen_text(app)
            assert "\x1b" not in text and HOSTILE_SHOWN in text
            assert trace_id in text

            await pilot.press("f3")
            await until(pilot, lambda: isinstance(app.screen, SqlConsoleScreen))
            sql = app.screen
            sql.query_one("#editor").load_text(
                f"SELECT json_extract_string(attributes, '$.\"syscall.pathname\"') AS path FROM spans "
                f"WHERE trace_id = '{trace_id}' AND span_name = 'syscall:openat' AND attributes LIKE '%evil%'"
            )
            await pilot.press("f5")
            results = sql.query_one("#results", DataTable)
            await until(pilot, lambda: not sql.running and results.row_count > 0)
            assert str(results.get_row_at(0)[0]).endswith(HOSTILE_SHOWN)
            text = screen_text(app)
            assert "\x1b" not in text and HOSTILE_SHOWN in text
    finally:
        store.close()


@pytest.mark.asyncio
async def test_help_and_command_palette_reach_the_screens(db_path: Path) -> None:
    from textual.command import CommandPalette

    from renacer_tui.screens.help import HelpScreen

    trace_id = record("true")
    store = Store.open(db_path)
    app = RenacerApp(store=store)
    app.start_traces()
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.screen.query_one("#traces", DataTable).row_count == 1)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            help_text = screen_text(app)
            assert "command palette" in help_text and "traces browser" in help_text
            await pilot.press("escape")
            assert isinstance(app.screen, TracesScreen)

            await pilot.press("ctrl+p")
            await until(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press(*"SQL console")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, SqlConsoleScreen))

            await pilot.press("ctrl+p")
            await until(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press(*"Traces browser")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TracesScreen) and app.screen.shown != [])
            assert app.screen.shown[0]["trace_id"] == trace_id
    finally:
        store.close()
