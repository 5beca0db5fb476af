"""The `renacer-tui serve` screen: what the daemon is receiving, live.

The header names the endpoints, the table lists the traces that spans arrived for (most recent
first: service, spans, errors, last seen), the log below shows the latest spans.  Enter opens a
trace's span tree from the store (segments are written every couple of seconds), F2 the traces
browser and F3 the SQL console over the same store.  q quits: the daemon then flushes and exits.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, RichLog, Static

from renacer_tui.model.readable import format_duration
from renacer_tui.serve_model import ServeModel
from renacer_tui.text import clip, escape, literal

TICK_S = 0.25
COLUMNS = (("trace_id", "trace id"), ("service", "service"), ("spans", "spans"), ("errors", "errors"),
           ("last_seen", "last seen"))


def span_text(row: dict[str, Any]) -> Text:
    """One received span as a log line; its names shown literally."""
    duration = max(0, int(row["end_time_nanos"]) - int(row["start_time_nanos"]))
    line = Text(no_wrap=True, end="")
    line.append(f"{row['trace_id'][:8]} ", style="dim")
    line.append_text(literal(clip(escape(row["service_name"]), 20), style="cyan"))
    line.append(f" {row['process_pid']:>7} ")
    line.append_text(literal(row["span_name"], style="bold red" if row["status"] == "ERROR" else "bold"))
    line.append(f"  <{format_duration(duration)}>", style="dim")
    return line


class ServeScreen(Screen[None]):
    """Live view of a `serve` daemon (its model is fed by the listener threads)."""

    CSS_PATH = "serve.tcss"
    BINDINGS = [
        Binding("enter", "open", "Open trace", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, model: ServeModel, where: str, stats: Callable[[], Any],
                 stop: threading.Event | None = None) -> None:
        super().__init__()
        self.model = model
        self.where = where
        self.stats = stats
        self.stop = stop
        self._version = -1
        self._spans_logged = 0
        self._rate_mark = (time.monotonic(), 0)
        self.rate = 0.0
        self.shown: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(f"renacer-tui serve — {self.where}", no_wrap=True), id="serve-header")
        yield DataTable(id="serve-traces", cursor_type="row", zebra_stripes=True)
        yield RichLog(id="serve-spans", markup=False, highlight=False, max_lines=1000, wrap=False)
        yield Static("waiting for spans…", id="serve-status", classes="status-line")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#serve-traces", DataTable)
        for key, heading in COLUMNS:
            table.add_column(heading, key=key)
        table.focus()
        self.set_interval(TICK_S, self.tick)

    def tick(self) -> None:
        """Redraw what changed; end the app when the daemon was told to stop (SIGTERM)."""
        if self.stop is not None and self.stop.is_set():
            self.app.exit()
            return
        now = time.monotonic()
        mark_time, mark_spans = self._rate_mark
        if now - mark_time >= 1.0:
            self.rate = (self.model.spans - mark_spans) / (now - mark_time)
            self._rate_mark = (now, self.model.spans)
        stats = self.stats()
        rejected = sum(stats.rejected.values())
        self.query_one("#serve-status", Static).update(Text(
            f"{stats.spans} spans of {stats.traces} traces from {stats.requests} requests, {self.rate:.0f}/s"
            + (f", {rejected} rejected" if rejected else "") + (f", {stats.dropped} dropped" if stats.dropped else ""),
            no_wrap=True,
        ))
        if self.model.version == self._version:
            return
        self._version = self.model.version
        snapshot = self.model.snapshot()
        table = self.query_one("#serve-traces", DataTable)
        selected = self.shown[table.cursor_row] if self.shown and 0 <= table.cursor_row < len(self.shown) else None
        table.clear()
        wall = time.time_ns()
        for trace in snapshot.traces:
            age = format_duration(max(0, wall - trace.last_seen_ns)) + " ago"
            table.add_row(trace.trace_id, literal(clip(escape(trace.service), 30)), trace.spans,
                          Text(str(trace.errors), style="red" if trace.errors else ""), age, key=trace.trace_id)
        self.shown = [trace.trace_id for trace in snapshot.traces]
        if selected in self.shown:
            table.move_cursor(row=self.shown.index(selected))
        new = min(snapshot.spans - self._spans_logged, len(snapshot.recent))
        log = self.query_one("#serve-spans", RichLog)
        for row in snapshot.recent[len(snapshot.recent) - new:]:
            log.write(span_text(row))
        self._spans_logged = snapshot.spans

    def action_open(self) -> None:
        table = self.query_one("#serve-traces", DataTable)
        if self.shown and 0 <= table.cursor_row < len(self.shown):
            self.app.open_span_tree(self.shown[table.cursor_row])  # type: ignore[attr-defined]
