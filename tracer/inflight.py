"""The calls a program is blocked in, shown before they return, and the watermark that tells
the text output which lines can no longer be preceded by one still to come."""

from __future__ import annotations

from typing import Callable

import pyarrow as pa

from renacer_tui.model.attributes import ATTR_FILTERED, ATTR_SYSCALL_ARGS, ATTR_SYSCALL_IN_FLIGHT, ATTR_SYSCALL_NAME
from renacer_tui.tracer.processes import Thread
from renacer_tui.tracer.rows import BatchBuilder, Row, with_watermark
from renacer_tui.tracer.sampling import Sampler


class InflightReporter:
    """Hands `on_inflight` the calls in flight for `after_s` or more, whenever that set (or the
    watermark) changed: one batch of rows (`syscall.in_flight`, the arguments known at entry,
    the end time now), empty when none is left.  A call shown this way is never folded by RLE,
    so its finished span keeps the id the consumers saw.  Under -e status= or -P (`plain`
    false) a call's fate is known only at its exit, so nothing is shown in flight then."""

    def __init__(
        self,
        on_inflight: Callable[[pa.RecordBatch], None],
        after_s: float,
        *,
        threads: dict[int, Thread],
        batch: BatchBuilder,
        plain: bool,
        sampler: Sampler | None,
    ) -> None:
        self._on_inflight = on_inflight
        self._after_ns = int(after_s * 1e9)
        self._threads = threads
        self._batch = batch
        self._plain = plain
        self._sampler = sampler
        self._announced: dict[int, Row] = {}  # by thread: the call shown in flight
        self._signalled: dict[int, int] = {}  # by thread: the signals its snapshot showed
        self._sent_watermark: int | None = None
        batch.watermark = self._batch_watermark

    def report(self, now_ns: int) -> None:
        announced = self._announced
        signalled = self._signalled
        threads = self._threads
        changed = False
        for tid, row in list(announced.items()):
            th = threads.get(tid)
            if th is None or th.inflight is None or th.inflight[0] is not row:
                del announced[tid]
                signalled.pop(tid, None)
                changed = True
            elif len(th.signals) != signalled[tid]:  # a signal came while it waits: shown too
                signalled[tid] = len(th.signals)
                changed = True
        if self._plain:
            limit = now_ns - self._after_ns
            for tid, th in threads.items():
                if th.inflight is not None and tid not in announced:
                    row = th.inflight[0]
                    if row.start <= limit and not row.attrs.get(ATTR_FILTERED):
                        row.linked = True
                        announced[tid] = row
                        signalled[tid] = len(th.signals)
                        changed = True
        watermark = self.watermark()
        if changed or watermark != self._sent_watermark:
            self._sent_watermark = watermark
            snapshot = self._batch.to_batch([self._shown(tid, row, now_ns) for tid, row in announced.items()])
            self._on_inflight(with_watermark(snapshot, watermark))

    def finish(self) -> None:
        """The run ended: nothing waits any more."""
        if self._announced:
            self._announced.clear()
            self._on_inflight(with_watermark(self._batch.to_batch([]), None))

    def watermark(self) -> int | None:
        """The earliest start of a call no batch has carried yet: the first row RLE holds back
        on a thread (a run already folding is left out: it shows as one line whenever it ends),
        a call in flight not yet shown, a fast call the sampler holds, or a delivered signal
        waiting for the thread's next call (a thread blocked in a shown call has its signals
        shown with it); None when there is none."""
        low: int | None = None
        announced = self._announced
        plain = self._plain
        sampler = self._sampler
        for tid, th in self._threads.items():
            pending = th.rle.pending
            start = pending[0].start if pending else None
            if th.signals and tid not in announced and not th.stopped:  # they go on the thread's next call
                start = th.signals[0][1] if start is None else min(start, th.signals[0][1])
            inflight = th.inflight
            if inflight is not None and plain and tid not in announced and not inflight[0].attrs.get(ATTR_FILTERED):
                start = inflight[0].start if start is None else min(start, inflight[0].start)
            held = sampler.earliest(tid) if sampler is not None else None
            if held is not None:
                start = held if start is None else min(start, held)
            if start is not None and (low is None or start < low):
                low = start
        return low

    def _batch_watermark(self) -> int | None:
        self._sent_watermark = low = self.watermark()
        return low

    def _shown(self, tid: int, row: Row, now_ns: int) -> Row:
        """A copy of the call in flight on `tid`, as far as its entry tells."""
        th = self._threads[tid]
        assert th.inflight is not None
        _row, dec, _args, obj = th.inflight
        shown = Row(row.span_id, row.clock, row.name, row.start, row.tid, row.pid)
        shown.parent_span_id = row.parent_span_id
        shown.pname, shown.pcmdline = row.pname, row.pcmdline
        shown.end = max(now_ns, row.start)
        shown.events = list(th.signals) or None  # delivered since its last call
        shown.attrs = {ATTR_SYSCALL_NAME: dec.plan.name, ATTR_SYSCALL_ARGS: ", ".join(dec.texts),
                       ATTR_SYSCALL_IN_FLIGHT: True}
        dec.describe(shown.attrs, obj)
        return shown
