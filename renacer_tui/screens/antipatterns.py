"""The anti-patterns screen: findings of `analysis.antipatterns.detect`, most severe first.

Detection runs in a thread worker over the stored trace (thresholds from config.toml `[graph]`
via `renacer_tui.thresholds`).  The table colours severities through .tcss component classes;
the pane below shows the selected finding in full — evidence and fix.  Enter jumps to the
evidence spans in the span tree (`JumpToSpans`), where n/N walk through them.
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
from textual.widgets import DataTable, Footer, LoadingIndicator, Static

from renacer_tui.analysis.antipatterns import Finding, Thresholds, detect
from renacer_tui.analysis.graph import build_graph
from renacer_tui.analysis.loading import load_trace
from renacer_tui.messages import JumpToSpans
from renacer_tui.model.readable import one_line
from renacer_tui.navigation import navigator
from renacer_tui.text import escape
from renacer_tui.thresholds import configured_thresholds
from renacer_tui.widgets.analysis_tables import FindingsTable, evidence

if TYPE_CHECKING:
    from renacer_tui.store import Store

CLEAN = "No anti-patterns found"


@dataclass
class FindingsComputed(Message):
    """The worker's result: the findings, or a one-line error."""

    findings: list[Finding] | None
    error: str | None = None


class AntipatternsScreen(Screen[None]):
    """A findings table over a detail pane; a clean trace says so."""

    CSS_PATH = "antipatterns.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "jump", "Show spans", show=False),
        Binding("c", "critical_path", "Critical path"),
        Binding("t", "span_tree", "Span tree"),
    ]

    def __init__(self, store: Store, trace_id: str, thresholds: Thresholds | None = None) -> None:
        super().__init__()
        self.store = store
        self.trace_id = trace_id
        self.thresholds = thresholds
        self.findings: list[Finding] | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"anti-patterns of trace {self.trace_id}: analysing…"), id="ap-status", classes="status-line")
        yield LoadingIndicator(id="ap-loading")
        yield FindingsTable(id="ap-table")
        yield Static(CLEAN, id="ap-clean")
        yield Static("", id="ap-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(FindingsTable)
        table.border_title = "findings"
        self.query_one("#ap-detail").border_title = "evidence and fix"
        for widget in (table, self.query_one("#ap-clean"), self.query_one("#ap-detail")):
            widget.display = False
        self._detect()

    @work(thread=True, exclusive=True)
    def _detect(self) -> None:
        try:
            thresholds = self.thresholds or configured_thresholds()
            findings = detect(build_graph(load_trace(self.store, self.trace_id)), thresholds)
        except Exception as exc:  # a missing trace or a broken store is a message
            self.post_message(FindingsComputed(None, one_line(exc)))
            return
        self.post_message(FindingsComputed(findings))

    def on_findings_computed(self, message: FindingsComputed) -> None:
        self.query_one("#ap-loading").display = False
        status = self.query_one("#ap-status", Static)
        if message.findings is None:
            self.error = message.error or "no result"
            status.update(Text(f"cannot analyse trace {self.trace_id}: {escape(self.error)}", style="bold red"))
            self.notify(f"Anti-patterns: {escape(self.error)}", severity="error", markup=False)
            return
        self.findings = message.findings
        if not self.findings:
            self.query_one("#ap-clean").display = True
            status.update(Text(f"trace {self.trace_id}: {CLEAN.lower()}"))
            return
        table = self.query_one(FindingsTable)
        table.display = True
        self.query_one("#ap-detail").display = True
        table.show(self.findings)
        table.focus()
        counts = {sev: sum(1 for f in self.findings if f.severity == sev) for sev in ("high", "medium", "low")}
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"trace {self.trace_id}  ", style="bold")
        line.append(f"{len(self.findings)} finding{'s' if len(self.findings) != 1 else ''}: ")
        line.append(", ".join(f"{n} {sev}" for sev, n in counts.items() if n))
        line.append("  enter shows the evidence spans", style="dim")
        status.update(line)
        self._show_detail(self.findings[0])

    @on(DataTable.RowHighlighted, "#ap-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        finding = self.query_one(FindingsTable).finding_at_cursor()
        if finding is not None:
            self._show_detail(finding)

    def _show_detail(self, finding: Finding) -> None:
        table = self.query_one(FindingsTable)
        text = Text()
        text.append(f"{finding.severity.upper()} ", style=table.severity_style(finding.severity))
        text.append(escape(finding.title), style="bold")
        text.append("\nevidence: ", style="dim")
        text.append(escape(evidence(finding)))
        if finding.span_ids:
            shown = ", ".join(finding.span_ids[:4]) + (" …" if len(finding.span_ids) > 4 else "")
            text.append(f"\nspans: {escape(shown)}", style="dim")
        text.append("\nfix: ", style="dim")
        text.append(escape(finding.fix))
        self.query_one("#ap-detail", Static).update(text)

    @on(DataTable.RowSelected, "#ap-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_jump()

    def action_jump(self) -> None:
        """Open the selected finding's evidence spans in the span tree."""
        finding = self.query_one(FindingsTable).finding_at_cursor()
        if finding is None:
            return
        if not finding.span_ids:
            self.notify("This finding names no spans", severity="warning")
            return
        self.post_message(JumpToSpans(list(finding.span_ids), self.trace_id))

    def action_critical_path(self) -> None:
        navigator(self.app).open_analysis("critical_path", self.trace_id)

    def action_span_tree(self) -> None:
        navigator(self.app).open_span_tree(self.trace_id)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()
