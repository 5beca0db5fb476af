"""The fan-out never blocks the capture loop, counts every dropped span, isolates failing sinks."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from renacer_tui.model.schema import batch_from_rows
from renacer_tui.sinks.fanout import Fanout


def make_batch(rows: int, start: int = 0) -> pa.RecordBatch:
    return batch_from_rows(
        {
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "span_id": f"{0xABCD0000:08x}{start + i:08x}",
            "start_time_nanos": 1_700_000_000_000_000_000 + i,
            "end_time_nanos": 1_700_000_000_000_000_100 + i,
            "span_name": "syscall:read",
            "process_pid": 42,
            "process_name": "dd",
            "thread_id": 42,
            "logical_clock": start + i,
        }
        for i in range(rows)
    )


class CollectSink:
    """Keeps every row it is given (checks content, not just counts)."""

    def __init__(self, name: str, delay: float = 0.0) -> None:
        self.name = name
        self.delay = delay
        self.clocks: list[int] = []
        self.closed = False
        self.thread_names: set[str] = set()

    def write(self, batch: pa.RecordBatch) -> None:
        self.thread_names.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        self.clocks.extend(batch.column("logical_clock").to_pylist())

    def close(self) -> None:
        self.closed = True


class RaisingSink:
    name = "broken"

    def __init__(self, fail_on: int = 2) -> None:
        self.calls = 0
        self.fail_on = fail_on
        self.closed = False

    def write(self, batch: pa.RecordBatch) -> None:
        self.calls += 1
        if self.calls >= self.fail_on:
            raise OSError(28, "No space left on device")

    def close(self) -> None:
        self.closed = True


def test_slow_sink_never_blocks_offer_and_drops_are_exact() -> None:
    slow = CollectSink("slow", delay=0.05)
    fast = CollectSink("fast")
    fanout = Fanout([slow, fast], capacity_batches=2)
    sizes = [(i % 7) + 1 for i in range(200)]
    worst = 0.0
    clock = 0
    t0 = time.perf_counter()
    for size in sizes:
        batch = make_batch(size, clock)
        clock += size
        t = time.perf_counter()
        fanout.offer(batch)
        worst = max(worst, time.perf_counter() - t)
    total_offer_time = time.perf_counter() - t0
    assert fanout.close(timeout=10)
    offered = sum(sizes)
    assert fanout.offered == offered
    # The slow sink sleeps 50 ms a batch: 200 offers took far less than one of its writes each.
    assert worst < 0.02, worst
    assert total_offer_time < 0.05 * 20
    per = fanout.dropped_per_sink
    assert per["fast"] + len(fast.clocks) == offered
    assert per["slow"] + len(slow.clocks) == offered
    assert per["slow"] > 0 and len(slow.clocks) > 0
    assert fanout.dropped == per["slow"] + per["fast"]
    assert fanout.max_dropped == max(per.values())
    # What arrived arrived whole and in order.
    assert slow.clocks == sorted(slow.clocks)
    assert len(set(slow.clocks)) == len(slow.clocks)
    assert slow.closed and fast.closed
    assert slow.thread_names == {"sink-slow"}
    stats = {s.name: s for s in fanout.stats()}
    assert stats["slow"].delivered == len(slow.clocks)


def test_raising_sink_reported_once_others_receive_everything() -> None:
    reports: list[tuple[str, str]] = []
    good = CollectSink("good")
    broken = RaisingSink(fail_on=2)
    fanout = Fanout([broken, good], capacity_batches=1024, on_error=lambda n, m: reports.append((n, m)))
    offered = 0
    for i in range(50):
        fanout.offer(make_batch(10, offered))
        offered += 10
    assert fanout.close(timeout=10)
    assert reports == [("broken", "OSError: [Errno 28] No space left on device")]
    assert fanout.errors == {"broken": "OSError: [Errno 28] No space left on device"}
    assert good.clocks == list(range(offered))
    assert fanout.dropped_per_sink == {"broken": offered - 10, "good": 0}
    assert broken.calls == 2  # disabled after the failure: never called again
    assert broken.closed and good.closed


def test_close_is_bounded_with_a_stuck_sink() -> None:
    release = threading.Event()

    class Stuck:
        name = "stuck"

        def write(self, batch: pa.RecordBatch) -> None:
            release.wait(30)

        def close(self) -> None:
            pass

    fanout = Fanout([Stuck()], capacity_batches=4)
    for i in range(6):
        fanout.offer(make_batch(5, i * 5))
    t = time.perf_counter()
    assert fanout.close(timeout=0.3) is False
    assert time.perf_counter() - t < 2
    # 1 batch in the sink's hands, 4 queued (abandoned → dropped), 1 dropped at offer time
    assert fanout.dropped_per_sink["stuck"] == 25
    release.set()
    fanout.offer(make_batch(3))  # after close: counted, never raises
    assert fanout.dropped_per_sink["stuck"] == 28


def test_offer_never_raises_on_garbage() -> None:
    sink = CollectSink("s")
    fanout = Fanout([sink])
    fanout.offer(None)  # type: ignore[arg-type]
    fanout.offer(make_batch(0))
    fanout.close()
    assert fanout.offered == 0 and sink.clocks == []


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=40),
    capacity=st.integers(min_value=1, max_value=4),
    delay=st.sampled_from([0.0, 0.001]),
)
def test_conservation_property(sizes: list[int], capacity: int, delay: float) -> None:
    """For any offer pattern: delivered + dropped == offered, for every sink."""
    sinks = [CollectSink("a", delay), CollectSink("b")]
    fanout = Fanout(sinks, capacity_batches=capacity)
    clock = 0
    for size in sizes:
        fanout.offer(make_batch(size, clock))
        clock += size
    assert fanout.close(timeout=10)
    for sink in sinks:
        assert len(sink.clocks) + fanout.dropped_per_sink[sink.name] == sum(sizes)
