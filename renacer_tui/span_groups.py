"""A process's syscalls grouped by the source line that made them (the span tree's `g`).

One group per line of the program's own frame — the Python line where a transpiler map gave
one, else the C or Rust line — and one `(no source)` group for the calls without a line.
Built columnar from the `SpanIndex`'s table (a coalesce of the source columns, dictionary
codes, `np.add.reduceat` over the codes' sorted order) the first time a process's groups are
asked for, i.e. when its node opens in that mode; the JSON of a row is read only for one row
per group (its function) and for RLE rows (their summed duration).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from renacer_tui.model.attributes import (
    ATTR_CODE_FUNCTION,
    ATTR_PYTHON_FUNCTION,
    ATTR_RLE_TOTAL,
    attribute_array,
    parse_attributes,
)
from renacer_tui.model.schema import SOURCE_COLUMNS
from renacer_tui.span_index import SpanIndex

NO_SOURCE = "(no source)"


@dataclass(frozen=True)
class GroupKey:
    """A group node: the process row it belongs to and its place among the process's groups."""

    process: int
    position: int


@dataclass(frozen=True)
class SourceGroup:
    """One source line of one process: its calls (RLE rows count as the calls they stand for)."""

    key: GroupKey
    source: str | None  # "prog.c:17"; None for the (no source) group
    function: str | None
    calls: int
    duration: int  # ns, the calls' durations summed
    start: int
    end: int
    rows: list[int]  # the group's spans, in start order
    sample: int  # one of them (the first): its code.filepath / code.lineno name the line

    @property
    def title(self) -> str:
        if self.source is None:
            return NO_SOURCE
        return f"{self.source} {self.function}" if self.function else self.source


class SourceGroups:
    """The source-line groups of each process of one trace, computed on first use."""

    def __init__(self, index: SpanIndex) -> None:
        self.index = index
        self._by_process: dict[int, list[SourceGroup]] = {}
        self._by_source: dict[int, dict[str | None, SourceGroup]] = {}
        self._columns: tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def of(self, process: int) -> list[SourceGroup]:
        """`process`'s children grouped by line, by total duration (longest first)."""
        groups = self._by_process.get(process)
        if groups is None:
            groups = self._by_process[process] = self._build(process)
            self._by_source[process] = {group.source: group for group in groups}
        return groups

    def group(self, key: GroupKey) -> SourceGroup:
        return self.of(key.process)[key.position]

    def group_of(self, process: int, row: int) -> SourceGroup | None:
        """The group of `process` that holds `row` (one of its children)."""
        self.of(process)
        source = self._table_columns()[0][row].as_py()
        return self._by_source[process].get(source)

    def _table_columns(self) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per row of the index: source line, start, end, RLE count, duration of the calls."""
        if self._columns is None:
            table = self.index.table
            present = [table.column(name) for name in SOURCE_COLUMNS if name in table.schema.names]
            if present:
                merged = pc.coalesce(*present) if len(present) > 1 else present[0]
                source = merged.combine_chunks() if isinstance(merged, pa.ChunkedArray) else merged
            else:
                source = pa.nulls(table.num_rows, pa.string())
            starts, ends, rle = (
                pc.fill_null(table.column(name), fill).to_numpy().astype(np.int64)
                for name, fill in (("start_time_nanos", 0), ("end_time_nanos", 0), ("rle_count", 1))
            )
            rle = np.maximum(rle, 1)
            duration = ends - starts
            folded = np.flatnonzero(rle > 1)
            if folded.size:  # an RLE row's span covers its gaps; its calls' sum is an attribute
                rows = table.take(pa.array(folded))
                totals = attribute_array(rows, ATTR_RLE_TOTAL, pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
                duration[folded] = np.where(totals >= 0, totals, duration[folded])
            self._columns = (source, starts, ends, rle, np.maximum(duration, 0))
        return self._columns

    def _build(self, process: int) -> list[SourceGroup]:
        children = np.asarray(self.index.child_rows(process), dtype=np.int64)
        if not children.size:
            return []
        source, starts, ends, rle, duration = self._table_columns()
        encoded = pc.dictionary_encode(source.take(pa.array(children)))
        labels: list[str | None] = [*encoded.dictionary.to_pylist(), None]
        codes = pc.fill_null(encoded.indices, len(labels) - 1).to_numpy(zero_copy_only=False).astype(np.int64)
        order = np.argsort(codes, kind="stable")  # stable: each group's rows stay in start order
        sorted_codes = codes[order]
        cuts = np.flatnonzero(np.diff(sorted_codes)) + 1
        firsts = np.concatenate(([0], cuts))
        rows = children[order]
        calls = np.add.reduceat(rle[rows], firsts)
        total = np.add.reduceat(duration[rows], firsts)
        first_start = np.minimum.reduceat(starts[rows], firsts)
        last_end = np.maximum.reduceat(ends[rows], firsts)
        members = np.split(rows, cuts)
        group_codes = sorted_codes[firsts]
        # longest total first; ties: more calls, then the line's name, the (no source) group last
        ranking = sorted(
            range(len(firsts)),
            key=lambda g: (-int(total[g]), -int(calls[g]), labels[group_codes[g]] is None, labels[group_codes[g]] or ""),
        )
        groups: list[SourceGroup] = []
        for position, g in enumerate(ranking):
            line = labels[group_codes[g]]
            sample = int(members[g][0])
            groups.append(SourceGroup(
                key=GroupKey(process, position), source=line, function=self._function(sample) if line else None,
                calls=int(calls[g]), duration=int(total[g]), start=int(first_start[g]), end=int(last_end[g]),
                rows=members[g].tolist(), sample=sample,
            ))
        return groups

    def _function(self, row: int) -> str | None:
        """The line's function: the Python function when the line is a Python one."""
        table = self.index.table
        attributes = parse_attributes(table.column("attributes")[row].as_py())
        python = "python_source" in table.schema.names and table.column("python_source")[row].is_valid
        value = (attributes.get(ATTR_PYTHON_FUNCTION) if python else None) or attributes.get(ATTR_CODE_FUNCTION)
        return value if isinstance(value, str) and value else None
