"""The live screen driven by a real capture child tracing a real program (Textual pilot, headless)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Callable

import pytest
from textual.widgets import Log
from tui_helpers import screen_text
from tui_helpers import wait_until as wait_for

from renacer_tui.analysis.antipatterns import Thresholds
from renacer_tui.app import RenacerApp
from renacer_tui.live.alerts import LiveAlerts
from renacer_tui.live.child import CaptureChild
from renacer_tui.live.model import LiveModel
from renacer_tui.live.panes import BlockedTable, LiveHeader, ProcessTable, TopSyscalls
from renacer_tui.live.program_input import ProgramInput
from renacer_tui.live.screen import LiveScreen, QuitDialog
from renacer_tui.live.span_log import SpanLog
from renacer_tui.messages import FeedUpdated
from renacer_tui.store import Store

pytestmark = pytest.mark.asyncio

# Opens a distinct missing path, asks for its parent pid and sleeps 2 ms, ITER times: a steady
# stream of spans (distinct arguments, so RLE folds nothing) with one ENOENT error per loop.
TICKER = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    char path[64];
    struct timespec ts = {0, 2000000};
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "/nonexistent-renacer/%d", i);
        open(path, O_RDONLY);
        getppid();
        nanosleep(&ts, NULL);
    }
    puts("ticker done");
    return 0;
}
"""


def live_app(command: list[str], capture_args: list[str] | None = None) -> tuple[RenacerApp, CaptureChild]:
    child = CaptureChild(capture_args or [], command)
    app = RenacerApp()
    app.start_live(child.start(), command, child)
    return app, child


def finished(app: RenacerApp) -> bool:
    screen = app.live_screen
    return screen is not None and screen.returncode is not None and screen.feed_closed


async def test_live_screen_shows_a_real_program(db_path: Path) -> None:
    command = ["sh", "-c", "cat /etc/hostname >/dev/null; ls /no-such-dir-renacer; exit 3"]
    app, child = live_app(command)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        await pilot.pause(0.4)  # one header tick after the exit
        screen = app.screen
        assert isinstance(screen, LiveScreen)
        model = screen.model
        lines = [model.line(i).plain for i in range(model.line_count)]
        assert any("execve(" in line for line in lines)
        assert any("ENOENT" in line and "/no-such-dir-renacer" in line for line in lines)

        procs = screen.query_one("#procs", ProcessTable)
        comms = {str(procs.get_row_at(i)[1]) for i in range(procs.row_count)}
        assert {"sh", "cat", "ls"} <= comms
        top = screen.query_one("#top", TopSyscalls)
        assert top.row_count > 3
        assert str(top.get_row_at(0)[0]) in {stat.name for stat in model.syscalls.values()}

        text = screen_text(app)
        assert model.trace_id and model.trace_id in text
        assert "exited with code 3" in text
        assert "/no-such-dir-renacer" in text  # the error line is on screen (the pane follows the tail)
        output = "\n".join(str(line) for line in screen.query_one(Log).lines)
        assert "No such file or directory" in output  # ls's stderr reached the output pane, not the screen

        await pilot.press("q")  # finished: quits at once, no question
        await pilot.pause()
    assert child.finish() == 3
    with Store.open(db_path) as store:
        stored = store.trace_spans(model.trace_id)
    assert stored.num_rows == model.rows


async def test_scrolling_up_pauses_follow_and_end_resumes(db_path: Path, cbuild: Callable[..., Path]) -> None:
    ticker = cbuild("ticker", TICKER)
    app, child = live_app([str(ticker), "2000"])
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.live_screen is not None and app.live_screen.model.line_count > 200)
            log = app.screen.query_one(SpanLog)
            # following: at the tail once the latest batch is laid out (a batch may land mid-check)
            await wait_for(pilot, lambda: log.follow and log.scroll_y == log.max_scroll_y, timeout=5)
            await pilot.press("pageup", "up")
            assert not log.follow
            held = log.scroll_y
            rows = app.live_screen.model.line_count
            await wait_for(pilot, lambda: app.live_screen.model.line_count > rows + 100)
            await pilot.pause(0.3)
            assert log.scroll_y == held  # new spans arrive without moving the view
            assert log.max_scroll_y > held
            assert "paused" in screen_text(app)
            await pilot.press("end")
            await wait_for(pilot, lambda: log.follow and log.scroll_y >= log.max_scroll_y - 1, timeout=5)
            assert app.live_screen.running
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(app.screen, QuitDialog)
            await pilot.press("k")
            await pilot.pause()
        code = child.finish()
    finally:
        _reap(child)
    assert code == 128 + signal.SIGKILL
    assert child.decision == "kill"


async def test_quit_while_running_can_be_cancelled_then_detaches(db_path: Path, cbuild: Callable[..., Path]) -> None:
    ticker = cbuild("ticker", TICKER)
    app, child = live_app([str(ticker), "100000"])
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.live_screen is not None and app.live_screen.model.rows > 50)
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(app.screen, QuitDialog)
            assert "kill" in screen_text(app).lower() and "detach" in screen_text(app).lower()
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, LiveScreen)  # stayed
            for key in ("ctrl+q", "ctrl+c"):  # the app-wide quit keys ask too, never kill silently
                await pilot.press(key)
                await pilot.pause()
                assert isinstance(app.screen, QuitDialog)
                await pilot.press("escape")
                await pilot.pause()
                assert isinstance(app.screen, LiveScreen)
            await pilot.press("q")
            await pilot.pause()
            await pilot.press("d")
            await pilot.pause()
        assert child.decision == "detach"
        assert child.finish() == 0
        assert child.returncode is None  # the capture runs on in the background, still tracing
        pids = [pid for pid in app.live_pids() if pid != child.pid]
        assert pids and all(_alive(pid) for pid in pids)
    finally:
        _reap(child)


async def test_no_color_at_80x24(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app, child = live_app(["sh", "-c", "cat /etc/hostname >/dev/null; ls /no-such-dir-renacer"])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        await pilot.pause(0.4)
        assert app.no_color
        text = screen_text(app)
        lines = text.splitlines()
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        assert "exited with code 2" in text
        assert "spans" in text and "processes" in text and "top syscalls" in text
        header = app.screen.query_one(LiveHeader)
        assert header.region.height == 2 and header.region.width == 80
        assert app.screen.query_one(SpanLog).region.height >= 8  # the span pane keeps most of the screen
        await pilot.press("q")
        await pilot.pause()
    assert child.finish() == 2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _reap(child: CaptureChild) -> None:
    """Kill whatever a test left running: the traced program's session and the capture child."""
    if child.pid is None or child.returncode is not None:
        return
    try:
        os.killpg(child.pid, signal.SIGKILL)  # the capture leads its own session; the program is in it
    except ProcessLookupError:
        pass
    child.wait(10)


async def test_hostile_file_name_is_literal_in_live_panes(db_path: Path, tmp_path: Path) -> None:
    hostile = "evil\x1b[31m[bold red]x[/]"  # "/" in "[/]": part of it is a directory
    shown = "evil\\33[31m[bold red]x[/]"
    (tmp_path / hostile).parent.mkdir()
    (tmp_path / hostile).write_text("x\n")
    command = ["sh", "-c", 'cd "$1" && cat "$2" && ls "$2" nope', "sh", str(tmp_path), hostile]
    app, child = live_app(command)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        await pilot.pause(0.4)
        screen = app.screen
        lines = [screen.model.line(i).plain for i in range(screen.model.line_count)]
        assert any("openat(" in line and shown in line for line in lines)
        output = "\n".join(str(line) for line in screen.query_one(Log).lines)
        assert "nope" in output and "\x1b" not in output  # ls's complaint, escape made visible
        log = screen.query_one(SpanLog)
        target = next(i for i, line in enumerate(lines) if "openat(" in line and shown in line)
        log.follow = False
        log.scroll_to(y=max(0, target - 2), animate=False, immediate=True)
        await pilot.pause()
        text = screen_text(app)
        assert "\x1b" not in text
        assert shown in text  # the span pane (and header: the command holds it too)
        assert text.count("[bold red]x[/]") >= 2
        await pilot.press("q")
        await pilot.pause()
    assert child.finish() == 2


async def test_program_killed_by_a_signal(db_path: Path) -> None:
    app, child = live_app(["sh", "-c", "cat /etc/hostname >/dev/null; kill -9 $$"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        await pilot.pause(0.4)
        screen = app.screen
        assert screen.feed_error is None  # the process span's signal name is understood
        text = screen_text(app)
        assert "killed by SIGKILL" in text
        procs = screen.query_one("#procs", ProcessTable)
        states = {str(procs.get_row_at(i)[1]): str(procs.get_row_at(i)[4]) for i in range(procs.row_count)}
        assert states["sh"] == "SIGKILL" and states["cat"] == "exit 0"
        await pilot.press("q")
        await pilot.pause()
    assert child.finish() == 128 + signal.SIGKILL


def real_feed(command: list[str], exit_code: int = 0) -> list:
    """The live feed of a real traced run, as the UI receives it, cut into 32-row batches."""
    child = CaptureChild(["--no-store"], command)
    try:
        batches = [batch for batch, _ in child.start()]
        assert child.finish() == exit_code
    finally:
        child.log_path.unlink(missing_ok=True)
    return [piece for batch in batches for piece in (batch.slice(i, 32) for i in range(0, batch.num_rows, 32))]


def model_state(model: LiveModel) -> tuple:
    syscalls = {name: (s.calls, s.total_ns, s.errors) for name, s in model.syscalls.items()}
    procs = {pid: (p.comm, p.parent, p.syscalls, p.errors, p.exit_code) for pid, p in model.processes.items()}
    return model.rows, model.calls, model.errors, model.finished, syscalls, procs, [a.key for a in model.alerts]


async def test_batches_taken_together_count_every_span(cbuild: Callable[..., Path]) -> None:
    """Absorbing waiting batches as one group gives the model exactly what one by one gives."""
    pieces = real_feed([str(cbuild("ticker", TICKER)), "300"])
    assert len(pieces) > 20
    # 300 ENOENT opens: the report rates them low, so the default live alerts stay quiet; with a
    # threshold of 50 the report rates them medium and the live detector must see the groups too
    storm = Thresholds(failed_storm_min=50)
    one_by_one, grouped = LiveModel(capacity=10_000, alerts=LiveAlerts(storm)), LiveModel(capacity=10_000, alerts=LiveAlerts(storm))
    quiet = LiveModel(capacity=10_000)
    for piece in pieces:
        one_by_one.absorb(piece)
    for i in range(0, len(pieces), 7):
        grouped.absorb_group(pieces[i : i + 7])
        quiet.absorb_group(pieces[i : i + 7])
    assert model_state(grouped) == model_state(one_by_one)
    assert one_by_one.calls >= 900 and one_by_one.errors >= 300  # open, getppid, nanosleep; ENOENT each loop
    assert [a.kind for a in grouped.alerts] == ["failed-storm"] and quiet.alerts == []
    assert grouped.processes and all(not p.alive for p in grouped.processes.values())
    # the visible rows, formatted in one slice across batch boundaries, read as row by row
    count = grouped.line_count
    bulk = grouped.lines(count - 100, 120)
    assert [t.plain if t else None for t in bulk] == [t.plain if (t := one_by_one.line(count - 100 + i)) else None for i in range(120)]
    assert bulk[-20:] == [None] * 20 and all(bulk[:100])


async def test_spans_flowing_do_not_relayout_the_screen(cbuild: Callable[..., Path]) -> None:
    """New batches and header/table ticks repaint panes in place: no screen layout per update."""
    pieces = real_feed([str(cbuild("ticker", TICKER)), "300"])
    model = LiveModel(alerts=False)  # (an alert's toast and pane are new widgets: a layout each, rightly)
    app = RenacerApp(store_enabled=False)
    app.start_live([], ["ticker"], None, model)
    async with app.run_test(headless=True, size=(120, 40)) as pilot:
        screen = app.live_screen
        await wait_for(pilot, lambda: screen.feed_closed)
        for piece in pieces[:10]:  # enough rows for the span pane's scrollbar (its one layout)
            model.absorb(piece)
        screen.redraw()
        await pilot.pause(0.2)
        layouts = 0
        original = screen._refresh_layout

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal layouts
            layouts += 1
            return original(*args, **kwargs)

        screen._refresh_layout = counted
        for piece in pieces[10:]:
            model.absorb(piece)
            screen.on_feed_updated(FeedUpdated(model.version))
            screen._tick()
            await pilot.pause(0.02)
        screen._tick()
        screen._tick()  # both side tables had their turn
        await pilot.pause(0.1)
        procs, top, spans = screen.query_one(ProcessTable), screen.query_one(TopSyscalls), screen.query_one(SpanLog)
        assert layouts == 0
        root = model.process_tree()[0][1]
        assert str(procs.get_row_at(0)[0]) == str(root.pid) and str(procs.get_row_at(0)[2]) == f"{root.syscalls:,}"
        assert spans.virtual_size.height == model.line_count and spans.scroll_y == spans.max_scroll_y
        assert f"spans {model.rows:,}" in screen_text(app)
        assert model.top_syscalls()[0].name.startswith(str(top.get_row_at(0)[0]).rstrip("…"))


# Opens ITER distinct missing paths as fast as it can: far more spans than a pipe holds.
FLOOD = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    char path[64];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "/nonexistent-renacer/%d", i);
        open(path, O_RDONLY);
    }
    puts("flood done");
    return 0;
}
"""


async def test_a_slow_reader_sees_the_dropped_count_in_the_header(cbuild: Callable[..., Path]) -> None:
    """The UI reads nothing until the program has ended: the capture's one-batch feed queue
    overflows, and the header shows how many spans were dropped (the count travels on the feed)."""
    child = CaptureChild(["--no-store", "--queue-capacity", "1"], [str(cbuild("flood", FLOOD)), "30000"])
    feed = child.start()

    def slow_feed():  # the UI's reader, stuck until the traced program is done
        deadline = time.monotonic() + 60
        while b"flood done" not in child.log_path.read_bytes():
            assert time.monotonic() < deadline, "the traced program did not finish"
            time.sleep(0.05)
        yield from feed

    app = RenacerApp(store_enabled=False)
    app.start_live(slow_feed(), ["flood"], child)
    try:
        async with app.run_test(headless=True, size=(160, 40)) as pilot:
            screen = app.live_screen
            await wait_for(pilot, lambda: screen.feed_closed, timeout=60)
            await pilot.pause(0.4)  # one header tick after the last batch
            model = screen.model
            assert feed.dropped > 0 and model.dropped == feed.dropped
            assert model.rows + model.dropped <= 30_000 + 100  # (the process, run and libc-startup spans)
            assert f"dropped {model.dropped:,}" in screen_text(app)
        assert child.finish() == 0
        log = child.log_path.read_text(errors="replace")
        assert re.search(r"spans \(\d+ rows\) in [\d.]+s, \d+ ptrace stops, (\d+) dropped", log), log
    finally:
        child.log_path.unlink(missing_ok=True)


async def test_stdin_file_feeds_the_program_in_the_tui(db_path: Path, tmp_path: Path) -> None:
    given = tmp_path / "input.txt"
    given.write_text("line one from --stdin\n")
    app, child = live_app(["cat"], [f"--stdin={given}"])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        screen = app.screen
        assert isinstance(screen, LiveScreen)
        output = "\n".join(str(line) for line in screen.query_one(Log).lines)
        assert "line one from --stdin" in output  # cat read the file, not an empty stdin
        model = screen.model
        lines = [model.line(i).plain for i in range(model.line_count)]
        assert any('read(0, "line one from --stdin' in line for line in lines)
        await pilot.press("q")
        await pilot.pause()
    assert child.finish() == 0


async def test_at_80x24_a_long_call_keeps_its_result_and_duration(db_path: Path, tmp_path: Path) -> None:
    """The arguments are cut (`…`), not the end of the line: what the call returned stays visible."""
    long_name = tmp_path / ("d" * 120)
    command = ["sh", "-c", f"printf %0200d 0 > {long_name}; exec cat {long_name} > /dev/null"]
    app, child = live_app(command)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: finished(app))
        await pilot.pause(0.4)
        span_pane = app.screen.query_one(SpanLog)
        region = span_pane.content_region
        rows = screen_text(app).splitlines()[region.y: region.y + region.height]
        shown = [row[region.x: region.x + region.width].rstrip() for row in rows]
        cut = [line for line in shown if "…" in line]
        assert cut, shown  # the long openat/read/write lines were shortened
        assert all(re.search(r"\) = (-?\d+|0x[0-9a-f]+)( [A-Z]+)?.*<[^>]+>$", line) for line in cut), cut
        await pilot.press("q")
        await pilot.pause()
    assert child.finish() == 0




def _waited_s(table: BlockedTable) -> float:
    """The first row's wait (`150ms`, `2.30s`) in seconds."""
    text = str(table.get_row_at(0)[3])
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1])


async def test_blocked_pane_shows_what_a_thread_waits_in_and_for_how_long(db_path: Path, tmp_path: Path) -> None:
    """cat blocks opening a FIFO nobody writes: the pane names the call and its wait grows,
    then empties (and hides) once the call returns."""
    gate = tmp_path / "gate-fifo"
    os.mkfifo(gate)
    app, child = live_app(["cat", str(gate)])
    try:
        await _watch_the_gate(app, child, gate)
    finally:  # a failed check must not leave cat waiting for ever
        try:
            os.close(os.open(gate, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        _reap(child)


async def _watch_the_gate(app: RenacerApp, child: CaptureChild, gate: Path) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, LiveScreen)
        blocked = screen.query_one("#blocked", BlockedTable)
        assert blocked.has_class("-empty")
        await wait_for(pilot, lambda: blocked.row_count == 1)
        call = str(blocked.get_row_at(0)[2])
        assert call.startswith("openat(AT_FDCWD, ") and call.endswith("…)")  # the arguments cut, not the call
        assert [(c.name, c.comm) for c in screen.model.blocked()] == [("openat", "cat")]
        assert "gate-fifo" in screen.model.blocked()[0].args
        assert str(blocked.get_row_at(0)[1]) == "cat" and not blocked.has_class("-empty")
        first = _waited_s(blocked)
        await wait_for(pilot, lambda: _waited_s(blocked) >= first + 0.5)  # redrawn while it waits
        text = screen_text(app)
        assert "blocked in" in text and "openat(AT_FDCWD" in text
        with open(gate, "w") as writer:  # cat's open returns; it copies one line and ends
            writer.write("through the gate\n")
        await wait_for(pilot, lambda: finished(app))
        await pilot.pause(0.4)
        assert blocked.row_count == 0 and blocked.has_class("-empty")
        model = screen.model
        lines = [model.line(i).plain for i in range(model.line_count)]
        assert any("openat(AT_FDCWD" in line and "gate-fifo" in line and " = 3" in line for line in lines)
        await pilot.press("q")
        await pilot.pause()
    assert child.finish() == 0


async def test_typed_lines_reach_the_program_and_ctrl_d_ends_its_input(db_path: Path) -> None:
    """The program reads what is typed on the input line (`i`), and end of file on ctrl+d."""
    app, child = live_app(["sh", "-c", 'read first; echo "got $first"; cat; echo "eof after cat"'])
    assert child.takes_input
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, LiveScreen)
        line = screen.query_one(ProgramInput)
        assert not line.display  # hidden until asked for
        await wait_for(pilot, lambda: screen.model.line_count > 0)
        await pilot.press("i")
        assert line.display and line.has_focus
        for text in ("hello there", "more"):
            await pilot.press(*text)
            await pilot.press("enter")
        await pilot.press("ctrl+d")  # cat reads end of file, the shell goes on and exits
        await wait_for(pilot, lambda: finished(app))
        await pilot.pause(0.4)
        assert not line.display and not child.input_open
        output = "\n".join(str(row) for row in screen.query_one(Log).lines)
        assert "got hello there" in output and "more" in output and "eof after cat" in output
        model = screen.model
        lines = [model.line(i).plain for i in range(model.line_count)]
        assert any('read(0, "more\\n"' in row for row in lines)
        await pilot.press("q")
        await pilot.pause()
    assert child.finish() == 0


async def test_no_input_line_for_a_program_given_a_file_or_attached() -> None:
    assert not CaptureChild(["--stdin=/etc/hostname"], ["cat"]).takes_input
    assert not CaptureChild(["--attach=1"], []).takes_input
