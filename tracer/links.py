"""Happens-before links the tracer can see: pipe write → read, child exit → wait, kill → delivery.

A pipe is identified by its kernel object (`pipe:[inode]` from /proc/<pid>/fd), never by the fd
number: fds are per process and get reused, the inode is what both ends share.  The fd → object
lookup is cached per (tgid, fd) and invalidated whenever the fd table can have changed for that
number (close, dup2/dup3 onto it, a new fd returned, exec closing CLOEXEC fds).
"""

from __future__ import annotations

from collections import deque

from renacer_tui.model.kinds import LinkKind
from renacer_tui.model.syscalls import FD_CREATORS, PIPE_READS, WAITS, returns_fd
from renacer_tui.tracer import formats as F
from renacer_tui.tracer.decode import Decoded, pipe_fds
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


def link_source(row: Row) -> Row:
    """Mark `row` as the source of a link: it is kept even if a filter rejects it (marked
    renacer.filtered) and RLE never folds it into a later row, whose span would not exist."""
    row.keep = True
    row.linked = True
    row.key = None
    return row


#: Calls whose exit updates the fd cache or the wait links (see `LinkTracker.after_call`).
BOOKKEEPING = frozenset({"close", "dup2", "dup3", "pipe", "pipe2", "socketpair", "close_range"}) | FD_CREATORS | WAITS
_WNOWAIT = 0x01000000


class LinkTracker:
    """The happens-before edges between threads (pipe write → read, exit → wait, kill →
    delivery), and the fd-object cache they rely on, kept true as calls change fd tables."""

    def __init__(self, fd_results: bool) -> None:
        self.fds = FdObjects()
        self.pipes = PipeLinks()
        self._signals = SignalLinks()
        self._exited: dict[int, Row] = {}  # pid → the span its exit happened after
        self._fd_results = fd_results  # -y: a new fd's object was looked up at its exit already

    def after_call(self, tgid: int, row: Row, dec: Decoded, args: tuple, obj: str | None, ret: int,
                   reaped: int) -> None:
        """A successful call of BOOKKEEPING (or a pipe read) returned: forget what it made stale
        in the fd cache and link `row` to what it consumed or reaped."""
        name = dec.plan.name
        fds = self.fds
        # the cache must never answer for a reused number
        if name == "close" and dec.fd is not None:
            fds.forget(tgid, dec.fd)
        elif name in ("dup2", "dup3"):
            fds.forget(tgid, F.to_int32(args[1]))
        elif name in ("pipe", "pipe2", "socketpair"):
            for fd in pipe_fds(dec.texts[-1 if name == "socketpair" else 0]) or ():
                fds.forget(tgid, fd)
        elif name == "close_range":
            fds.forget_process(tgid)
        if name in FD_CREATORS and ret >= 0 and not (self._fd_results and returns_fd(name, args)):
            fds.forget(tgid, ret)
        if obj is not None and obj.startswith("pipe:") and ret > 0 and name in PIPE_READS:
            sources = self.pipes.read(obj, ret)
            if sources:
                if not row.links:
                    row.prev = sources[-1]
                row.links.extend((LinkKind.PIPE, link_source(s)) for s in sources)
        if name in WAITS and reaped > 0:
            # A traced child's exit reaches the tracer before its parent's wait can return (the
            # kernel hands the zombie to the parent only after the tracer reaped it), so a pid
            # with no exit seen is a stopped child (WUNTRACED) or an untraced one: no link.
            peek = name == "waitid" and args[3] & _WNOWAIT  # the zombie stays for a later wait
            src = self._exited.get(reaped) if peek else self._exited.pop(reaped, None)
            if src is not None:
                if not row.links:
                    row.prev = src
                row.links.append((LinkKind.WAIT, link_source(src)))

    def signal_sent(self, name: str, args: tuple, row: Row) -> None:
        """A successful kill/tkill/tgkill/rt_(tg)sigqueueinfo: its delivery will link to `row`."""
        if name in ("kill", "rt_sigqueueinfo", "tkill"):
            target, signo = F.to_int32(args[0]), F.to_int32(args[1])
        else:  # tgkill, rt_tgsigqueueinfo: (tgid, tid, sig)
            target, signo = F.to_int32(args[1]), F.to_int32(args[2])
        if target > 0:
            self._signals.sent(target, signo, row)

    def signal_delivered(self, tid: int, tgid: int, signo: int) -> Row | None:
        """The call that sent the signal now delivered to `tid`, as a link source (None: unseen)."""
        src = self._signals.delivered(tid, tgid, signo)
        return None if src is None else link_source(src)

    def process_ended(self, tgid: int, last: Row) -> None:
        """Process `tgid` ended after `last`: the wait that reaps it links there."""
        self._exited[tgid] = last
