"""An index over one trace's spans for the span tree: parents, children, errors, search.

Built once from `store.trace_spans()` (raw rows, RLE not expanded) in a worker thread.  The tree
widget asks it for children page by page, so a process with 100 k syscalls costs one page of
nodes until the user scrolls for more.  Search and error lists run on the Arrow columns.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from renacer_tui.model.attributes import attribute_column, parse_attributes_keeping_raw
from renacer_tui.model.schema import STATUS_ERROR

ROOT = -1  # the synthetic trace node
#: Text searched by `find` ("sim.py:42" finds the calls of that line when --source recorded it).
_FIND_COLUMNS = (
    "span_name", "attributes", "process_name", "status_message", "span_id", "python_source", "c_source", "rust_source",
)
_ATTRIBUTE_QUERY = re.compile(r"^([A-Za-z_][\w.\-]*)=(.*)$", re.S)


@dataclass(frozen=True)
class SpanSummary:
    """What a tree row shows of a span."""

    name: str
    start: int
    end: int
    rle_count: int
    is_error: bool
    pid: int


class SpanIndex:
    """Rows of one trace in start order, with child lists and a span-id lookup."""

    def __init__(self, table: pa.Table) -> None:
        if table.num_rows:
            table = table.sort_by([("start_time_nanos", "ascending"), ("logical_clock", "ascending")])
        self.table = table
        self.size = table.num_rows
        self.span_ids: list[str] = table.column("span_id").to_pylist()
        parents: list[str | None] = table.column("parent_span_id").to_pylist()
        self.names: list[str] = table.column("span_name").to_pylist()
        self.starts: list[int] = table.column("start_time_nanos").to_pylist()
        self.ends: list[int] = table.column("end_time_nanos").to_pylist()
        self.rle: list[int] = table.column("rle_count").to_pylist()
        self.pids: list[int] = table.column("process_pid").to_pylist()
        errors = pc.equal(table.column("status"), STATUS_ERROR) if self.size else pa.array([], pa.bool_())
        self.error_rows: list[int] = pc.indices_nonzero(errors).to_pylist() if self.size else []
        self._error_set = set(self.error_rows)
        self.row_of: dict[str, int] = {span_id: row for row, span_id in enumerate(self.span_ids)}
        self.parent_row: list[int] = []
        self.children: dict[int, list[int]] = {}
        for row, parent in enumerate(parents):
            parent_row = self.row_of.get(parent, ROOT) if parent else ROOT
            if parent_row == row:
                parent_row = ROOT
            self.parent_row.append(parent_row)
            self.children.setdefault(parent_row, []).append(row)
        self.t_min = min(self.starts, default=0)
        self.t_max = max(self.ends, default=0)
        self.trace_id = table.column("trace_id")[0].as_py() if self.size else None

    def summary(self, row: int) -> SpanSummary:
        return SpanSummary(self.names[row], self.starts[row], self.ends[row], self.rle[row], row in self._error_set, self.pids[row])

    def child_rows(self, row: int) -> list[int]:
        return self.children.get(row, [])

    def depth(self, row: int) -> int:
        depth = 0
        while row != ROOT:
            row = self.parent_row[row]
            depth += 1
        return depth

    def ancestors(self, row: int) -> list[int]:
        """From the top-level span down to `row`'s parent (ROOT not included)."""
        chain: list[int] = []
        seen: set[int] = set()
        parent = self.parent_row[row]
        while parent != ROOT and parent not in seen:
            seen.add(parent)
            chain.append(parent)
            parent = self.parent_row[parent]
        return list(reversed(chain))

    def row_dict(self, row: int) -> dict[str, Any]:
        """Every column of a span, attributes parsed (for the detail pane)."""
        values = self.table.slice(row, 1).to_pylist()[0]
        values["attributes"] = parse_attributes_keeping_raw(values.get("attributes"))
        return values

    def find(self, query: str) -> list[int]:
        """Rows matching `query`: `key=value` on an attribute, else text in name/attributes/process/source."""
        query = query.strip()
        if not query or not self.size:
            return []
        attribute = _ATTRIBUTE_QUERY.match(query)
        if attribute:  # key=value, the value may hold spaces ("syscall.pathname=/tmp/a b")
            return self._find_attribute(attribute.group(1), attribute.group(2))
        hits = None
        for column in _FIND_COLUMNS:
            match = pc.fill_null(pc.match_substring(self.table.column(column), query, ignore_case=True), False)
            hits = match if hits is None else pc.or_(hits, match)
        return pc.indices_nonzero(hits).to_pylist()

    def _find_attribute(self, key: str, value: str) -> list[int]:
        values = attribute_column(self.table, key)
        return [row for row, found in enumerate(values) if found is not None and _text(found) == value]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)
