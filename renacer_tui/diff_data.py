"""Two stored traces, loaded for `analysis.diff_*`: what the `diff` command and screen share.

A trace for a diff is its span table, the working directory its (first) run had — state-based
matching reads paths under it as relative ones — and a short label (the program's name) for the
efficiency table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from renacer_tui.analysis.diff_ops import diff_ops
from renacer_tui.analysis.diff_report import DiffReport, build_report
from renacer_tui.analysis.diff_state import diff_state, has_payloads
from renacer_tui.model.kinds import PROCESS_PREFIX

#: How to record what a state diff needs (said wherever a trace lacks payload hashes).
RECORD_HINT = "record it with `renacer-tui --capture-payloads -- CMD`"


class TraceMissing(LookupError):
    """The store holds no spans of the trace."""


class NoPayloads(ValueError):
    """A state diff of traces recorded without --capture-payloads; `which` names them."""

    def __init__(self, which: list[str]) -> None:
        super().__init__(f"trace {' and '.join(which)} has no payload hashes: {RECORD_HINT}")
        self.which = which


@dataclass
class LoadedTrace:
    trace_id: str
    table: pa.Table
    cwd: str | None
    label: str


def root_process_name(table: pa.Table) -> str | None:
    """The comm of the trace's first process (the program that was run, after its exec)."""
    procs = table.filter(pc.starts_with(table.column("span_name"), PROCESS_PREFIX))
    if procs.num_rows == 0:
        return None
    first = pc.index(procs.column("logical_clock"), pc.min(procs.column("logical_clock"))).as_py()
    return str(procs.column("span_name")[first].as_py())[len(PROCESS_PREFIX):]


def load_for_diff(store: Any, trace_id: str) -> LoadedTrace:
    """The trace's spans, run cwd and label (TraceMissing when the store has none)."""
    table = store.trace_spans(trace_id)
    if table.num_rows == 0:
        raise TraceMissing(trace_id)
    rows = store.catalog.rows("SELECT cwd FROM runs WHERE trace_id = ? ORDER BY started_ns LIMIT 1", [trace_id])
    return LoadedTrace(trace_id, table, rows[0]["cwd"] if rows else None, root_process_name(table) or trace_id[:8])


def distinct_labels(a: LoadedTrace, b: LoadedTrace) -> None:
    """Two runs of one program get their trace id prefixes, so the table tells them apart."""
    if a.label == b.label:
        a.label, b.label = f"{a.label} ({a.trace_id[:8]})", f"{b.label} ({b.trace_id[:8]})"


def compare(a: LoadedTrace, b: LoadedTrace, method: str, tolerance: float, maps: list[tuple[str, str]]) -> DiffReport:
    """The report of `method` ("state", "operation", "both"); NoPayloads when a state diff can't be made."""
    state = None
    if method in ("state", "both"):
        missing = [f"{which} ({t.trace_id})" for which, t in (("A", a), ("B", b)) if not has_payloads(t.table)]
        if missing:
            raise NoPayloads(missing)
        state = diff_state(a.table, b.table, a.cwd, b.cwd, maps)
    return build_report(a.label, b.label, method, state, diff_ops(a.table, b.table, tolerance))
