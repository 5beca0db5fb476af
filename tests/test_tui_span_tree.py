"""The span tree screen on traces recorded from real programs (Textual pilot, headless)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from textual.widgets import DataTable, Input
from tui_helpers import record

from renacer_tui.app import RenacerApp
from renacer_tui.screens.span_tree import SpanTreeScreen
from renacer_tui.span_index import ROOT
from renacer_tui.store import Store
from renacer_tui.widgets.span_tree_view import More, SpanTreeView

pytestmark = pytest.mark.asyncio

# 4096 one-byte reads of /dev/zero (one RLE row `read ×4096`), then a missing file (an error),
# then a child process that opens another missing file.
READER = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    char c;
    int fd = open("/dev/zero", O_RDONLY);
    for (int i = 0; i < 4096; i++) read(fd, &c, 1);
    close(fd);
    open("/nonexistent-renacer/first", O_RDONLY);
    pid_t pid = fork();
    if (pid == 0) { open("/nonexistent-renacer/child", O_RDONLY); _exit(0); }
    waitpid(pid, NULL, 0);
    open("/nonexistent-renacer/last", O_RDONLY);
    return 0;
}
"""

# N failing opens of distinct paths: N error spans that RLE cannot fold.
MANY = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    char path[64];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "/nonexistent-renacer/%d", i);
        open(path, O_RDONLY);
    }
    return 0;
}
"""


async def open_tree(pilot: Any, app: RenacerApp, timeout: float = 30.0) -> tuple[SpanTreeScreen, SpanTreeView]:
    deadline = time.monotonic() + timeout
    while not (isinstance(app.screen, SpanTreeScreen) and app.screen.tree_view is not None):
        assert time.monotonic() < deadline, "the span tree did not load"
        await pilot.pause(0.05)
    await pilot.pause()
    return app.screen, app.screen.tree_view


def labels(tree: SpanTreeView) -> list[str]:
    """Plain labels of the nodes the tree has built."""
    return [node.label.plain for node in tree.nodes.values()]


def detail_fields(screen: SpanTreeScreen) -> dict[str, str]:
    table = screen.query_one("#detail", DataTable)
    return {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(table.row_count)}


async def test_tree_keys_detail_errors_and_find(db_path: Path, cbuild: Callable[..., Path]) -> None:
    trace_id = record(str(cbuild("reader", READER)))
    store = Store.open(db_path)
    app = RenacerApp(store=store)
    app.start_trace(trace_id)
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            screen, tree = await open_tree(pilot, app)
            index = screen.index
            assert index is not None and index.trace_id == trace_id
            # opened on trace → run → processes, RLE rows named with their count: the loop's 4096
            # reads (one run, or a few where a busy machine made it outlast a batch interval) and
            # the loader's one read of libc's ELF header
            reads = [re.match(r"syscall:read(?: ×(\d+))?\s", label) for label in labels(tree)]
            counts = [int(m.group(1) or 1) for m in reads if m]
            assert sum(counts) == 4097 and max(counts) >= 1024, counts
            run_row = index.child_rows(ROOT)[0]
            assert index.names[run_row].startswith("renacer:run")
            process_rows = [r for r in index.child_rows(run_row) if index.names[r].startswith("process:")]
            assert process_rows and tree.nodes[process_rows[0]].is_expanded

            # collapse and expand by key on the first process
            first = tree.nodes[process_rows[0]]
            tree.move_cursor(first)
            await pilot.press("left")
            assert not first.is_expanded
            await pilot.press("right")
            assert first.is_expanded

            # all at once
            await pilot.press("minus")
            assert tree.cursor_node is tree.root
            assert not any(node.is_expanded for node in tree.nodes.values() if node is not tree.root)
            await pilot.press("plus")
            expandable = [row for row in tree.nodes if row != ROOT and index.child_rows(row)]
            assert expandable and all(tree.nodes[row].is_expanded for row in expandable)

            # next / previous error land on error spans, in order, wrapping
            errors = index.error_rows
            assert len(errors) >= 3
            await pilot.press("e")
            assert screen.current_row() == errors[0]
            await pilot.press("e")
            assert screen.current_row() == errors[1]
            await pilot.press("E")
            assert screen.current_row() == errors[0]
            await pilot.press("E")
            assert screen.current_row() == errors[-1]
            fields = detail_fields(screen)
            assert fields["status"] == "ERROR" and fields["status_message"] == "ENOENT"
            assert fields["syscall.pathname"] == "/nonexistent-renacer/last"
            assert fields["trace_id"] == trace_id

            # find by text, then by attribute; n walks the matches
            await pilot.press("slash")
            find = screen.query_one("#find", Input)
            assert find.has_focus
            await pilot.press(*"child")
            assert find.value == "child"
            find.value = "renacer/child"
            await pilot.press("enter")
            row = screen.current_row()
            assert row is not None and "/nonexistent-renacer/child" in index.row_dict(row)["attributes"].get("syscall.pathname", "")
            assert tree.has_focus
            await pilot.press("slash")
            find.value = "syscall.pathname=/dev/zero"
            await pilot.press("enter")
            row = screen.current_row()
            assert row is not None and index.names[row] == "syscall:openat"
            assert detail_fields(screen)["syscall.pathname"] == "/dev/zero"
            await pilot.press("slash")
            find.value = "no-such-thing-anywhere"
            await pilot.press("enter")
            assert "no match" in str(screen.query_one("#tree-status").render())
    finally:
        store.close()


async def test_a_50k_span_trace_stays_responsive(db_path: Path, cbuild: Callable[..., Path]) -> None:
    trace_id = record(str(cbuild("many", MANY)), "50000")
    store = Store.open(db_path)
    app = RenacerApp(store=store)
    app.start_trace(trace_id)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            started = time.monotonic()
            screen, tree = await open_tree(pilot, app)
            load_s = time.monotonic() - started
            assert screen.index is not None and screen.index.size > 50_000
            assert load_s < 10, f"loading 50k spans took {load_s:.1f}s"
            # lazy: one page of the process's 50k syscalls is built, the rest is a `… more` row
            assert len(tree.nodes) < 2_000
            assert any(isinstance(node.data, More) for node in tree.root._children[0].children[0].children)

            timings = []
            # g: the 50k calls (no --source) as one "(no source)" group, built columnar, and back
            for keys in (("e",), ("E",), ("minus",), ("plus",), ("end",), ("pageup",), ("g",), ("plus",), ("g",)):
                t = time.monotonic()
                await pilot.press(*keys)
                timings.append(time.monotonic() - t)
            assert max(timings) < 2.0, timings
            assert screen.current_row() is not None
            # E from the first error wraps to the last of 50k: only its page is built
            await pilot.press("home", "e", "E")
            assert screen.current_row() == screen.index.error_rows[-1]
            assert len(tree.nodes) < 3_000
            assert tree.cursor_node is not None and tree.cursor_node.data == screen.index.error_rows[-1]
    finally:
        store.close()

