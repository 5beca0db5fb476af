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
from typing import Any, NamedTuple, Sequence

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
#: Steps per side that difflib aligns exactly (after the common head and tail are cut off).
#: Its cost grows with the square of the steps, so longer middles are compared step by step
#: (position against position) instead, and the diff says the alignment is approximate.
EXACT_STEPS = 2_000

EQUAL = "equal"
REPLACE = "replace"
DELETE = "delete"  # only in A
INSERT = "insert"  # only in B


class Step(NamedTuple):
    """One step of a sequence: a syscall name (or a cycle `read+write`), its calls, its first span."""

    name: str
    calls: int
    span_id: str


class AlignedStep(NamedTuple):
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
    approximate: bool = False  # the middle was too long for the exact alignment

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
    """A trace's non-noise syscall rows in logical-clock order, names as codes into `names`."""

    names: list[str]
    codes: np.ndarray
    counts: np.ndarray
    durations: np.ndarray
    span_ids: pa.Array


def _calls(table: pa.Table) -> _Calls:
    """Masks and columns as whole arrays; only the few RLE rows' attributes are read twice."""
    span_names = table.column("span_name")
    calls = pc.utf8_slice_codeunits(span_names, len(SYSCALL_PREFIX))
    wanted = pc.and_(pc.starts_with(span_names, SYSCALL_PREFIX), pc.invert(pc.is_in(calls, pa.array(sorted(NOISE)))))
    filtered = pc.fill_null(attribute_array(table.select(["attributes"]), ATTR_FILTERED, pa.bool_()), False)
    index = np.flatnonzero(pc.and_(wanted, pc.invert(filtered)).to_numpy(zero_copy_only=False))
    clocks = table.column("logical_clock").to_numpy()[index]
    starts = table.column("start_time_nanos").to_numpy().astype(np.int64)[index]
    index = index[np.lexsort((starts, clocks))]
    counts = np.maximum(table.column("rle_count").fill_null(1).to_numpy()[index], 1).astype(np.int64)
    durations = np.maximum(
        table.column("end_time_nanos").to_numpy().astype(np.int64)[index] - table.column("start_time_nanos").to_numpy().astype(np.int64)[index],
        0,
    )
    folded = np.flatnonzero(counts > 1)
    if len(folded):  # an RLE row's own span covers first start → last end; its calls took the total
        rle_rows = table.select(["attributes"]).take(pa.array(index[folded]))
        totals = attribute_array(rle_rows, ATTR_RLE_TOTAL, pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
        durations[folded] = np.where(totals >= 0, totals, durations[folded])
    encoded = pc.dictionary_encode(calls).combine_chunks() if table.num_rows else None
    if encoded is None or not len(index):
        return _Calls([], np.empty(0, np.int64), counts, durations, pa.array([], pa.string()))
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)[index]
    span_ids = table.column("span_id").take(pa.array(index)).combine_chunks()
    return _Calls(encoded.dictionary.to_pylist(), codes, counts, durations, span_ids)


def _runs(codes: np.ndarray) -> np.ndarray:
    """Start index of every run of equal codes."""
    if len(codes) == 0:
        return np.empty(0, np.int64)
    return np.concatenate(([0], np.flatnonzero(codes[1:] != codes[:-1]) + 1))


def _fold_cycles(codes: np.ndarray, counts: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fold repeats of `period`-step cycles: (kept step indices, their calls, their cycle length 1 or `period`)."""
    n = len(codes)
    keep = np.ones(n, dtype=bool)
    length = np.ones(n, dtype=np.int64)
    calls = counts.copy()
    if n >= 2 * period:
        same = codes[:-period] == codes[period:]
        edges = np.diff(np.concatenate(([0], same.view(np.int8), [0])))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        taken_until = 0
        cumulative = np.concatenate(([0], np.cumsum(counts)))
        for start, stop in zip(starts.tolist(), stops.tolist()):
            start = max(start, taken_until)
            span = stop - start + period  # steps in the periodic stretch
            reps = span // period
            if reps < 2:
                continue
            end = start + reps * period
            for k in range(period):
                calls[start + k] = cumulative[end] - cumulative[start] if k == 0 else 0
            keep[start + period : end] = False
            keep[start + 1 : start + period] = False
            length[start] = period
            taken_until = end
    index = np.flatnonzero(keep)
    return index, calls[index], length[index]


def _steps(calls: _Calls) -> list[Step]:
    """Fold repeats of one call, then repeats of cycles of up to MAX_CYCLE steps, into steps."""
    starts = _runs(calls.codes)
    codes = calls.codes[starts]
    counts = np.add.reduceat(calls.counts, starts) if len(starts) else calls.counts[:0]
    first = starts  # row of each step's first call
    names = list(calls.names)  # code → step name; a folded cycle gets a new code
    cycle_codes: dict[str, int] = {}
    for period in range(2, MAX_CYCLE + 1):
        index, counts, length = _fold_cycles(codes, counts, period)
        folded = codes[index]
        for new in np.flatnonzero(length > 1).tolist():
            old = int(index[new])
            label = "+".join(names[c] for c in codes[old : old + period].tolist())
            code = cycle_codes.get(label)
            if code is None:
                code = cycle_codes[label] = len(names)
                names.append(label)
            folded[new] = code
        codes, first = folded, first[index]
    ids = calls.span_ids.take(pa.array(first)).to_pylist() if len(first) else []
    return [Step(names[code], count, span_id) for code, count, span_id in zip(codes.tolist(), counts.tolist(), ids)]


def _align(a: list[Step], b: list[Step]) -> tuple[list[AlignedStep], float, bool]:
    """(aligned steps, similarity 0..1, whether the alignment is approximate)."""
    names_a, names_b = [s.name for s in a], [s.name for s in b]
    head = 0
    limit = min(len(a), len(b))
    while head < limit and names_a[head] == names_b[head]:
        head += 1
    tail = 0
    while tail < limit - head and names_a[len(a) - 1 - tail] == names_b[len(b) - 1 - tail]:
        tail += 1
    mid_a, mid_b = names_a[head : len(a) - tail], names_b[head : len(b) - tail]
    approximate = max(len(mid_a), len(mid_b)) > EXACT_STEPS
    steps: list[AlignedStep] = [AlignedStep(EQUAL, x, y) for x, y in zip(a[:head], b[:head])]
    same = head + tail
    if approximate:  # step against step: O(n), where difflib's cost would grow with n²
        middle_a, middle_b = a[head : len(a) - tail], b[head : len(b) - tail]
        pairs = [AlignedStep(EQUAL if x.name == y.name else REPLACE, x, y) for x, y in zip(middle_a, middle_b)]
        same += sum(1 for step in pairs if step.tag == EQUAL)
        steps += pairs
        steps.extend(AlignedStep(DELETE, x, None) for x in middle_a[len(pairs):])
        steps.extend(AlignedStep(INSERT, None, y) for y in middle_b[len(pairs):])
        opcodes: Sequence[tuple[str, int, int, int, int]] = []
    else:
        opcodes = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in opcodes:
        i1, i2, j1, j2 = i1 + head, i2 + head, j1 + head, j2 + head
        if tag == "equal":
            steps.extend(AlignedStep(EQUAL, x, y) for x, y in zip(a[i1:i2], b[j1:j2]))
            same += i2 - i1
            continue
        left, right = a[i1:i2], b[j1:j2]
        paired = min(len(left), len(right)) if tag == "replace" else 0
        steps.extend(AlignedStep(REPLACE, x, y) for x, y in zip(left[:paired], right[:paired]))
        steps.extend(AlignedStep(DELETE, x, None) for x in left[paired:])
        steps.extend(AlignedStep(INSERT, None, y) for y in right[paired:])
    steps.extend(AlignedStep(EQUAL, x, y) for x, y in zip(a[len(a) - tail :], b[len(b) - tail :]))
    similarity = 2 * same / (len(a) + len(b)) if (a or b) else 1.0
    return steps, similarity, approximate


def _deltas(a: _Calls, b: _Calls) -> list[SyscallDelta]:
    def totals(calls: _Calls) -> dict[str, tuple[int, int]]:
        size = len(calls.names)
        per_count = np.bincount(calls.codes, weights=calls.counts, minlength=size) if size else np.zeros(0)
        per_time = np.bincount(calls.codes, weights=calls.durations, minlength=size) if size else np.zeros(0)
        return {name: (int(per_count[i]), int(per_time[i])) for i, name in enumerate(calls.names) if per_count[i] > 0}

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
    steps, similarity, approximate = _align(_steps(calls_a), _steps(calls_b))
    return OpsDiff(
        steps=steps,
        deltas=_deltas(calls_a, calls_b),
        tolerance=tolerance,
        similarity=similarity,
        calls_a=int(calls_a.counts.sum()),
        calls_b=int(calls_b.counts.sum()),
        approximate=approximate,
    )


def step_json(step: AlignedStep) -> dict[str, Any]:
    def side(s: Step | None) -> dict[str, Any] | None:
        return None if s is None else {"name": s.name, "calls": s.calls, "span_id": s.span_id}

    return {"tag": step.tag, "a": side(step.a), "b": side(step.b)}
