"""The verdict of a trace diff and its text and JSON forms (spec §6.3's output).

`build_report` puts a state-based and/or an operation-based comparison together with the
efficiency table (calls per data-syscall family in each trace and the ratio) and the verdict
lines.  The exit status follows the semantic question first: with the state-based method (alone
or with `both`) the traces are equivalent when their streams are; with the operation-based method
alone, when their normalised sequences are.  The operation comparison is always made, because
the efficiency table and the performance verdict come from it; its sequence section is shown
for `operation` and `both`.  A rewrite that does the same I/O in fewer calls is
an improvement, never a difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from renacer_tui.analysis.antipatterns import Thresholds
from renacer_tui.analysis.diff_ops import DELETE, EQUAL, INSERT, REPLACE, OpsDiff, step_json
from renacer_tui.analysis.diff_state import MATCH, MISMATCH, ONLY_A, ONLY_B, UNVERIFIED, StateDiff, comparison_json
from renacer_tui.model.syscalls import READ_CALLS, WRITE_CALLS

#: Sequence-view markers: they carry the meaning, colour only repeats it (NO_COLOR works).
MARKERS = {EQUAL: "=", REPLACE: "~", DELETE: "-", INSERT: "+"}
_STATUS_MARK = {MATCH: "✓", MISMATCH: "✗", UNVERIFIED: "?", ONLY_A: "<", ONLY_B: ">"}
_FAMILIES = (("write", WRITE_CALLS | {"sendfile", "copy_file_range", "splice"}), ("read", READ_CALLS))
_LISTED_ONLY_READS = 20  # text output: reads only one trace made, listed up to this many


@dataclass(frozen=True)
class Efficiency:
    """One data-syscall family's calls and bytes in each trace."""

    family: str
    calls_a: int
    calls_b: int
    bytes_a: int | None
    bytes_b: int | None

    @property
    def ratio(self) -> float | None:
        """How many of A's calls one call of B does (None when B made none)."""
        return self.calls_a / self.calls_b if self.calls_b else None

    def buffering(self, calls: int, nbytes: int | None) -> str:
        if not calls or nbytes is None:
            return ""
        return "unbuffered" if nbytes / calls < Thresholds().small_write_bytes else "buffered"


@dataclass
class DiffReport:
    label_a: str
    label_b: str
    method: str
    state: StateDiff | None
    ops: OpsDiff | None
    efficiency: list[Efficiency] = field(default_factory=list)

    @property
    def equivalent(self) -> bool:
        """The answer the exit status gives: the state-based one whenever it was asked for."""
        if self.state is not None:
            return self.state.equivalent
        return self.ops is not None and self.ops.equivalent

    @property
    def io_calls(self) -> tuple[int, int]:
        return sum(e.calls_a for e in self.efficiency), sum(e.calls_b for e in self.efficiency)

    def performance(self) -> str:
        """"improvement", "regression" or "same": B's data-syscall calls against A's, within the tolerance."""
        tolerance = self.ops.tolerance if self.ops is not None else 0.05
        a, b = self.io_calls
        if not a and not b and self.ops is not None:
            a, b = self.ops.calls_a, self.ops.calls_b
        if b < a * (1 - tolerance):
            return "improvement"
        if b > a * (1 + tolerance):
            return "regression"
        return "same"

    def verdict_lines(self) -> list[str]:
        lines = []
        if self.state is not None:
            lines.append("✅ SEMANTICALLY EQUIVALENT (state-based)" if self.state.equivalent
                         else "❌ NOT SEMANTICALLY EQUIVALENT (state-based)")
        if self.ops is not None:
            perf = self.performance()
            if perf == "improvement":
                lines.append("✅ PERFORMANCE IMPROVEMENT (operation-based)")
            elif perf == "regression":
                lines.append("⚠️ PERFORMANCE REGRESSION (operation-based)")
            elif self.ops.equivalent:
                lines.append("✅ OPERATIONALLY EQUIVALENT (operation-based)")
            else:
                lines.append("➖ NO PERFORMANCE CHANGE, DIFFERENT OPERATIONS (operation-based)")
        return lines

    def recommendation(self) -> str | None:
        if self.state is None or not self.state.equivalent or self.ops is None or self.performance() != "improvement":
            return None
        best = max((e for e in self.efficiency if e.calls_a), key=lambda e: e.calls_a - e.calls_b, default=None)
        if best is None or best.calls_b >= best.calls_a:
            return f"Transpilation successful. {self.label_b} makes fewer syscalls."
        cut = f"{100 * (best.calls_a - best.calls_b) / best.calls_a:.2f}".rstrip("0").rstrip(".")
        return f"Transpilation successful. {self.label_b} reduces {best.family}() syscalls by {cut}%."


def _stream_bytes(state: StateDiff | None, direction: str) -> tuple[int | None, int | None]:
    if state is None:
        return None, None
    a = sum(c.a.bytes for c in state.comparisons if c.a is not None and c.direction == direction)
    b = sum(c.b.bytes for c in state.comparisons if c.b is not None and c.direction == direction)
    return a, b


def build_report(label_a: str, label_b: str, method: str, state: StateDiff | None, ops: OpsDiff | None) -> DiffReport:
    report = DiffReport(label_a, label_b, method, state, ops)
    if ops is not None:
        for family, names in _FAMILIES:
            calls_a = sum(d.count_a for d in ops.deltas if d.name in names)
            calls_b = sum(d.count_b for d in ops.deltas if d.name in names)
            if calls_a or calls_b:
                bytes_a, bytes_b = _stream_bytes(state, family)
                report.efficiency.append(Efficiency(family, calls_a, calls_b, bytes_a, bytes_b))
    return report


# ----------------------------------------------------------------------------------- text


def _size(n: int) -> str:
    return f"{n} bytes"


def _comparison_lines(c: Any) -> list[str]:
    what = "Writes" if c.direction == "write" else "Reads"
    mark = _STATUS_MARK[c.status]
    if c.status == MATCH:
        return [f"    {mark} {what}: SHA256 match ({_size(c.a.bytes)} total)"]
    if c.status == MISMATCH:
        return [f"    {mark} {what}: SHA256 mismatch (A {_size(c.a.bytes)}, B {_size(c.b.bytes)});"
                f" first difference in the {c.a.chunk_size}-byte chunk at offset {c.first_difference}"]
    if c.status == UNVERIFIED:
        hidden = max(c.a.unhashed, c.b.unhashed)
        return [f"    {mark} {what}: cannot be verified ({_size(hidden)} moved inside the kernel or unreadable)"]
    side = c.a if c.status == ONLY_A else c.b
    return [f"    {mark} {what}: only in {'A' if c.status == ONLY_A else 'B'} ({_size(side.bytes)})"]


def state_text(state: StateDiff) -> list[str]:
    title = "State-Based Semantic Equivalence"
    lines = [title, "=" * len(title), "", "File I/O Comparison:"]
    listed = [c for c in state.comparisons if not (c.direction == "read" and c.status in (ONLY_A, ONLY_B))]
    for c in listed:
        lines.append(f"  {c.key}:")
        lines.extend(_comparison_lines(c))
    if not listed:
        lines.append("  (no stream both traces could be compared on)")
    for status, who in ((ONLY_A, "A"), (ONLY_B, "B")):
        reads = [c for c in state.comparisons if c.direction == "read" and c.status == status]
        if reads:
            lines += ["", f"Read only by {who} ({len(reads)} files; inputs of one implementation, not compared):"]
            lines += [f"  {_STATUS_MARK[status]} {c.key}" for c in reads[:_LISTED_ONLY_READS]]
            if len(reads) > _LISTED_ONLY_READS:
                lines.append(f"  … and {len(reads) - _LISTED_ONLY_READS} more (--format json lists all)")
    return lines


def efficiency_text(report: DiffReport) -> list[str]:
    lines = ["Operation Efficiency:"]
    width = max(len(report.label_a), len(report.label_b)) + 1
    for e in report.efficiency:
        note_a = e.buffering(e.calls_a, e.bytes_a)
        note_b = e.buffering(e.calls_b, e.bytes_b)
        line_a = f"  {report.label_a + ':':<{width}} {e.calls_a} {e.family}() syscalls" + (f" ({note_a})" if note_a else "")
        line_b = f"  {report.label_b + ':':<{width}} {e.calls_b} {e.family}() syscalls" + (f" ({note_b})" if note_b else "")
        ratio = e.ratio
        if ratio is not None and ratio > 1:
            line_b += f" ← {ratio:.1f}× more efficient"
        elif ratio is not None and ratio < 1:
            line_b += f" ← {1 / ratio:.1f}× more calls"
        lines += [line_a, line_b]
    if not report.efficiency:
        lines.append("  (no data syscalls in either trace)")
    return lines


def ops_text(ops: OpsDiff, steps_shown: int = 40) -> list[str]:
    title = "Operation-Based Comparison"
    lines = [title, "=" * len(title), ""]
    count_a = sum(1 for s in ops.steps if s.a is not None)
    count_b = sum(1 for s in ops.steps if s.b is not None)
    lines.append(f"Steps: {count_a} in A, {count_b} in B ({ops.calls_a} and {ops.calls_b} calls without"
                 f" memory/clock/futex noise), similarity {ops.similarity:.2f}")
    if ops.approximate:
        lines.append("Alignment: approximate (too many differing steps for an exact one)")
    first = ops.first_divergence
    if first is None:
        lines.append("Sequences: same steps in the same order")
    else:
        step = ops.steps[first]
        a = f"{step.a.name} ×{step.a.calls}" if step.a else "nothing"
        b = f"{step.b.name} ×{step.b.calls}" if step.b else "nothing"
        lines.append(f"First divergence at step {first + 1}: A {a} vs B {b}")
    lines += ["", f"Syscall counts and time (tolerance {ops.tolerance:.0%}):"]
    for d in ops.deltas:
        if d.count_a == d.count_b and d.time_within(ops.tolerance):
            continue
        time_note = "same time" if d.time_within(ops.tolerance) else ("faster" if d.time_b_ns < d.time_a_ns else "slower")
        count_note = "" if d.count_within(ops.tolerance) else f" {d.count_b - d.count_a:+d}"
        lines.append(f"  {d.name:<16} {d.count_a:>8} → {d.count_b:<8}{count_note:>8}"
                     f"   {d.time_a_ns / 1e6:.3f} ms → {d.time_b_ns / 1e6:.3f} ms ({time_note})")
    lines += ["", "Sequence (= same, ~ changed, - only in A, + only in B):"]
    start = max(0, (first or 0) - 5)
    for step in ops.steps[start : start + steps_shown]:
        a = f"{step.a.name} ×{step.a.calls}" if step.a else ""
        b = f"{step.b.name} ×{step.b.calls}" if step.b else ""
        lines.append(f"  {MARKERS[step.tag]} {a:<32} {b}")
    if len(ops.steps) > start + steps_shown:
        lines.append(f"  … {len(ops.steps) - start - steps_shown} more steps (--format json lists all)")
    return lines


def report_text(report: DiffReport) -> str:
    lines: list[str] = [f"A: {report.label_a}", f"B: {report.label_b}", ""]
    if report.state is not None:
        lines += state_text(report.state) + [""]
    if report.ops is not None:
        lines += efficiency_text(report) + [""]
        if report.method != "state":
            lines += ops_text(report.ops) + [""]
    verdicts = report.verdict_lines()
    lines.append("Verdict: " + verdicts[0])
    lines += ["         " + v for v in verdicts[1:]]
    advice = report.recommendation()
    if advice:
        lines += ["", "Recommendation: " + advice]
    return "\n".join(lines) + "\n"


def report_json(report: DiffReport) -> dict[str, Any]:
    out: dict[str, Any] = {
        "a": report.label_a, "b": report.label_b, "method": report.method, "equivalent": report.equivalent,
        "verdicts": report.verdict_lines(), "recommendation": report.recommendation(),
        "efficiency": [
            {"family": e.family, "calls_a": e.calls_a, "calls_b": e.calls_b, "bytes_a": e.bytes_a,
             "bytes_b": e.bytes_b, "ratio": e.ratio}
            for e in report.efficiency
        ],
    }
    if report.ops is not None:
        out["performance"] = report.performance()
    if report.state is not None:
        out["state"] = {"equivalent": report.state.equivalent,
                        "streams": [comparison_json(c) for c in report.state.comparisons]}
    if report.ops is not None:
        ops = report.ops
        out["operation"] = {
            "equivalent": ops.equivalent, "similarity": ops.similarity, "tolerance": ops.tolerance,
            "first_divergence": ops.first_divergence, "calls_a": ops.calls_a, "calls_b": ops.calls_b,
            "approximate": ops.approximate,
            "syscalls": [
                {"name": d.name, "count_a": d.count_a, "count_b": d.count_b, "time_a_ns": d.time_a_ns,
                 "time_b_ns": d.time_b_ns, "count_within_tolerance": d.count_within(ops.tolerance),
                 "time_within_tolerance": d.time_within(ops.tolerance)}
                for d in ops.deltas
            ],
            "steps": [step_json(s) for s in ops.steps],
        }
    return out
