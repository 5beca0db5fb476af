"""Happens-before links the tracer can see: pipe write → read, child exit → wait, kill → delivery.

A pipe is identified by its kernel object (`pipe:[inode]` from /proc/<pid>/fd), never by the fd
number: fds are per process and get reused, the inode is what both ends share.  The fd → object
lookup is cached per (tgid, fd) and invalidated whenever the fd table can have changed for that
number (close, dup2/dup3 onto it, a new fd returned, exec closing CLOEXEC fds).
"""

from __future__ import annotations

from collections import deque

from renacer_tui.tracer.events import TraceeMemory
from renacer_tui.tracer.rows import Row

MAX_LINKS_PER_READ = 8


class FdObjects:
    """(tgid, fd) → kernel object name, read lazily from /proc through the TraceeMemory."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int], str | None] = {}
        self.cache = self._cache  # read-only view for the span builder's hot path

    def lookup(self, mem: TraceeMemory, tgid: int, tid: int, fd: int) -> str | None:
        key = (tgid, fd)
        try:
            return self._cache[key]
        except KeyError:
            if fd < 0:
                return None
            target = mem.fd_target(tid, fd)
            self._cache[key] = target
            return target

    def forget(self, tgid: int, fd: int) -> None:
        self._cache.pop((tgid, fd), None)

    def forget_process(self, tgid: int) -> None:
        for key in [k for k in self._cache if k[0] == tgid]:
            del self._cache[key]


class PipeLinks:
    """Bytes in flight per pipe: each read links to the writes whose bytes it consumed.

    A write is queued at its *entry*: the kernel copies the bytes during the call and wakes the
    reader, whose exit stop usually reaches the tracer before the writer's own exit stop.  The
    queued count starts as the requested size and is settled at the write's exit (`finish`).
    """

    UNKNOWN = 1 << 62  # requested size not known at entry (writev): settled at exit

    def __init__(self) -> None:
        self._queues: dict[str, deque[list]] = {}
        self._open: dict[int, tuple[str, list]] = {}  # id(write row) -> (pipe, its queue entry)

    def writing(self, pipe: str, row: Row, requested: int) -> None:
        """A write to `pipe` entered: up to `requested` bytes may be in the pipe from now on."""
        entry = [row, requested if requested > 0 else self.UNKNOWN, 0]  # row, bytes left, bytes read
        self._queues.setdefault(pipe, deque()).append(entry)
        self._open[id(row)] = (pipe, entry)

    def finish(self, row: Row, written: int, kept: bool) -> None:
        """The write returned `written` bytes (≤ 0: none). A dropped row is no link source, but
        its bytes still sit in the pipe and must be consumed by the reads that get them."""
        opened = self._open.pop(id(row), None)
        if opened is None:
            return
        pipe, entry = opened
        entry[1] = max(0, written - entry[2])
        if not kept:
            entry[0] = None
        if entry[1] == 0:
            queue = self._queues.get(pipe)
            if queue is not None:
                try:
                    queue.remove(entry)
                except ValueError:
                    pass

    def read(self, pipe: str, nbytes: int) -> list[Row]:
        queue = self._queues.get(pipe)
        sources: list[Row] = []
        while queue and nbytes > 0:
            entry = queue[0]
            if entry[0] is not None and len(sources) < MAX_LINKS_PER_READ and entry[0] not in sources:
                sources.append(entry[0])
            take = min(entry[1], nbytes)
            entry[1] -= take
            entry[2] += take
            nbytes -= take
            if entry[1] == 0:
                queue.popleft()
        return sources


class SignalLinks:
    """kill/tgkill sent (target, signo) → the sending span, matched at delivery."""

    def __init__(self) -> None:
        self._sent: dict[tuple[int, int], Row] = {}

    def sent(self, target: int, signo: int, row: Row) -> None:
        if signo > 0:
            self._sent[(target, signo)] = row

    def delivered(self, tid: int, tgid: int, signo: int) -> Row | None:
        return self._sent.pop((tid, signo), None) or self._sent.pop((tgid, signo), None)
