"""The decoder process's side of the raw record pipe: records → CaptureListener calls, in order.

The capture process (`tracer.raw_recorder`) read every byte the listener will ask for while the
task was stopped; `ReplayMemory` answers the listener's reads from those bytes, so the span
builder runs unchanged, one stop after another, in the capture's order.  A read it cannot
answer is counted in `misses` (a test keeps it at zero) and answered as unreadable memory.
"""

from __future__ import annotations

import json
import os
import select
import time
from typing import Any, Callable

from renacer_tui.tracer import raw_format as R
from renacer_tui.tracer.formats import AT_FDCWD
from renacer_tui.tracer.identity import identity_from_raw, read_proc_identity

Region = tuple[int, int, int, bytes]


class ReplayMemory:
    """`TraceeMemory` over the regions of the record being replayed."""

    def __init__(self) -> None:
        self.regions: list[Region] = []
        self.tgid = 0  # the record's process, for fd targets
        self._fds_now: dict[int, str | None] = {}
        self._details_now: dict[int, str] = {}  # -yy
        self._fds: dict[tuple[int, int], str | None] = {}  # every target shipped, for a late ask
        self._identities: dict[int, tuple[str, str]] = {}
        self._streams_now: dict[int, tuple[int | None, str | None]] = {}
        self.stack_now: tuple[str, ...] = ()  # --source: the entry record's stack (R_STACK)
        self.misses = 0

    # -- filled by the replay loop ---------------------------------------------------------------
    def load(self, tgid: int, regions: list[Region]) -> None:
        self.tgid = tgid
        self.stack_now = ()
        plain: list[Region] = []
        fds_now: dict[int, str | None] = {}
        details: dict[int, str] = {}
        comm: dict[int, tuple[int, bytes]] = {}
        streams: dict[int, tuple[int | None, str | None]] = {}
        for region in regions:
            addr, requested, flags, data = region
            if flags <= R.R_CSTRING_CUT:
                plain.append(region)
            elif flags == R.R_FD or flags == R.R_FD_GONE:
                target = os.fsdecode(data) if flags == R.R_FD else None
                fds_now[addr] = target
                self._fds[(tgid, addr)] = target
            elif flags == R.R_CWD:  # changes with chdir: good for this record only
                fds_now[AT_FDCWD] = os.fsdecode(data)
            elif flags == R.R_FD_DETAILS:  # a socket's endpoints change: this record only too
                details[addr] = os.fsdecode(data)
            elif flags == R.R_COMM:
                comm[addr] = (requested, data)
            elif flags == R.R_CMDLINE:
                present, name = comm.get(addr, (0, b""))
                self._identities[addr] = identity_from_raw(name if present else None, data)
            elif flags == R.R_STREAM:
                inode, peer = json.loads(data)
                streams[addr] = (inode, peer)
            elif flags == R.R_STACK:
                self.stack_now = tuple(data.decode("utf-8", "surrogateescape").split("\0")) if data else ()
        self.regions = plain
        self._fds_now = fds_now
        self._details_now = details
        self._streams_now = streams

    def clear(self) -> None:
        if self.stack_now:
            self.stack_now = ()
        if self.regions:
            self.regions = []
        if self._fds_now:
            self._fds_now = {}
        if self._details_now:
            self._details_now = {}
        if self._streams_now:
            self._streams_now = {}

    # -- TraceeMemory ----------------------------------------------------------------------------
    def read_bytes(self, tid: int, addr: int, size: int) -> bytes:
        if size <= 0 or addr <= 0:
            return b""
        for raddr, requested, flags, data in self.regions:
            if flags == R.R_BYTES and raddr <= addr and addr + size <= raddr + requested:
                offset = addr - raddr
                return data[offset : offset + size]
        self.misses += 1
        return b""

    def read_cstring(self, tid: int, addr: int, limit: int) -> tuple[bytes, bool]:
        if addr <= 0 or limit <= 0:
            return b"", limit <= 0 and addr > 0
        for raddr, requested, flags, data in self.regions:
            if raddr != addr or flags == R.R_BYTES or requested < limit:
                continue
            if requested == limit:
                return data, flags == R.R_CSTRING_CUT
            if len(data) > limit:
                return data[:limit], True
            return data, len(data) == limit and flags == R.R_CSTRING_CUT
        self.misses += 1
        return b"", False

    def fd_target(self, tid: int, fd: int) -> str | None:
        try:
            return self._fds_now[fd]
        except KeyError:
            pass
        self.misses += 1
        key = (self.tgid, fd)
        if key in self._fds:
            return self._fds[key]
        try:
            return os.readlink(f"/proc/{tid}/cwd" if fd == AT_FDCWD else f"/proc/{tid}/fd/{fd}")
        except OSError:
            return None

    def fd_details(self, tid: int, fd: int) -> str | None:
        """What the capture read for -yy at this stop (a socket's endpoints are only good then)."""
        found = self._details_now.get(fd)
        if found is None:
            self.misses += 1
        return found

    def stream_facts(self, tid: int, fd: int, name: str) -> tuple[int | None, str | None]:
        """(inode, peer) of a new payload stream as the capture read them (PayloadHasher's `facts`)."""
        known = self._streams_now.get(fd)
        if known is not None:
            return known
        self.misses += 1
        from renacer_tui.tracer.payload_hash import stream_facts

        return stream_facts(tid, fd, name)

    def identity(self, tgid: int) -> tuple[str, str]:
        """(comm, cmdline) of `tgid` as the capture process read it (for SpanBuilder's `identity`)."""
        known = self._identities.get(tgid)
        if known is not None:
            return known
        self.misses += 1
        return read_proc_identity(tgid)


def wait_launched(fd: int) -> bytes | None:
    """Block until the LAUNCHED record: the bytes after it (None: END or EOF came first — the
    program could not be started, or the capture process died before it was)."""
    data = b""
    while len(data) < R.LAUNCHED_REC.size:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return None
        data += chunk
    if data[0] != R.LAUNCHED:
        return None
    return data[R.LAUNCHED_REC.size :]


class ReplayedStacks:
    """The span builder's stack sampler in the decoder process: the stacks were sampled at the
    stop by the capture process and came with the entry records (R_STACK)."""

    def sample(self, tid: int, tgid: int, mem: ReplayMemory) -> tuple[str, ...]:
        return mem.stack_now

    def forget(self, tgid: int) -> None:
        """Nothing to forget here: the capture process's sampler keeps the per-process tables."""


def replay(fd: int, listener: Any, mem: ReplayMemory, idle: Callable[[], None] | None = None,
           idle_s: float = 0.05, initial: bytes = b"") -> dict[str, Any] | None:
    """Feed every record on `fd` (after `initial`, bytes already read from it) to `listener`
    until END (returns its outcome) or EOF (None: the capture process died; the listener has
    what arrived).  `idle()` runs when the pipe has been quiet for `idle_s` and at least that
    often while records stream."""
    data = initial
    pos = 0
    unpack_entry = R.ENTRY_REC.unpack_from
    unpack_exit = R.EXIT_REC.unpack_from
    entry_size = R.ENTRY_REC.size
    exit_size = R.EXIT_REC.size
    region_size = R.REGION.size
    unpack_region = R.REGION.unpack_from
    on_entry = listener.on_syscall_entry
    on_exit_sc = listener.on_syscall_exit
    ENTRY, EXIT = R.ENTRY, R.EXIT
    load = mem.load
    clear = mem.clear
    clock = time.monotonic
    next_idle = clock() + idle_s
    fresh = bool(data)
    while True:
        if not fresh:
            ready, _, _ = select.select([fd], [], [], idle_s)
            if not ready:
                if idle is not None:
                    idle()
                next_idle = clock() + idle_s
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            data = data[pos:] + chunk if pos < len(data) else chunk
            pos = 0
        fresh = False
        end = len(data)
        while pos < end:
            kind = data[pos]
            if kind == ENTRY or kind == EXIT:
                size = entry_size if kind == ENTRY else exit_size
            else:
                size = R.LAYOUTS[kind].size
            if pos + size > end:
                break
            nregions = int.from_bytes(data[pos + 1 : pos + 3], "little")
            cursor = pos + size
            regions: list[Region] = []
            complete = True
            for _ in range(nregions):
                if cursor + region_size > end:
                    complete = False
                    break
                addr, requested, flags, length = unpack_region(data, cursor)
                cursor += region_size
                if cursor + length > end:
                    complete = False
                    break
                regions.append((addr, requested, flags, data[cursor : cursor + length]))
                cursor += length
            if not complete:
                break
            if kind == ENTRY:
                fields = unpack_entry(data, pos)
                if regions:
                    load(fields[4], regions)
                else:
                    clear()
                on_entry(fields[2], fields[4], fields[5], fields[6:], fields[3], mem)
            elif kind == EXIT:
                _k, _n, tid, t_ns, tgid, ret, flags = unpack_exit(data, pos)
                if regions:
                    load(tgid, regions)
                else:
                    clear()
                if flags & R.EXIT_INJECTED:
                    listener.on_injected(tid)
                on_exit_sc(tid, ret, flags & 1 != 0, t_ns, mem)
            else:
                fields = R.LAYOUTS[kind].unpack_from(data, pos)
                if kind == R.END:
                    body = data[cursor : cursor + fields[4]]
                    if len(body) < fields[4]:
                        break
                    return json.loads(body)
                _dispatch(kind, fields, regions, listener, mem)
            pos = cursor
        if idle is not None and clock() >= next_idle:
            idle()
            next_idle = clock() + idle_s


def _dispatch(kind: int, fields: tuple, regions: list[Region], listener: Any, mem: ReplayMemory) -> None:
    """The records other than syscall entry/exit (rare: one per task event)."""
    tid, t_ns = fields[2], fields[3]
    if kind == R.NEW_TASK:
        mem.load(fields[4], regions)
        listener.on_new_task(tid, fields[4], fields[5], bool(fields[6]), t_ns)
    elif kind == R.EXEC:
        mem.load(fields[4], regions)
        listener.on_exec(tid, fields[4], fields[5], t_ns)
    elif kind == R.SIGNAL:
        listener.on_signal(tid, fields[4], fields[5], t_ns, regions[0][3] if regions else b"")
    elif kind == R.TASK_EXIT:
        listener.on_exit(tid, fields[4], t_ns)
    elif kind == R.GROUP_STOP:
        listener.on_group_stop(tid, fields[4], t_ns)
    elif kind == R.START:
        mem.load(tid, regions)
        listener.on_start(tid, t_ns)
    elif kind == R.DETACH:
        listener.on_detach(t_ns)
