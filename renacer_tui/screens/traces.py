"""The traces browser (`renacer-tui view`): stored traces, searchable and sortable.

Enter opens a trace in the span tree; `c` and `a` open the analysis screens; `m` marks up to two
traces (A, then B) and `d` opens the diff screen on them.  The list comes
from `store.list_traces` in a worker; search and sort work on that list in memory.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from renacer_tui.model.readable import format_duration
from renacer_tui.navigation import navigator
from renacer_tui.text import clip, escape, literal

if TYPE_CHECKING:
    from renacer_tui.store import Store

LIMIT = 5000
#: (column key, heading) — the sort keys `s` cycles through.
COLUMNS = (
    ("started_ns", "started"),
    ("trace_id", "trace id"),
    ("command", "command"),
    ("duration_ns", "duration"),
    ("processes", "procs"),
    ("spans", "spans"),
    ("errors", "errors"),
)


def matches(row: dict[str, Any], needle: str) -> bool:
    """Case-insensitive search over trace id and command."""
    needle = needle.strip().lower()
    return not needle or needle in row["trace_id"].lower() or needle in (row["command"] or "").lower()


class TracesScreen(Screen[None]):
    """A table of stored traces with a search box and a status line."""

    CSS_PATH = "traces.tcss"
    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("enter", "open", "Open", show=False),
        Binding("c", "critical_path", "Critical path"),
        Binding("a", "antipatterns", "Anti-patterns"),
        Binding("m", "mark", "Mark for diff"),
        Binding("d", "diff", "Diff marked"),
        Binding("r", "reload", "Reload"),
        Binding("q", "back", "Quit"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.shown: list[dict[str, Any]] = []
        self.sort_column = 0
        self.descending = True
        self.marked: list[str] = []  # trace ids marked for the diff: [A] or [A, B]

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search trace id or command (/)", id="search")
        yield DataTable(id="traces", cursor_type="row", zebra_stripes=True)
        yield Static("loading…", id="traces-status", classes="status-line")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#traces", DataTable)
        for key, heading in COLUMNS:
            table.add_column(heading, key=key)
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        """Read the list of traces again (in a worker)."""
        store = navigator(self.app).get_store()
        if store is not None:
            self._load(store)

    @work(thread=True, exclusive=True)
    def _load(self, store: Store) -> None:
        try:
            rows = store.list_traces(LIMIT).to_pylist()
        except Exception as exc:  # shown in the status line
            self.app.call_from_thread(self._status, Text(f"cannot list traces: {escape(exc)}", style="bold red"))
            return
        self.app.call_from_thread(self._loaded, rows)

    def _loaded(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self._refill()

    def _refill(self) -> None:
        key = COLUMNS[self.sort_column][0]
        needle = self.query_one("#search", Input).value
        shown = [row for row in self.rows if matches(row, needle)]
        shown.sort(key=lambda r: (r[key] is None, r[key] if r[key] is not None else 0), reverse=self.descending)
        self.shown = shown
        table = self.query_one("#traces", DataTable)
        table.clear()
        for row in shown:
            table.add_row(*_cells(row, self._mark_of(row["trace_id"])), key=row["trace_id"])
        arrow = "↓" if self.descending else "↑"
        marks = " · ".join(f"{label}={trace_id[:8]}" for label, trace_id in zip("AB", self.marked))
        self._status(
            Text(f"{len(shown):,} of {len(self.rows):,} traces · sorted by {COLUMNS[self.sort_column][1]} {arrow} · enter opens"
                 + (f" · marked {marks} (d: diff)" if marks else " · m marks two traces to diff"))
        )

    def _mark_of(self, trace_id: str) -> str:
        return "AB"[self.marked.index(trace_id)] if trace_id in self.marked else ""

    def _status(self, text: Text) -> None:
        self.query_one("#traces-status", Static).update(text)

    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        self._refill()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one("#traces", DataTable).focus()

    @on(DataTable.RowSelected, "#traces")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    @on(DataTable.HeaderSelected, "#traces")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_column = event.column_index
        self._refill()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_sort(self) -> None:
        """Sort by the next column."""
        self.sort_column = (self.sort_column + 1) % len(COLUMNS)
        self._refill()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self._refill()

    def selected_trace(self) -> str | None:
        table = self.query_one("#traces", DataTable)
        if not self.shown or table.cursor_row < 0 or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]["trace_id"]

    def action_open(self) -> None:
        """Open the selected trace's span tree."""
        trace_id = self.selected_trace()
        if trace_id:
            navigator(self.app).open_span_tree(trace_id)

    def action_critical_path(self) -> None:
        trace_id = self.selected_trace()
        if trace_id:
            navigator(self.app).open_analysis("critical_path", trace_id)

    def action_antipatterns(self) -> None:
        trace_id = self.selected_trace()
        if trace_id:
            navigator(self.app).open_analysis("antipatterns", trace_id)

    def action_mark(self) -> None:
        """Mark the selected trace as A, then B (a third mark replaces B); again to unmark."""
        trace_id = self.selected_trace()
        if not trace_id:
            return
        if trace_id in self.marked:
            self.marked.remove(trace_id)
        else:
            self.marked = (self.marked[:1] + [trace_id]) if len(self.marked) >= 1 else [trace_id]
        table = self.query_one("#traces", DataTable)
        row = table.cursor_row
        self._refill()
        table.move_cursor(row=min(row + 1, max(0, table.row_count - 1)))

    def action_diff(self) -> None:
        """Open the diff of the two marked traces (or of the one marked and the selected one)."""
        pair = list(self.marked)
        selected = self.selected_trace()
        if len(pair) == 1 and selected and selected != pair[0]:
            pair.append(selected)
        if len(pair) != 2:
            self.notify("Mark two traces with m first", severity="warning")
            return
        store = self.app.get_store()  # type: ignore[attr-defined]
        if store is not None:
            from renacer_tui.screens.diff import DiffScreen

            self.app.push_screen(DiffScreen(store, pair[0], pair[1]))

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_focus and search.value:
            search.value = ""
            return
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()


def _cells(row: dict[str, Any], mark: str = "") -> tuple[Any, ...]:
    started = dt.datetime.fromtimestamp(row["started_ns"] / 1e9).strftime("%m-%d %H:%M:%S") if row["started_ns"] else "?"
    errors = row["errors"] or 0
    return (
        started,
        Text(f"[{mark}] " if mark else "    ", style="bold") + Text(row["trace_id"][:12] + "…", style="cyan"),
        literal(clip(escape(row["command"]), 40)),
        format_duration(max(0, row["duration_ns"] or 0)),
        Text(str(row["processes"] or 0), justify="right"),
        Text(f"{row['spans'] or 0:,}", justify="right"),
        Text(f"{errors:,}", justify="right", style="red" if errors else ""),
    )
