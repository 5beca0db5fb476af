"""The critical-path screen: where the run's wall time went, and what a speedup would buy.

The trace is loaded and analysed in a thread worker (`analysis.loading.load_trace`,
`analysis.graph.build_graph`, `analysis.critical_path.critical_path`) so a large trace never
freezes the UI.  The what-if input takes `NAME=10x` or `SPAN_ID=10x` and replays the trace with
that span (or every span of that name) sped up, also in a worker.  Enter on a step opens it in
the span tree (`JumpToSpans`).  Failures are notifications and a red status line, not crashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, LoadingIndicator, Static

from renacer_tui.analysis.critical_path import (
    CriticalPath,
    SpeedupError,
    WhatIf,
    critical_path,
    parse_speedup,
    what_if,
)
from renacer_tui.analysis.graph import CausalGraph, build_graph
from renacer_tui.analysis.loading import load_trace
from renacer_tui.messages import JumpToSpans
from renacer_tui.model.readable import format_duration, one_line
from renacer_tui.navigation import navigator
from renacer_tui.text import escape
from renacer_tui.widgets.analysis_tables import CriticalPathTable

if TYPE_CHECKING:
    from renacer_tui.store import Store

#: Paths longer than this show their longest steps only (in time order).
MAX_STEPS = 2000


@dataclass
class PathComputed(Message):
    """The worker's result: the graph and its critical path, or a one-line error."""

    graph: CausalGraph | None
    path: CriticalPath | None
    error: str | None = None


@dataclass
class WhatIfComputed(Message):
    """A what-if replay finished (or failed with a one-line reason)."""

    text: str
    result: WhatIf | None = None
    error: str | None = None




class CriticalPathScreen(Screen[None]):
    """The critical path as an indented table with share bars, and a what-if input."""

    CSS_PATH = "critical_path.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("w", "what_if", "What-if"),
        Binding("b", "bottleneck", "Bottleneck"),
        Binding("t", "span_tree", "Span tree"),
        Binding("a", "antipatterns", "Anti-patterns"),
    ]

    def __init__(self, store: Store, trace_id: str) -> None:
        super().__init__()
        self.store = store
        self.trace_id = trace_id
        self.graph: CausalGraph | None = None
        self.path: CriticalPath | None = None
        self.error: str | None = None
        self.last_what_if: WhatIf | None = None
        self.what_if_text = ""

    def compose(self) -> ComposeResult:
        yield Static(Text(f"critical path of trace {self.trace_id}: analysing…"), id="cp-status", classes="status-line")
        yield LoadingIndicator(id="cp-loading")
        yield CriticalPathTable(id="cp-table")
        yield Input(placeholder="what-if: NAME=10x or SPAN_ID=10x, enter replays (w)", id="whatif")
        yield Static("", id="whatif-result")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(CriticalPathTable)
        table.border_title = "critical path"
        table.display = False
        self._analyse()

    @work(thread=True, exclusive=True, group="analysis")
    def _analyse(self) -> None:
        try:
            graph = build_graph(load_trace(self.store, self.trace_id))
            path = critical_path(graph)
        except Exception as exc:  # a missing trace or a broken store is a message
            self.post_message(PathComputed(None, None, one_line(exc)))
            return
        self.post_message(PathComputed(graph, path))

    def on_path_computed(self, message: PathComputed) -> None:
        self.query_one("#cp-loading").display = False
        status = self.query_one("#cp-status", Static)
        if message.error is not None or message.path is None or message.graph is None:
            self.error = message.error or "no result"
            status.update(Text(f"cannot analyse trace {self.trace_id}: {escape(self.error)}", style="bold red"))
            self.notify(f"Critical path: {escape(self.error)}", severity="error", markup=False)
            return
        self.graph, self.path = message.graph, message.path
        path = self.path
        if len(path.node) == 0:
            status.update(Text(f"trace {self.trace_id}: no critical path (no root span)", style="bold yellow"))
            return
        picked = None if len(path.node) <= MAX_STEPS else path.top(MAX_STEPS)
        steps = path.rows(picked)
        cols = self.graph.cols
        pids = {step["span_id"]: int(cols.pid[int(path.node[step["index"]])]) for step in steps}
        b = path.bottleneck
        bottleneck = path.rows([b])[0]
        table = self.query_one(CriticalPathTable)
        table.display = True
        table.show(steps, bottleneck["span_id"], int(path.start[0]), pids)
        if table.bottleneck_row >= 0:
            table.move_cursor(row=table.bottleneck_row, animate=False)
        table.focus()
        example = bottleneck["name"].removeprefix("syscall:")
        self.query_one("#whatif", Input).placeholder = f"what-if: NAME=10x or SPAN_ID=10x, e.g. {escape(example)}=10x (w)"
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"trace {self.trace_id}  ", style="bold")
        line.append(f"{len(path.node):,} steps")
        if picked is not None:
            line.append(f" (showing the {MAX_STEPS:,} longest)")
        line.append(f"  path {format_duration(path.total_ns)} of {format_duration(path.wall_ns)} wall  bottleneck ")
        line.append(escape(bottleneck["name"]), style="bold")
        if bottleneck["calls"] > 1:
            line.append(f" ×{bottleneck['calls']:,}", style="bold")
        if bottleneck["detail"]:
            line.append(" " + escape(bottleneck["detail"]))
        line.append(f" {format_duration(bottleneck['self_ns'])} ({bottleneck['share'] * 100:.1f} %)")
        status.update(line)

    # -- what-if ------------------------------------------------------------------------------
    def action_what_if(self) -> None:
        self.query_one("#whatif", Input).focus()

    @on(Input.Submitted, "#whatif")
    def _what_if_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        result = self.query_one("#whatif-result", Static)
        if self.graph is None or self.path is None:
            self.notify("The critical path is not ready yet", severity="warning")
            return
        try:
            key, factor = parse_speedup(text)
        except SpeedupError as exc:
            self._what_if_failed(one_line(exc))
            return
        self.what_if_text = text
        result.update(Text(f"replaying with {escape(key)} {factor:g}× faster…", style="italic"))
        self._what_if(key, factor, text)

    @work(thread=True, exclusive=True, group="what-if")
    def _what_if(self, key: str, factor: float, text: str) -> None:
        assert self.graph is not None and self.path is not None
        try:
            outcome = what_if(self.graph, {key: factor}, before=self.path)
        except Exception as exc:  # SpeedupError (unknown name) or a replay failure
            self.post_message(WhatIfComputed(text, error=one_line(exc)))
            return
        self.post_message(WhatIfComputed(text, outcome))

    def on_what_if_computed(self, message: WhatIfComputed) -> None:
        if message.text != self.what_if_text:
            return  # a newer what-if was submitted meanwhile
        if message.error is not None or message.result is None:
            self._what_if_failed(message.error or "no result")
            return
        self.last_what_if = message.result
        widget = self.query_one("#whatif-result", Static)
        widget.remove_class("-error")
        line = Text(escape(message.result.sentence()), style="bold")
        line.append(f"  ({message.result.matched:,} span{'s' if message.result.matched != 1 else ''} sped up)", style="dim")
        widget.update(line)
        self.call_after_refresh(self._keep_cursor_visible)

    def _keep_cursor_visible(self) -> None:
        """The result line may grow and shrink the table: keep the selected step in view."""
        table = self.query_one(CriticalPathTable)
        if table.row_count:
            table.move_cursor(row=table.cursor_row, animate=False)

    def _what_if_failed(self, error: str) -> None:
        self.last_what_if = None
        widget = self.query_one("#whatif-result", Static)
        widget.add_class("-error")
        widget.update(Text(f"what-if: {escape(error)}"))
        self.call_after_refresh(self._keep_cursor_visible)
        self.notify(f"What-if: {escape(error)}", severity="warning", markup=False)

    # -- navigation ---------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#cp-table")
    def _step_selected(self, event: DataTable.RowSelected) -> None:
        step = self.query_one(CriticalPathTable).step_at_cursor()
        if step is not None:
            self.post_message(JumpToSpans([step["span_id"]], self.trace_id))

    def action_bottleneck(self) -> None:
        """Move the cursor to the bottleneck step."""
        table = self.query_one(CriticalPathTable)
        if table.bottleneck_row >= 0:
            table.move_cursor(row=table.bottleneck_row)
            table.focus()

    def action_span_tree(self) -> None:
        navigator(self.app).open_span_tree(self.trace_id)

    def action_antipatterns(self) -> None:
        navigator(self.app).open_analysis("antipatterns", self.trace_id)

    def action_back(self) -> None:
        if self.query_one("#whatif", Input).has_focus:
            self.query_one(CriticalPathTable).focus()
            return
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()
