"""Operation-based comparison of two traces: the syscall sequences, aligned.

What is compared is the *shape* of each program's work: its syscalls in logical-clock order,
without the allocator, futex and clock calls whose number and place vary run to run
(`NOISE`), with back-to-back repeats of a call (or of a short cycle such as read/write) folded
into one step that counts its calls.  So 3001 one-byte writes and one 3001-byte write are the
same step, `write`, with different counts: the alignment (difflib's SequenceMatcher, without its
"popular element" heuristic, which would discard exactly the calls a loop repeats) finds the
first place the programs *do* something different, and the per-syscall counts and times say how
differently efficient they are, within `tolerance`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from renacer_tui.model.attributes import ATTR_FILTERED, ATTR_RLE_TOTAL, attribute_array
from renacer_tui.model.kinds import SYSCALL_PREFIX
from renacer_tui.model.syscalls import SYSCALL_CLASSES

#: Calls left out of the sequences: memory management, clocks, futexes, yields and sleeps.
NOISE = SYSCALL_CLASSES["memory"] | SYSCALL_CLASSES["clock"] | frozenset(
    {"futex", "futex_waitv", "sched_yield", "nanosleep", "clock_nanosleep", "rseq", "set_robust_list"}
)
MAX_CYCLE = 4  # longest repeating cycle folded into one step

EQUAL = "equal"
REPLACE = "replace"
DELETE = "delete"  # only in A
INSERT = "insert"  # only in B


@dataclass(frozen=True)
class Step:
    """One step of a sequence: a syscall name (or a cycle `read+write`), its calls, its first span."""

    name: str
    calls: int
    span_id: str


@dataclass(frozen=True)
class AlignedStep:
    tag: str
    a: Step | None
    b: Step | None


@dataclass(frozen=True)
class SyscallDelta:
    """Counts and total time of one syscall name in each trace."""

    name: str
    count_a: int
    count_b: int
    time_a_ns: int
    time_b_ns: int

    def count_within(self, tolerance: float) -> bool:
        return abs(self.count_b - self.count_a) <= tolerance * max(self.count_a, self.count_b)

    def time_within(self, tolerance: float) -> bool:
        return abs(self.time_b_ns - self.time_a_ns) <= tolerance * max(self.time_a_ns, self.time_b_ns)


@dataclass
class OpsDiff:
    steps: list[AlignedStep] = field(default_factory=list)
    deltas: list[SyscallDelta] = field(default_factory=list)
    tolerance: float = 0.05
    similarity: float = 1.0
    calls_a: int = 0
    calls_b: int = 0

    @property
    def first_divergence(self) -> int | None:
        """Index in `steps` of the first step the two sequences do not share."""
        return next((i for i, s in enumerate(self.steps) if s.tag != EQUAL), None)

    @property
    def equivalent(self) -> bool:
        """Same steps in the same order and every syscall's count within the tolerance."""
        return self.first_divergence is None and all(d.count_within(self.tolerance) for d in self.deltas)


@dataclass
class _Calls:
    """A trace's non-noise syscall rows in logical-clock order."""

    names: list[str]
    counts: np.ndarray
    durations: np.ndarray
    span_ids: list[str]


def _calls(table: pa.Table) -> _Calls:
    rows = table.filter(pc.starts_with(table.column("span_name"), SYSCALL_PREFIX))
    filtered = attribute_array(rows, ATTR_FILTERED, pa.bool_())
    rows = rows.filter(pc.invert(pc.fill_null(filtered, False)))
    rows = rows.take(pc.sort_indices(rows, [("logical_clock", "ascending"), ("start_time_nanos", "ascending")]))
    names = pc.utf8_slice_codeunits(rows.column("span_name"), len(SYSCALL_PREFIX)).to_pylist()
    counts = np.maximum(rows.column("rle_count").fill_null(1).to_numpy(), 1).astype(np.int64)
    spans = (rows.column("end_time_nanos").to_numpy() - rows.column("start_time_nanos").to_numpy()).astype(np.int64)
    totals = attribute_array(rows, ATTR_RLE_TOTAL, pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
    durations = np.where((counts > 1) & (totals >= 0), totals, np.maximum(spans, 0))
    keep = np.array([name not in NOISE for name in names], dtype=bool)
    index = np.flatnonzero(keep)
    ids = rows.column("span_id").to_pylist()
    return _Calls([names[i] for i in index], counts[index], durations[index], [ids[i] for i in index])


def _steps(calls: _Calls) -> list[Step]:
    """Fold repeats of one call, then repeats of cycles up to MAX_CYCLE calls, into steps."""
    single: list[Step] = []
    names, counts, ids = calls.names, calls.counts, calls.span_ids
    i, n = 0, len(names)
    while i < n:
        j = i + 1
        while j < n and names[j] == names[i]:
            j += 1
        single.append(Step(names[i], int(counts[i:j].sum()), ids[i]))
        i = j
    out: list[Step] = []
    i, n = 0, len(single)
    while i < n:
        folded = False
        for period in range(2, MAX_CYCLE + 1):
            pattern = [s.name for s in single[i : i + period]]
            if len(pattern) < period or len(set(pattern)) < period:
                continue
            end = i + period
            while end + period <= n and [s.name for s in single[end : end + period]] == pattern:
                end += period
            if end > i + period:
                calls_in = sum(s.calls for s in single[i:end])
                out.append(Step("+".join(pattern), calls_in, single[i].span_id))
                i = end
                folded = True
                break
        if not folded:
            out.append(single[i])
            i += 1
    return out


def _align(a: list[Step], b: list[Step]) -> tuple[list[AlignedStep], float]:
    matcher = difflib.SequenceMatcher(None, [s.name for s in a], [s.name for s in b], autojunk=False)
    steps: list[AlignedStep] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            steps.extend(AlignedStep(EQUAL, x, y) for x, y in zip(a[i1:i2], b[j1:j2]))
            continue
        left, right = a[i1:i2], b[j1:j2]
        paired = min(len(left), len(right)) if tag == "replace" else 0
        steps.extend(AlignedStep(REPLACE, x, y) for x, y in zip(left[:paired], right[:paired]))
        steps.extend(AlignedStep(DELETE, x, None) for x in left[paired:])
        steps.extend(AlignedStep(INSERT, None, y) for y in right[paired:])
    return steps, matcher.ratio() if (a or b) else 1.0


def _deltas(a: _Calls, b: _Calls) -> list[SyscallDelta]:
    def totals(calls: _Calls) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for name, count, duration in zip(calls.names, calls.counts.tolist(), calls.durations.tolist()):
            c, t = out.get(name, (0, 0))
            out[name] = (c + count, t + duration)
        return out

    ta, tb = totals(a), totals(b)
    deltas = [
        SyscallDelta(name, ta.get(name, (0, 0))[0], tb.get(name, (0, 0))[0], ta.get(name, (0, 0))[1], tb.get(name, (0, 0))[1])
        for name in set(ta) | set(tb)
    ]
    deltas.sort(key=lambda d: (-abs(d.count_b - d.count_a), d.name))
    return deltas


def diff_ops(table_a: pa.Table, table_b: pa.Table, tolerance: float = 0.05) -> OpsDiff:
    """Align the two traces' normalised syscall sequences and compare counts and times."""
    calls_a, calls_b = _calls(table_a), _calls(table_b)
    steps, similarity = _align(_steps(calls_a), _steps(calls_b))
    return OpsDiff(
        steps=steps,
        deltas=_deltas(calls_a, calls_b),
        tolerance=tolerance,
        similarity=similarity,
        calls_a=int(calls_a.counts.sum()),
        calls_b=int(calls_b.counts.sum()),
    )


def step_json(step: AlignedStep) -> dict[str, Any]:
    def side(s: Step | None) -> dict[str, Any] | None:
        return None if s is None else {"name": s.name, "calls": s.calls, "span_id": s.span_id}

    return {"tag": step.tag, "a": side(step.a), "b": side(step.b)}
