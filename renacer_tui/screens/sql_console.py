"""The SQL console: DuckDB SQL over the store's views, like a small harlequin.

The editor highlights SQL when Textual's tree-sitter extras are installed (plain text
otherwise).  Queries run in a thread worker through `store.query`, so the UI never freezes;
a running query can be cancelled (the store interrupts DuckDB).  Results go to a DataTable
(the first `MAX_ROWS` rows) with row count and time; errors show inline, one line.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TextArea, Tree

from renacer_tui.messages import QueryFinished
from renacer_tui.model.readable import one_line
from renacer_tui.text import escape, literal

if TYPE_CHECKING:
    from renacer_tui.store import Store

MAX_ROWS = 1000
DEFAULT_SQL = "SELECT span_name, count(*) AS calls, sum(duration_ns) AS total_ns\nFROM spans GROUP BY span_name ORDER BY total_ns DESC LIMIT 20"
SCHEMA_SQL = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
)


def sql_editor(text: str) -> TextArea:
    """A code editor with SQL highlighting where tree-sitter is available."""
    try:
        from textual._tree_sitter import get_language

        language = "sql" if get_language("sql") is not None else None
    except Exception:  # tree-sitter missing or broken: a plain editor still works
        language = None
    return TextArea.code_editor(text, language=language, id="editor", soft_wrap=True)


class SqlConsoleScreen(Screen[None]):
    """Editor, results table with status line, and a sidebar of views and columns."""

    CSS_PATH = "sql_console.tcss"
    BINDINGS = [
        Binding("ctrl+enter,f5,ctrl+r", "run_query", "Run", priority=True),
        Binding("ctrl+k", "cancel_query", "Cancel", priority=True),
        Binding("ctrl+up", "history(-1)", "Prev query", priority=True),
        Binding("ctrl+down", "history(1)", "Next query", priority=True),
        Binding("ctrl+l", "clear_editor", "Clear", show=False),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, store: Store, sql: str = DEFAULT_SQL) -> None:
        super().__init__()
        self.store = store
        self.initial_sql = sql
        self.history: list[str] = []
        self.history_pos = 0
        self.running = False
        self.last_result: pa.Table | None = None
        self.last_error: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="sql-main"):
            yield Tree("views", id="schema")
            with Vertical(id="sql-work"):
                yield sql_editor(self.initial_sql)
                yield Static("ctrl+enter / F5 / ctrl+r runs", id="sql-status", classes="status-line")
                yield DataTable(id="results", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#schema").border_title = "views"
        self.query_one("#editor").border_title = "SQL"
        self.query_one("#results").border_title = "results"
        self.query_one("#editor").focus()
        self._load_schema()

    @work(thread=True, group="schema")
    def _load_schema(self) -> None:
        try:
            table = self.store.query(SCHEMA_SQL)
        except Exception as exc:  # the sidebar is a convenience; say why it is empty
            self.app.call_from_thread(self._schema_failed, str(exc))
            return
        self.app.call_from_thread(self._fill_schema, table.to_pylist())

    def _schema_failed(self, error: str) -> None:
        self.query_one("#schema", Tree).root.add_leaf(Text(f"(unavailable: {escape(error)})", style="red"))

    def _fill_schema(self, rows: list[dict[str, Any]]) -> None:
        tree = self.query_one("#schema", Tree)
        tree.show_root = False
        nodes: dict[str, Any] = {}
        for row in rows:
            name = row["table_name"]
            if name.startswith("_"):
                continue
            if name not in nodes:
                nodes[name] = tree.root.add(Text(name, style="bold"), data=name, expand=name in ("spans",))
            nodes[name].add_leaf(Text.assemble(row["column_name"], (f" {row['data_type'].lower()}", "dim")), data=row["column_name"])
        tree.root.expand()

    @on(Tree.NodeSelected, "#schema")
    def _insert_name(self, event: Tree.NodeSelected[Any]) -> None:
        if isinstance(event.node.data, str) and not event.node.allow_expand:
            editor = self.query_one("#editor", TextArea)
            editor.insert(event.node.data)
            editor.focus()

    # -- running --------------------------------------------------------------------------
    def action_run_query(self) -> None:
        """Run the editor's SQL in a worker (one at a time)."""
        sql = self.query_one("#editor", TextArea).text.strip()
        if not sql:
            self._set_status(Text("nothing to run", style="yellow"))
            return
        if self.running:
            self._set_status(Text("a query is running: ctrl+k cancels it", style="yellow"))
            return
        if not self.history or self.history[-1] != sql:
            self.history.append(sql)
        self.history_pos = len(self.history)
        self.running = True
        self._set_status(Text("running… (ctrl+k cancels)", style="italic"))
        self._run(sql)

    @work(thread=True, exclusive=True, group="query")
    def _run(self, sql: str) -> None:
        started = time.perf_counter()
        try:
            table = self.store.query(sql)
        except Exception as exc:  # QueryError and anything DuckDB raises: shown inline
            message = one_line(exc)
            self.post_message(QueryFinished(sql, time.perf_counter() - started, error=message))
            return
        self.post_message(QueryFinished(sql, time.perf_counter() - started, table=table))

    def on_query_finished(self, message: QueryFinished) -> None:
        self.running = False
        results = self.query_one("#results", DataTable)
        if message.error is not None:
            self.last_error = message.error
            self.last_result = None
            self.query_one("#sql-status").add_class("-error")
            self._set_status(Text(f"error ({message.seconds * 1000:.0f} ms): {escape(message.error)}", style="bold red"))
            return
        self.query_one("#sql-status").remove_class("-error")
        table = message.table
        assert isinstance(table, pa.Table)
        self.last_error = None
        self.last_result = table
        results.clear(columns=True)
        results.add_columns(*(literal(name) for name in table.column_names))
        for row in table.slice(0, MAX_ROWS).to_pylist():
            results.add_row(*(_cell(v) for v in row.values()))
        shown = f" (showing {MAX_ROWS:,})" if table.num_rows > MAX_ROWS else ""
        self._set_status(Text(f"{table.num_rows:,} rows{shown} in {message.seconds * 1000:.1f} ms"))

    def action_cancel_query(self) -> None:
        """Interrupt the running query (DuckDB stops at its next check)."""
        if not self.running:
            self._set_status(Text("no query is running", style="dim"))
            return
        interrupt = getattr(self.store, "interrupt", None) or getattr(getattr(self.store, "engine", None), "interrupt", None)
        if interrupt is not None:
            interrupt()
        self._set_status(Text("cancelling…", style="yellow"))

    def action_history(self, step: int) -> None:
        """Walk the history of run queries into the editor."""
        if not self.history:
            return
        self.history_pos = max(0, min(len(self.history), self.history_pos + step))
        text = self.history[self.history_pos] if self.history_pos < len(self.history) else ""
        self.query_one("#editor", TextArea).load_text(text)

    def action_clear_editor(self) -> None:
        self.query_one("#editor", TextArea).load_text("")

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()

    def _set_status(self, text: Text) -> None:
        self.query_one("#sql-status", Static).update(text)


def _cell(value: Any) -> Text:
    """A result cell: literal text (traced data never becomes markup), numbers right-aligned."""
    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Text(str(value), justify="right")
    text = escape(value)
    return Text(text if len(text) <= 200 else text[:199] + "…", no_wrap=True)
