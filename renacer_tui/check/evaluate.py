"""Assertions against one trace's metrics, and a trace against its baseline.

The outcome of each assertion carries the spec's message (`Critical path under 200ms - Actual:
347ms (73% over limit)`) and, for time assertions, where the time went (`Bottleneck:
syscall:read at simulation.rs:127 (143ms)`), so CI output says what to fix without a query.
A condition that cannot be decided (a metric the trace lacks, a division by zero) is a failure
of that assertion with the reason, unless asked to skip it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from renacer_tui.check.config import Assertion
from renacer_tui.check.expression import COMPARISONS, Binary, EvaluationError, Metric, Node, Number, evaluate, metrics_of
from renacer_tui.check.metrics import TraceMetrics
from renacer_tui.model.readable import format_duration
from renacer_tui.text import escape

PASS, FAIL, SKIP, UNDECIDED = "pass", "fail", "skip", "undecided"


@dataclass
class Outcome:
    """What one check said about the trace."""

    name: str
    severity: str  # "error" | "warning"
    status: str  # pass | fail | skip | undecided (could not be evaluated; a failure unless skipped)
    message: str
    condition: str = ""
    details: list[str] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)
    file: Path | None = None
    line: int | None = None

    @property
    def failed(self) -> bool:
        return self.status in (FAIL, UNDECIDED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "severity": self.severity, "status": self.status, "message": self.message,
            "condition": self.condition, "details": self.details, "values": self.values,
            "file": str(self.file) if self.file else None, "line": self.line,
        }


def exit_code(outcomes: list[Outcome]) -> int:
    """1 when an error-severity check failed, else 0 (warnings never fail the build)."""
    return 1 if any(o.failed and o.severity == "error" for o in outcomes) else 0


def format_value(metric: str, value: float) -> str:
    """A metric's value in its unit: 347ms, 12.0 MiB, 0.93, 42."""
    if metric.endswith("_ms"):
        return format_duration(value * 1e6)
    if metric.endswith("bytes") or metric.startswith("io."):
        for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if abs(value) >= size:
                return f"{value / size:.1f} {unit}"
        return f"{value:.0f} B"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def _percent(fraction: float) -> str:
    """Whole percent, rounded down like the spec's example (347 against 200: 73%)."""
    return f"{math.floor(fraction * 100 + 1e-9)}%"


def _actual(node: Node, values: dict[str, float]) -> str:
    """`Actual: 347ms (73% over limit)` for `metric < number`; every value read otherwise."""
    if isinstance(node, Binary) and node.op in COMPARISONS:
        metric, limit, op = node.left, node.right, node.op
        if isinstance(metric, Number) and isinstance(limit, Metric):
            metric, limit, op = limit, metric, {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if isinstance(metric, Metric) and isinstance(limit, Number) and metric.name in values:
            actual = values[metric.name]
            text = f"Actual: {format_value(metric.name, actual)}"
            if limit.value > 0 and op in ("<", "<="):
                return text + f" ({_percent((actual - limit.value) / limit.value)} over limit)"
            if limit.value > 0 and op in (">", ">="):
                return text + f" ({_percent((limit.value - actual) / limit.value)} under limit)"
            return text + f" (expected {op} {format_value(metric.name, limit.value)})"
    shown = ", ".join(f"{name} = {format_value(name, value)}" for name, value in values.items())
    return f"Actual: {shown}" if shown else "Actual: false"


def _bottleneck(metrics: TraceMetrics) -> str | None:
    b = metrics.bottleneck()
    if b is None:
        return None
    where = f" at {escape(b.source)}" if b.source else (f" on {escape(b.detail)}" if b.detail else "")
    return f"Bottleneck: {escape(b.name)}{where} ({format_duration(b.self_ns)})"


def check_one(assertion: Assertion, metrics: TraceMetrics, skip_undecided: bool = False) -> Outcome:
    """Evaluate one assertion on the trace."""
    base: dict[str, Any] = dict(name=assertion.name, severity=assertion.severity, condition=assertion.condition_text,
                                file=assertion.file, line=assertion.line)
    if not assertion.enabled:
        return Outcome(status=SKIP, message="disabled", **base)
    if assertion.trace_name_pattern and not re.search(assertion.trace_name_pattern, metrics.command):
        return Outcome(status=SKIP, message=f"trace {escape(metrics.command)!r} does not match trace_name_pattern", **base)
    values: dict[str, float] = {}

    def lookup(metric: Metric) -> float:
        value = metrics.value(metric.path, assertion.process_name_pattern)
        values[metric.name] = value
        return value

    try:
        passed = bool(evaluate(assertion.condition, lookup))  # `or`/`and` short-circuit as they read
    except EvaluationError as exc:
        status = SKIP if skip_undecided else UNDECIDED
        return Outcome(status=status, message=f"cannot evaluate: {exc}", values=values, **base)
    for metric in metrics_of(assertion.condition):  # the report shows every value the condition names
        if metric.name not in values:
            try:
                lookup(metric)
            except EvaluationError:
                pass
    values = {m.name: values[m.name] for m in metrics_of(assertion.condition) if m.name in values}  # reading order
    if passed:
        shown = ", ".join(f"{name} = {format_value(name, value)}" for name, value in values.items())
        return Outcome(status=PASS, message=f"Actual: {shown}" if shown else "holds", values=values, **base)
    details = []
    if any(name.startswith("critical_path.") or name == "duration_ms" for name in values):
        line = _bottleneck(metrics)
        if line:
            details.append(line)
    return Outcome(status=FAIL, message=_actual(assertion.condition, values), details=details, values=values, **base)


def check_all(assertions: list[Assertion], metrics: TraceMetrics, skip_undecided: bool = False) -> list[Outcome]:
    """Every assertion's outcome, in file order."""
    return [check_one(a, metrics, skip_undecided) for a in assertions]


# -- baseline -------------------------------------------------------------------------------------
#: Always compared against a baseline, beside the metrics the assertions read.
DEFAULT_REGRESSION_METRICS = ("duration_ms", "critical_path.duration_ms", "spans.syscall.count")


def parse_ratio(text: str) -> float:
    """`10%` or `0.1` → 0.1; ValueError for anything else or a negative value."""
    cleaned = text.strip()
    value = float(cleaned[:-1]) / 100 if cleaned.endswith("%") else float(cleaned)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"bad ratio {text!r}: expected a percentage like 10%")
    return value


def _directions(assertions: list[Assertion]) -> dict[tuple[str, ...], bool]:
    """Metric path → True when a higher value is worse (as the assertions bound it)."""
    out: dict[tuple[str, ...], bool] = {tuple(m.split(".")): True for m in DEFAULT_REGRESSION_METRICS}
    for assertion in assertions:
        if not assertion.enabled:
            continue
        node = assertion.condition
        bounded_below = node.left if isinstance(node, Binary) and node.op in (">", ">=") and isinstance(node.left, Metric) else None
        for metric in metrics_of(node):
            out.setdefault(metric.path, metric is not bounded_below and not metric.path[-1].endswith("ratio"))
    return out


def regressions(current: TraceMetrics, baseline: TraceMetrics, assertions: list[Assertion], max_ratio: float) -> list[Outcome]:
    """One outcome per compared metric: fail where it got worse than the baseline by more than `max_ratio`."""
    out = []
    for path, higher_is_worse in _directions(assertions).items():
        name = Metric(path).name
        try:
            now, then = current.value(path), baseline.value(path)
        except EvaluationError:
            continue  # a metric one of the traces lacks is not a regression
        worse = (now - then) if higher_is_worse else (then - now)
        change = worse / abs(then) if then else (0.0 if worse <= 0 else float("inf"))
        moved = "+∞" if then == 0 and now != 0 else f"{(now - then) / abs(then):+.0%}" if then else "+0%"
        values = f"{format_value(name, then)} → {format_value(name, now)}"
        if change > max_ratio and worse > 0:
            status = FAIL
            message = f"regressed {moved}: {values} (limit {max_ratio:.0%}, baseline {baseline.trace_id})"
        else:
            status, message = PASS, f"{values} ({moved}, limit {max_ratio:.0%})"
        out.append(Outcome(name=f"No regression: {name}", severity="error", status=status, message=message,
                           condition=f"{name} within {max_ratio:.0%} of baseline", values={name: now, f"baseline {name}": then}))
    return out
