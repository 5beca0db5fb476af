"""The live screen's side panes and header, each redrawn from a `LiveModel` snapshot.

They are refreshed by a timer (a few times a second) rather than per batch: the model absorbs
every batch, the panes only show the latest state, so their cost does not grow with the rate.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable, Static

from renacer_tui.live_alerts import Alert
from renacer_tui.live_model import LiveModel, SyscallStat, format_duration
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
    """Command, trace id, elapsed, processes, spans/s, dropped and the program's state."""

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
        self.set_classes(state_class)
        header = Text("\n").join([line1, line2])
        header.no_wrap, header.overflow = True, "ellipsis"
        self.update(header)


class ProcessTable(DataTable):
    """Process tree: pid (indented under its parent), comm, syscalls, errors, alive or exit."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("pid", "comm", "calls", "err", "state")

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
        _replace_rows(self, rows)


class TopSyscalls(DataTable):
    """Top syscalls by total time: calls, total time, errors and a sparkline of the rate."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("syscall", "calls", "time", "err", "rate/s")

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
        _replace_rows(self, rows)


class AlertsPane(Static):
    """The newest live anti-pattern alerts, one line each, across the screen under the header.

    Hidden (class `-empty`) until the first alert, so a clean run loses no space to it.
    """

    SHOWN = 3

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="-empty")
        self.alerts: list[Alert] = []

    def show(self, alerts: list[Alert]) -> None:
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
        self.update(text)


def _replace_rows(table: DataTable, rows: list[tuple]) -> None:
    """Swap in new rows while keeping the cursor row (tables here have a few dozen rows)."""
    cursor = table.cursor_row
    table.clear()
    for row in rows:
        table.add_row(*row)
    if rows:
        table.move_cursor(row=min(cursor, len(rows) - 1), animate=False)
