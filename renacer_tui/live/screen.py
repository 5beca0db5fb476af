"""The live screen: the golden thread as it is captured.

A reader thread takes the feed's batches as they arrive — together, when several are already
waiting (`FeedReader.groups`) — folds them into a `LiveModel` and posts one coalesced
`FeedUpdated` (`can_replace`), so however fast spans arrive the UI thread handles at most one
update per frame.  The header and the side tables redraw on a timer from the model (the tables
take turns).  No update changes a widget's size, so none costs a screen layout.
"""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import pyarrow as pa
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, Log

from renacer_tui.live.model import LiveModel
from renacer_tui.live.panes import (
    AlertsPane,
    BlockedTable,
    LiveHeader,
    ProcessTable,
    TopSyscalls,
)
from renacer_tui.live.program_input import ProgramInput
from renacer_tui.live.span_log import SpanLog
from renacer_tui.messages import FeedClosed, FeedUpdated, ProgramExited
from renacer_tui.model.attributes import ATTR_PROCESS_EXIT_CODE, ATTR_ROOT_PID
from renacer_tui.model.readable import describe_exit
from renacer_tui.navigation import navigator
from renacer_tui.sinks.feed import META_INFLIGHT, FeedReader
from renacer_tui.text import escape

if TYPE_CHECKING:
    from renacer_tui.live.child import CaptureChild

#: New alerts shown as notifications per refresh; the rest are summed up in one.
NOTIFY_AT_ONCE = 3


class QuitDialog(ModalScreen[str]):
    """Asked when quitting while the traced program still runs: kill, detach or stay."""

    BINDINGS = [
        Binding("k", "choose('kill')", "Kill"),
        Binding("d", "choose('detach')", "Detach"),
        Binding("escape,c", "choose('cancel')", "Cancel"),
    ]

    def __init__(self, attached: bool) -> None:
        super().__init__()
        self.attached = attached

    def compose(self) -> ComposeResult:
        # One line per choice, each wrapping inside the dialog: on one line they were clipped at 80×24.
        detach = "the process keeps running, untraced" if self.attached else "it runs on in the background, traced and stored"
        with Vertical(id="quit-dialog"):
            yield Label("The traced program is still running.", id="quit-title")
            yield Label("[b]k[/b]    kill it (SIGKILL)", classes="quit-choice")
            yield Label(f"[b]d[/b]    detach: {detach}", classes="quit-choice")
            yield Label("[b]esc[/b]  stay", classes="quit-choice")
            with Horizontal(id="quit-buttons"):
                yield Button("Kill", id="kill", variant="error")
                yield Button("Detach", id="detach", variant="warning")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class LiveScreen(Screen[None]):
    """Header, span pane (follows the tail), process tree, top syscalls and program output."""

    CSS_PATH = "screen.tcss"
    BINDINGS = [
        Binding("q", "quit_live", "Quit"),
        Binding("o", "toggle_output", "Output"),
        Binding("t", "span_tree", "Span tree"),
        Binding("i", "program_input", "Input"),
        Binding("tab", "focus_next", "Next pane", show=False),
    ]

    def __init__(
        self,
        feed: Iterable[tuple[pa.RecordBatch, dict[str, str]]],
        command: list[str],
        child: CaptureChild | None = None,
        model: LiveModel | None = None,
    ) -> None:
        super().__init__()
        self.feed = feed
        self.command = command
        self.child = child
        self.model = model or LiveModel()
        self.started = time.monotonic()
        self.ended_at: float | None = None
        self.feed_closed = False
        self.feed_error: str | None = None
        self.returncode: int | None = None
        self._shown_version = -1
        self._tables_shown = [-1, -1]  # model version shown by the process table, the top syscalls
        self._ticks = 0
        self._feed_stop = threading.Event()  # the screen went away: the feed thread stops reading
        self.feed_thread: threading.Thread | None = None
        self._log_offset = 0
        self._alerts_shown = 0

    def compose(self) -> ComposeResult:
        yield LiveHeader(id="live-header")
        yield AlertsPane(id="alerts")
        with Horizontal(id="live-main"):
            yield SpanLog(self.model, id="spans")
            with Vertical(id="live-side"):
                yield BlockedTable(id="blocked")
                yield ProcessTable(id="procs")
                yield TopSyscalls(id="top")
        yield Log(id="output", max_lines=2000)
        yield ProgramInput(placeholder="a line for the program's stdin: enter sends it, ctrl+d ends the input, "
                                       "esc hides this", id="stdin", classes="-hidden")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#blocked").border_title = "blocked in"
        self.query_one("#procs").border_title = "processes"
        self.query_one("#top").border_title = "top syscalls"
        self.query_one("#output").border_title = "program output"
        self.query_one("#spans").border_title = "spans"
        if self.child is None:
            self.query_one(Log).add_class("-hidden")
        self.query_one(SpanLog).focus()
        # The start-up heap (Textual, Rich, pyarrow, the screens) lives as long as the app; frozen,
        # a full collection while spans flow scans only what the live view allocated since
        # (~40 ms -> a few ms, and it used to land in the middle of a frame).
        gc.freeze()
        # Daemon threads, not Textual thread workers: both block (on the pipe, on the child) and
        # the app's exit waits for its workers — after a detach it would hang until the program ends.
        self.feed_thread = threading.Thread(target=self._read_feed, name="renacer-feed", daemon=True)
        self.feed_thread.start()
        if self.child is not None:
            threading.Thread(target=self._wait_child, name="renacer-child", daemon=True).start()
        self.set_interval(0.25, self._tick)
        self.set_interval(1.0, self.model.roll_history)
        self._tick(final=True)

    def _read_feed(self) -> None:
        # A FeedReader hands over the batches already waiting together: a reader that fell
        # behind catches up with one absorb (and one GIL-holding stretch) instead of many.
        groups = self.feed.groups() if isinstance(self.feed, FeedReader) else (([b], m) for b, m in self.feed)
        try:
            for batches, metadata in groups:
                if self._feed_stop.is_set():
                    return
                if META_INFLIGHT in metadata:
                    self.model.set_inflight(batches[0])
                else:
                    self.model.absorb_group(batches, metadata)
                self.post_message(FeedUpdated(self.model.version))
        except Exception as exc:  # a broken feed ends the live view, never the app
            self.post_message(FeedClosed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(FeedClosed())

    def on_unmount(self) -> None:
        self._feed_stop.set()

    def _wait_child(self) -> None:
        assert self.child is not None
        code = self.child.wait()
        if code is not None:
            self.post_message(ProgramExited(code))

    def on_feed_updated(self, message: FeedUpdated) -> None:
        self.query_one(SpanLog).sync()

    def on_feed_closed(self, message: FeedClosed) -> None:
        self.feed_closed = True
        self.feed_error = message.error
        if self.ended_at is None and self.child is None:
            self.ended_at = time.monotonic()
        self._tick(final=True)

    def on_program_exited(self, message: ProgramExited) -> None:
        self.returncode = message.returncode
        self.ended_at = self.ended_at or time.monotonic()
        self._tick(final=True)

    def program_state(self) -> tuple[str, str]:
        """(text, css class) of the traced program's state."""
        if self.returncode is not None:
            root = self.model.processes.get(self.model.run_attributes.get(ATTR_ROOT_PID))  # type: ignore[arg-type]
            return describe_exit(self.returncode, root.signal if root else None), "-failed" if self.returncode else "-done"
        if self.feed_error:
            return f"feed lost: {escape(self.feed_error)}", "-failed"
        if self.child is None and (self.feed_closed or self.model.finished):
            code = self.model.run_attributes.get(ATTR_PROCESS_EXIT_CODE)
            return (f"exited with code {code}" if code is not None else "finished"), "-done"
        return "running", "-running"

    @property
    def running(self) -> bool:
        return self.program_state()[1] == "-running"

    def redraw(self) -> None:
        """Redraw every pane from the model now, changed or not."""
        self._shown_version = -1
        self._tables_shown = [-1, -1]
        self._tick(final=True)

    def _tick(self, final: bool = False) -> None:
        """Header, side tables and span pane from the model (`final`: everything, now)."""
        end = self.ended_at or time.monotonic()
        state, css = self.program_state()
        self.query_one(LiveHeader).show(self.command, self.model, end - self.started, state, css)
        version = self.model.version
        # The side tables take turns (each redraws at 2 Hz while spans flow): redrawing a
        # table costs several ms, and both in one frame made that frame miss its slot.
        turn, self._ticks = self._ticks % 2, self._ticks + 1
        if (final or turn == 0) and version != self._tables_shown[0]:
            self._tables_shown[0] = version
            self.query_one(ProcessTable).show(self.model)
        if (final or turn == 1) and version != self._tables_shown[1]:
            self._tables_shown[1] = version
            self.query_one(TopSyscalls).show(self.model.top_syscalls())
        if version != self._shown_version:
            self._shown_version = version
            self.query_one(SpanLog).sync()
        self.query_one(BlockedTable).show(self.model.blocked(), time.time_ns())  # the waits grow each tick
        self._show_alerts()
        self._tail_output()

    def _show_alerts(self) -> None:
        """Each new live alert once as a notification, and all of them in the alerts pane."""
        alerts = list(self.model.alerts)
        if len(alerts) == self._alerts_shown:
            return
        new = alerts[self._alerts_shown :]
        at_once = NOTIFY_AT_ONCE if self.size.height >= 30 else 1  # toasts must not hide a small terminal
        for alert in new[:at_once]:
            self.notify(escape(alert.title), title="anti-pattern", severity="error" if alert.severity == "high" else "warning", markup=False)
        if len(new) > at_once:  # a burst is summed up, not a wall of toasts
            self.notify(f"{len(new) - at_once} more anti-patterns: see the alerts pane", title="anti-pattern", severity="warning", markup=False)
        self._alerts_shown = len(alerts)
        self.query_one(AlertsPane).show(alerts)

    def _tail_output(self) -> None:
        if self.child is None:
            return
        path: Path = self.child.log_path
        try:
            with open(path, "rb") as handle:
                handle.seek(self._log_offset)
                data = handle.read(64 * 1024)
        except OSError:
            return
        if not data:
            return
        cut = data.rfind(b"\n") + 1 if len(data) == 64 * 1024 else len(data)
        cut = cut or len(data)
        self._log_offset += cut
        lines = data[:cut].decode("utf-8", "surrogateescape").splitlines()
        self.query_one(Log).write_lines([escape(line) for line in lines])

    def action_toggle_output(self) -> None:
        """Show or hide the program output pane."""
        self.query_one(Log).toggle_class("-hidden")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`i` only while the program reads what the user types."""
        if action == "program_input":
            return self.child is not None and self.child.input_open and self.running
        return True

    def action_program_input(self) -> None:
        """Open the input line (the program's stdin)."""
        line = self.query_one(ProgramInput)
        line.remove_class("-hidden")
        line.focus()

    def action_hide_program_input(self) -> None:
        self.query_one(ProgramInput).add_class("-hidden")
        self.query_one(SpanLog).focus()

    def action_end_program_input(self) -> None:
        """ctrl+d: the program reads end of file."""
        if self.child is not None:
            self.child.close_input()
        self.action_hide_program_input()
        self.refresh_bindings()
        self.notify("The program's input is closed (end of file)", title="stdin")

    @on(Input.Submitted, "#stdin")
    def _send_line(self, event: Input.Submitted) -> None:
        line = event.value
        if self.child is None or not self.child.send_input(line.encode("utf-8", "surrogateescape") + b"\n"):
            self.notify("The program is not taking input (it ended it, exited, or is not reading)",
                        title="stdin", severity="warning")
            return
        event.input.value = ""

    def action_span_tree(self) -> None:
        """Open the stored trace in the span tree (what has been stored so far)."""
        if self.model.trace_id is None:
            self.notify("No spans yet", severity="warning")
            return
        navigator(self.app).open_span_tree(self.model.trace_id)

    def action_quit_live(self) -> None:
        """Quit; while the program runs, ask whether to kill or detach it."""
        if self.child is None or not self.running:
            self.app.exit()
            return

        def decided(choice: str | None) -> None:
            if self.child is None or choice in (None, "cancel"):
                return
            if choice == "kill":
                self.child.kill_program([p.pid for p in self.model.processes.values() if p.alive])
            else:
                self.child.detach()
            self.app.exit()

        self.app.push_screen(QuitDialog(self.child.attached), decided)
