"""What the `serve` screen shows: per-trace counts and the latest spans, bounded, thread-safe.

The daemon's listener threads hand every received batch to `absorb` (a few vectorised Arrow
operations and the batch's last rows, whatever its size); the screen reads a `snapshot` on
its timer.  Memory stays bounded however long the daemon runs: the most recent `max_traces`
traces and `max_recent` spans are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from renacer_tui.model.schema import STATUS_ERROR

RECENT_COLUMNS = ("trace_id", "span_name", "service_name", "process_pid", "status", "start_time_nanos", "end_time_nanos")


@dataclass
class TraceSummary:
    trace_id: str
    service: str
    spans: int
    errors: int
    last_seen_ns: int


@dataclass(frozen=True)
class ServeSnapshot:
    traces: list[TraceSummary]  # most recently active first
    recent: list[dict[str, Any]]  # newest last
    spans: int
    batches: int


class ServeModel:
    """Bounded summaries of what the daemon received."""

    def __init__(self, max_traces: int = 10_000, max_recent: int = 500) -> None:
        self._lock = threading.Lock()
        self._traces: OrderedDict[str, TraceSummary] = OrderedDict()
        self._recent: deque[dict[str, Any]] = deque(maxlen=max_recent)
        self._max_traces = max_traces
        self.spans = 0
        self.batches = 0
        self.version = 0  # bumped on every absorb: the screen redraws only when it moved

    def absorb(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        now = max(pc.max(batch.column("end_time_nanos")).as_py() or 0, 0)
        table = pa.table({
            "trace_id": batch.column("trace_id"),
            "service_name": batch.column("service_name"),
            "error": pc.cast(pc.equal(batch.column("status"), STATUS_ERROR), pa.int64()),
            "end": batch.column("end_time_nanos"),
        })
        grouped = table.group_by("trace_id").aggregate(
            [("trace_id", "count"), ("error", "sum"), ("end", "max"), ("service_name", "min")]
        ).to_pylist()
        tail = batch.slice(max(0, batch.num_rows - (self._recent.maxlen or 0)))
        recent = pa.Table.from_batches([tail]).select(list(RECENT_COLUMNS)).to_pylist()
        with self._lock:
            for row in grouped:
                trace_id = row["trace_id"]
                summary = self._traces.pop(trace_id, None)
                if summary is None:
                    summary = TraceSummary(trace_id, row["service_name_min"] or "", 0, 0, 0)
                summary.spans += int(row["trace_id_count"])
                summary.errors += int(row["error_sum"] or 0)
                summary.last_seen_ns = max(summary.last_seen_ns, int(row["end_max"] or now))
                self._traces[trace_id] = summary  # now the most recent
            while len(self._traces) > self._max_traces:
                self._traces.popitem(last=False)
            self._recent.extend(recent)
            self.spans += batch.num_rows
            self.batches += 1
            self.version += 1

    def snapshot(self, limit: int = 200) -> ServeSnapshot:
        with self._lock:
            traces = [TraceSummary(**vars(s)) for s in list(reversed(self._traces.values()))[:limit]]
            return ServeSnapshot(traces, list(self._recent), self.spans, self.batches)
