"""The diff screen: mark two traces in the browser, open the diff, read it, jump to spans."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cprograms import ONE_WRITE, PY_ONE_BYTE_WRITES
from textual.widgets import DataTable, Static
from tui_helpers import record, screen_text
from tui_helpers import wait_until as until

from renacer_tui.app import RenacerApp
from renacer_tui.screens.diff import DiffScreen
from renacer_tui.screens.span_tree import SpanTreeScreen
from renacer_tui.screens.traces import TracesScreen
from renacer_tui.store import Store

PAYLOADS = ("--capture-payloads",)


def cells(table: DataTable, row: int) -> list[str]:
    return [str(cell) for cell in table.get_row_at(row)]


async def mark_and_open(app: RenacerApp, pilot, first: str, second: str) -> DiffScreen:
    screen = app.screen
    assert isinstance(screen, TracesScreen)
    table = screen.query_one("#traces", DataTable)
    await until(pilot, lambda: table.row_count == 2)
    for trace_id in (first, second):
        table.move_cursor(row=[r["trace_id"] for r in screen.shown].index(trace_id))
        await pilot.press("m")
    assert screen.marked == [first, second]
    assert "[A]" in screen_text(app) and "[B]" in screen_text(app)
    await pilot.press("d")
    await until(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.report is not None, timeout=60)
    return app.screen


@pytest.mark.asyncio
async def test_marked_traces_open_a_diff_with_files_efficiency_and_sequence(db_path: Path, tmp_path: Path, cbuild) -> None:
    (tmp_path / "py").mkdir()
    (tmp_path / "c").mkdir()
    python = record(sys.executable, "-B", "-c", PY_ONE_BYTE_WRITES, "out.bin", "3001", cwd=tmp_path / "py", flags=PAYLOADS)
    c = record(str(cbuild("one_write", ONE_WRITE)), "out.bin", "3001", cwd=tmp_path / "c", flags=PAYLOADS)
    store = Store.open(db_path)
    app = RenacerApp(store=store)
    app.start_traces()
    try:
        async with app.run_test(size=(140, 50)) as pilot:
            diff = await mark_and_open(app, pilot, python, c)
            files = diff.query_one("#diff-files", DataTable)
            out_row = next(i for i in range(files.row_count) if cells(files, i)[1] == "./out.bin")
            assert cells(files, out_row)[:5] == ["✓ match", "./out.bin", "write", "3001", "3001"]
            only_a = [cells(files, i) for i in range(files.row_count) if cells(files, i)[0] == "< only in A"]
            assert only_a and all(row[2] == "read" for row in only_a)  # the interpreter's own files
            efficiency = diff.query_one("#diff-efficiency", DataTable)
            assert cells(efficiency, 0) == ["write()", "3001", "1", "3001.0× fewer calls in B"]
            sequence = diff.query_one("#diff-sequence", DataTable)
            rows = [cells(sequence, i) for i in range(sequence.row_count)]
            assert ["=", "write ×3001", "write ×1"] in rows
            assert {row[0] for row in rows} >= {"=", "-"}  # markers, not colour alone
            verdict = str(diff.query_one("#diff-verdict", Static).render())
            assert "SEMANTICALLY EQUIVALENT (state-based)" in verdict and "PERFORMANCE IMPROVEMENT" in verdict

            # enter on the file row shows the io:stream span in trace A; b the one in trace B
            files.focus()
            files.move_cursor(row=out_row)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.index is not None)
            tree = app.screen
            assert tree.trace_id == python
            await until(pilot, lambda: tree.current_row() is not None)
            assert tree.index.row_dict(tree.current_row())["span_name"].startswith("io:stream ")
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is diff)
            files.focus()
            await pilot.press("b")
            await until(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.index is not None)
            assert app.screen.trace_id == c
    finally:
        store.close()


@pytest.mark.asyncio
async def test_traces_without_payloads_get_the_operation_diff_and_a_hint(db_path: Path, tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("one_write", ONE_WRITE))
    first = record(exe, str(tmp_path / "x.bin"), "10")
    second = record(exe, str(tmp_path / "y.bin"), "10")
    store = Store.open(db_path)
    app = RenacerApp(store=store)
    app.start_traces()
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            diff = await mark_and_open(app, pilot, first, second)
            assert diff.report.state is None
            assert not diff.query_one("#diff-files", DataTable).display
            status = str(diff.query_one("#diff-status", Static).render())
            assert "lack payload hashes" in status and "--capture-payloads" in status
            sequence = diff.query_one("#diff-sequence", DataTable)
            assert {cells(sequence, i)[0] for i in range(sequence.row_count)} == {"="}
            assert "OPERATIONALLY EQUIVALENT" in str(diff.query_one("#diff-verdict", Static).render())
    finally:
        store.close()
