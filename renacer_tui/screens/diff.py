"""The diff screen: two stored traces compared (`analysis.diff_state` / `analysis.diff_ops`).

Opened from the traces browser with two traces marked (`m`, then `d`).  Three tables: the
files (one row per stream key: match, mismatch, only in A, only in B, unverified), the
efficiency table, and the aligned syscall sequences.  Every state is a marker and a word in the
row (`✓ match`, `= `, `- `, `+ `), colour only repeats it, so NO_COLOR loses nothing.  Enter
jumps to the row's span in trace A (or B when only B has it); `a` and `b` choose the trace.
Traces recorded without --capture-payloads get the operation comparison only, and the status
line says how to record the state one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, LoadingIndicator, Static

from renacer_tui.analysis.diff_ops import DELETE, EQUAL, INSERT, REPLACE, AlignedStep
from renacer_tui.analysis.diff_report import MARKERS, DiffReport
from renacer_tui.analysis.diff_state import MATCH, MISMATCH, ONLY_A, ONLY_B, UNVERIFIED, StreamComparison
from renacer_tui.diff_data import RECORD_HINT, NoPayloads, compare, distinct_labels, load_for_diff
from renacer_tui.messages import JumpToSpans
from renacer_tui.text import escape, literal
from renacer_tui.widgets.analysis_tables import clip_head

MAX_STEPS = 5000  # sequence rows shown (the CLI's JSON has them all)
#: status → (marker and word, style): the words carry the meaning.
_STATUS = {
    MATCH: ("✓ match", "green"),
    MISMATCH: ("✗ MISMATCH", "bold red"),
    UNVERIFIED: ("? unverified", "yellow"),
    ONLY_A: ("< only in A", "yellow"),
    ONLY_B: ("> only in B", "yellow"),
}
_STEP_STYLE = {EQUAL: "", REPLACE: "yellow", DELETE: "red", INSERT: "green"}


@dataclass
class DiffComputed(Message):
    """The worker's result: the report (and a note), or a one-line error."""

    report: DiffReport | None
    note: str = ""
    error: str | None = None


class DiffScreen(Screen[None]):
    """Files, efficiency and aligned sequences of trace A against trace B."""

    CSS_PATH = "diff.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "jump", "Show span", show=False),
        Binding("a", "jump('a')", "Span in A"),
        Binding("b", "jump('b')", "Span in B"),
    ]

    def __init__(self, store: Any, trace_a: str, trace_b: str, tolerance: float = 0.05) -> None:
        super().__init__()
        self.store = store
        self.trace_a = trace_a
        self.trace_b = trace_b
        self.tolerance = tolerance
        self.report: DiffReport | None = None
        self.error: str | None = None
        self.files: list[StreamComparison] = []
        self.steps: list[AlignedStep] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(f"diff {self.trace_a} → {self.trace_b}: comparing…"), id="diff-status", classes="status-line")
        yield LoadingIndicator(id="diff-loading")
        yield DataTable(id="diff-files", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="diff-efficiency", cursor_type="row", show_cursor=False)
        yield DataTable(id="diff-sequence", cursor_type="row")
        yield Static("", id="diff-verdict")
        yield Footer()

    def on_mount(self) -> None:
        titles = {"#diff-files": "files", "#diff-efficiency": "efficiency", "#diff-sequence": "sequence (= same  ~ changed  - only A  + only B)"}
        for selector, title in titles.items():
            widget = self.query_one(selector)
            widget.border_title = title
            widget.display = False
        self.query_one("#diff-verdict").display = False
        self._compare()

    @work(thread=True, exclusive=True)
    def _compare(self) -> None:
        try:
            a, b = load_for_diff(self.store, self.trace_a), load_for_diff(self.store, self.trace_b)
            distinct_labels(a, b)
            try:
                report, note = compare(a, b, "both", self.tolerance, []), ""
            except NoPayloads as exc:
                report = compare(a, b, "operation", self.tolerance, [])
                note = f"no state comparison: {' and '.join(exc.which)} lack payload hashes ({RECORD_HINT})"
        except LookupError as exc:
            self.post_message(DiffComputed(None, error=f"no trace {exc.args[0] if exc.args else '?'} in the store"))
            return
        except Exception as exc:  # a broken store is a message, not a crash
            self.post_message(DiffComputed(None, error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            return
        self.post_message(DiffComputed(report, note))

    def on_diff_computed(self, message: DiffComputed) -> None:
        self.query_one("#diff-loading").display = False
        status = self.query_one("#diff-status", Static)
        if message.report is None:
            self.error = message.error or "no result"
            status.update(Text(f"cannot compare: {escape(self.error)}", style="bold red"))
            return
        report = self.report = message.report
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"A {report.label_a} ({self.trace_a[:8]})  B {report.label_b} ({self.trace_b[:8]})  ", style="bold")
        line.append(message.note or "enter shows the span (a: in A, b: in B)", style="dim")
        status.update(line)
        if report.state is not None:
            self._fill_files(report)
        self._fill_efficiency(report)
        self._fill_sequence(report)
        verdict = self.query_one("#diff-verdict", Static)
        advice = report.recommendation()
        verdict.update(Text("\n".join(report.verdict_lines()) + (f"\n{advice}" if advice else "")))
        verdict.display = True
        first = self.query_one("#diff-files", DataTable) if report.state is not None else self.query_one("#diff-sequence", DataTable)
        first.focus()

    def _fill_files(self, report: DiffReport) -> None:
        assert report.state is not None
        table = self.query_one("#diff-files", DataTable)
        table.add_columns("status", "file", "dir", "A bytes", "B bytes", "first difference")
        self.files = list(report.state.comparisons)
        for c in self.files:
            word, style = _STATUS[c.status]
            offset = f"chunk at offset {c.first_difference}" if c.first_difference is not None else ""
            table.add_row(
                Text(word, style=style), literal(clip_head(escape(c.key), 60)), c.direction,
                Text(str(c.a.bytes) if c.a else "—", justify="right"), Text(str(c.b.bytes) if c.b else "—", justify="right"),
                offset,
            )
        table.display = True

    def _fill_efficiency(self, report: DiffReport) -> None:
        table = self.query_one("#diff-efficiency", DataTable)
        table.add_columns("syscalls", escape(report.label_a), escape(report.label_b), "ratio")
        for e in report.efficiency:
            ratio = e.ratio
            text = "" if ratio is None else (f"{ratio:.1f}× fewer calls in B" if ratio >= 1 else f"{1 / ratio:.1f}× more calls in B")
            table.add_row(f"{e.family}()", Text(str(e.calls_a), justify="right"), Text(str(e.calls_b), justify="right"), text)
        table.display = bool(report.efficiency)

    def _fill_sequence(self, report: DiffReport) -> None:
        assert report.ops is not None
        table = self.query_one("#diff-sequence", DataTable)
        table.add_columns(" ", escape(f"A {report.label_a}"), escape(f"B {report.label_b}"))
        self.steps = report.ops.steps[:MAX_STEPS]
        for step in self.steps:
            style = _STEP_STYLE[step.tag]
            a = f"{step.a.name} ×{step.a.calls}" if step.a else ""
            b = f"{step.b.name} ×{step.b.calls}" if step.b else ""
            table.add_row(Text(MARKERS[step.tag], style=style), literal(a), literal(b))
        first = report.ops.first_divergence
        if first is not None and first < len(self.steps):
            table.move_cursor(row=first)
        table.display = True

    def _row_spans(self) -> tuple[str | None, str | None]:
        """(span in A, span in B) of the focused table's selected row."""
        focused = self.focused
        if not isinstance(focused, DataTable) or focused.cursor_row < 0:
            return None, None
        row = focused.cursor_row
        if focused.id == "diff-files" and row < len(self.files):
            c = self.files[row]
            return (c.a.span_id if c.a else None), (c.b.span_id if c.b else None)
        if focused.id == "diff-sequence" and row < len(self.steps):
            step = self.steps[row]
            return (step.a.span_id if step.a else None), (step.b.span_id if step.b else None)
        return None, None

    @on(DataTable.RowSelected, "#diff-files, #diff-sequence")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_jump()

    def action_jump(self, side: str = "") -> None:
        """Show the row's span in the span tree of trace A (`a`), B (`b`), or whichever has it."""
        in_a, in_b = self._row_spans()
        if side == "a" or (not side and in_a):
            span, trace = in_a, self.trace_a
        else:
            span, trace = in_b, self.trace_b
        if span is None:
            self.notify("This row has no span in that trace", severity="warning")
            return
        self.post_message(JumpToSpans([span], trace))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()
