"""SHA-256 of the bytes data syscalls moved: per call, and per stream of a file object.

Runs in its own thread of the capture process, off the stop loop: the loop only copies the
bytes out of the stopped tracee (`tracer.payload_read`) and queues them here.  hashlib drops
the GIL for buffers of 2 KiB and more, so large payloads hash while the loop handles the next
stop.  The span builder waits for the queue (`sync`) only when it cuts a batch, so a call's
`io.sha256` is ready when its attributes are built.

A *stream* is one direction (read or write) of one kernel object: a file (its path, plus the
inode it had when first seen), a pipe or socket (`pipe:[inode]`, `socket:[inode]`), in the
order the tracer saw the calls.  Each keeps the running hash of all its bytes and a digest of
every 4 KiB chunk of the stream, so two streams that differ can be told apart at the first
differing chunk without storing a byte.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from typing import Any, Callable

from renacer_tui.model.attributes import (
    ATTR_IO_BYTES,
    ATTR_IO_CALLS,
    ATTR_IO_CHUNK_SHA256,
    ATTR_IO_CHUNK_SIZE,
    ATTR_IO_DIRECTION,
    ATTR_IO_FD,
    ATTR_IO_INODE,
    ATTR_IO_OBJECT,
    ATTR_IO_PEER,
    ATTR_IO_SHA256,
    ATTR_IO_UNHASHED_BYTES,
)
from renacer_tui.tracer.formats import escape_text
from renacer_tui.tracer.socket_peer import socket_peer

#: Bytes per chunk digest.
CHUNK_SIZE = 4096
#: Bytes of each chunk's SHA-256 that are kept: enough to locate a difference, 16 hex digits.
CHUNK_DIGEST_BYTES = 8

_sha256 = hashlib.sha256
#: Submissions are handed to the hashing thread this many calls (or bytes) at a time.
PENDING_CALLS = 256
PENDING_BYTES = 1 << 20


class PayloadRef:
    """One call's payload: its bytes (the span builder's RLE compares them) and, once the hasher
    thread got to it, their digest. The bytes go with the row when it is emitted."""

    __slots__ = ("data", "digest", "size")

    def __init__(self, data: bytes | None, size: int) -> None:
        self.data = data
        self.digest: str | None = None
        self.size = size

    def attributes(self) -> dict[str, Any]:
        """`io.bytes`, and `io.sha256` where the bytes were visible (call `sync` first)."""
        if self.digest is None:
            return {ATTR_IO_BYTES: self.size}
        return {ATTR_IO_SHA256: self.digest, ATTR_IO_BYTES: self.size}


class Stream:
    """The bytes of one direction of one object, as a running hash and chunk digests.

    Identity fields are set by the capture thread when the stream is first seen; the counters
    and hashes are touched only by the hasher thread until `PayloadHasher.close` returns.
    """

    __slots__ = (
        "obj", "direction", "fd", "pid", "pname", "inode", "peer", "first_ns", "last_ns",
        "total", "calls", "unhashed", "_hash", "_partial", "_chunks", "last_data", "last_digest",
    )

    def __init__(self, obj: str, direction: str, fd: int, pid: int, pname: str, inode: int | None, t_ns: int) -> None:
        self.obj, self.direction, self.fd, self.pid, self.pname, self.inode = obj, direction, fd, pid, pname, inode
        self.peer: str | None = None  # sockets: the address they are known by (tracer.socket_peer)
        self.first_ns = self.last_ns = t_ns
        self.total = 0
        self.calls = 0
        self.unhashed = 0
        self._hash = _sha256()
        self._partial = bytearray()
        self._chunks = bytearray()
        #: The previous call's bytes and digest: a loop writing one buffer over and over (dd)
        #: costs one SHA-256 pass per call, the running hash, instead of two.
        self.last_data: bytes | None = None
        self.last_digest = b""

    def update(self, data: bytes, digest: bytes | None) -> None:
        """Append `data` (whose whole SHA-256 is `digest`, reused when it is exactly one chunk)."""
        self._hash.update(data)
        chunks = self._chunks
        partial = self._partial
        size = len(data)
        if not partial and size == CHUNK_SIZE and digest is not None:
            chunks += digest[:CHUNK_DIGEST_BYTES]
            return
        view = memoryview(data)
        pos = 0
        if partial:
            pos = min(CHUNK_SIZE - len(partial), size)
            partial += view[:pos]
            if len(partial) < CHUNK_SIZE:
                return
            chunks += _sha256(partial).digest()[:CHUNK_DIGEST_BYTES]
            partial.clear()
        while size - pos >= CHUNK_SIZE:
            chunks += _sha256(view[pos : pos + CHUNK_SIZE]).digest()[:CHUNK_DIGEST_BYTES]
            pos += CHUNK_SIZE
        if pos < size:
            partial += view[pos:]

    def attributes(self) -> dict[str, Any]:
        """The stream's summary attributes (after the hasher thread finished)."""
        chunks = bytes(self._chunks)
        if self._partial:
            chunks += _sha256(self._partial).digest()[:CHUNK_DIGEST_BYTES]
        attrs: dict[str, Any] = {
            ATTR_IO_OBJECT: escape_text(self.obj),
            ATTR_IO_DIRECTION: self.direction,
            ATTR_IO_FD: self.fd,
            ATTR_IO_BYTES: self.total,
            ATTR_IO_CALLS: self.calls,
            ATTR_IO_SHA256: self._hash.hexdigest(),
            ATTR_IO_CHUNK_SIZE: CHUNK_SIZE,
            ATTR_IO_CHUNK_SHA256: chunks.hex(),
        }
        if self.inode is not None:
            attrs[ATTR_IO_INODE] = self.inode
        if self.peer is not None:
            attrs[ATTR_IO_PEER] = escape_text(self.peer)
        if self.unhashed:
            attrs[ATTR_IO_UNHASHED_BYTES] = self.unhashed
        return attrs


def _inode(tid: int, fd: int, obj: str) -> int | None:
    """The inode behind a file fd (pipes and sockets carry theirs in their name)."""
    if not obj.startswith("/"):
        return None
    try:
        return os.stat(f"/proc/{tid}/fd/{fd}").st_ino
    except OSError:
        return None


def stream_facts(tid: int, fd: int, name: str) -> tuple[int | None, str | None]:
    """(inode, socket peer) of a stream's object, read from /proc while its task is stopped."""
    return _inode(tid, fd, name), socket_peer(tid, name)


def stream_name(obj: str | None, tgid: int, fd: int) -> str:
    """A stream's object: the fd's /proc target, or `fd:<tgid>:<fd>` when it had none."""
    return obj if obj is not None else f"fd:{tgid}:{fd}"


def _off_pinned_cpu() -> None:
    """With --pin-cpu the capture process runs on one CPU; this thread then moves to the others,
    so hashing does not take turns with the stop loop (as the sink children do)."""
    try:
        mine = os.sched_getaffinity(0)
        others = set(range(os.cpu_count() or 1)) - mine
        if len(mine) == 1 and others:
            os.sched_setaffinity(0, others)  # pid 0: this thread only
    except (AttributeError, OSError):
        pass


class PayloadHasher:
    """Queue of payloads and the thread that hashes them; `close()` returns every stream."""

    def __init__(self, facts: Callable[[int, int, str], tuple[int | None, str | None]] | None = None) -> None:
        self._facts = facts or stream_facts  # the decoder process gets them from the capture's records
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._streams: dict[tuple[str, str], Stream] = {}
        self.error: BaseException | None = None
        self._closed = False
        self._pending: list[tuple] = []  # submissions not yet handed to the thread
        self._pending_bytes = 0
        self._thread = threading.Thread(target=self._work, name="renacer-payload-hash", daemon=True)
        self._thread.start()

    def stream(self, obj: str | None, direction: str, fd: int, tgid: int, tid: int, pname: str, t_ns: int) -> Stream:
        """The stream of `obj` in `direction`, made on first sight (capture thread only)."""
        name = stream_name(obj, tgid, fd)
        key = (name, direction)
        found = self._streams.get(key)
        if found is None:
            inode, peer = self._facts(tid, fd, name)
            found = self._streams[key] = Stream(name, direction, fd, tgid, pname, inode, t_ns)
            found.peer = peer
        return found

    def submit(self, stream: Stream, ref: PayloadRef, data: bytes | None, size: int, t_ns: int) -> None:
        """Queue one call's bytes (None: moved inside the kernel) for `stream` and `ref`.

        Submissions go to the thread in groups (PENDING_CALLS calls or PENDING_BYTES bytes):
        waking it once per call cost more than the hashing, in GIL hand-offs and futex calls.
        """
        pending = self._pending
        pending.append((stream, ref, data, size, t_ns))
        if data is not None:
            self._pending_bytes += len(data)
        if len(pending) >= PENDING_CALLS or self._pending_bytes >= PENDING_BYTES:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._pending:
            self._queue.put(self._pending)
            self._pending = []
            self._pending_bytes = 0

    def sync(self) -> None:
        """Return once every payload queued so far is hashed."""
        if self._closed:
            return
        self._hand_over()
        done = threading.Event()
        self._queue.put(done)
        done.wait()

    def close(self) -> list[Stream]:
        """Hash what is queued, stop the thread, and return the streams in first-seen order."""
        if not self._closed:
            self._closed = True
            self._hand_over()
            self._queue.put(None)
            self._thread.join()
        return list(self._streams.values())

    def _work(self) -> None:
        _off_pinned_cpu()
        get = self._queue.get
        while True:
            item = get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                for submission in item:
                    self._digest(*submission)
            except Exception as exc:  # a bug here must not hang the builder's sync
                self.error = exc

    @staticmethod
    def _digest(stream: Stream, ref: PayloadRef, data: bytes | None, size: int, t_ns: int) -> None:
        stream.calls += 1
        stream.total += size
        stream.last_ns = t_ns
        if data is None:
            stream.unhashed += size
            return
        if data == stream.last_data:
            digest = stream.last_digest
        else:
            digest = _sha256(data).digest()
            stream.last_data, stream.last_digest = data, digest
        ref.digest = digest.hex()
        stream.unhashed += size - len(data)
        stream.update(data, digest)
