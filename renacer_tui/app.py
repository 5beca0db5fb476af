"""The Textual application: wires screens, global keys and the command palette — nothing else.

Screens talk to `store`/`analysis` through the app's lazily opened `Store`; the live screen
talks to a capture child (`renacer_tui.live.child`).  Logic lives in those modules, not here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from renacer_tui.messages import JumpToSpans

if TYPE_CHECKING:
    from renacer_tui.screens.span_tree import SpanTreeScreen
    from renacer_tui.store import Store


class RenacerApp(App[None]):
    """renacer-tui's UI: live screen, span tree, SQL console, traces browser, analysis screens."""

    TITLE = "renacer-tui"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("f1,question_mark", "help", "Help"),
        Binding("f2", "traces", "Traces", show=False),
        Binding("f3", "sql", "SQL", show=False),
        Binding("ctrl+q", "quit", "Quit app", show=False, priority=True),
        Binding("ctrl+c", "quit", "Quit app", show=False),  # what a terminal user tries first
    ]

    def __init__(self, *, store: Store | None = None, store_path: Path | None = None, store_enabled: bool = True) -> None:
        super().__init__()
        self._store = store
        self._store_path = store_path
        self._store_enabled = store_enabled
        self._first: Callable[[], Screen[Any] | None] | None = None
        self.live_screen: Any | None = None

    # -- start-up ---------------------------------------------------------------------------
    def start_live(self, feed: Iterable[Any], command: list[str], child: Any | None = None, model: Any | None = None) -> None:
        """Open on the live screen for this feed (and capture child, when there is one)."""
        from renacer_tui.live.screen import LiveScreen

        def make() -> Screen[Any]:
            self.live_screen = LiveScreen(feed, command, child, model)
            return self.live_screen

        self._first = make

    def start_traces(self) -> None:
        """Open on the traces browser."""
        from renacer_tui.screens.traces import TracesScreen

        self._first = lambda: TracesScreen()

    def start_trace(self, trace_id: str) -> None:
        """Open one trace's span tree directly (`view --trace-id`)."""
        self._first = lambda: self._span_tree_screen(trace_id)

    def on_mount(self) -> None:
        if self._first is None:
            self.start_traces()
        assert self._first is not None
        screen = self._first()
        if screen is not None:
            self.push_screen(screen)

    # -- shared services --------------------------------------------------------------------
    def get_store(self) -> Store | None:
        """The store, opened on first use; None (with a notification) when unavailable."""
        if self._store is not None:
            return self._store
        if not self._store_enabled:
            self.notify("This run was not stored (--no-store)", severity="warning")
            return None
        try:
            from renacer_tui.store import Store

            self._store = Store.open(self._store_path)
        except Exception as exc:  # a missing or broken store is a message, not a crash
            self.notify(f"Cannot open the store: {exc}", severity="error")
            return None
        return self._store

    def live_pids(self) -> list[int]:
        """Traced processes the live feed shows alive (for kill on exit)."""
        live = self.live_screen
        return [p.pid for p in live.model.processes.values() if p.alive] if live else []

    def live_trace_id(self) -> str | None:
        return self.live_screen.model.trace_id if self.live_screen else None

    def current_trace_id(self) -> str | None:
        """The trace the user is looking at (span tree, else live), for analysis commands."""
        trace_id = getattr(self.screen, "trace_id", None)
        return trace_id or self.live_trace_id()

    # -- navigation -------------------------------------------------------------------------
    def _span_tree_screen(self, trace_id: str) -> SpanTreeScreen | None:
        from renacer_tui.screens.span_tree import SpanTreeScreen

        store = self.get_store()
        return SpanTreeScreen(store, trace_id) if store is not None else None

    def open_span_tree(self, trace_id: str, span_ids: list[str] | None = None) -> None:
        screen = self._span_tree_screen(trace_id)
        if screen is not None:
            if span_ids:
                screen.pending_jump = list(span_ids)
            self.push_screen(screen)

    def open_analysis(self, kind: str, trace_id: str | None = None) -> None:
        """Push CriticalPathScreen ('critical_path') or AntipatternsScreen ('antipatterns')."""
        trace_id = trace_id or self.current_trace_id()
        if trace_id is None:
            self.notify("Open a trace first", severity="warning")
            return
        class_name = {"critical_path": "CriticalPathScreen", "antipatterns": "AntipatternsScreen"}[kind]
        try:
            module = importlib.import_module(f"renacer_tui.screens.{kind}")
            screen_class = getattr(module, class_name)
        except (ImportError, AttributeError):
            self.notify(f"{class_name} is not available in this build", severity="warning")
            return
        store = self.get_store()
        if store is not None:
            self.push_screen(screen_class(store, trace_id))

    def on_jump_to_spans(self, message: JumpToSpans) -> None:
        """An analysis screen asked to show spans: reuse the span tree below it or open one."""
        trace_id = message.trace_id or self.current_trace_id()
        from renacer_tui.screens.span_tree import SpanTreeScreen

        for screen in reversed(self.screen_stack):
            if isinstance(screen, SpanTreeScreen) and (trace_id is None or screen.trace_id == trace_id):
                target: SpanTreeScreen = screen
                while self.screen is not target:
                    self.pop_screen()
                target.jump_to(message.span_ids)
                return
        if trace_id:
            self.open_span_tree(trace_id, message.span_ids)

    async def action_quit(self) -> None:
        """Quit; while a traced program runs, the live screen first asks: kill or detach?"""
        from renacer_tui.live.screen import QuitDialog

        live = self.live_screen
        if live is not None and live.child is not None and live.running:
            if not isinstance(self.screen, QuitDialog):
                live.action_quit_live()
            return
        self.exit()

    def action_help(self) -> None:
        """Show every key (F1 or ?)."""
        from renacer_tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_sql(self) -> None:
        """Open the SQL console."""
        from renacer_tui.screens.sql_console import SqlConsoleScreen

        store = self.get_store()
        if store is not None and not isinstance(self.screen, SqlConsoleScreen):
            self.push_screen(SqlConsoleScreen(store))

    def action_traces(self) -> None:
        """Open the stored traces browser."""
        from renacer_tui.screens.traces import TracesScreen

        if not isinstance(self.screen, TracesScreen) and self.get_store() is not None:
            self.push_screen(TracesScreen())

    def action_span_tree(self) -> None:
        trace_id = self.current_trace_id()
        if trace_id:
            self.open_span_tree(trace_id)
        else:
            self.notify("Open a trace first", severity="warning")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette: every screen and the current screen's actions."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Every key of every screen (F1)", self.action_help)
        yield SystemCommand("SQL console", "Query the store with DuckDB SQL (F3)", self.action_sql)
        yield SystemCommand("Traces browser", "Stored traces: search, sort, open (F2)", self.action_traces)
        yield SystemCommand("Span tree", "The current trace as a tree with a waterfall", self.action_span_tree)
        yield SystemCommand("Critical path", "The current trace's critical path", lambda: self.open_analysis("critical_path"))
        yield SystemCommand("Anti-patterns", "The current trace's anti-patterns", lambda: self.open_analysis("antipatterns"))
        for binding in screen.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                action = binding.action
                yield SystemCommand(
                    f"{type(screen).__name__.removesuffix('Screen')}: {binding.description}",
                    f"key {binding.key}",
                    lambda action=action, screen=screen: self.call_later(screen.run_action, action),
                )
