"""Anti-pattern alerts while a program is being traced, from the live feed's batches.

The offline detector (`analysis.antipatterns`) builds the causal graph of a finished trace; the
live screen cannot afford that at 100 k spans/s.  So each batch is folded into a few bounded
counters with vectorised pyarrow (group-bys over the batch; `attribute_array` reads the one
or two attribute keys a rule needs), and an alert fires once when a counter crosses the
count at which the offline rule rates that pattern medium (`GRADES`, `Thresholds`, config.toml
`[graph]`), graded the same way: what the report calls low is left to the report, so a plain
shell loop of failing `ls` calls does not interrupt a live run.

- tight loop: one process repeating one open/stat-like call on one path (thousands of `stat`s);
- failed-syscall storm: one syscall failing with one errno again and again (ENODATA, the
  "no such attribute" answer of getxattr, is not a failure);
- small writes: most writes to one fd smaller than `small_write_bytes`, many of them.

Counts are RLE-expanded (`rle_count`).  Each counter table holds at most `max_keys` keys; when
it overflows the smaller half is forgotten, so memory stays flat however varied the trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from renacer_tui.analysis.antipatterns import Thresholds, grade, level_count
from renacer_tui.model.attributes import ATTR_SYSCALL_FD, ATTR_SYSCALL_PATH, ATTR_SYSCALL_RESULT, attribute_array
from renacer_tui.model.schema import STATUS_ERROR
from renacer_tui.model.syscalls import BENIGN_ERRORS, PATH_LOOKUPS, WRITE_CALLS
from renacer_tui.thresholds import antipattern_detection_enabled, configured_thresholds

_WRITE_NAMES = pa.array(sorted(f"syscall:{name}" for name in WRITE_CALLS))
_BENIGN_ERRORS = pa.array(sorted(BENIGN_ERRORS))
_LOOKUP_NAMES = pa.array(sorted(f"syscall:{name}" for name in PATH_LOOKUPS))


@dataclass(frozen=True)
class Alert:
    """One live finding; `key` identifies it so it is raised once."""

    kind: str
    severity: str
    title: str
    key: tuple[Any, ...]


class _Tally:
    """Running sums per key, kept as an Arrow table and merged with each batch's group-by.

    `merge` returns, for every key, the new totals and the totals before this batch (columns
    `prev_<value>`), so a rule finds the keys that crossed its threshold with one vectorised
    comparison.  Past `max_keys` keys the table keeps the larger half (by the first value).
    """

    def __init__(self, keys: list[str], values: list[str], max_keys: int) -> None:
        self.keys = keys
        self.values = values
        self.max_keys = max_keys
        self.table: pa.Table | None = None

    def merge(self, batch: pa.Table) -> pa.Table:
        """Add `batch` (keys + values, one row per key or not) to the totals."""
        cur = {k: batch.column(k) for k in self.keys}
        zeros = pa.nulls(batch.num_rows, pa.int64()).fill_null(0)
        for v in self.values:
            cur[v] = pc.cast(batch.column(v), pa.int64())
            cur[f"prev_{v}"] = zeros
        parts = [pa.table(cur)]
        if self.table is not None:
            old = {k: self.table.column(k) for k in self.keys}
            for v in self.values:
                old[v] = old[f"prev_{v}"] = self.table.column(v)
            parts.insert(0, pa.table(old).cast(parts[0].schema))
        summed = pa.concat_tables(parts).group_by(self.keys, use_threads=False).aggregate(
            [(c, "sum") for v in self.values for c in (v, f"prev_{v}")]
        )
        merged = summed.rename_columns([name.removesuffix("_sum") for name in summed.column_names])
        kept = merged.select(self.keys + self.values)
        if kept.num_rows > self.max_keys:
            top = pc.select_k_unstable(kept, self.max_keys // 2, [(self.values[0], "descending")])
            kept = kept.take(top)
        self.table = kept
        return merged

    def crossed(self, batch: pa.Table, limit: float) -> list[dict[str, Any]]:
        """Merge `batch`; the keys whose first value total reached `limit` with this batch."""
        merged = self.merge(batch)
        first = self.values[0]
        return merged.filter(
            pc.and_(pc.greater_equal(merged[first], limit), pc.less(merged[f"prev_{first}"], limit))
        ).to_pylist()


class LiveAlerts:
    """Incremental detector; `absorb(batch)` returns the alerts that batch raised (each once)."""

    def __init__(self, thresholds: Thresholds | None = None, max_keys: int = 4096, enabled: bool | None = None) -> None:
        self.thresholds = thresholds or configured_thresholds()
        #: config.toml `[graph] enable_antipattern_detection = false` silences the live alerts too
        self.enabled = antipattern_detection_enabled() if enabled is None else enabled
        self.alerts: list[Alert] = []
        self._raised: set[tuple[Any, ...]] = set()
        self._paths = _Tally(["name", "pid", "path"], ["calls"], max_keys)
        self._failures = _Tally(["name", "err"], ["calls"], max_keys)
        self._writes = _Tally(["pid", "fd"], ["small", "calls"], max_keys)

    @property
    def tracked_keys(self) -> int:
        """Keys held by all counters together (bounded by 3 × `max_keys` plus one batch)."""
        return sum(t.table.num_rows for t in (self._paths, self._failures, self._writes) if t.table is not None)

    def absorb(self, batch: pa.RecordBatch | pa.Table) -> list[Alert]:
        """Fold one SPAN_SCHEMA batch (or a table of several) into the counters; the alerts newly raised."""
        if batch.num_rows == 0 or not self.enabled:
            return []
        rows = batch.filter(pc.starts_with(batch.column("span_name"), "syscall:"))
        if rows.num_rows == 0:
            return []
        calls = pc.cast(pc.fill_null(rows.column("rle_count"), 1), pa.int64())
        new: list[Alert] = []
        self._tight_loops(rows, calls, new)
        self._failed_storms(rows, calls, new)
        self._small_writes(rows, calls, new)
        self.alerts.extend(new)
        return new

    def _raise(self, new: list[Alert], alert: Alert) -> None:
        if alert.key not in self._raised:
            self._raised.add(alert.key)
            new.append(alert)

    def _tight_loops(self, rows: pa.RecordBatch, calls: pa.Array, new: list[Alert]) -> None:
        lookups = pc.is_in(rows.column("span_name"), value_set=_LOOKUP_NAMES)
        if not pc.any(lookups).as_py():
            return
        rows, calls = rows.filter(lookups), calls.filter(lookups)
        paths = attribute_array(rows, ATTR_SYSCALL_PATH)
        table = pa.table({"name": rows.column("span_name"), "pid": rows.column("process_pid"), "path": paths, "calls": calls})
        # null = no path attribute; "" = an empty path (fstatat(fd, "", AT_EMPTY_PATH) is fd-based).
        table = table.filter(pc.fill_null(pc.not_equal(table.column("path"), ""), False))
        if table.num_rows == 0:
            return
        for row in self._paths.crossed(table, level_count("tight-loop", "medium", self.thresholds)):
            total, call = row["calls"], row["name"].removeprefix("syscall:")
            self._raise(
                new,
                Alert(
                    "tight-loop",
                    grade("tight-loop", total, self.thresholds) or "medium",
                    f"Tight loop: {call} on {row['path']} repeated {total:,} times (pid {row['pid']})",
                    ("tight-loop", row["name"], row["pid"], row["path"]),
                ),
            )

    def _failed_storms(self, rows: pa.RecordBatch, calls: pa.Array, new: list[Alert]) -> None:
        failed = pc.and_(
            pc.fill_null(pc.equal(rows.column("status"), STATUS_ERROR), False),
            pc.invert(pc.is_in(rows.column("status_message"), value_set=_BENIGN_ERRORS)),
        )
        if not pc.any(failed).as_py():
            return
        table = pa.table(
            {"name": rows.column("span_name"), "err": pc.fill_null(rows.column("status_message"), "error"), "calls": calls}
        ).filter(failed)
        for row in self._failures.crossed(table, level_count("failed-storm", "medium", self.thresholds)):
            total, call = row["calls"], row["name"].removeprefix("syscall:")
            self._raise(
                new,
                Alert(
                    "failed-storm",
                    grade("failed-storm", total, self.thresholds) or "medium",
                    f"Failed-syscall storm: {call} failed with {row['err']} {total:,} times",
                    ("failed-storm", row["name"], row["err"]),
                ),
            )

    def _small_writes(self, rows: pa.RecordBatch, calls: pa.Array, new: list[Alert]) -> None:
        is_write = pc.is_in(rows.column("span_name"), value_set=_WRITE_NAMES)
        if not pc.any(is_write).as_py():
            return
        writes = rows.filter(is_write)
        write_calls = calls.filter(is_write)
        result = pc.fill_null(attribute_array(writes, ATTR_SYSCALL_RESULT, pa.int64()), -1)
        small = pc.and_(pc.greater_equal(result, 0), pc.less(result, self.thresholds.small_write_bytes))
        table = pa.table(
            {
                "pid": writes.column("process_pid"),
                "fd": attribute_array(writes, ATTR_SYSCALL_FD, pa.int64()),
                "small": pc.if_else(small, write_calls, 0),
                "calls": write_calls,
            }
        )
        limit = level_count("small-writes", "medium", self.thresholds)

        def fires(small_n: Any, total_n: Any) -> Any:
            return pc.and_(pc.greater_equal(small_n, limit), pc.greater_equal(pc.multiply(small_n, 2), total_n))

        merged = self._writes.merge(table)
        crossed = merged.filter(pc.and_(fires(merged["small"], merged["calls"]), pc.invert(fires(merged["prev_small"], merged["prev_calls"]))))
        for row in crossed.to_pylist():
            fd = "?" if row["fd"] is None else row["fd"]
            self._raise(
                new,
                Alert(
                    "small-writes",
                    grade("small-writes", row["small"], self.thresholds) or "medium",
                    f"Small writes: {row['small']:,} of {row['calls']:,} writes to fd {fd} under "
                    f"{self.thresholds.small_write_bytes} B (pid {row['pid']})",
                    ("small-writes", row["pid"], row["fd"]),
                ),
            )
