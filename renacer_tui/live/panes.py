"""The live screen's side panes and header, each redrawn from a `LiveModel` snapshot.

They are refreshed by a timer (a few times a second) rather than per batch: the model absorbs
every batch, the panes only show the latest state, so their cost does not grow with the rate.
"""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import Static

from renacer_tui.live.alerts import Alert
from renacer_tui.live.model import InFlight, LiveModel, SyscallStat
from renacer_tui.live.span_log import SteadyScrollView
from renacer_tui.model.readable import format_duration
from renacer_tui.text import clip, escape

_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int], width: int = 12) -> str:
    """Block-character sparkline of the last `width` values, scaled to their maximum."""
    tail = values[-width:]
    peak = max(tail, default=0)
    if peak <= 0:
        return " " * len(tail)
    return "".join(" " if v <= 0 else _SPARK[min(len(_SPARK) - 1, (v * len(_SPARK) - 1) // peak)] for v in tail)


class LiveHeader(Static):
    """Command, trace id, elapsed, processes, spans/s, dropped and the program's state.

    Its height is fixed (two lines, live.tcss), so an update repaints it without a screen
    layout; an unchanged header is not touched at all.
    """

    _shown: tuple[Text, str] | None = None

    def show(self, command: list[str], model: LiveModel, elapsed: float, state: str, state_class: str) -> None:
        alive = model.alive_processes
        total = len(model.processes)
        # the trace id and the state come first on their lines: at 80 columns the rest is cut
        room = max(8, (self.size.width or 120) - 44)
        line1 = Text(no_wrap=True, overflow="ellipsis")
        line1.append("▶ ", style="bold")
        line1.append(clip(escape(" ".join(command)), min(60, room)), style="bold")
        line1.append("  trace ")
        line1.append(model.trace_id or "(waiting)", style="cyan")
        line2 = Text(no_wrap=True, overflow="ellipsis")
        line2.append(state, style="bold")
        line2.append(f"  {elapsed:6.1f}s  procs {alive}/{total}  ")
        line2.append(f"{model.spans_per_second():>7,.0f} spans/s  ")
        line2.append(f"spans {model.rows:,}  errors {model.errors:,}  ")
        line2.append(f"dropped {model.dropped:,}", style="bold red" if model.dropped else "")
        header = Text("\n").join([line1, line2])
        header.no_wrap, header.overflow = True, "ellipsis"
        if self._shown == (header, state_class):
            return
        self._shown = (header, state_class)
        if not self.has_class(state_class):
            self.set_classes(state_class)
        self.update(header, layout=False)


class LiveTable(SteadyScrollView, can_focus=True):
    """A small read-only table (a header line and a few dozen rows) drawn with the Line API.

    The side panes change every tick while spans flow.  A `DataTable` re-renders every visible
    cell through Rich on any change (10-20 ms a frame for these two tables, which made that
    frame miss its slot); here each row is one `Text` rendered once when it changes, and a
    frame only crops cached strips.  Columns grow to their widest cell and never shrink, so
    the panes do not jitter as counts change.
    """

    BINDINGS = [
        Binding("up,k", "scroll_up", "Up", show=False),
        Binding("down,j", "scroll_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "scroll_home", "Top", show=False),
        Binding("end,G", "scroll_end", "Bottom", show=False),
    ]
    COLUMNS: tuple[str, ...] = ()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[tuple[Text, ...]] = []
        self._widths = [len(label) for label in self.COLUMNS]
        self._lines: list[Text] = []  # one Text per row, all columns laid out
        self._strips: dict[int, Strip] = {}  # row index -> rendered strip (for `_strip_key`)
        self._strip_key: tuple[object, ...] = ()

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def get_row_at(self, index: int) -> tuple[Text, ...]:
        """The cells of row `index` as shown."""
        return self.rows[index]

    def replace_rows(self, rows: Sequence[tuple[str | Text, ...]]) -> None:
        """Show `rows` (strings or Texts, one per column); an unchanged table is left alone."""
        cells = [tuple(cell if isinstance(cell, Text) else Text(cell) for cell in row) for row in rows]
        if cells == self.rows:
            return
        self.rows = cells
        for row in cells:
            for column, cell in enumerate(row):
                self._widths[column] = max(self._widths[column], cell.cell_len)
        self._lines = [self._layout(row) for row in cells]
        self._strips.clear()
        self.virtual_size = Size(sum(self._widths) + 2 * len(self._widths), len(cells) + 1)
        self.refresh()

    def _layout(self, cells: tuple[Text, ...], style: str = "") -> Text:
        line = Text(no_wrap=True, end="", style=style)
        for cell, width in zip(cells, self._widths):
            cell = cell.copy()
            cell.truncate(width, overflow="ellipsis", pad=True)
            line.append(" ")
            line.append_text(cell)
            line.append(" ")
        return line

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        style = self.rich_style
        key = (style, tuple(self._widths), self.app.console.color_system)
        if key != self._strip_key:
            self._strips.clear()
            self._strip_key = key
        index = -1 if y == 0 else int(self.scroll_y) + y - 1  # the header line stays on top
        if index >= len(self._lines):
            return Strip.blank(width, style)
        strip = self._strips.get(index)
        if strip is None:
            line = self._layout(tuple(Text(label) for label in self.COLUMNS), "bold") if index < 0 else self._lines[index]
            strip = Strip(list(line.render(self.app.console, end=""))).apply_style(style)
            self._strips[index] = strip
        return strip.crop(int(self.scroll_x), int(self.scroll_x) + width).extend_cell_length(width, style)


class BlockedTable(LiveTable):
    """What each thread is blocked in and for how long (`read(3, …)  2.30s`), the longest wait
    first; hidden (class `-empty`) while no call has waited long."""

    COLUMNS = ("tid", "comm", "blocked in", "for")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.add_class("-empty")

    def show(self, calls: Sequence[InFlight], now_ns: int) -> None:
        rows = [(str(call.tid), Text(clip(escape(call.comm), 16)),
                 Text(f"{escape(call.name)}({clip(escape(call.args), 28)})"),  # the arguments are cut, not the call
                 format_duration(max(0, now_ns - call.start_ns))) for call in calls]
        self.set_class(not rows, "-empty")
        self.replace_rows(rows)


class ProcessTable(LiveTable):
    """Process tree: pid (indented under its parent), comm, syscalls, errors, alive or exit."""

    COLUMNS = ("pid", "comm", "calls", "err", "state")

    def show(self, model: LiveModel) -> None:
        rows = []
        for depth, proc in model.process_tree():
            if proc.signal is not None:
                state = Text(proc.signal, style="red")
            elif proc.exit_code is not None:
                state = Text(f"exit {proc.exit_code}", style="red" if proc.exit_code else "dim")
            else:
                state = Text("alive", style="green")
            pid = ("  " * depth + ("└ " if depth else "")) + str(proc.pid)
            err = Text(str(proc.errors), style="red" if proc.errors else "")
            rows.append((pid, Text(clip(escape(proc.comm), 16)), f"{proc.syscalls:,}", err, state))
        self.replace_rows(rows)


class TopSyscalls(LiveTable):
    """Top syscalls by total time: calls, total time, errors and a sparkline of the rate."""

    COLUMNS = ("syscall", "calls", "time", "err", "rate/s")

    def show(self, stats: list[SyscallStat]) -> None:
        rows = []
        for stat in stats:
            err = Text(str(stat.errors), style="red" if stat.errors else "")
            rows.append(
                (
                    Text(clip(escape(stat.name), 13)),
                    f"{stat.calls:,}",
                    format_duration(stat.total_ns),
                    err,
                    Text(sparkline(list(stat.history), 8), style="green"),
                )
            )
        self.replace_rows(rows)


class AlertsPane(Static):
    """The newest live anti-pattern alerts, one line each, across the screen under the header.

    Hidden (class `-empty`) until the first alert, so a clean run loses no space to it.
    """

    SHOWN = 3

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="-empty")
        self.alerts: list[Alert] = []

    def show(self, alerts: list[Alert]) -> None:
        """Show the newest alerts; a layout only when the pane's height changes."""
        if alerts == self.alerts:
            return
        height = min(len(alerts), self.SHOWN), min(len(self.alerts), self.SHOWN)
        self.alerts = list(alerts)
        self.set_class(not alerts, "-empty")
        self.border_title = f"alerts ({len(alerts)})"
        lines = []
        for alert in alerts[-self.SHOWN :]:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append("● ", style="bold red" if alert.severity == "high" else "bold yellow")
            line.append(escape(alert.title))
            lines.append(line)
        text = Text("\n").join(lines)
        text.no_wrap, text.overflow = True, "ellipsis"
        self.update(text, layout=height[0] != height[1])
