"""The span tree screen: one stored trace as trace → run → processes → syscalls.

The trace loads in a thread worker (`store.trace_spans`, then a `SpanIndex`); the tree builds
nodes lazily.  Keys jump between error spans and find by text or `key=value` attribute, `g`
groups each process's calls by source line; the analysis screens' `JumpToSpans` lands here
through `jump_to`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, LoadingIndicator, Static, Tree

from renacer_tui.model.attributes import ATTR_CODE_FILEPATH, ATTR_CODE_LINENO, ATTR_CODE_STACKTRACE
from renacer_tui.model.readable import format_duration, one_line
from renacer_tui.navigation import navigator
from renacer_tui.span_groups import NO_SOURCE, GroupKey, SourceGroup
from renacer_tui.span_index import ROOT, SpanIndex
from renacer_tui.text import escape, literal
from renacer_tui.widgets.span_tree_view import SpanTreeView

if TYPE_CHECKING:
    from renacer_tui.store import Store


@dataclass
class TraceLoaded(Message):
    """The worker built the index (or failed with a one-line error)."""

    index: SpanIndex | None
    error: str | None = None


class SpanTreeScreen(Screen[None]):
    """Tree with waterfall bars beside a detail pane of every attribute of the current span."""

    CSS_PATH = "span_tree.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("e", "next_error", "Next error"),
        Binding("E", "previous_error", "Prev error"),
        Binding("slash", "find", "Find"),
        Binding("n", "next_match", "Next match"),
        Binding("N", "previous_match", "Prev match", show=False),
        Binding("g", "group_by_source", "By line"),
        Binding("c", "critical_path", "Critical path"),
        Binding("a", "antipatterns", "Anti-patterns"),
    ]

    def __init__(self, store: Store, trace_id: str) -> None:
        super().__init__()
        self.store = store
        self.trace_id = trace_id
        self.index: SpanIndex | None = None
        self.matches: list[int] = []
        self.match_pos = -1
        self.pending_jump: list[str] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"trace {self.trace_id}"), id="tree-status", classes="status-line")
        with Horizontal(id="tree-main"):
            yield LoadingIndicator(id="tree-loading")
            yield DataTable(id="detail", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="find: text, or key=value (enter searches, escape closes)", id="find")
        yield Footer()

    def on_mount(self) -> None:
        detail = self.query_one("#detail", DataTable)
        detail.add_columns("field", "value")
        detail.border_title = "span"
        self.query_one("#find").display = False
        self._load()

    @work(thread=True, exclusive=True)
    def _load(self) -> None:
        try:
            table = self.store.trace_spans(self.trace_id)
            index = SpanIndex(table)
        except Exception as exc:  # a store error is shown, not raised
            self.post_message(TraceLoaded(None, one_line(exc, with_type=True)))
            return
        self.post_message(TraceLoaded(index))

    def on_trace_loaded(self, message: TraceLoaded) -> None:
        if not self.is_attached:  # the screen closed while the trace loaded
            return
        self.query_one("#tree-loading").remove()
        status = self.query_one("#tree-status", Static)
        if message.index is None:
            status.update(Text(f"cannot load trace {self.trace_id}: {escape(message.error)}", style="bold red"))
            return
        self.index = message.index
        if not self.index.size:
            status.update(Text(f"trace {self.trace_id}: no spans stored", style="bold yellow"))
            return
        tree = SpanTreeView(self.index, id="tree")
        tree.border_title = "spans"
        self.query_one("#tree-main").mount(tree, before=0)
        tree.focus()
        self._status()
        if self.pending_jump:
            self.call_after_refresh(self.jump_to, self.pending_jump)
            self.pending_jump = None

    def _status(self, note: str = "") -> None:
        if self.index is None:
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"trace {self.trace_id}  ", style="bold")
        text.append(f"{self.index.size:,} spans  {len(self.index.error_rows):,} errors")
        tree = self.tree_view
        if tree is not None and tree.by_source:
            text.append("  processes grouped by source line", style="green")
        if self.matches:
            text.append(f"  match {self.match_pos + 1}/{len(self.matches)}", style="yellow")
        if note:
            text.append("  " + note, style="yellow")
        self.query_one("#tree-status", Static).update(text)

    @property
    def tree_view(self) -> SpanTreeView | None:
        found = self.query(SpanTreeView)
        return found.first() if found else None

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted[Any]) -> None:
        data = event.node.data
        detail = self.query_one("#detail", DataTable)
        if self.index is not None and isinstance(data, GroupKey) and self.tree_view is not None:
            self._show_detail(self._group_rows(self.tree_view.groups.group(data)), "source line")
            return
        if self.index is None or not isinstance(data, int) or data == ROOT:
            detail.clear()
            return
        rows: list[tuple[Text, Text]] = []
        values = self.index.row_dict(data)
        for key, value in values.items():
            if key == "attributes" and isinstance(value, dict):
                for attr, attr_value in value.items():
                    if attr == ATTR_CODE_STACKTRACE and isinstance(attr_value, str):
                        rows.extend((literal("frame", "cyan"), literal(frame)) for frame in attr_value.split("\n"))
                    else:
                        rows.append((literal(attr, "cyan"), literal(_shown(attr_value))))
                rows.extend(_source_rows(value))
            elif key == "events" and value:
                for item in value:  # offset from the span's start, then the event's own attributes
                    offset = (item["time_unix_nano"] - values["start_time_nanos"]) / 1e6
                    rows.append((literal("event", "magenta"), literal(f"{offset:+.3f} ms  {item['name']}  {item['attributes']}")))
            elif key == "links" and value:
                for link in value:
                    rows.append((literal("link", "magenta"), literal(f"{link['trace_id']}/{link['span_id']}  {link['attributes']}")))
            elif value is not None:
                rows.append((literal(key), literal(value)))
        self._show_detail(rows, "span")

    def _group_rows(self, group: SourceGroup) -> list[tuple[Text, Text]]:
        """A source-line group: the line, its function, calls, time, and the line's text."""
        assert self.index is not None
        rows = [(literal("source"), literal(group.source or NO_SOURCE))]
        if group.function:
            rows.append((literal("function"), literal(group.function)))
        rows.append((literal("calls"), literal(f"{group.calls:,}")))
        rows.append((literal("spans"), literal(f"{len(group.rows):,}")))
        rows.append((literal("total duration"), literal(format_duration(group.duration))))
        rows.append((literal("process"), literal(self.index.names[group.key.process])))
        if group.source is not None:
            rows.extend(_source_rows(self.index.row_dict(group.sample)["attributes"]))
        return rows

    def _show_detail(self, rows: list[tuple[Text, Text]], title: str) -> None:
        detail = self.query_one("#detail", DataTable)
        detail.border_title = title
        # columns sized from this span's rows (auto width lags behind a refill: values showed cropped)
        detail.clear(columns=True)
        detail.add_column("field", width=min(20, max(len(key.plain) for key, _ in rows)))
        detail.add_column("value", width=min(400, max(5, *(len(value.plain) for _, value in rows))))
        for row in rows:
            detail.add_row(*row)

    def current_row(self) -> int | None:
        tree = self.tree_view
        node = tree.cursor_node if tree else None
        return node.data if node is not None and isinstance(node.data, int) and node.data != ROOT else None

    def _go(self, rows: list[int], forward: bool) -> int | None:
        """The next (or previous) row of `rows` after the cursor, wrapping around."""
        if not rows or self.tree_view is None:
            return None
        here = self.current_row()
        if here is None:
            return rows[0] if forward else rows[-1]
        after = [r for r in rows if (r > here if forward else r < here)]
        if after:
            return after[0] if forward else after[-1]
        return rows[0] if forward else rows[-1]

    def action_next_error(self) -> None:
        self._reveal(self._go(self.index.error_rows if self.index else [], True), "no error spans")

    def action_previous_error(self) -> None:
        self._reveal(self._go(self.index.error_rows if self.index else [], False), "no error spans")

    def _reveal(self, row: int | None, missing: str) -> None:
        tree = self.tree_view
        if row is None or tree is None:
            self.notify(missing, severity="warning")
            return
        tree.reveal(row)
        if row in self.matches:
            self.match_pos = self.matches.index(row)
        self._status()

    def action_find(self) -> None:
        find = self.query_one("#find", Input)
        find.display = True
        find.focus()

    @on(Input.Submitted, "#find")
    def _find_submitted(self, event: Input.Submitted) -> None:
        if self.index is None:
            return
        self.matches = self.index.find(event.value)
        self.match_pos = -1
        if self.tree_view is not None:
            self.tree_view.focus()
        if not self.matches:
            self._status(f"no match for {escape(event.value)}")
            return
        self.action_next_match()

    def action_group_by_source(self) -> None:
        """Process nodes: calls in time order ⇄ one node per source line, longest total first."""
        tree = self.tree_view
        if tree is None:
            return
        tree.by_source = not tree.by_source
        self._status()

    def action_next_match(self) -> None:
        self._reveal(self._go(self.matches, True), "nothing to find: press /")

    def action_previous_match(self) -> None:
        self._reveal(self._go(self.matches, False), "nothing to find: press /")

    def jump_to(self, span_ids: list[str]) -> None:
        """Reveal these spans (from an analysis screen); n/N then walk through them."""
        if self.index is None:
            self.pending_jump = list(span_ids)
            return
        self.matches = sorted(self.index.row_of[s] for s in span_ids if s in self.index.row_of)
        self.match_pos = -1
        if self.matches and self.tree_view is not None:
            self.tree_view.reveal(self.matches[0])
            self.match_pos = 0
            self.tree_view.focus()
        self._status("" if self.matches else "those spans are not in this trace")

    def action_back(self) -> None:
        find = self.query_one("#find", Input)
        if find.display:
            find.display = False
            if self.tree_view is not None:
                self.tree_view.focus()
            return
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()

    def action_critical_path(self) -> None:
        navigator(self.app).open_analysis("critical_path", self.trace_id)

    def action_antipatterns(self) -> None:
        navigator(self.app).open_analysis("antipatterns", self.trace_id)


def _source_rows(attributes: dict[str, Any]) -> list[tuple[Text, Text]]:
    """The text of the call's source line, when code.filepath is a readable file."""
    from renacer_tui.tracer.symbols.source_text import source_line

    path, line = attributes.get(ATTR_CODE_FILEPATH), attributes.get(ATTR_CODE_LINENO)
    if not isinstance(path, str) or not isinstance(line, int):
        return []
    text = source_line(path, line)
    return [] if text is None else [(literal("source line", "green"), literal(f"{line}: {text}"))]


def _shown(value: object) -> str:
    """An attribute value as the user reads it: strings bare, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
