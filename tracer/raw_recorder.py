"""The capture process's listener: each stop becomes one raw record on the decoder's pipe.

Why: every microsecond of Python on the stop loop is a microsecond the traced program waits.
Decoding, span building, links, RLE and batching run in the decoder process
(`tracer.raw_replay`); here a stop costs a struct pack, the tracee reads the decoder will need
and an append to a buffer.  Which bytes to read comes from the decoder's own functions
(`decode.prefetch_entry` / `prefetch_exit`, `payload_read.call_payloads`,
`app_watch.watched_bytes`, `decode.waitid_reaped`) run against a `RecordingMemory`, so the two
sides make the same reads by construction.

fd targets (/proc/<pid>/fd/N) must also be read while the fd still means what it meant at the
stop.  The recorder keeps its own (tgid, fd) cache and ships a target whenever that cache has
no entry; it forgets at least every time the span builder's cache does (close, dup2/dup3 onto
the number, a returned fd, pipe fds, close_range, exec, process exit), so the builder never
misses one it needs.
"""

from __future__ import annotations

import json
import os
import select
from typing import Any

from renacer_tui.model.readable import STRING_LIMIT
from renacer_tui.model.syscalls import EXEC_NUMBERS, FD_CREATORS, FD_PAIRS, LIFECYCLE_NUMBERS, returns_fd
from renacer_tui.tracer import raw_format as R
from renacer_tui.tracer.app_watch import watched_bytes, watched_calls
from renacer_tui.tracer.decode import MEMORY_KINDS, PLANS, Plan, plan_for, prefetch_entry, prefetch_exit, waitid_reaped
from renacer_tui.tracer.events import TraceeMemory
from renacer_tui.tracer.formats import AT_FDCWD
from renacer_tui.tracer.identity import read_raw_identity
from renacer_tui.tracer.payload_read import DATA_CALLS, call_payloads, dumped_buffers

_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux); the stdlib names it only from Python 3.10 on some builds
_PIPE_BYTES = 1 << 20
_FLUSH_AT = 64 * 1024
_UNREADABLE_ARG = 0xFFFFFFFF
_DROPPED = object()  # an entry that was not recorded: its exit is not recorded either
_FD_FORGETS = frozenset({"close", "dup2", "dup3", "pipe", "pipe2", "socketpair", "close_range"}) | FD_CREATORS
_KEEP_NUMBERS = LIFECYCLE_NUMBERS | EXEC_NUMBERS  # never dropped: the process tree hangs off them


_BUFFER, _GENERIC = 1, 2  # how a recipe reads: one buffer (write's at entry, read's at exit), or the general way
_ENTRY_PACK = R.ENTRY_REC.pack
_EXIT_PACK = R.EXIT_REC.pack
_REGION_PACK = R.REGION.pack


class _Recipe:
    """What the recorder does for one syscall number, worked out once from its decode plan."""

    __slots__ = ("plan", "entry", "entry_index", "exit", "exit_index", "fd_index", "watch")

    def __init__(self, plan: Plan, payloads: bool, watch_calls: frozenset[str]) -> None:
        self.plan = plan
        self.fd_index = plan.fd_index
        self.watch = plan.name in watch_calls
        reads = [(i, kind) for i, (kind, _arg) in enumerate(plan.kinds) if kind in MEMORY_KINDS]
        self.entry, self.entry_index = 0, 0
        if reads:
            # a write buffer whose size is the next argument: write, pwrite64, send, sendto
            simple = len(reads) == 1 and reads[0][1] == "wbuf" and reads[0][0] == 1
            self.entry, self.entry_index = (_BUFFER, 1) if simple else (_GENERIC, 0)
        special = (plan.name == "waitid" or plan.name in _FD_FORGETS or (payloads and plan.name in DATA_CALLS))
        self.exit, self.exit_index = 0, 0
        if special or (plan.has_outputs and [kind for _i, kind in plan.outputs] not in (["rbuf"], ["rbuf_hex"])):
            self.exit = _GENERIC
        elif plan.outputs:  # one read buffer filled with `ret` bytes: read, pread64, recvfrom, getrandom…
            self.exit, self.exit_index = _BUFFER, plan.outputs[0][0]


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class RecordingMemory:
    """The capture's `TraceeMemory`, keeping each read as a region of the record being built."""

    __slots__ = ("_mem", "regions")

    def __init__(self, mem: TraceeMemory) -> None:
        self._mem = mem
        self.regions: list[tuple[int, int, int, bytes]] = []

    def read_bytes(self, tid: int, addr: int, size: int) -> bytes:
        data = self._mem.read_bytes(tid, addr, size)
        if size > 0 and addr > 0:
            self.regions.append((addr, min(size, _UNREADABLE_ARG), R.R_BYTES, data))
        return data

    def read_cstring(self, tid: int, addr: int, limit: int) -> tuple[bytes, bool]:
        data, cut = self._mem.read_cstring(tid, addr, limit)
        if addr > 0 and limit > 0:
            self.regions.append((addr, min(limit, _UNREADABLE_ARG), R.R_CSTRING_CUT if cut else R.R_CSTRING, data))
        return data, cut

    def fd_target(self, tid: int, fd: int) -> str | None:
        return self._mem.fd_target(tid, fd)

    def fd_details(self, tid: int, fd: int) -> str | None:
        return self._mem.fd_details(tid, fd)


class RecordWriter:
    """The buffered, non-blocking write end of the decoder's pipe.

    The traced program must never wait for the decoder for long: writes never block; a backlog
    above `high_water` gets one bounded wait (`wait_s`) for the decoder to catch up, and if it
    is still behind, syscall records are dropped (counted in `dropped`) until the backlog is
    half gone.  Lifecycle records are always kept, so the process tree survives a drop.
    """

    def __init__(self, fd: int, high_water: int = 64 << 20, wait_s: float = 0.2) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.high_water = high_water
        self.wait_s = wait_s
        self.dropped = 0
        self.dropping = False
        self.broken = False  # the decoder is gone: records are discarded
        os.set_blocking(fd, False)
        try:
            import fcntl

            fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_BYTES)
        except OSError:
            pass  # the system's pipe limit: the backlog buffer absorbs bursts instead

    def write_out(self) -> None:
        """Write what the pipe takes now; decide whether to drop."""
        buf = self.buf
        self._write_available()
        if self.dropping:
            if len(buf) < self.high_water // 2:
                self.dropping = False
        elif len(buf) > self.high_water:
            select.select([], [self.fd], [], self.wait_s)
            self._write_available()
            self.dropping = len(buf) > self.high_water

    def _write_available(self) -> None:
        buf = self.buf
        while buf:
            try:
                written = os.write(self.fd, buf)
            except BlockingIOError:
                return
            except OSError:  # EPIPE: the decoder died; the program runs on untraced by it
                self.broken = True
                buf.clear()
                return
            del buf[:written]

    def close(self) -> None:
        """Write everything (blocking: the traced program is gone) and close the pipe."""
        if not self.broken:
            os.set_blocking(self.fd, True)
            try:
                while self.buf:
                    written = os.write(self.fd, self.buf)
                    del self.buf[:written]
            except OSError:
                self.broken = True
        self.buf.clear()
        os.close(self.fd)


class RawRecorder:
    """A `CaptureListener` that records stops for the decoder process instead of decoding them."""

    def __init__(self, writer: RecordWriter, *, string_limit: int = STRING_LIMIT, payloads: bool = False,
                 decisions: bool = False, attached: bool = False, fd_results: bool = False,
                 dumps: tuple[Any, Any] = (None, None), fd_details: bool = False, stacks: Any = None) -> None:
        self._writer = writer
        #: --source: the stack sampler (`symbols.stacks.StackSampler`), which must read the stopped
        #: task; each entry record carries its call's frames (R_STACK) to the decoder's builder
        self._stacks = stacks
        self._preexec = not attached  # a launched root runs the tracer's own image until its exec
        self._root = 0
        self._buf = writer.buf  # the same bytearray for the whole run
        self._limit = min(max(0, string_limit), _UNREADABLE_ARG)  # a region's size is 32 bits
        self._payloads = payloads
        self._decisions = decisions
        self._watch_calls = watched_calls(decisions)
        self._attached = attached
        self._fd_results = fd_results  # -y: what the fd a call returns refers to
        self._fd_details = fd_details  # -yy: a socket's endpoints, a device's numbers, at each call
        self._dumps = dumps  # -e read=FDS, -e write=FDS: the fds whose data calls' bytes are dumped
        self._dumping = dumps != (None, None)
        self._inflight: dict[int, Any] = {}  # tid -> (plan, args, tgid) or _DROPPED
        self._injected: set[int] = set()  # tasks whose call in flight was injected (-e inject=)
        self._fds: dict[tuple[int, int], str | None] = {}
        self._tids: set[int] = set()  # tasks met at start, fork or exec (a fork's parent is one)
        self._known: set[int] = set()  # tgids whose identity the builder has
        self._streams: set[tuple[str, str]] = set()  # payload streams whose facts were shipped
        self._rmem: RecordingMemory | None = None
        self._recipes: dict[int, _Recipe] = {}

    # -- shipping --------------------------------------------------------------------------------
    def _emit(self, header: bytes, regions: list[tuple[int, int, int, bytes]] | None) -> None:
        buf = self._buf
        buf += header
        if regions:
            buf += R.pack_regions(regions)
        if len(buf) >= _FLUSH_AT:
            self._writer.write_out()

    def flush(self) -> None:
        """Send what is buffered (the idle flusher calls this between stops)."""
        if self._buf:
            self._writer.write_out()

    def _memory(self, mem: TraceeMemory) -> RecordingMemory:
        rmem = self._rmem
        if rmem is None:
            rmem = self._rmem = RecordingMemory(mem)
        rmem.regions = []
        return rmem

    def _identity(self, tgid: int, regions: list[tuple[int, int, int, bytes]]) -> None:
        comm, cmdline = read_raw_identity(tgid)
        regions.append((tgid, 0 if comm is None else 1, R.R_COMM, comm or b""))
        regions.append((tgid, 1, R.R_CMDLINE, cmdline))
        self._known.add(tgid)

    def _fd(self, tid: int, tgid: int, fd: int, regions: list[tuple[int, int, int, bytes]], mem: TraceeMemory) -> None:
        key = (tgid, fd)
        if fd < 0 or key in self._fds:
            return
        target = self._fds[key] = mem.fd_target(tid, fd)
        if target is None:
            regions.append((fd, 0, R.R_FD_GONE, b""))
        else:
            regions.append((fd, 0, R.R_FD, os.fsencode(target)))

    @staticmethod
    def _details(tid: int, fd: int, regions: list[tuple[int, int, int, bytes]], mem: TraceeMemory) -> None:
        """-yy: what strace shows of the fd now (never cached: a socket binds and connects)."""
        details = mem.fd_details(tid, fd)
        if details is not None:
            regions.append((fd, 0, R.R_FD_DETAILS, os.fsencode(details)))

    def _dirfd(self, tid: int, tgid: int, dirfd: int, regions: list[tuple[int, int, int, bytes]],
               mem: TraceeMemory) -> None:
        """What a directory fd refers to; the working directory, read afresh (chdir changes it)."""
        if dirfd != AT_FDCWD:
            self._fd(tid, tgid, dirfd, regions, mem)
            return
        cwd = mem.fd_target(tid, AT_FDCWD)
        if cwd is not None:
            regions.append((0, 0, R.R_CWD, os.fsencode(cwd)))

    def _stream(self, tid: int, tgid: int, fd: int, direction: str, regions: list[tuple[int, int, int, bytes]]) -> None:
        """A payload stream's /proc facts, the first time the decoder's hasher will see it."""
        from renacer_tui.tracer.payload_hash import stream_facts, stream_name

        name = stream_name(self._fds.get((tgid, fd)), tgid, fd)
        if (name, direction) in self._streams:
            return
        self._streams.add((name, direction))
        regions.append((fd, 0, R.R_STREAM, json.dumps(stream_facts(tid, fd, name)).encode()))

    def _forget_process(self, tgid: int) -> None:
        for key in [k for k in self._fds if k[0] == tgid]:
            del self._fds[key]

    # -- CaptureListener -------------------------------------------------------------------------
    def on_start(self, tid: int, t_ns: int) -> None:
        regions: list[tuple[int, int, int, bytes]] = []
        if self._attached:
            self._identity(tid, regions)
        self._root = self._root or tid
        self._known.add(tid)
        self._tids.add(tid)
        self._emit(R.START_REC.pack(R.START, len(regions), tid, t_ns), regions)

    def _recipe(self, nr: int) -> _Recipe:
        recipe = self._recipes[nr] = _Recipe(PLANS.get(nr) or plan_for(nr), self._payloads or self._dumping, self._watch_calls)
        return recipe

    def on_syscall_entry(self, tid: int, tgid: int, nr: int, args: tuple[int, int, int, int, int, int], t_ns: int,
                         mem: TraceeMemory) -> None:
        # The hot path: a syscall whose only memory input is a write buffer, or none, costs one
        # pack, at most one read and one append (no RecordingMemory, no region list).
        recipe = self._recipes.get(nr) or self._recipe(nr)
        writer = self._writer
        if writer.dropping or writer.broken:
            if nr not in _KEEP_NUMBERS:
                writer.dropped += 1
                self._inflight[tid] = _DROPPED
                return
        way = recipe.entry
        tail = b""
        nregions = 0
        regions = None
        if way == _BUFFER:
            index = recipe.entry_index
            addr = args[index]
            want = min(args[index + 1], self._limit)
            if addr and want > 0:
                data = mem.read_bytes(tid, addr, want)
                tail = _REGION_PACK(addr, want, R.R_BYTES, len(data)) + data
                nregions = 1
        elif way == _GENERIC:
            rmem = self._memory(mem)
            regions = rmem.regions
            prefetch_entry(recipe.plan, args, tid, rmem, self._limit)
        fd_index = recipe.fd_index
        if fd_index is not None:
            fd = args[fd_index] & 0xFFFFFFFF
            if fd < 0x80000000 and (tgid, fd) not in self._fds:
                if regions is None:
                    regions = []
                self._fd(tid, tgid, fd, regions, mem)
            if self._fd_details and fd < 0x80000000:
                if regions is None:
                    regions = []
                self._details(tid, fd, regions, mem)
        if self._fd_results and recipe.plan.dirfd_index is not None:  # -y: `AT_FDCWD</tmp>`, `3</etc>`
            if regions is None:
                regions = []
            self._dirfd(tid, tgid, _int32(args[recipe.plan.dirfd_index]), regions, mem)
        if tgid not in self._known:
            if regions is None:
                regions = []
            self._identity(tgid, regions)
        if self._stacks is not None and not (self._preexec and tgid == self._root):
            if regions is None:
                regions = []
            regions.append((0, 0, R.R_STACK, "\0".join(self._stacks.sample(tid, tgid, mem)).encode("utf-8", "surrogateescape")))
        if regions:
            tail += R.pack_regions(regions)
            nregions += len(regions)
        self._inflight[tid] = (recipe, args, tgid)
        buf = self._buf
        buf += _ENTRY_PACK(R.ENTRY, nregions, tid, t_ns, tgid, nr, *args)
        if tail:
            buf += tail
        if len(buf) >= _FLUSH_AT:
            writer.write_out()

    def on_syscall_exit(self, tid: int, ret: int, is_error: bool, t_ns: int, mem: TraceeMemory) -> None:
        inflight = self._inflight.pop(tid, None)
        if inflight is _DROPPED:
            return
        buf = self._buf
        if inflight is None:  # no entry was seen: the builder ignores it too, but order is kept
            buf += _EXIT_PACK(R.EXIT, 0, tid, t_ns, 0, ret, is_error)
            return
        recipe, args, tgid = inflight
        tail = b""
        nregions = 0
        if not is_error:
            way = recipe.exit
            if way == _BUFFER:
                addr = args[recipe.exit_index]
                want = min(ret, self._limit)
                if addr and want > 0:
                    data = mem.read_bytes(tid, addr, want)
                    tail = _REGION_PACK(addr, want, R.R_BYTES, len(data)) + data
                    nregions = 1
            elif way == _GENERIC:
                prefetch_exit(recipe.plan, args, ret, is_error, tid, self._memory(mem), self._limit)
                regions = self._exit_reads(recipe, args, ret, tid, tgid, mem)
                if regions:
                    tail = R.pack_regions(regions)
                    nregions = len(regions)
            if recipe.watch and ret > 0 and way != _GENERIC:
                fd_index = recipe.fd_index
                fd = _int32(args[fd_index]) if fd_index is not None else None
                obj = self._fds.get((tgid, fd)) if fd is not None else None
                if (obj is not None and obj.startswith("socket:")) or (fd == 2 and self._decisions):
                    rmem = self._memory(mem)
                    watched_bytes(recipe.plan.name, args, fd, obj, ret, tid, rmem, self._decisions)
                    if rmem.regions:
                        tail += R.pack_regions(rmem.regions)
                        nregions += len(rmem.regions)
        elif recipe.plan.error_outputs:  # a failed recvmsg still shows its header's msg_namelen
            rmem = self._memory(mem)
            prefetch_exit(recipe.plan, args, ret, is_error, tid, rmem, self._limit)
            if rmem.regions:
                tail = R.pack_regions(rmem.regions)
                nregions = len(rmem.regions)
        flags = int(is_error)
        if self._injected and tid in self._injected:
            self._injected.discard(tid)
            flags |= R.EXIT_INJECTED
        buf += _EXIT_PACK(R.EXIT, nregions, tid, t_ns, tgid, ret, flags)
        if tail:
            buf += tail
        if len(buf) >= _FLUSH_AT:
            self._writer.write_out()

    def _exit_reads(self, recipe: _Recipe, args: tuple[int, ...], ret: int, tid: int, tgid: int,
                    mem: TraceeMemory) -> list[tuple[int, int, int, bytes]]:
        """The rarer exit reads (wait statuses, payloads, watched bytes) and the fd-cache upkeep,
        after `prefetch_exit` filled the recording memory."""
        rmem = self._rmem
        assert rmem is not None
        regions = rmem.regions
        name = recipe.plan.name
        if name == "waitid":
            waitid_reaped(rmem, tid, args)
        if ret > 0:
            fd = _int32(args[recipe.fd_index]) if recipe.fd_index is not None else None
            if self._payloads and name in DATA_CALLS:
                for moved_fd, direction, _data, _size in call_payloads(name, args, ret, tid, rmem):
                    self._fd(tid, tgid, moved_fd, regions, mem)
                    self._stream(tid, tgid, moved_fd, direction, regions)
            if recipe.watch:
                obj = self._fds.get((tgid, fd)) if fd is not None else None
                watched_bytes(name, args, fd, obj, ret, tid, rmem, self._decisions)
            if self._dumping and name in DATA_CALLS:
                dumped_buffers(name, args, ret, tid, rmem, *self._dumps)
        if name in _FD_FORGETS:
            self._forget_fds(name, args, ret, tgid, rmem)
            if self._fd_results and ret >= 0 and returns_fd(name, args):
                self._fd(tid, tgid, ret, regions, mem)
                if self._fd_details:
                    self._details(tid, ret, regions, mem)
            elif self._fd_results and ret == 0 and name in FD_PAIRS:
                raw = rmem.read_bytes(tid, args[FD_PAIRS[name]], 8)
                for fd in (int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:], "little")) if len(raw) == 8 else ():
                    self._fd(tid, tgid, fd, regions, mem)
                    if self._fd_details:
                        self._details(tid, fd, regions, mem)
        return regions

    def _forget_fds(self, name: str, args: tuple[int, ...], ret: int, tgid: int, rmem: RecordingMemory) -> None:
        fds = self._fds
        if name == "close":
            fds.pop((tgid, _int32(args[0])), None)
        elif name in ("dup2", "dup3"):
            fds.pop((tgid, _int32(args[1])), None)
        elif name in ("pipe", "pipe2", "socketpair", "close_range"):
            self._forget_process(tgid)
        if name in FD_CREATORS and ret >= 0:
            fds.pop((tgid, ret), None)

    def on_new_task(self, tid: int, tgid: int, parent_tid: int, is_thread: bool, t_ns: int) -> None:
        regions: list[tuple[int, int, int, bytes]] = []
        if parent_tid not in self._tids and tgid not in self._known:
            self._identity(tgid, regions)
        self._known.add(tgid)
        self._tids.add(tid)
        self._inflight.pop(tid, None)
        self._emit(R.NEW_TASK_REC.pack(R.NEW_TASK, len(regions), tid, t_ns, tgid, parent_tid, is_thread), regions)

    def on_exec(self, tid: int, tgid: int, former_tid: int, t_ns: int) -> None:
        inflight = self._inflight
        if former_tid != tid and former_tid in inflight:
            inflight[tid] = inflight.pop(former_tid)  # the exec's own call returns on the new tid
        self._tids.discard(former_tid)
        self._tids.add(tid)
        self._forget_process(tgid)
        if self._stacks is not None:
            self._stacks.forget(tgid)
        if tgid == self._root:
            self._preexec = False
        regions: list[tuple[int, int, int, bytes]] = []
        self._identity(tgid, regions)
        self._emit(R.EXEC_REC.pack(R.EXEC, len(regions), tid, t_ns, tgid, former_tid), regions)

    def on_injected(self, tid: int) -> None:
        self._injected.add(tid)  # the next exit record of `tid` says so

    def on_signal(self, tid: int, signo: int, sender_pid: int, t_ns: int, siginfo: bytes) -> None:
        regions = [(0, len(siginfo), R.R_BYTES, siginfo)] if siginfo else None
        self._emit(R.SIGNAL_REC.pack(R.SIGNAL, 1 if siginfo else 0, tid, t_ns, signo, sender_pid), regions)

    def on_group_stop(self, tid: int, signo: int, t_ns: int) -> None:
        self._emit(R.GROUP_STOP_REC.pack(R.GROUP_STOP, 0, tid, t_ns, signo), None)

    def on_exit(self, tid: int, wait_status: int, t_ns: int) -> None:
        self._inflight.pop(tid, None)
        self._tids.discard(tid)
        self._forget_process(tid)  # a leader's exit: its numbers may be reused by a new process
        if self._stacks is not None:
            self._stacks.forget(tid)
        self._emit(R.TASK_EXIT_REC.pack(R.TASK_EXIT, 0, tid, t_ns, wait_status), None)

    def on_detach(self, t_ns: int) -> None:
        self._emit(R.DETACH_REC.pack(R.DETACH, 0, 0, t_ns), None)

    # -- the ends --------------------------------------------------------------------------------
    def launched(self) -> None:
        """Tell the decoder the program started: it opens its outputs now."""
        self._buf += R.LAUNCHED_REC.pack(R.LAUNCHED, 0, 0, 0)
        self._writer.write_out()

    def finish(self, t_ns: int, outcome: dict[str, Any]) -> None:
        """The END record (how the capture ended), then close the pipe."""
        write_end(self._writer, t_ns, {**outcome, "raw_dropped": self._writer.dropped})


def write_end(writer: RecordWriter, t_ns: int, outcome: dict[str, Any]) -> None:
    """Append the END record (`outcome` as JSON) and close the pipe, waiting for it to drain."""
    body = json.dumps(outcome).encode()
    writer.buf += R.END_REC.pack(R.END, 0, 0, t_ns, len(body)) + body
    writer.close()
