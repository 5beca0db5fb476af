"""The live feed: Arrow IPC over a real pipe, dropped counts in metadata, broken and truncated pipes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pyarrow as pa
import pytest

from renacer_tui.model.schema import SPAN_SCHEMA, batch_from_rows
from renacer_tui.sinks.fanout import Fanout
from renacer_tui.sinks.feed import FeedClosed, FeedReader, FeedSink


def make_batch(rows: int, start: int = 0) -> pa.RecordBatch:
    return batch_from_rows(
        {
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": f"{0x11110000:08x}{start + i:08x}",
            "start_time_nanos": 1_700_000_000_000_000_000 + 10 * i,
            "end_time_nanos": 1_700_000_000_000_000_005 + 10 * i,
            "span_name": "syscall:write",
            "process_pid": 7,
            "process_name": "\x1b[31mred[/]",
            "thread_id": 7,
            "logical_clock": start + i,
            "attributes": {"syscall.fd": 1, "syscall.result": 5},
        }
        for i in range(rows)
    )


def read_all(fd: int, out: list) -> None:
    reader = FeedReader(fd)
    out.extend(reader)
    out.append(reader)


def test_round_trip_through_a_pipe_with_dropped_metadata() -> None:
    r, w = os.pipe()
    received: list = []
    thread = threading.Thread(target=read_all, args=(r, received))
    thread.start()
    counter = iter(range(0, 1000, 3))
    sink = FeedSink(w, dropped=lambda: next(counter))
    sent = [make_batch(n, 100 * k) for k, n in enumerate([1, 5, 4096, 2])]
    for batch in sent:
        sink.write(batch)
    sink.close()
    thread.join(10)
    reader = received.pop()
    assert not reader.truncated
    assert [b.num_rows for b, _ in received] == [1, 5, 4096, 2]
    assert [m["dropped"] for _, m in received] == ["0", "3", "6", "9"]
    assert [m["seq"] for _, m in received] == ["1", "2", "3", "4"]
    assert reader.dropped == 9
    for (got, _), want in zip(received, sent):
        assert got.schema.equals(SPAN_SCHEMA)
        assert got.equals(want)
    # markup and escape sequences travel byte for byte (the UI shows them literally)
    assert received[0][0].column("process_name")[0].as_py() == "\x1b[31mred[/]"


def test_broken_pipe_is_one_reported_error_through_the_fanout() -> None:
    r, w = os.pipe()
    os.close(r)  # the UI is gone
    reports: list[tuple[str, str]] = []
    fanout = Fanout([FeedSink(w)], on_error=lambda n, m: reports.append((n, m)))
    for k in range(5):
        fanout.offer(make_batch(10, 10 * k))
    assert fanout.close(timeout=5)
    assert reports == [("feed", "FeedClosed: live feed reader went away (broken pipe)")]
    assert fanout.dropped_per_sink["feed"] == 50


def test_direct_write_after_reader_gone_raises_feed_closed() -> None:
    r, w = os.pipe()
    os.close(r)
    sink = FeedSink(w)
    with pytest.raises(FeedClosed):
        sink.write(make_batch(3))
    sink.close()  # still fine


def test_truncated_stream_yields_complete_batches_then_stops(tmp_path) -> None:
    path = tmp_path / "feed.arrows"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    sink = FeedSink(fd)
    for k in range(3):
        sink.write(make_batch(50, 50 * k))
    sink.close()
    data = path.read_bytes()
    for cut in (len(data) - 200, len(data) // 2, 10, 0):
        reader = FeedReader(data[:cut])
        batches = [b for b, _ in reader]
        assert reader.truncated
        assert len(batches) < 3
        for b in batches:
            assert b.num_rows == 50
    torn_end = FeedReader(data[:-1])  # every batch whole, the end-of-stream marker torn
    assert [b.num_rows for b, _ in torn_end] == [50, 50, 50]
    with open(path, "rb") as fh:
        reader = FeedReader(fh)
        assert sum(b.num_rows for b, _ in reader) == 150
        assert not reader.truncated


def test_killed_writer_process_leaves_a_readable_prefix() -> None:
    """A capture process killed mid-stream: the reader sees whole batches, then a clean stop."""
    r, w = os.pipe()
    code = (
        "import os, sys, time\n"
        "from tests.test_feed import make_batch\n"
        "from renacer_tui.sinks.feed import FeedSink\n"
        "s = FeedSink(int(sys.argv[1]))\n"
        "for k in range(4): s.write(make_batch(20, 20 * k))\n"
        "os.write(int(sys.argv[1]), b'\\xff\\xff\\xff\\xff\\x10\\x00')\n"  # a torn message header
        "os._exit(9)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(w)], pass_fds=(w,), cwd=os.getcwd())
    os.close(w)
    reader = FeedReader(r)
    batches = [b for b, _ in reader]
    assert proc.wait(30) == 9
    assert [b.num_rows for b in batches] == [20, 20, 20, 20]
    assert reader.truncated


def test_groups_take_the_batches_already_waiting_and_keep_every_row(tmp_path) -> None:
    """A reader that fell behind (everything already written) gets batches together, in order."""
    path = tmp_path / "feed.arrows"
    sink = FeedSink(os.open(path, os.O_WRONLY | os.O_CREAT), dropped=iter(range(100)).__next__)
    for k in range(20):
        sink.write(make_batch(100, 100 * k))
    sink.close()
    with open(path, "rb") as fh:
        groups = list(FeedReader(fh).groups(max_rows=500))
    assert [[b.num_rows for b in group] for group, _ in groups] == [[100] * 5] * 4
    assert [meta["seq"] for _, meta in groups] == ["5", "10", "15", "20"]  # the last batch's metadata
    ids = [sid for group, _ in groups for b in group for sid in b.column("span_id").to_pylist()]
    assert ids == [f"{0x11110000:08x}{i:08x}" for i in range(2000)]


def test_groups_never_wait_for_more_than_the_pipe_holds() -> None:
    """A slow writer: each batch is handed over as soon as it arrives, alone."""
    r, w = os.pipe()
    sink = FeedSink(w)
    handed = threading.Semaphore(0)
    seen: list[list[int]] = []

    def write() -> None:
        try:
            for k in range(4):
                sink.write(make_batch(10 + k, 100 * k))
                if not handed.acquire(timeout=5):  # the next batch only once the reader had this one
                    return  # a reader waiting for more: end the stream, the assertion below fails
        finally:
            sink.close()

    writer = threading.Thread(target=write)
    writer.start()
    for group, _ in FeedReader(r).groups(max_rows=10_000):
        seen.append([b.num_rows for b in group])
        handed.release()
    writer.join(10)
    assert seen == [[10], [11], [12], [13]]


def test_a_snapshot_of_calls_in_flight_is_never_grouped_with_spans() -> None:
    """Batches already waiting are taken together, but a snapshot comes alone, after the spans
    before it, and those keep their own metadata (a consumer tells the two apart by it)."""
    from renacer_tui.sinks.feed import META_INFLIGHT

    r, w = os.pipe()
    sink = FeedSink(w)
    sink.write(make_batch(3))
    sink.write(make_batch(2, start=3))
    sink.write_inflight(make_batch(1, start=5))
    sink.write(make_batch(4, start=6))
    sink.close()
    with os.fdopen(r, "rb") as pipe:
        data = pipe.read()
    groups = list(FeedReader(data).groups())
    assert [([b.num_rows for b in batches], META_INFLIGHT in meta) for batches, meta in groups] == [
        ([3, 2], False), ([1], True), ([4], False)]
