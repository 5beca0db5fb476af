"""The span tree's `g`: each process's calls grouped by source line, on real `gcc -g` programs
traced with `--source` (Textual pilot, headless); the groups are checked against SQL on the store."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_tui_span_tree import detail_fields, open_tree
from tui_helpers import record, screen_text, wait_until

from renacer_tui.app import RenacerApp
from renacer_tui.model.kinds import is_process
from renacer_tui.span_groups import NO_SOURCE, GroupKey, SourceGroups
from renacer_tui.span_index import SpanIndex
from renacer_tui.store import Store
from renacer_tui.widgets.span_tree_view import PAGE, SpanTreeView

# Three lines that make syscalls: 20 getppid (one RLE row), 5 one-byte writes, one long sleep.
LINES = r"""#include <time.h>
#include <unistd.h>
int main(void) {
    struct timespec pause = {0, 60000000};
    for (int i = 0; i < 20; i++)
        getppid();                                  /* PPID */
    for (int i = 0; i < 5; i++)
        write(1, "x", 1);                           /* WRITE */
    nanosleep(&pause, NULL);                        /* SLEEP */
    return 0;
}
"""
#: Rich markup in the source file's name: it must reach the screen as these characters.
HOSTILE = "[bold]lines"


def line_of(marker: str) -> int:
    return next(i for i, text in enumerate(LINES.splitlines(), 1) if f"/* {marker} */" in text)


@pytest.fixture(scope="module")
def lines_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    folder = tmp_path_factory.mktemp("srcgroup")
    source = folder / f"{HOSTILE}.c"
    source.write_text(LINES)
    exe = folder / "lines"
    subprocess.run(["gcc", "-g", "-O0", "-fno-omit-frame-pointer", "-o", str(exe), str(source)], check=True)
    return exe


def grouped_in_sql(store: Store, trace_id: str) -> tuple[str, dict[str | None, tuple[int, int]]]:
    """The process span and `SELECT c_source, COUNT(*), SUM(duration_ns) … GROUP BY 1` of its calls."""
    process = store.query(
        "SELECT span_id FROM spans_raw WHERE trace_id = ? AND span_name LIKE 'process:%'", [trace_id]
    ).column("span_id").to_pylist()
    assert len(process) == 1
    rows = store.query(
        "SELECT c_source, COUNT(*) AS calls, SUM(duration_ns) AS ns FROM spans"
        " WHERE trace_id = ? AND parent_span_id = ? GROUP BY 1", [trace_id, process[0]],
    ).to_pylist()
    return process[0], {row["c_source"]: (row["calls"], row["ns"]) for row in rows}


def process_row(index: SpanIndex, span_id: str) -> int:
    row = index.row_of[span_id]
    assert is_process(index.names[row])
    return row


def shown_children(tree: SpanTreeView, key: Any) -> list[Any]:
    return [node.data for node in tree.nodes[key].children]


@pytest.mark.asyncio
async def test_g_groups_a_process_by_source_line_and_back(lines_exe: Path, db_path: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    trace_id = record(str(lines_exe), check=True, flags=("--source",))
    store = Store.open(db_path)
    process_span, expected = grouped_in_sql(store, trace_id)
    src = f"{HOSTILE}.c"
    assert {f"{src}:{line_of(m)}" for m in ("PPID", "WRITE", "SLEEP")} <= set(expected), expected
    assert expected[f"{src}:{line_of('PPID')}"][0] == 20 and expected[f"{src}:{line_of('WRITE')}"][0] == 5
    app = RenacerApp(store=store)
    app.start_trace(trace_id)
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            screen, tree = await open_tree(pilot, app)
            index = screen.index
            assert index is not None
            process = process_row(index, process_span)
            in_time_order = shown_children(tree, process)
            assert in_time_order == index.child_rows(process)[:PAGE]

            await pilot.press("g")
            assert tree.by_source
            keys = shown_children(tree, process)
            assert keys and all(isinstance(key, GroupKey) for key in keys)
            groups = [tree.groups.group(key) for key in keys]
            # one node per line, the calls of each equal to SQL's GROUP BY on the same store
            assert {group.source: group.calls for group in groups} == {line: calls for line, (calls, _) in expected.items()}
            # longest total first; the sums are the `spans` view's (which rounds an RLE row's share down)
            durations = [group.duration for group in groups]
            assert durations == sorted(durations, reverse=True)
            for group in groups:
                calls, ns = expected[group.source]
                assert ns <= group.duration < ns + calls
            # the 60 ms sleep outweighs the other lines (the loader's calls, no source, may take longer)
            assert [g.source for g in groups if g.source is not None][0] == f"{src}:{line_of('SLEEP')}"
            assert [g.function for g in groups if g.source is not None] == ["main"] * (len(groups) - (None in expected))
            # labels: the line and function literally (the markup in the file name is text), calls, time
            ppid = next(g for g in groups if g.source == f"{src}:{line_of('PPID')}")
            label = tree.nodes[ppid.key].label
            assert label.plain.startswith(f"{src}:{line_of('PPID')} main") and label.plain.rstrip().endswith("20 calls")
            assert f"{src}:{line_of('SLEEP')} main" in screen_text(app)
            assert "processes grouped by source line" in str(screen.query_one("#tree-status").render())

            # the detail pane of a group: the line, its counts and the line's text from the file
            tree.move_cursor(tree.nodes[ppid.key])
            await wait_until(pilot, lambda: detail_fields(screen).get("source") == ppid.source)
            fields = detail_fields(screen)
            assert fields["function"] == "main" and fields["calls"] == "20"
            assert fields["source line"] == f"{line_of('PPID')}: " + LINES.splitlines()[line_of("PPID") - 1].strip()

            # expanding a group shows that line's calls, in time order
            await pilot.press("right")
            rows = shown_children(tree, ppid.key)
            assert rows == ppid.rows and all(index.names[row] == "syscall:getppid" for row in rows)
            assert sum(index.rle[row] for row in rows) == 20
            # a find (or an analysis jump) lands on the call through its group
            write_row = next(r for r in index.child_rows(process) if index.names[r] == "syscall:write")
            assert tree.reveal(write_row) and tree.cursor_node is tree.nodes[write_row]
            assert isinstance(tree.nodes[write_row].parent.data, GroupKey)

            # again: the calls in time order, the cursor still on the same span
            await pilot.press("g")
            assert not tree.by_source
            assert shown_children(tree, process) == in_time_order
            assert not any(isinstance(key, GroupKey) for key in tree.nodes)
            assert tree.cursor_node is tree.nodes[write_row]
    finally:
        store.close()


@pytest.mark.asyncio
async def test_without_source_every_call_is_in_the_no_source_group(lines_exe: Path, db_path: Path) -> None:
    trace_id = record(str(lines_exe), check=True)
    store = Store.open(db_path)
    process_span, expected = grouped_in_sql(store, trace_id)
    assert list(expected) == [None]
    app = RenacerApp(store=store)
    app.start_trace(trace_id)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            screen, tree = await open_tree(pilot, app)
            index = screen.index
            assert index is not None
            process = process_row(index, process_span)
            await pilot.press("g")
            keys = shown_children(tree, process)
            assert len(keys) == 1
            group = tree.groups.group(keys[0])
            assert group.source is None and group.calls == expected[None][0]
            assert tree.nodes[keys[0]].label.plain.startswith(NO_SOURCE)
            tree.move_cursor(tree.nodes[keys[0]])
            await wait_until(pilot, lambda: detail_fields(screen).get("source") == NO_SOURCE)
            assert "source line" not in detail_fields(screen)
            await pilot.press("right")
            assert shown_children(tree, keys[0]) == index.child_rows(process)[:PAGE]
            await pilot.press("g")
            assert shown_children(tree, process) == index.child_rows(process)[:PAGE]
            assert tree.cursor_node is tree.nodes[process]  # from a group, back to its process
    finally:
        store.close()


def test_with_a_transpiler_map_the_python_line_wins(cbuild, db_path: Path, tmp_path: Path, monkeypatch) -> None:
    """The groups of test_source_capture's program traced through its map: the Python line and
    function where the map has one (`sim.py:42 load_file`), the C line where it has none."""
    from test_source_capture import BUILDS, SIM, write_map
    from test_source_capture import line_of as sim_line

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exe = cbuild("sim", SIM, flags=BUILDS["frame pointers -O0"])
    trace_id = record(str(exe), check=True, flags=("--transpiler-map", str(write_map(tmp_path, exe))))
    store = Store.open(db_path)
    try:
        index = SpanIndex(store.trace_spans(trace_id))
        expected = store.query(
            "SELECT COALESCE(python_source, c_source, rust_source) AS line, COUNT(*) AS calls FROM spans"
            " WHERE trace_id = ? AND span_name LIKE 'syscall:%' GROUP BY 1", [trace_id],
        ).to_pylist()
    finally:
        store.close()
    process = next(row for row in range(index.size) if is_process(index.names[row]))
    groups = SourceGroups(index).of(process)
    assert {g.source: g.calls for g in groups} == {row["line"]: row["calls"] for row in expected}
    titles = {g.title: g.calls for g in groups}
    assert titles["sim.py:42 load_file"] == 3 and titles["sim.py:41 load"] == 1 and titles["sim.py:50 main"] == 1
    assert titles[f"{exe.name}.c:{sim_line('CLOSE')} load"] == 1
