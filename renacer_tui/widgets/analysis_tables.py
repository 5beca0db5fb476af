"""Tables of the analysis screens: critical-path steps and anti-pattern findings.

They are DataTables whose rows are built from the analysis results, with the styles that
matter (bottleneck, severity, bars) taken from component classes, so the colours live in the
screens' .tcss files and follow the theme (and NO_COLOR).  Every string from the trace goes
through `renacer_tui.text` so names are shown literally.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from renacer_tui.gpu_label import GPU_MARK, GPU_STYLE
from renacer_tui.model.kinds import is_gpu
from renacer_tui.model.readable import format_duration
from renacer_tui.text import clip, escape

BAR_WIDTH = 12
STEP_WIDTH = 30
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def share_bar(share: float, width: int = BAR_WIDTH) -> str:
    """A left-aligned bar of `width` cells filled to `share` (0..1), in eighths of a cell."""
    share = min(1.0, max(0.0, share))
    eighths = round(share * width * 8)
    if share > 0 and eighths == 0:
        eighths = 1  # a step that took any time at all gets a sliver
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[part] if part else "")
    return bar.ljust(width)


def clip_head(value: str, width: int) -> str:
    """Shorten `value` to `width` cells keeping its end (a path's file name matters most)."""
    if width <= 0:
        return ""
    return value if len(value) <= width else "…" + value[len(value) - width + 1 :]


def _depth(name: str) -> int:
    """Indentation of a span on the path: run 0, process 1, anything inside a process 2."""
    if name.startswith("renacer:run"):
        return 0
    if name.startswith("process:"):
        return 1
    return 2


class CriticalPathTable(DataTable[Any]):
    """Critical-path steps in time order; `steps[k]` is the row dict of table row k."""

    COMPONENT_CLASSES = {
        "critical-path-table--bottleneck",
        "critical-path-table--bar",
        "critical-path-table--container",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.steps: list[dict[str, Any]] = []
        self.bottleneck_row = -1

    def on_mount(self) -> None:
        self.add_columns("#", "step", "self time", "share", "bar", "at", "pid", "target")

    def show(self, steps: list[dict[str, Any]], bottleneck_id: str | None, t0: int, pids: dict[str, int]) -> None:
        """Fill the table: `steps` from `CriticalPath.rows`, `t0` the path's start (ns)."""
        self.clear()
        self.steps = list(steps)
        self.bottleneck_row = -1
        bottleneck = self.get_component_rich_style("critical-path-table--bottleneck", partial=True)
        bar_style = self.get_component_rich_style("critical-path-table--bar", partial=True)
        container = self.get_component_rich_style("critical-path-table--container", partial=True)
        for k, step in enumerate(self.steps):
            is_bottleneck = step["span_id"] == bottleneck_id and self.bottleneck_row < 0
            if is_bottleneck:
                self.bottleneck_row = k
            gpu = is_gpu(step["name"])  # GPU work: its own marker and colour
            name = (GPU_MARK if gpu else "") + escape(step["name"]) + (f" ×{step['calls']:,}" if step.get("calls", 1) > 1 else "")
            depth = _depth(step["name"])
            style: Style | str = bottleneck if is_bottleneck else (container if depth < 2 else (GPU_STYLE if gpu else ""))
            label = Text("  " * depth + clip(name, STEP_WIDTH - 2 * depth - (6 if depth < 2 else 0)), style=style, no_wrap=True)
            if depth < 2:
                label.append(" (own)", style="dim")  # time between its children: user-space work
            self.add_row(
                Text(("▶" if is_bottleneck else "") + str(step["index"] + 1), justify="right", style=bottleneck if is_bottleneck else "dim"),
                label,
                Text(format_duration(step["self_ns"]), justify="right", style=style),
                Text(f"{step['share'] * 100:5.1f} %", justify="right", style=style),
                Text(share_bar(step["share"]), style=bottleneck if is_bottleneck else bar_style),
                Text(f"+{format_duration(step['start_ns'] - t0)}", justify="right", style="dim"),
                Text(str(pids.get(step["span_id"], "")), justify="right", style="dim"),
                Text(("bottleneck  " if is_bottleneck else "") + clip_head(escape(step["detail"]), 48), no_wrap=True),
                key=str(k),
            )

    def step_at_cursor(self) -> dict[str, Any] | None:
        row = self.cursor_row
        return self.steps[row] if 0 <= row < len(self.steps) else None


class FindingsTable(DataTable[Any]):
    """Anti-pattern findings, most severe first; `findings[k]` is table row k's Finding."""

    COMPONENT_CLASSES = {"findings-table--high", "findings-table--medium", "findings-table--low"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.findings: list[Any] = []

    def on_mount(self) -> None:
        self.add_columns("severity", "pattern", "count", "finding", "evidence")

    def severity_style(self, severity: str) -> Style:
        name = f"findings-table--{severity}"
        return self.get_component_rich_style(name, partial=True) if name in self.COMPONENT_CLASSES else Style()

    def show(self, findings: list[Any]) -> None:
        """Fill the table from `analysis.antipatterns.Finding`s."""
        self.clear()
        self.findings = list(findings)
        for k, finding in enumerate(self.findings):
            style = self.severity_style(finding.severity)
            self.add_row(
                Text(finding.severity.upper(), style=style),
                Text(escape(finding.kind), style=style),
                Text(f"{finding.count:,}", justify="right"),
                Text(clip(escape(finding.title), 56), no_wrap=True),
                Text(clip_head(escape(evidence(finding)), 48), no_wrap=True),
                key=str(k),
            )

    def finding_at_cursor(self) -> Any | None:
        row = self.cursor_row
        return self.findings[row] if 0 <= row < len(self.findings) else None


def evidence(finding: Any) -> str:
    """The evidence of a finding in one line: path or fd, pid, how many spans it points at."""
    parts = []
    if finding.path:
        parts.append(f"path {finding.path}")
    elif finding.fd is not None:
        parts.append(f"fd {finding.fd}")
    if finding.pid is not None:
        parts.append(f"pid {finding.pid}")
    spans = len(finding.span_ids)
    parts.append(f"{spans} span{'s' if spans != 1 else ''}")
    return ", ".join(parts)
