"""The analysis screens and live alerts, driven with the pilot against real traced programs.

Each test records a real trace (`renacer-tui --no-tui -- PROG` in a subprocess, stored under the
`db_path` fixture) or runs a real capture child feeding the live screen, then checks what the
widgets hold: rows, the bottleneck, the what-if sentence, the span tree's jump, and that hostile
file names are shown literally.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pytest
import tui_helpers

from renacer_tui.analysis.antipatterns import Thresholds, grade
from renacer_tui.app import RenacerApp
from renacer_tui.live.alerts import LiveAlerts
from renacer_tui.live.child import CaptureChild
from renacer_tui.live.panes import AlertsPane
from renacer_tui.live.screen import LiveScreen
from renacer_tui.model.schema import batch_from_rows
from renacer_tui.screens.antipatterns import AntipatternsScreen
from renacer_tui.screens.critical_path import CriticalPathScreen
from renacer_tui.screens.span_tree import SpanTreeScreen
from renacer_tui.widgets.analysis_tables import (
    CriticalPathTable,
    FindingsTable,
    share_bar,
)

HOSTILE = "\x1b[31m[bold]x[/bold]"
HOSTILE_SHOWN = "\\33[31m[bold]x[/bold]"
SIZE = (120, 40)

#: open(argv[1]), sleep 200 ms, read it: the sleep is the run's bottleneck.
SLEEPY = r"""
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char buf[64];
    int fd = open(argc > 1 ? argv[1] : "/etc/hostname", O_RDONLY);
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, 0);
    if (fd >= 0) { read(fd, buf, sizeof buf); close(fd); }
    return 0;
}
"""

#: stat(argv[1]) argv[2] times, then sleep argv[3] ms in 50 ms naps (so a live test sees it
#: still running; the naps' syscall exits are what let the tracer flush its batches meanwhile).
STATLOOP = r"""
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
int main(int argc, char **argv) {
    struct stat st;
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) stat(argv[1], &st);
    long ms = argc > 3 ? atol(argv[3]) : 0;
    struct timespec nap = {0, 50000000L};
    for (long t = 0; t < ms; t += 50) nanosleep(&nap, 0);
    return 0;
}
"""


def record(*command: str, cwd: Path | None = None) -> str:
    """Trace and store `command` with the real CLI (it must exit 0); its trace id."""
    return tui_helpers.record(*command, cwd=cwd, check=True)


async def wait_for(pilot: Any, predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    await tui_helpers.wait_until(pilot, predicate, timeout)


def plain_cells(table: Any) -> list[dict[str, str]]:
    """The table's rows as {column label: cell text}."""
    labels = [str(column.label) for column in table.columns.values()]
    return [
        {label: getattr(cell, "plain", str(cell)) for label, cell in zip(labels, table.get_row_at(r))}
        for r in range(table.row_count)
    ]


def hostile_file(tmp_path: Path) -> Path:
    """`HOSTILE` under tmp_path: a directory `\x1b[31m[bold]x[` holding a file `bold]`."""
    path = tmp_path / HOSTILE
    path.parent.mkdir(exist_ok=True)
    path.write_text("hi\n")
    return path


# -- critical path ----------------------------------------------------------------------------


def test_critical_path_screen_bottleneck_what_if_and_jump(db_path: Path, cbuild: Callable[..., Path], tmp_path: Path) -> None:
    exe = cbuild("sleepy", SLEEPY)
    hostile_file(tmp_path)
    trace_id = record(str(exe), HOSTILE, cwd=tmp_path)  # a relative path: the name itself is traced

    async def scenario() -> None:
        app = RenacerApp()
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.screen.query("#traces") and app.screen.shown)
            await pilot.press("c")  # the traces browser's key for the selected trace
            await wait_for(pilot, lambda: isinstance(app.screen, CriticalPathScreen) and app.screen.path is not None)
            screen = app.screen
            assert isinstance(screen, CriticalPathScreen) and screen.trace_id == trace_id
            table = screen.query_one(CriticalPathTable)
            rows = plain_cells(table)
            assert len(rows) == len(table.steps) >= 3

            # The bottleneck is the 200 ms sleep, marked, with its share and a full-looking bar.
            step = table.steps[table.bottleneck_row]
            assert step["name"] in ("syscall:clock_nanosleep", "syscall:nanosleep")
            assert 195e6 <= step["self_ns"] <= 2e9
            assert step["share"] > 0.5
            assert sum(s["self_ns"] for s in table.steps) <= screen.path.wall_ns
            marked = [r for r, cells in enumerate(rows) if cells["#"].startswith("▶") and "bottleneck" in cells["target"]]
            assert marked == [table.bottleneck_row]
            assert rows[table.bottleneck_row]["bar"].count("█") >= 6  # over half of the 12-cell bar
            assert "nanosleep" in rows[table.bottleneck_row]["step"]
            assert table.cursor_row == table.bottleneck_row
            status = screen.query_one("#cp-status").render()
            assert "nanosleep" in str(status) and "bottleneck" in str(status)

            # The hostile file name of the open on the path is shown literally.
            targets = [cells["target"] for cells in rows]
            assert any(t.endswith(HOSTILE_SHOWN) for t in targets), targets
            assert not any("\x1b" in cell for cells in rows for cell in cells.values())

            # What-if: typed into the input, replayed in a worker, told as a sentence.
            await pilot.press("w")
            await pilot.press(*"clock_nanosleep=10x")
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.last_what_if is not None)
            outcome = screen.last_what_if
            assert outcome.before.total_ns - outcome.after.total_ns >= 150e6
            sentence = str(screen.query_one("#whatif-result").render())
            assert "if clock_nanosleep were 10× faster the run would take" in sentence
            assert re.search(r"\(-\d+\.\d %", sentence), sentence

            # …or by span id: that one span only.
            screen.query_one("#whatif").value = ""
            await pilot.press(*f"{step['span_id']}=4x", "enter")
            await wait_for(pilot, lambda: screen.last_what_if is not None and screen.last_what_if.speedups == {step["span_id"]: 4.0})
            by_id = screen.last_what_if
            assert by_id.matched == 1
            assert 100e6 <= by_id.before.total_ns - by_id.after.total_ns <= outcome.before.total_ns - outcome.after.total_ns
            assert "(1 span sped up)" in str(screen.query_one("#whatif-result").render())

            # Bad what-ifs are messages in the result line, not crashes.
            for bad, expected in (("nosuchcall=10x", "no span id or span name"), ("sleep", "expected NAME_OR_SPAN_ID"), ("read=0x", "positive")):
                screen.query_one("#whatif").value = ""
                await pilot.press(*bad, "enter")
                await wait_for(pilot, lambda: screen.query_one("#whatif-result").has_class("-error"))
                await wait_for(pilot, lambda: expected in str(screen.query_one("#whatif-result").render()))
                assert screen.last_what_if is None

            # Enter on the bottleneck step opens it in the span tree.
            await pilot.press("escape", "b", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.index is not None and app.screen.tree_view is not None)
            tree_screen = app.screen
            row = tree_screen.index.row_of[step["span_id"]]
            await wait_for(pilot, lambda: tree_screen.matches == [row])
            assert tree_screen.tree_view.cursor_node.data == row
            assert tree_screen.trace_id == trace_id

    asyncio.run(scenario())


def test_analysis_of_a_missing_trace_is_a_message(db_path: Path, cbuild: Callable[..., Path]) -> None:
    record(str(cbuild("sleepy", SLEEPY)))  # the store exists; the asked-for trace does not

    async def scenario() -> None:
        app = RenacerApp()
        async with app.run_test(size=SIZE) as pilot:
            for kind, screen_type in (("critical_path", CriticalPathScreen), ("antipatterns", AntipatternsScreen)):
                app.open_analysis(kind, "f" * 32)
                await wait_for(pilot, lambda: isinstance(app.screen, screen_type) and app.screen.error is not None)
                assert "no spans for trace id" in app.screen.error
                assert "cannot analyse trace" in str(app.screen.query_one(".status-line").render())
                await pilot.press("escape")
            assert app.is_running

    asyncio.run(scenario())


# -- anti-patterns ----------------------------------------------------------------------------


def test_antipatterns_screen_findings_colours_and_jump(db_path: Path, cbuild: Callable[..., Path], tmp_path: Path) -> None:
    hostile_file(tmp_path)
    trace_id = record(str(cbuild("statloop", STATLOOP)), HOSTILE, "5000", cwd=tmp_path)

    async def scenario() -> None:
        app = RenacerApp()
        app.start_trace(trace_id)  # `view --trace-id`: the span tree first, then `a`
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.tree_view is not None)
            tree_screen = app.screen
            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(app.screen, AntipatternsScreen) and app.screen.findings is not None)
            screen = app.screen
            table = screen.query_one(FindingsTable)
            kinds = {f.kind: f for f in table.findings}
            assert {"tight-loop", "redundant-lookup"} <= set(kinds)
            loop = kinds["tight-loop"]
            assert loop.count == 5000
            assert loop.path is not None and loop.path.endswith("\\33[31m[bold]x[/bold]")  # the tracer escapes the ESC byte
            rows = plain_cells(table)
            assert len(rows) == len(table.findings)
            assert [r["severity"] for r in rows] == [f.severity.upper() for f in table.findings]

            # Hostile names: escaped in the table and in the detail pane, never interpreted.
            loop_row = table.findings.index(loop)
            assert rows[loop_row]["evidence"].startswith("path ") and HOSTILE_SHOWN in rows[loop_row]["evidence"]
            assert not any("\x1b" in cell for r in rows for cell in r.values())
            table.move_cursor(row=loop_row)
            await pilot.pause()
            detail = screen.query_one("#ap-detail").render()
            assert HOSTILE_SHOWN in str(detail) and "fix:" in str(detail)

            # Severity colours come from the .tcss classes, and differ between severities.
            high, low = table.severity_style("high"), table.severity_style("low")
            assert high.color is not None and high != low
            assert table.get_row_at(loop_row)[0].style == table.severity_style(loop.severity)

            # Enter jumps to the evidence spans in the span tree already open below.
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen is tree_screen)
            wanted = sorted(tree_screen.index.row_of[s] for s in loop.span_ids)
            await wait_for(pilot, lambda: tree_screen.matches == wanted)
            assert tree_screen.tree_view.cursor_node.data == wanted[0]

    asyncio.run(scenario())


def test_antipatterns_screen_says_when_a_trace_is_clean(db_path: Path, cbuild: Callable[..., Path]) -> None:
    trace_id = record(str(cbuild("sleepy", SLEEPY)))

    async def scenario() -> None:
        app = RenacerApp()
        async with app.run_test(size=SIZE) as pilot:
            app.open_analysis("antipatterns", trace_id)
            await wait_for(pilot, lambda: isinstance(app.screen, AntipatternsScreen) and app.screen.findings is not None)
            screen = app.screen
            assert screen.findings == []
            clean = screen.query_one("#ap-clean")
            assert clean.display and "No anti-patterns found" in str(clean.render())
            assert not screen.query_one(FindingsTable).display

    asyncio.run(scenario())


# -- live alerts ------------------------------------------------------------------------------


def test_live_screen_alerts_a_tight_loop_while_the_program_runs(db_path: Path, cbuild: Callable[..., Path], tmp_path: Path) -> None:
    hostile_file(tmp_path)
    target = str(tmp_path / HOSTILE)
    command = [str(cbuild("statloop", STATLOOP)), target, "3000", "4000"]
    child = CaptureChild([], command, log_path=tmp_path / "output.log")
    reader = child.start()
    try:

        async def scenario() -> None:
            app = RenacerApp()
            app.start_live(reader, command, child)
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen))
                screen = app.screen
                pane = screen.query_one(AlertsPane)
                await wait_for(pilot, lambda: pane.alerts, timeout=60)
                assert screen.running  # seen while the program still sleeps after its loop
                alert = pane.alerts[0]
                assert alert.kind == "tight-loop"
                # raised by the batch that crossed the threshold: it counts the calls seen by then
                seen = re.search(r"repeated ([\d,]+) times", alert.title)
                assert seen and Thresholds().tight_loop_min_calls <= int(seen[1].replace(",", "")) <= 3000
                shown = str(pane.render())
                assert "Tight loop" in shown and HOSTILE_SHOWN in shown and "\x1b" not in shown
                assert not pane.has_class("-empty")
                # …and once as a notification (Textual keeps them in App._notifications; no public reader).
                # (notify posts a message to the app: wait for it to be handled)
                await wait_for(pilot, lambda: any("Tight loop" in n.message for n in app._notifications), timeout=5)
                toasts = [n for n in app._notifications if "Tight loop" in n.message]
                assert len(toasts) == 1 and HOSTILE_SHOWN in toasts[0].message and not toasts[0].markup
                # Raised once: more batches (the process and run spans) add no duplicate.
                await wait_for(pilot, lambda: not screen.running, timeout=60)
                await pilot.pause(0.3)
                assert [a.kind for a in screen.model.alerts] == ["tight-loop"]
                app.exit()

        asyncio.run(scenario())
    finally:
        if child.returncode is None:
            child.kill_program([])
        child.finish()


def test_live_screen_raises_no_alert_on_a_clean_program(db_path: Path, cbuild: Callable[..., Path], tmp_path: Path) -> None:
    command = [str(cbuild("sleepy", SLEEPY))]
    child = CaptureChild([], command, log_path=tmp_path / "output.log")
    reader = child.start()
    try:

        async def scenario() -> None:
            app = RenacerApp()
            app.start_live(reader, command, child)
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen) and app.screen.feed_closed, timeout=60)
                screen = app.screen
                await pilot.pause(0.3)
                assert screen.model.calls > 20  # the whole run was seen…
                assert screen.model.alerts == []  # …and nothing in it is an anti-pattern
                pane = screen.query_one(AlertsPane)
                assert pane.has_class("-empty") and not pane.display
                app.exit()

        asyncio.run(scenario())
    finally:
        if child.returncode is None:
            child.kill_program([])
        child.finish()


def _batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    base = {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "process_pid": 7, "process_name": "p", "thread_id": 7}
    return batch_from_rows(
        {
            **base,
            "span_id": f"{0x22220000:08x}{i:08x}",
            "start_time_nanos": 1_700_000_000_000_000_000 + 10 * i,
            "end_time_nanos": 1_700_000_000_000_000_005 + 10 * i,
            "logical_clock": i,
            **row,
        }
        for i, row in enumerate(rows)
    )


def test_live_alerts_fire_once_across_batches_and_not_on_a_quiet_stream() -> None:
    # live alerts fire where the report rates a pattern medium: 100 stats, 5 × 10 failures, 4 × 10 small writes
    th = Thresholds(tight_loop_min_calls=100, failed_storm_min=10, small_writes_min=10)
    alerts = LiveAlerts(th)
    stat = {"span_name": "syscall:newfstatat", "attributes": {"syscall.pathname": "/etc/hosts", "syscall.result": 0}}
    write = {"span_name": "syscall:write", "attributes": {"syscall.fd": 1, "syscall.result": 1}}
    miss = {"span_name": "syscall:openat", "status": "ERROR", "status_message": "ENOENT", "attributes": {"syscall.result": -2}}
    quiet = [{"span_name": "syscall:read", "attributes": {"syscall.fd": 3, "syscall.result": 4096}}] * 500
    assert alerts.absorb(_batch(quiet)) == []
    raised = []
    for _ in range(5):  # 5 × 30 stats, 5 × 12 failures, 5 × 10 one-byte writes
        raised += alerts.absorb(_batch([stat] * 30 + [miss] * 12 + [write] * 10 + quiet[:20]))
    assert sorted(a.kind for a in raised) == ["failed-storm", "small-writes", "tight-loop"]
    assert [a.kind for a in alerts.alerts] == [a.kind for a in raised]
    loop = next(a for a in raised if a.kind == "tight-loop")
    assert "/etc/hosts" in loop.title and "120" in loop.title  # crossed 100 in the 4th batch
    assert alerts.absorb(_batch([stat] * 500)) == []  # each alert once
    # getxattr's "no such attribute" is an answer, not a storm (every `ls -l` asks it per file).
    xattr = {"span_name": "syscall:getxattr", "status": "ERROR", "status_message": "ENODATA", "attributes": {"syscall.pathname": "/a"}}
    assert LiveAlerts(th).absorb(_batch([xattr] * 300)) == []
    # An empty path (fstatat(fd, "", AT_EMPTY_PATH)) is an fd-based call, not a lookup of one path.
    empty = LiveAlerts(th)
    assert empty.absorb(_batch([{**stat, "attributes": {"syscall.pathname": "", "syscall.fd": 3}}] * 300)) == []
    # RLE rows count as the calls they stand for.
    rle = LiveAlerts(th)
    assert [a.kind for a in rle.absorb(_batch([{**stat, "rle_count": 150}]))] == ["tight-loop"]
    # Big writes to one fd are not small writes.
    big = LiveAlerts(th)
    assert big.absorb(_batch([{"span_name": "syscall:write", "attributes": {"syscall.fd": 1, "syscall.result": 4096}}] * 300)) == []


@pytest.mark.parametrize(
    ("kind", "row"),
    [
        ("failed-storm", {"span_name": "syscall:openat", "status": "ERROR", "status_message": "ENOENT", "attributes": {"syscall.result": -2}}),
        ("small-writes", {"span_name": "syscall:write", "attributes": {"syscall.fd": 1, "syscall.result": 1}}),
        ("tight-loop", {"span_name": "syscall:newfstatat", "attributes": {"syscall.pathname": "/etc/hosts", "syscall.result": 0}}),
    ],
)
def test_live_alerts_grade_as_the_report_does(kind: str, row: dict[str, Any]) -> None:
    """A live alert fires once the report would rate the pattern medium, with the report's severity."""
    th = Thresholds()
    offline = {"failed-storm": th.failed_storm_min, "small-writes": th.small_writes_min, "tight-loop": th.tight_loop_min_calls}[kind]
    for count in (offline, 2 * offline, 5 * offline, 12 * offline, 60 * offline):
        rated = grade(kind, count, th)
        raised = LiveAlerts(th).absorb(_batch([{**row, "rle_count": count}]))
        if rated in ("medium", "high"):
            assert [(a.kind, a.severity) for a in raised] == [(kind, rated)], count
        else:
            assert rated == "low" and raised == [], count


def test_live_alert_counters_stay_bounded() -> None:
    alerts = LiveAlerts(Thresholds(tight_loop_min_calls=100), max_keys=64)
    for k in range(20):
        rows = [{"span_name": "syscall:stat", "attributes": {"syscall.pathname": f"/p/{k}/{i}"}} for i in range(100)]
        rows += [{"span_name": "syscall:stat", "attributes": {"syscall.pathname": "/hot"}}] * 10
        alerts.absorb(_batch(rows))
    assert alerts.tracked_keys <= 64
    assert [a.title.split(" on ")[1].split(" ")[0] for a in alerts.alerts] == ["/hot"]


def test_share_bar_is_proportional() -> None:
    assert share_bar(1.0, 10) == "█" * 10
    assert share_bar(0.0, 10) == " " * 10
    assert share_bar(0.5, 10).rstrip() == "█" * 5
    assert share_bar(1e-9, 10).strip() != ""  # any time at all shows a sliver
    assert all(len(share_bar(x / 100, 20)) == 20 for x in range(101))
