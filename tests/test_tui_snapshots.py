"""Snapshot tests of every screen on one fixed recorded trace (pytest-textual-snapshot).

The trace is built from fixed rows (ids, times, pids) with `renacer_tui.model.schema.batch_from_rows` and
written through the real `Store`, so the pictures are the same on every machine; the live screen
is fed the same batches.  Anything that depends on the wall clock (elapsed time, rates, the
local time zone) is pinned before the picture is taken.  Update after a deliberate UI change with
`pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pytest
from textual.widgets import DataTable, Markdown
from tui_helpers import wait_until as wait

from renacer_tui.app import RenacerApp
from renacer_tui.live.model import HISTORY_SECONDS
from renacer_tui.messages import QueryFinished
from renacer_tui.model.schema import STATUS_ERROR, batch_from_rows
from renacer_tui.screens.help import HelpScreen
from renacer_tui.screens.span_tree import SpanTreeScreen
from renacer_tui.screens.sql_console import SqlConsoleScreen
from renacer_tui.screens.traces import TracesScreen
from renacer_tui.store import Store

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
RUN_ID = "run-snapshot-0001"
T0 = 1_764_000_000_000_000_000  # 2025-11-24 16:00:00 UTC
COMMAND = "./demo --input data.bin"
SIZE = (120, 36)


def fixed_rows() -> list[dict[str, Any]]:
    """A small two-process trace: reads folded by RLE, an error, a fork, a wait."""
    rows: list[dict[str, Any]] = []
    clock = iter(range(1, 1000))

    def span(name: str, parent: str | None, start_us: int, end_us: int, pid: int, comm: str, **extra: Any) -> str:
        seq = next(clock)
        span_id = f"a1b2c3d4{seq:08x}"
        rows.append(
            {
                "trace_id": TRACE_ID,
                "span_id": span_id,
                "parent_span_id": parent,
                "start_time_nanos": T0 + start_us * 1000,
                "end_time_nanos": T0 + end_us * 1000,
                "span_name": name,
                "process_pid": pid,
                "process_name": comm,
                "process_cmdline": COMMAND if pid == 4242 else "./demo --worker",
                "thread_id": pid,
                "logical_clock": seq,
                **extra,
            }
        )
        return span_id

    def call(parent: str, pid: int, comm: str, start_us: int, end_us: int, name: str, args: str, result: Any, **extra: Any) -> str:
        attrs = {"syscall.name": name, "syscall.args": args, "syscall.result": result, **extra.pop("attrs", {})}
        return span(f"syscall:{name}", parent, start_us, end_us, pid, comm, attributes=attrs, **extra)

    run = span("renacer:run ./demo", None, 0, 52_000, 4241, "renacer", attributes={"process.exit_code": 0, "renacer.command": COMMAND})
    main = span("process:demo", run, 100, 51_000, 4242, "demo", attributes={"process.pid": 4242, "process.exit_code": 0})
    call(main, 4242, "demo", 120, 900, "execve", '"./demo", ["./demo", "--input", "data.bin"], 0x7ffd /* 12 vars */', 0)
    call(main, 4242, "demo", 1_000, 1_040, "openat", 'AT_FDCWD, "data.bin", O_RDONLY', 3, attrs={"syscall.pathname": "data.bin", "syscall.fd_object": "/srv/data.bin"})
    call(
        main, 4242, "demo", 1_100, 31_100, "read", '3, "\\0\\0\\0\\0"..., 1', 1, rle_count=262144,
        attrs={"syscall.fd": 3, "renacer.rle.total_duration_ns": 29_800_000, "renacer.rle.max_duration_ns": 900},
    )
    call(
        main, 4242, "demo", 31_200, 31_230, "openat", 'AT_FDCWD, "/etc/demo.conf", O_RDONLY', -2,
        status=STATUS_ERROR, status_message="ENOENT",
        attrs={"syscall.errno": "ENOENT", "syscall.pathname": "/etc/demo.conf"},
    )
    clone = call(main, 4242, "demo", 31_300, 31_500, "clone", "child_stack=NULL, flags=SIGCHLD", 4243)
    worker = span("process:demo", clone, 31_450, 45_000, 4243, "demo", attributes={"process.pid": 4243, "process.exit_code": 0})
    for i in range(3):
        call(worker, 4243, "demo", 32_000 + i * 4_000, 35_000 + i * 4_000, "write", f'1, "chunk {i}\\n", 8', 8, attrs={"syscall.fd": 1})
    call(worker, 4243, "demo", 44_900, 44_950, "exit_group", "0", None, attrs={"syscall.unfinished": True})
    call(main, 4242, "demo", 31_600, 45_100, "wait4", "4243, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL", 4243)
    call(main, 4242, "demo", 45_200, 45_230, "openat", 'AT_FDCWD, "/var/cache/demo", O_RDONLY', -13, status=STATUS_ERROR, status_message="EACCES", attrs={"syscall.errno": "EACCES", "syscall.pathname": "/var/cache/demo"})
    call(main, 4242, "demo", 50_900, 50_950, "exit_group", "0", None, attrs={"syscall.unfinished": True})
    return rows


def fixed_batches() -> list[pa.RecordBatch]:
    rows = fixed_rows()
    return [batch_from_rows(rows[:8]), batch_from_rows(rows[8:])]


@pytest.fixture()
def fixed_store(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The fixed trace written through the real store; local time pinned to UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    store = Store.open(db_path)
    store.begin_run(RUN_ID, TRACE_ID, COMMAND, cwd="/srv", host="snapshot", pid=4241, started_ns=T0)
    sink = store.segment_sink(RUN_ID)
    for batch in fixed_batches():
        sink.write(batch)
    sink.close()
    store.end_run(RUN_ID, 0, 0, sum(b.num_rows for b in fixed_batches()), ended_ns=T0 + 52_000_000)
    yield store
    store.close()
    monkeypatch.undo()
    time.tzset()


def test_live_screen(snap_compare: Any, db_path: Path) -> None:
    app = RenacerApp(store_enabled=False)
    app.start_live([(batch, {"dropped": "0"}) for batch in fixed_batches()], ["./demo", "--input", "data.bin"])

    async def settle(pilot: Any) -> None:
        screen = app.live_screen
        await wait(pilot, lambda: screen.feed_closed and screen.model.finished)
        for timer in list(screen._timers):  # freeze the clock-driven parts
            timer.stop()
        screen.started, screen.ended_at = 0.0, 2.5
        screen.model._rate.clear()
        for i, stat in enumerate(sorted(screen.model.syscalls.values(), key=lambda s: s.name)):
            stat.history = deque([(j * (i + 1)) % 5 for j in range(HISTORY_SECONDS)], maxlen=HISTORY_SECONDS)
        screen.redraw()

    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_span_tree_screen(snap_compare: Any, fixed_store: Store) -> None:
    app = RenacerApp(store=fixed_store)
    app.start_trace(TRACE_ID)

    async def loaded(pilot: Any) -> None:
        await wait(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.tree_view is not None)
        await pilot.pause(0.3)  # (the detail pane's content is checked by test_tui_span_tree.py)

    assert snap_compare(app, terminal_size=SIZE, run_before=loaded)


def test_span_tree_error_detail(snap_compare: Any, fixed_store: Store) -> None:
    app = RenacerApp(store=fixed_store)
    app.start_trace(TRACE_ID)

    async def on_error(pilot: Any) -> None:
        await wait(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.tree_view is not None)
        await pilot.press("e")  # the first error: its attributes fill the detail pane
        await wait(pilot, lambda: app.screen.query_one("#detail", DataTable).row_count > 10)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=on_error)


def test_sql_console_screen(snap_compare: Any, fixed_store: Store) -> None:
    app = RenacerApp(store=fixed_store)
    sql = "SELECT span_name, count(*) AS calls, sum(duration_ns) AS total_ns\nFROM spans GROUP BY span_name ORDER BY total_ns DESC, span_name"

    async def ran(pilot: Any) -> None:
        await pilot.press("f3")
        await wait(pilot, lambda: isinstance(app.screen, SqlConsoleScreen))
        screen = app.screen
        await wait(pilot, lambda: len(screen.query_one("#schema").root.children) > 0)
        screen.query_one("#editor").load_text(sql)
        # the real query's table, with a fixed time so the status line is stable
        screen.post_message(QueryFinished(sql, 0.0042, table=fixed_store.query(sql)))
        await wait(pilot, lambda: screen.query_one("#results", DataTable).row_count > 0)
        screen.query_one("#results").focus()

    assert snap_compare(app, terminal_size=SIZE, run_before=ran)


def test_traces_screen(snap_compare: Any, fixed_store: Store) -> None:
    app = RenacerApp(store=fixed_store)
    app.start_traces()

    async def listed(pilot: Any) -> None:
        await wait(pilot, lambda: isinstance(app.screen, TracesScreen) and app.screen.query_one("#traces", DataTable).row_count == 1)

    assert snap_compare(app, terminal_size=SIZE, run_before=listed)


def test_help_screen(snap_compare: Any, fixed_store: Store) -> None:
    app = RenacerApp(store=fixed_store)
    app.start_traces()

    async def helped(pilot: Any) -> None:
        await pilot.press("f1")
        await wait(pilot, lambda: isinstance(app.screen, HelpScreen) and len(app.screen.query_one(Markdown).children) > 10)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=helped)


def test_span_tree_at_80x24_without_color(snap_compare: Any, fixed_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = RenacerApp(store=fixed_store)
    app.start_trace(TRACE_ID)
    assert app.no_color

    async def loaded(pilot: Any) -> None:
        await wait(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.tree_view is not None)
        await pilot.pause(0.3)  # (the detail pane's content is checked by test_tui_span_tree.py)

    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded)
