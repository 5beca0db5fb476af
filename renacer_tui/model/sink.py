"""The one interface of a span sink: everything the fan-out feeds implements all of it.

The sinks of a run — the strace-like text, JSONL and `-c` summary (`sinks.headless`), the
Parquet segments (`store.writer.SegmentSink`, or `sinks.child.ForkedSink` when a forked child
writes them), the OTLP exporter (`sinks.otlp.OtlpSink`) and the live feed
(`sinks.feed.FeedSink`) — are told apart only by their `name`; the fan-out calls `write` from
the sink's own thread and `close` once after the last batch, and never asks a sink whether it
has some optional method (`write_inflight`, which only the live outputs use, does nothing unless
a sink overrides it).  What a sink needs from the run (the live feed's running dropped
count, say) is handed to its constructor.

An abstract base class rather than a Protocol: a sink that leaves a method out fails when it
is made, not when the fan-out first calls it.  It lives in the model, beneath every layer
(it imports none; pyarrow only for the batch type), because the store's own `SegmentSink`
implements it and the store sits below `renacer_tui.sinks`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


class SpanSink(ABC):
    """A consumer of span batches (`renacer_tui.model.schema.SPAN_SCHEMA` rows)."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Short name for messages and per-sink counters ("text", "store", "otlp", "feed", …);
        a class attribute is enough."""

    @abstractmethod
    def write(self, batch: pa.RecordBatch) -> None:
        """Consume one batch; called from the sink's own thread, never concurrently.

        Raising disables the sink: the fan-out reports the first line once and counts the
        sink's later batches as dropped."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release everything; called once, from the sink's thread, after the last
        `write` (also after a failed one)."""

    def write_inflight(self, batch: pa.RecordBatch) -> None:
        """The calls in flight now, replacing the previous snapshot: rows marked
        `syscall.in_flight` (none when no call is blocked any more), queued in order with the
        batches.  Stored outputs ignore them; the text output prints their entry, the live
        screen what each thread waits in."""
