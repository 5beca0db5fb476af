"""The SQL console on a store holding a real recorded trace (Textual pilot, headless)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static, TextArea, Tree
from tui_helpers import record
from tui_helpers import wait_until as until

from renacer_tui.app import RenacerApp
from renacer_tui.screens.sql_console import SqlConsoleScreen
from renacer_tui.store import Store

pytestmark = pytest.mark.asyncio


def status(screen: SqlConsoleScreen) -> str:
    return str(screen.query_one("#sql-status", Static).render())


async def test_type_run_error_history_and_cancel(db_path: Path) -> None:
    trace_id = record("sh", "-c", "cat /etc/hostname >/dev/null; ls /no-such-dir-renacer")
    store = Store.open(db_path)
    expected = store.query(
        f"SELECT span_name, count(*) AS n FROM spans WHERE trace_id = '{trace_id}' GROUP BY span_name"
    ).num_rows
    assert expected > 5
    app = RenacerApp(store=store)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            await until(pilot, lambda: isinstance(app.screen, SqlConsoleScreen))
            screen = app.screen
            editor = screen.query_one("#editor", TextArea)
            assert editor.has_focus
            # the sidebar lists the views and their columns
            schema = screen.query_one("#schema", Tree)
            await until(pilot, lambda: len(schema.root.children) > 0)
            views = {str(node.label) for node in schema.root.children}
            assert {"spans", "traces", "runs"} <= views

            # type a query (keys, like a user) and run it with ctrl+enter
            await pilot.press("ctrl+l")
            assert editor.text == ""
            await pilot.press(*"SELECT 1")
            assert editor.text == "SELECT 1"
            editor.load_text(f"SELECT span_name, count(*) AS n FROM spans WHERE trace_id = '{trace_id}' GROUP BY span_name")
            await pilot.press("ctrl+enter")
            results = screen.query_one("#results", DataTable)
            await until(pilot, lambda: not screen.running and results.row_count > 0)
            assert results.row_count == expected
            assert [str(c.label) for c in results.columns.values()] == ["span_name", "n"]
            assert re.search(rf"\b{expected} rows in [0-9.]+ ms", status(screen))
            names = {str(results.get_row_at(i)[0]) for i in range(results.row_count)}
            assert "syscall:execve" in names

            # bad SQL: an inline one-line error; the last good results stay
            editor.load_text("SELEC span_name FROM spans")
            await pilot.press("f5")
            await until(pilot, lambda: not screen.running and screen.last_error is not None)
            shown = status(screen)
            assert shown.startswith("error") and "SELEC" in shown and "\n" not in shown
            assert results.row_count == expected
            assert app.screen is screen  # no crash, no modal

            # history: ctrl+up walks back through what ran
            await pilot.press("ctrl+up")
            assert editor.text == "SELEC span_name FROM spans"
            await pilot.press("ctrl+up")
            assert editor.text.startswith("SELECT span_name, count(*)")
            await pilot.press("ctrl+down", "ctrl+down")
            assert editor.text == ""

            # a query that would run for minutes is cancelled with ctrl+k, the UI stays live
            editor.load_text("SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE (a.range * b.range) % 7 = 3")
            await pilot.press("ctrl+r")
            assert screen.running
            await pilot.pause(0.5)
            assert screen.running and "running" in status(screen)
            await pilot.press("ctrl+k")
            await until(pilot, lambda: not screen.running, timeout=10)
            assert screen.last_error is not None and "interrupt" in screen.last_error.lower()
            assert "error" in status(screen)

            # escape first leaves the editor (tab indents there), a second one leaves the console
            editor.focus()
            await pilot.press("escape")
            assert not editor.has_focus and app.screen is screen
            await pilot.press("escape")
            assert not isinstance(app.screen, SqlConsoleScreen)
    finally:
        store.close()
