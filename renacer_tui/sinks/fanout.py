"""Bounded fan-out from the capture loop to the span sinks.

The traced program comes first: the capture loop hands each span batch to `Fanout.offer`, which
must never block and never raise.  Every sink gets its own bounded queue and its own thread, so
a slow sink (a collector far away, a slow disk) only loses *its own* batches — counted, never
silently — while the others keep up.  A sink whose `write` raises is reported once through
`on_error` and disabled; its later batches are counted as dropped.

The spans the rest of a trace hangs on — the `renacer:run` root, `process:` spans and spans
carrying links — are never dropped for a full queue: when a batch does not fit, those rows are
cut out of it (`keep_rows`) and put on the sink's side list, which its thread writes before the
next queued batch and before closing.  The capture loop never waits for them; only a failed or
abandoned sink can still lose them (counted like any other).

Counters are split by writer thread (offers count queue-full drops under the fan-out's one
offer lock, the sink thread counts drops after a failure), so offers from the capture loop and
from the OTLP receiver's threads never race.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import pyarrow as pa

from renacer_tui.model.kinds import PROCESS_PREFIX, RUN_PREFIX
from renacer_tui.model.readable import one_line
from renacer_tui.model.sink import SpanSink

#: Callback for a failing sink: `on_error(sink_name, one_line_message)`, called at most once per sink.
ErrorCallback = Callable[[str, str], None]

_STOP = object()  # queue sentinel: drain what is before it, then close the sink


@dataclass(frozen=True)
class _InFlight:
    """A snapshot of the calls in flight, queued between the batches it came after."""

    batch: pa.RecordBatch


@dataclass
class SinkStats:
    """Counters of one sink, in spans (rows), not batches."""

    name: str
    delivered: int
    dropped: int
    failed: bool
    error: str | None


def keep_rows(batch: pa.RecordBatch) -> pa.RecordBatch | None:
    """The rows of `batch` that must survive a full queue (run, process and link-carrying spans)."""
    import pyarrow.compute as pc  # only when a queue is full: ~40 ms of every run's start-up otherwise
    names = batch.schema.get_field_index("span_name")
    if names < 0:
        return None
    column = batch.column(names)
    mask = pc.or_(pc.starts_with(column, RUN_PREFIX), pc.starts_with(column, PROCESS_PREFIX))
    links = batch.schema.get_field_index("links")
    if links >= 0:
        with_links = pc.fill_null(pc.greater(pc.list_value_length(batch.column(links)), 0), False)
        mask = pc.or_(mask, with_links)
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return None
    return batch.filter(mask)


class _SinkWorker:
    """One sink, its bounded queue and its thread."""

    def __init__(self, sink: SpanSink, capacity: int, on_error: ErrorCallback | None) -> None:
        self.sink = sink
        self.name = sink.name
        self.queue: queue.Queue[object] = queue.Queue(maxsize=capacity)
        self.on_error = on_error
        self.dropped_full = 0  # written only by the capture thread (offer)
        self.dropped_failed = 0  # written only by the sink thread
        self.delivered = 0  # written only by the sink thread
        self.failed = False
        self.error: str | None = None
        self.closed_cleanly = False
        # rows cut from batches that did not fit: appended by the offering thread, taken by the
        # sink thread (deque append/popleft are atomic)
        self.kept: collections.deque[pa.RecordBatch] = collections.deque()
        self.thread = threading.Thread(target=self._run, name=f"sink-{self.name}", daemon=True)
        self.thread.start()

    def offer(self, batch: pa.RecordBatch, rows: int) -> None:
        if self.failed:
            self.dropped_full += rows
            return
        try:
            self.queue.put_nowait(batch)
        except queue.Full:
            kept = keep_rows(batch)
            if kept is not None:
                self.kept.append(kept)
                rows -= kept.num_rows
            self.dropped_full += rows

    def _run(self) -> None:
        while True:
            self._write_kept()
            item = self.queue.get()
            self._write_kept()
            if item is _STOP:
                break
            if isinstance(item, _InFlight):
                self._write_inflight(item.batch)
            else:
                self._write(item)
        self._write_kept()
        try:
            self.sink.close()
        except Exception as exc:
            self._fail(exc)
        self.closed_cleanly = True

    def _write(self, batch: pa.RecordBatch) -> None:
        if self.failed:
            self.dropped_failed += batch.num_rows
            return
        try:
            self.sink.write(batch)
        except Exception as exc:  # a failing sink is reported once, then disabled
            self.dropped_failed += batch.num_rows
            self._fail(exc)
        else:
            self.delivered += batch.num_rows

    def _write_inflight(self, batch: pa.RecordBatch) -> None:
        if self.failed:
            return
        try:
            self.sink.write_inflight(batch)
        except Exception as exc:
            self._fail(exc)

    def offer_inflight(self, batch: pa.RecordBatch) -> None:
        """Queue a snapshot; with the queue full it is skipped (a later one replaces it, and the
        spans themselves still arrive): snapshots are not spans, so nothing is counted."""
        if not self.failed:
            try:
                self.queue.put_nowait(_InFlight(batch))
            except queue.Full:
                pass

    def _write_kept(self) -> None:
        while self.kept:
            self._write(self.kept.popleft())

    def _fail(self, exc: BaseException) -> None:
        if self.failed:
            return
        self.failed = True
        self.error = one_line(exc, with_type=True)
        if self.on_error is not None:
            try:
                self.on_error(self.name, self.error)
            except Exception:  # the reporter itself must not take the sink thread down
                pass

    def stop(self, deadline: float) -> None:
        """Queue the stop sentinel, waiting for room until `deadline` (the queue may be full)."""
        while True:
            try:
                self.queue.put(_STOP, timeout=max(0.001, min(0.05, deadline - time.monotonic())))
                return
            except queue.Full:
                if time.monotonic() >= deadline or not self.thread.is_alive():
                    return

    @property
    def dropped(self) -> int:
        return self.dropped_full + self.dropped_failed

    def stats(self) -> SinkStats:
        return SinkStats(self.name, self.delivered, self.dropped, self.failed, self.error)


class DropTally:
    """The running count of spans a fan-out dropped, handed to sinks before the fan-out exists.

    A sink that reports drops (the live feed puts the count on every batch it sends) is built
    before the fan-out that feeds it, so the count cannot be a property of the fan-out read at
    construction: the run makes one tally, gives it to the sink's constructor and to the
    fan-out's, and the fan-out fills it in.  Calling it returns the count (0 until then).
    """

    def __init__(self) -> None:
        self._workers: Sequence[_SinkWorker] = ()

    def __call__(self) -> int:
        """Spans dropped so far, summed over sinks (as `Fanout.dropped`)."""
        return sum(worker.dropped for worker in self._workers)


class Fanout:
    """Hand span batches to several sinks without ever blocking the caller.

    `capacity_batches` bounds each sink's queue (in batches); with the span builder's batches of
    ≤ 4096 rows the default holds about a million spans per sink in the worst case.  `tally`,
    when given, counts this fan-out's drops for whoever holds it (see `DropTally`).
    """

    def __init__(
        self,
        sinks: Sequence[SpanSink],
        capacity_batches: int = 256,
        on_error: ErrorCallback | None = None,
        tally: DropTally | None = None,
    ) -> None:
        if capacity_batches < 1:
            raise ValueError("capacity_batches must be at least 1")
        self._workers = [_SinkWorker(sink, capacity_batches, on_error) for sink in sinks]
        if tally is not None:
            if tally._workers:
                raise ValueError("a DropTally counts for one fan-out only")
            tally._workers = self._workers
        self.offered = 0  # rows offered (under the offer lock: the capture and the receiver offer)
        self._closed = False
        # the capture loop and the OTLP receiver's threads both offer: uncontended, ~0.1 µs a batch
        self._offer_lock = threading.Lock()

    def offer(self, batch: pa.RecordBatch) -> None:
        """Queue `batch` for every sink; a full queue drops it for that sink (counted). Never raises."""
        try:
            rows = batch.num_rows
            if rows == 0:
                return
            with self._offer_lock:
                self.offered += rows
                if self._closed:
                    for worker in self._workers:
                        worker.dropped_full += rows
                    return
                for worker in self._workers:
                    worker.offer(batch, rows)
        except Exception:  # never let a sink problem reach the capture loop
            pass

    def offer_inflight(self, batch: pa.RecordBatch) -> None:
        """Queue a snapshot of the calls in flight (`SpanSink.write_inflight`) for every sink,
        behind the batches offered before it. Never blocks, never raises."""
        try:
            with self._offer_lock:
                if not self._closed:
                    for worker in self._workers:
                        worker.offer_inflight(batch)
        except Exception:
            pass

    @property
    def dropped(self) -> int:
        """Spans dropped so far, summed over sinks (a span lost by two sinks counts twice)."""
        return sum(worker.dropped for worker in self._workers)

    @property
    def max_dropped(self) -> int:
        """The most spans any one sink has lost: what the worst-served consumer is missing."""
        return max((worker.dropped for worker in self._workers), default=0)

    @property
    def dropped_per_sink(self) -> dict[str, int]:
        """Spans dropped so far, per sink name."""
        return {worker.name: worker.dropped for worker in self._workers}

    @property
    def errors(self) -> dict[str, str]:
        """The one-line error of every sink that failed (and was disabled)."""
        return {worker.name: worker.error for worker in self._workers if worker.error is not None}

    def stats(self) -> list[SinkStats]:
        """Per-sink counters (delivered, dropped, failed)."""
        return [worker.stats() for worker in self._workers]

    def close(self, timeout: float = 10.0) -> bool:
        """Drain every queue and close every sink, within `timeout` seconds overall.

        Returns True when every sink drained and closed in time.  A sink still busy at the
        deadline is abandoned (its thread is a daemon); batches still queued for it count as
        dropped.
        """
        if self._closed:
            return all(worker.closed_cleanly for worker in self._workers)
        with self._offer_lock:  # an offer from another thread lands before the stop sentinel, or is counted
            self._closed = True
        deadline = time.monotonic() + max(0.0, timeout)
        for worker in self._workers:
            worker.stop(deadline)
        ok = True
        for worker in self._workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))
            if worker.thread.is_alive():
                ok = False
                worker.dropped_full += _drain_rows(worker.queue)
                while worker.kept:
                    worker.dropped_full += worker.kept.popleft().num_rows
        return ok

    def __enter__(self) -> "Fanout":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _drain_rows(q: "queue.Queue[object]") -> int:
    """Empty an abandoned queue, returning the number of rows it held."""
    rows = 0
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return rows
        if isinstance(item, pa.RecordBatch):
            rows += item.num_rows
