"""SpanBuilder: raw capture events → rows of one W3C trace (the golden thread).

It implements `tracer.events.CaptureListener`.  Every event gets the next Lamport clock value in
observation order (the tracer sees all stops serially, so that order is causal); span ids are
`<8 hex random per run><8 hex clock>`.  The tree is `renacer:run` → `process:<comm>` (child of the
fork/clone span that made it) → `syscall:<name>`; the happens-before edges the tracer can see are
recorded as `renacer.links`.  Per stop the builder only decodes arguments and appends a `Row`;
RLE folding and Arrow encoding happen per thread run and per batch.  What the builder does not
own itself is held by collaborators with their own state: the process table, the link
tracker, the span filter, the -y/-yy annotator and the in-flight reporter.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Callable, Container, Iterable, cast

import pyarrow as pa

from renacer_tui.model.attributes import (
    ATTR_CAPTURE_PAYLOADS,
    ATTR_DETACHED,
    ATTR_FILTERED,
    ATTR_PROCESS_COMMAND_ARGS,
    ATTR_PROCESS_COMMAND_LINE,
    ATTR_PROCESS_CORE_DUMPED,
    ATTR_PROCESS_EXIT_CODE,
    ATTR_PROCESS_SIGNAL,
    ATTR_ROOT_PID,
    ATTR_SIGNAL_INFO,
    ATTR_SIGNAL_NAME,
    ATTR_SIGNAL_NUMBER,
    ATTR_STACK,
    ATTR_SYSCALL_ARGS,
    ATTR_SYSCALL_DUMP,
    ATTR_SYSCALL_INJECTED,
    ATTR_SYSCALL_NAME,
    ATTR_SYSCALL_RESULT_TEXT,
    ATTR_SYSCALL_UNFINISHED,
    ATTR_THREAD_ID,
    EVENT_EXITED,
    EVENT_KILLED,
    EVENT_SIGNAL,
    EVENT_STOPPED,
    EVENT_THREAD_EXITED,
    EVENT_THREAD_KILLED,
)
from renacer_tui.model.ids import new_span_prefix
from renacer_tui.model.kinds import IO_PREFIX, LinkKind
from renacer_tui.model.readable import STRING_LIMIT
from renacer_tui.model.syscalls import (
    CREATORS,
    PIPE_READS,
    PIPE_WRITES,
    SIGNAL_SENDS,
    SYSCALL_NUMBERS,
)
from renacer_tui.tracer import formats as F
from renacer_tui.tracer.constants import RESULT_TEXTS, result_text
from renacer_tui.tracer.decode import (
    PLANS,
    Decoded,
    decode_exit,
    decode_plan,
    plan_for,
    waitid_reaped,
)
from renacer_tui.tracer.events import TraceeMemory
from renacer_tui.tracer.fd_annotations import FdAnnotator
from renacer_tui.tracer.filter_spec import SyscallFilter
from renacer_tui.tracer.identity import read_proc_identity
from renacer_tui.tracer.inflight import InflightReporter
from renacer_tui.tracer.links import BOOKKEEPING, LinkTracker
from renacer_tui.tracer.payload_read import VECTORED_DUMPS, dumped_buffers
from renacer_tui.tracer.processes import Proc, ProcessTable, Thread
from renacer_tui.tracer.rows import BatchBuilder, Row
from renacer_tui.tracer.sampling import Sampler
from renacer_tui.tracer.siginfo import decode_siginfo
from renacer_tui.tracer.span_filter import SpanFilter

if TYPE_CHECKING:
    from renacer_tui.tracer.payload_hash import PayloadHasher
    from renacer_tui.tracer.symbols.stacks import StackSampler  # elftools: only --source needs it

_UNKNOWN = object()  # fd-cache miss marker
_RESTART_SYSCALL = SYSCALL_NUMBERS["restart_syscall"]
_ERESTART_RESTARTBLOCK = 516  # the kernel's own errno: restart_syscall will resume the call


def _ending(status: int) -> dict[str, Any]:
    """A wait status as the attributes of an exit event: the code, or the signal (and core)."""
    if os.WIFSIGNALED(status):
        return {ATTR_PROCESS_SIGNAL: F.signal_name(os.WTERMSIG(status)), ATTR_PROCESS_CORE_DUMPED: os.WCOREDUMP(status)}
    return {ATTR_PROCESS_EXIT_CODE: os.WEXITSTATUS(status)}


def _version() -> str:
    """The installed package's version, for callers that do not pass one (importlib.metadata
    costs ~5 ms of start-up, so the CLI passes its own `__version__` instead)."""
    from importlib import metadata

    try:
        return metadata.version("renacer-tui")
    except metadata.PackageNotFoundError:
        return "0.1.0"


class SpanBuilder:
    """Builds span rows from capture events and emits `SPAN_SCHEMA` batches via `on_batch`.

    `first_clock` is the run span's logical clock (0, or one above `parent_logical_clock`, the
    launching span's clock that a nested run received in RENACER_LOGICAL_CLOCK); every event
    of the run gets a later one.
    """

    def __init__(
        self,
        *,
        trace_id: str,
        parent_span_id: str | None,
        run_span_id: str,
        command: list[str],
        on_batch: Callable[[pa.RecordBatch], None],
        first_clock: int = 0,
        parent_logical_clock: int | None = None,
        string_limit: int = STRING_LIMIT,
        rle: bool = True,
        status_filter: Iterable[str] | None = None,
        path_filter: Iterable[str] | None = None,
        name_filter: SyscallFilter | None = None,
        signal_filter: Iterable[int] | None = None,
        service_name: str = "renacer",
        service_version: str | None = None,
        attached: bool = False,
        batch_rows: int = 4096,
        batch_interval_s: float = 0.1,
        payloads: PayloadHasher | None = None,
        stacks: StackSampler | None = None,
        decisions: bool = False,
        run_events: list[tuple[str, int, dict[str, Any]]] | None = None,
        identity: Callable[[int], tuple[str, str]] = read_proc_identity,
        on_inflight: Callable[[pa.RecordBatch], None] | None = None,
        inflight_after_s: float = 0.1,
        fd_results: bool = False,
        fd_details: bool = False,
        sampler: Sampler | None = None,
        dumps: tuple[Container[int] | None, Container[int] | None] = (None, None),
    ) -> None:
        self.trace_id = trace_id
        self.parent_span_id = parent_span_id
        self.run_span_id = run_span_id
        self.command = list(command)
        self.string_limit = max(0, string_limit)
        self.rle = rle
        self.filter = SpanFilter(status_filter, path_filter, name_filter, signal_filter)
        self._names = name_filter  # read on the hot path
        self.attached = attached
        self._prefix = new_span_prefix()
        # the run span has the first clock (above the launching span's in a nested run); every
        # event of the run ticks on from it
        self._run_clock = self._clock = first_clock
        self._parent_clock = parent_logical_clock
        self._interval_ns = int(batch_interval_s * 1e9)
        self._batch = BatchBuilder(
            trace_id, service_name, service_version or _version(), on_batch, batch_rows, self._interval_ns
        )
        self.table = ProcessTable(run_span_id=run_span_id, run_clock=first_clock, command=self.command,
                                  attached=attached, tick=self._tick, identity=identity)
        self._threads = self.table.threads  # read on the hot path
        self.links = LinkTracker(fd_results)
        self._fds = self.links.fds
        self._fd_cache = self._fds.cache  # read directly on the hot path
        self._pipes = self.links.pipes
        self._fd_notes = FdAnnotator(self._fds, results=fd_results, details=fd_details) if (
            fd_results or fd_details) else None  # -y / -yy
        self._plain = self.filter.plain
        self._run_start = time.time_ns()
        self._finished = False
        self._payloads = payloads  # --capture-payloads: hashes the bytes of data calls
        self._data_calls: frozenset[str] = frozenset()
        if payloads is not None:  # imported only then: hashlib and friends cost a run start-up time
            from renacer_tui.tracer.payload_hash import PayloadRef
            from renacer_tui.tracer.payload_read import DATA_CALLS, call_payloads

            self._data_calls, self._call_payloads, self._payload_ref = DATA_CALLS, call_payloads, PayloadRef
            self._batch.before_batch = payloads.sync
        self._stacks = stacks  # --source: each call's user stack, as addresses
        self._preexec = not attached  # a launched root runs the tracer's own image until its exec
        # --trace-transpiler-decisions' stderr lines and HTTP trace context in socket data
        from renacer_tui.tracer.app_watch import AppWatch

        recorder = None
        if decisions:
            from renacer_tui.tracer.decisions import DecisionRecorder

            recorder = DecisionRecorder()
        self._watch = AppWatch(recorder)
        self._watch_calls = self._watch.calls
        self._run_events = list(run_events or ())  # --decisions FILE: events of the run span
        self.sampler = sampler  # adaptive sampling of fast calls (tracer.sampling), None: every call
        self._add_call = self._batch.add if sampler is None else self._sampled_add
        self._dumps = dumps if dumps != (None, None) else None  # -e read=FDS / -e write=FDS
        # calls in flight for longer than `inflight_after_s`: what each thread is blocked in
        # (the text output prints their entry, the live screen how long they have waited)
        self._inflight = None if on_inflight is None else InflightReporter(
            on_inflight, inflight_after_s, threads=self._threads, batch=self._batch, plain=self._plain,
            sampler=sampler)

    # -- summary -------------------------------------------------------------------------
    @property
    def spans_emitted(self) -> int:
        """Rows handed to `on_batch` so far."""
        return self._batch.emitted

    @property
    def spans_represented(self) -> int:
        """Spans those rows stand for (RLE rows count each folded call)."""
        return self._batch.represented

    @property
    def syscalls_represented(self) -> int:
        return self._batch.syscalls_represented

    # -- ids -----------------------------------------------------------------------------
    def _tick(self) -> tuple[int, str]:
        self._clock += 1
        return self._clock, f"{self._prefix}{self._clock & 0xFFFFFFFF:08x}"

    # -- for the OTLP receiver -----------------------------------------------------------
    def process_span_id(self, pid: int) -> str | None:
        """The span id of traced process `pid` (its latest, if the pid was reused), or None."""
        return self.table.process_span_id(pid)

    def traced_pids(self) -> list[int]:
        """The processes being traced now."""
        return self.table.traced_pids()

    # -- CaptureListener -----------------------------------------------------------------
    def on_start(self, tid: int, t_ns: int) -> None:
        self.table.root_pid = tid
        self._run_start = min(self._run_start, t_ns)
        self.table.thread(tid, tid, t_ns)

    def on_syscall_entry(
        self, tid: int, tgid: int, nr: int, args: tuple[int, int, int, int, int, int], t_ns: int, mem: TraceeMemory
    ) -> None:
        # The hot path (twice per syscall with on_syscall_exit): attribute lookups kept local.
        th = self._threads.get(tid)
        if th is None:
            th = self.table.thread(tid, tgid, t_ns)
        if th.inflight is not None:  # an entry without exit (should not happen): close it out
            self._unfinished(th, t_ns)
        th.stopped = False
        plan = PLANS.get(nr) or plan_for(nr)
        name_filter = self._names
        if name_filter is not None and not name_filter.matches(plan.name) and plan.name not in CREATORS:
            return
        dec = decode_plan(plan, nr, args, tid, mem, self.string_limit)
        if nr == _RESTART_SYSCALL:  # strace: restart_syscall(<... resuming interrupted nanosleep ...>)
            dec.texts = [f"<... resuming interrupted {th.interrupted or 'system call'} ...>"]
        self._clock = clock = self._clock + 1
        proc = th.proc
        row = Row(f"{self._prefix}{clock & 0xFFFFFFFF:08x}", clock, plan.span_name, t_ns, tid, proc.tgid)
        row.parent_span_id = proc.row.span_id
        row.pname = proc.name
        row.pcmdline = proc.cmdline
        if self._stacks is not None and not (self._preexec and proc.tgid == self.table.root_pid):
            row.attrs[ATTR_STACK] = self._stacks.sample(tid, proc.tgid, mem)
        if th.links:
            row.links, th.links = th.links, []
            row.prev = row.links[-1][1]
        else:
            row.prev = th.prev
        fd = dec.fd
        if fd is None:
            obj = None
        else:
            cached = self._fd_cache.get((proc.tgid, fd), _UNKNOWN)
            obj = self._fds.lookup(mem, proc.tgid, tid, fd) if cached is _UNKNOWN else cast("str | None", cached)
            if obj is not None and plan.name in PIPE_WRITES and obj.startswith("pipe:"):
                # queued now: the reader may return before this call's exit stop is seen
                self._pipes.writing(obj, row, args[2] if plan.name == "write" else 0)
        if self._fd_notes is not None:
            self._fd_notes.at_entry(tid, proc.tgid, row, plan, args, fd, obj, mem)
        th.inflight = (row, dec, args, obj)
        if name_filter is not None and not name_filter.matches(plan.name):
            row.keep = False
            row.attrs[ATTR_FILTERED] = True
        th.prev = row

    def on_syscall_exit(self, tid: int, ret: int, is_error: bool, t_ns: int, mem: TraceeMemory) -> None:
        th = self._threads.get(tid)
        if th is None or th.inflight is None:
            return
        row, dec, args, obj = th.inflight
        th.inflight = None
        row.end = t_ns
        th.last_ns = t_ns
        plan = dec.plan
        if is_error and ret == -_ERESTART_RESTARTBLOCK:
            th.interrupted = plan.name
        if plan.has_outputs and (not is_error or plan.error_outputs):
            decode_exit(dec, args, ret, is_error, tid, mem, self.string_limit)
        if self._fd_notes is not None and not is_error and ret >= 0:
            self._fd_notes.at_exit(tid, th.proc.tgid, row, dec, args, ret, mem)
        if self._payloads is not None and not is_error and ret > 0 and plan.name in self._data_calls:
            self._capture_payload(th, row, plan.name, args, dec.fd, obj, ret, t_ns, mem)
        if self._dumps is not None and not is_error and ret > 0:
            buffers = dumped_buffers(plan.name, args, ret, tid, mem, *self._dumps)
            if buffers is not None:
                row.attrs[ATTR_SYSCALL_DUMP] = F.buffers_dump(buffers, plan.name in VECTORED_DUMPS)
        if not is_error and ret > 0 and plan.name in self._watch_calls:
            self._watch.call(plan.name, args, dec.fd, obj, ret, th, row, t_ns, mem)
        reaped = ret
        if plan.name == "waitid":  # returns 0; the child is in the siginfo it filled in
            reaped = 0 if is_error else waitid_reaped(mem, tid, args)
        self._complete(th, row, dec, args, obj, ret, is_error, reaped)
        if t_ns - self._batch.last_emit_ns >= self._interval_ns:
            self._flush_idle(t_ns)

    def on_new_task(self, tid: int, tgid: int, parent_tid: int, is_thread: bool, t_ns: int) -> None:
        parent_th = self._threads.get(parent_tid)
        creator = parent_th.inflight[0] if parent_th is not None and parent_th.inflight is not None else None
        if creator is not None:
            creator.keep = True
        parent_proc = parent_th.proc if parent_th is not None else None
        if is_thread and parent_proc is not None:
            proc = parent_proc
        else:
            proc = self.table.new_process(tgid, t_ns, creator, parent_proc)
        old = self._threads.pop(tid, None)
        if old is not None:  # a recycled tid whose exit we missed
            self._end_thread(old, t_ns)
        self.table.new_thread(tid, proc, creator)

    def on_exec(self, tid: int, tgid: int, former_tid: int, t_ns: int) -> None:
        if former_tid != tid and former_tid in self._threads:
            stale = self.table.take_over(former_tid, tid)
            if stale is not None:  # the old leader, killed by the exec: its call never returns
                if stale.inflight is not None:
                    self._unfinished(stale, t_ns)
                self._end_rle(stale)
        th = self.table.thread(tid, tgid, t_ns)
        proc = th.proc
        proc.name, proc.cmdline = self.table.identity(tgid)
        self._fds.forget_process(tgid)
        if self._stacks is not None:
            self._stacks.forget(tgid)
        if tgid == self.table.root_pid:
            self._preexec = False
        if self._watch.decisions is not None:  # a new image: its decisions start afresh
            self._watch.decisions.forget(tgid)

    def on_injected(self, tid: int) -> None:
        th = self._threads.get(tid)
        if th is not None and th.inflight is not None:
            th.inflight[0].attrs[ATTR_SYSCALL_INJECTED] = True

    def on_signal(self, tid: int, signo: int, sender_pid: int, t_ns: int, siginfo: bytes) -> None:
        th = self._threads.get(tid)
        if th is None:
            return
        if self.filter.shows_signal(signo):
            attrs, text = decode_siginfo(signo, siginfo)
            attrs[ATTR_SIGNAL_INFO] = text
            attrs[ATTR_THREAD_ID] = tid
            th.signals.append((EVENT_SIGNAL, t_ns, attrs))
        src = self.links.signal_delivered(tid, th.proc.tgid, signo)
        if src is not None:
            th.links.append((LinkKind.SIGNAL, src))

    def on_group_stop(self, tid: int, signo: int, t_ns: int) -> None:
        th = self._threads.get(tid)
        if th is None:
            return
        th.stopped = True
        if self.filter.shows_signal(signo):
            attrs = {ATTR_SIGNAL_NAME: F.signal_name(signo), ATTR_SIGNAL_NUMBER: signo, ATTR_THREAD_ID: tid}
            th.signals.append((EVENT_STOPPED, t_ns, attrs))  # where a signal event would go: strace's order

    def on_exit(self, tid: int, wait_status: int, t_ns: int) -> None:
        th = self._threads.pop(tid, None)
        if th is None:
            return
        proc = th.proc
        if tid == proc.tgid or not proc.threads - {tid}:
            proc.wait_status = wait_status
        elif th.inflight is not None and (os.WIFEXITED(wait_status) or os.WIFSIGNALED(wait_status)):
            # a thread ends while others go on: its exit call's span says so (strace's +++ line)
            row = th.inflight[0]
            name = EVENT_THREAD_EXITED if os.WIFEXITED(wait_status) else EVENT_THREAD_KILLED
            row.events = (row.events or []) + [(name, t_ns, {**_ending(wait_status), ATTR_THREAD_ID: tid})]
        self._end_thread(th, t_ns)

    def on_detach(self, t_ns: int) -> None:
        for th in list(self._threads.values()):
            self._threads.pop(th.tid, None)
            self._end_thread(th, t_ns, detached=True)
        for proc in list(self.table.procs.values()):
            self._end_process(proc, t_ns, detached=True)
        self._batch.flush(t_ns)

    def finish(self, run_attributes: dict[str, Any]) -> None:
        """Flush everything and emit the `renacer:run <cmd>` span last."""
        if self._finished:
            return
        self._finished = True
        now = time.time_ns()
        self.on_detach(now)
        self._emit_streams()
        command = " ".join(F.escape_text(arg) for arg in self.command)  # argv is untrusted text too
        row = Row(self.run_span_id, self._run_clock, f"renacer:run {command}", self._run_start, os.getpid(), os.getpid())
        row.parent_span_id = self.parent_span_id
        row.prev = self._parent_clock  # the launching span's clock (RENACER_LOGICAL_CLOCK), if any
        row.end = max(now, self._run_start)
        row.pname = "renacer"
        row.pcmdline = command
        row.attrs = {ATTR_PROCESS_COMMAND_ARGS: [F.utf8_text(arg) for arg in self.command], **run_attributes}
        if self.table.root_pid is not None:
            row.attrs.setdefault(ATTR_ROOT_PID, self.table.root_pid)
        if self._payloads is not None:
            row.attrs[ATTR_CAPTURE_PAYLOADS] = True
        if self._run_events:
            row.events = self._run_events
        code = run_attributes.get(ATTR_PROCESS_EXIT_CODE)
        if isinstance(code, int) and code != 0:
            row.status, row.status_message = "ERROR", f"exit code {code}"
        else:
            row.status = "OK"
        self._batch.add(row)
        self._batch.flush(now)
        if self._inflight is not None:
            self._inflight.finish()

    # -- internals -----------------------------------------------------------------------
    def _complete(
        self, th: Thread, row: Row, dec: Decoded, args: tuple, obj: str | None, ret: int, is_error: bool, reaped: int = 0
    ) -> None:
        name = dec.plan.name
        args_text = ", ".join(dec.texts)
        if is_error:
            errname = F.errno_name(-ret)
            row.status, row.status_message = "ERROR", errname
        else:
            errname = None
            row.status = "OK"
            shown = dec.result or (result_text(name, args, ret) if name in RESULT_TEXTS else None)
            if shown is not None:
                row.attrs[ATTR_SYSCALL_RESULT_TEXT] = shown
        if dec.extra:  # what a decoded struct says (a connect's peer address, …)
            row.attrs.update(dec.extra)
        # attributes are built only for rows that are emitted (RLE folds most of a loop's calls)
        row.call = (name, args_text, ret, errname, dec.fd, obj, dec.path, dec.flags)
        if not is_error and (name in BOOKKEEPING or (obj is not None and name in PIPE_READS and obj.startswith("pipe:"))):
            self.links.after_call(th.proc.tgid, row, dec, args, obj, ret, reaped)
        if row.links and max(src.resolve().clock for _k, src in row.links) > row.clock:
            # The call returned because of a later event (a reaped exit, bytes written after
            # it blocked): its clock moves to the exit so happens-before stays monotonic.
            row.clock = self._tick()[0]
        if self._plain and not row.attrs:
            kept = True  # no -e status / -P filter and not marked filtered: the common case
        else:
            kept = self.filter.keep(row, dec, obj, is_error)
        if obj is not None and dec.plan.name in PIPE_WRITES and obj.startswith("pipe:"):
            self._pipes.finish(row, 0 if is_error else ret, kept)
        if not kept:
            th.prev = row.prev  # the dropped span is skipped in the thread's happens-before chain
            th.links.extend(row.links)
            return
        if not is_error and name in SIGNAL_SENDS:
            self.links.signal_sent(name, args, row)
        if th.signals and not row.attrs.get(ATTR_FILTERED):  # see `_emit`
            row.events, th.signals = th.signals, []
        row.key = None if (row.links or row.linked or row.events) else (
            row.name, args_text, ret, is_error, obj, row.attrs.get(ATTR_STACK))
        if row.payload is not None and row.key is not None:
            row.key += (row.payload.data,)  # calls fold only when their bytes are the same
        if ATTR_SYSCALL_DUMP in row.attrs and row.key is not None:
            row.key += (row.attrs[ATTR_SYSCALL_DUMP],)  # also the bytes beyond -s, when dumped
        th.proc.last_row = row
        if not self.rle:
            self._add_call(row)
            return
        rle = th.rle
        cycle = rle.cycle
        if cycle is not None:  # inside a repeating run: usually the next member matches
            member = cycle[rle.pos]
            if row.key is not None and row.key == member.key:
                member.absorb(row)
                rle.pos = (rle.pos + 1) % len(cycle)
                return
        add = self._add_call
        for done in rle.push(row):
            add(done)

    def _capture_payload(
        self, th: Thread, row: Row, name: str, args: tuple, fd: int | None, obj: str | None, ret: int, t_ns: int,
        mem: TraceeMemory,
    ) -> None:
        """Copy the bytes the call moved out of the stopped task and queue them for hashing
        (`obj` is the object of the call's decoded `fd`; a second fd is looked up)."""
        payloads = self._payloads
        assert payloads is not None
        proc = th.proc
        moved = self._call_payloads(name, args, ret, th.tid, mem)
        if not moved:
            return
        ref = self._payload_ref(moved[0][2], ret)
        row.payload = ref
        for moved_fd, direction, data, size in moved:
            target = obj if moved_fd == fd else self._fds.lookup(mem, proc.tgid, th.tid, moved_fd)
            stream = payloads.stream(target, direction, moved_fd, proc.tgid, th.tid, proc.name, t_ns)
            payloads.submit(stream, ref, data, size, t_ns)

    def _emit_streams(self) -> None:
        """One `io:stream <object>` span per stream, under the run span (after every call)."""
        payloads = self._payloads
        if payloads is None:
            return
        for stream in payloads.close():
            clock, span_id = self._tick()
            row = Row(span_id, clock, f"{IO_PREFIX}stream {F.escape_text(stream.obj)}", stream.first_ns, stream.pid, stream.pid)
            row.parent_span_id = self.run_span_id
            row.end = max(stream.last_ns, stream.first_ns)
            row.pname = stream.pname
            row.status = "OK"
            row.attrs = stream.attributes()
            self._batch.add(row)

    def _emit(self, th: Thread, row: Row) -> None:
        if th.signals and not row.attrs.get(ATTR_FILTERED):
            # strace prints a delivery before the thread's next call: the event rides on that
            # call's span, which then stands alone (a folded run would lose where it fell);
            # `_complete` does the same on its inlined path
            row.events, th.signals = th.signals, []
            row.key = None
        if not self.rle:
            self._add_call(row)
            return
        for done in th.rle.push(row):
            self._add_call(done)

    def _unfinished(self, th: Thread, t_ns: int, detached: bool = False) -> None:
        if th.inflight is None:
            return
        row, dec, _args, obj = th.inflight
        th.inflight = None
        row.end = max(t_ns, row.start)
        row.attrs[ATTR_SYSCALL_NAME] = dec.plan.name
        row.attrs[ATTR_SYSCALL_ARGS] = ", ".join(dec.texts)
        row.attrs[ATTR_SYSCALL_UNFINISHED] = True
        if detached:
            row.attrs[ATTR_DETACHED] = True
        dec.describe(row.attrs, obj)
        if not self.filter.keep(row, dec, obj, None):
            return
        th.proc.last_row = row
        self._emit(th, row)

    def _end_rle(self, th: Thread) -> None:
        for done in th.rle.flush():
            self._add_call(done)
        if self.sampler is not None:
            for done in self.sampler.release(tid=th.tid):
                self._batch.add(done)

    def _sampled_add(self, row: Row) -> None:
        """A finished call into the batch, unless the sampler counts it into a row it holds."""
        assert self.sampler is not None
        done = self.sampler.admit(row)
        if done is not None:
            self._batch.add(done)

    def _end_thread(self, th: Thread, t_ns: int, detached: bool = False) -> None:
        if th.inflight is not None:
            self._unfinished(th, t_ns, detached)
        self._end_rle(th)
        proc = th.proc
        if th.signals:  # delivered after the thread's last call (the one that killed it, say)
            proc.row.events = (proc.row.events or []) + th.signals
            th.signals = []
        proc.threads.discard(th.tid)
        if not proc.threads and not detached:
            self._end_process(proc, t_ns)

    def _end_process(self, proc: Proc, t_ns: int, detached: bool = False) -> None:
        if self.table.procs.pop(proc.tgid, None) is None:
            return
        row = proc.row
        row.name = f"process:{proc.name}"
        row.pname, row.pcmdline = proc.name, proc.cmdline
        row.end = max(t_ns, row.start)
        status = proc.wait_status
        if detached:
            row.attrs[ATTR_DETACHED] = True
        elif status is not None and os.WIFSIGNALED(status):
            sig = F.signal_name(os.WTERMSIG(status))
            row.attrs[ATTR_PROCESS_SIGNAL] = sig
            row.attrs[ATTR_PROCESS_EXIT_CODE] = 128 + os.WTERMSIG(status)
            row.status, row.status_message = "ERROR", sig
            row.events = (row.events or []) + [(EVENT_KILLED, row.end, _ending(status))]
        elif status is not None and os.WIFEXITED(status):
            row.attrs[ATTR_PROCESS_EXIT_CODE] = os.WEXITSTATUS(status)
            row.status = "OK"
            row.events = (row.events or []) + [(EVENT_EXITED, row.end, _ending(status))]
        row.attrs[ATTR_PROCESS_COMMAND_LINE] = proc.cmdline
        if self._stacks is not None:
            self._stacks.forget(proc.tgid)
        if self._watch.decisions is not None:
            self._watch.decisions.forget(proc.tgid)
        self._batch.add(row)
        self.links.process_ended(proc.tgid, proc.last_row or row)

    def flush_idle(self, now_ns: int | None = None) -> None:
        """Send what has waited a batch interval even though no syscall returned since.

        A program blocked in one long call (sleep, a read on a quiet pipe) produces no stop, so
        without this its latest spans would reach the live view only when the call returns.
        Call it with the capture's lock held (`CaptureSession.lock`), from any thread.
        """
        if self._finished:
            return
        now_ns = time.time_ns() if now_ns is None else now_ns
        if self._batch.due(now_ns):
            self._flush_idle(now_ns)
        elif self._inflight is not None:
            self._inflight.report(now_ns)

    def _flush_idle(self, now_ns: int) -> None:
        """Send runs that have been idle for a batch interval, then the batch itself."""
        limit = now_ns - self._interval_ns
        for th in self._threads.values():
            if th.rle and th.last_ns <= limit:
                self._end_rle(th)
        if self.sampler is not None:  # a sampled row is held for a batch interval at most
            for done in self.sampler.release(before_ns=limit):
                self._batch.add(done)
        self._batch.flush(now_ns)
        if self._inflight is not None:
            self._inflight.report(now_ns)
