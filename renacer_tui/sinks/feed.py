"""The live feed: span batches as an Arrow IPC stream over a pipe, from the capture to the TUI.

The capture process writes (`FeedSink`, a fan-out sink); the UI process reads (`FeedReader`, in
a worker thread, batch by batch or in groups of the batches already waiting).  Arrow IPC costs no per-row Python work on either side, and every batch carries
custom metadata — the fan-out's running `dropped` count and a sequence number — so the UI can
show how much it is missing without a second channel.
"""

from __future__ import annotations

import io
import os
import select
from typing import BinaryIO, Callable, Iterator

import pyarrow as pa

from renacer_tui.model.sink import SpanSink
from renacer_tui.sinks.ipc_pipe import PIPE_GONE, IpcPipeWriter

#: Metadata keys on every batch of the feed (values are decimal text).
META_DROPPED = "dropped"
META_SEQ = "seq"
#: Present (value "1") on a batch that is a snapshot of the calls in flight, not spans.
META_INFLIGHT = "inflight"


class FeedClosed(Exception):
    """The reader went away (broken pipe); the sink is done, nothing else is wrong."""


class FeedSink(SpanSink):
    """Fan-out sink writing an Arrow IPC stream of span batches to a file descriptor.

    `dropped` is a callable returning the fan-out's running dropped count (the run passes the
    `sinks.fanout.DropTally` it gives the fan-out), read when each batch is written.  The sink owns `fd` and closes it.
    Each batch is encoded in memory and written with `os.write` (which releases the GIL), so a
    broken pipe never leaves half-flushed Python buffers behind.
    """

    name = "feed"

    def __init__(self, fd: int, dropped: Callable[[], int] | None = None) -> None:
        self._fd: int | None = fd
        self._dropped = dropped or (lambda: 0)
        self._seq = 0
        self._pipe = IpcPipeWriter(fd)

    def write(self, batch: pa.RecordBatch) -> None:
        """Write one batch (with metadata) to the pipe now, so the UI sees it at once."""
        self._send(batch, {})

    def write_inflight(self, batch: pa.RecordBatch) -> None:
        """Send a snapshot of the calls in flight, marked `META_INFLIGHT`, in its place in the stream."""
        self._send(batch, {META_INFLIGHT: "1"})

    def _send(self, batch: pa.RecordBatch, marks: dict[str, str]) -> None:
        if self._fd is None:
            raise FeedClosed("live feed already closed")
        self._seq += 1
        metadata = {META_DROPPED: str(int(self._dropped())), META_SEQ: str(self._seq), **marks}
        self._guarded(self._pipe.write, batch, metadata)

    def close(self) -> None:
        """End the stream (end-of-stream marker) and close the pipe; a gone reader is fine."""
        if self._fd is None:
            return
        try:
            self._guarded(self._pipe.end)
        except FeedClosed:
            pass
        finally:
            self._close_fd()

    def _guarded(self, send: Callable[..., None], *args: object) -> None:
        try:
            send(*args)
        except PIPE_GONE as exc:
            self._close_fd()
            raise FeedClosed("live feed reader went away (broken pipe)") from exc

    def _close_fd(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                pass


class FeedReader:
    """Iterate `(batch, metadata)` from a feed; stops quietly at a truncated or absent stream.

    Accepts a file descriptor (owned and closed by the reader), a binary file object, or bytes.
    `metadata` is a plain dict of text (`dropped`, `seq`).
    """

    def __init__(self, source: int | BinaryIO | bytes) -> None:
        if isinstance(source, int):
            self._file: BinaryIO = os.fdopen(source, "rb", closefd=True)
            self._owns = True
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self._file = io.BytesIO(bytes(source))
            self._owns = True
        else:
            self._file = source
            self._owns = False
        self.truncated = False  # True when the stream ended without its end-of-stream marker
        self.dropped = 0  # last `dropped` value seen

    def __iter__(self) -> Iterator[tuple[pa.RecordBatch, dict[str, str]]]:
        try:
            try:
                reader = pa.ipc.open_stream(self._file)
            except (pa.ArrowInvalid, OSError, EOFError):
                self.truncated = True  # writer died before even the schema
                return
            while True:
                try:
                    batch, raw_meta = reader.read_next_batch_with_custom_metadata()
                except StopIteration:
                    return
                except (pa.ArrowInvalid, OSError, EOFError):
                    self.truncated = True
                    return
                metadata = _decode_metadata(raw_meta)
                if META_DROPPED in metadata:
                    try:
                        self.dropped = int(metadata[META_DROPPED])
                    except ValueError:
                        pass
                yield batch, metadata
        finally:
            self.close()

    def groups(self, max_rows: int = 8_192) -> Iterator[tuple[list[pa.RecordBatch], dict[str, str]]]:
        """Iterate `(batches, metadata)`: each batch as soon as it arrives, plus the ones behind it.

        A reader that fell behind finds several batches already waiting in the pipe; taking them
        together (up to `max_rows` rows) lets the consumer do its per-batch work once for all of
        them.  It never waits for more: a group ends as soon as the source has nothing ready, so
        a slow feed is still seen batch by batch.  `metadata` is the last batch's.  A snapshot of
        the calls in flight (`META_INFLIGHT`) is never grouped: it comes alone, in its place.
        """
        group: list[pa.RecordBatch] = []
        rows = 0
        metadata: dict[str, str] = {}  # the last span batch's
        for batch, meta in self:
            if META_INFLIGHT in meta:
                if group:  # the spans before it first, with their own metadata
                    yield group, metadata
                    group, rows = [], 0
                yield [batch], meta
                continue
            metadata = meta
            group.append(batch)
            rows += batch.num_rows
            if rows >= max_rows or not self._ready():
                yield group, metadata
                group, rows = [], 0
        if group:
            yield group, metadata

    def _ready(self) -> bool:
        """Whether the source has bytes waiting (a source without a descriptor always has)."""
        try:
            fd = self._file.fileno()
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
            return True
        try:
            readable, _, _ = select.select([fd], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(readable)

    def close(self) -> None:
        if self._owns:
            try:
                self._file.close()
            except OSError:
                pass


def _decode_metadata(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    items = raw.items() if hasattr(raw, "items") else []
    out: dict[str, str] = {}
    for key, value in items:
        k = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        v = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        out[k] = v
    return out
