"""The ptrace stop loop: every stop of every traced task, reported to a CaptureListener.

Why it is shaped like this: a stop costs the traced program a context switch, so the loop does
as little Python per stop as it can — one blocking `waitpid(-1, __WALL)` (optionally after a
short WNOHANG spin that yields the CPU between polls: on another CPU it beats the VM's ~100 µs
cross-CPU wake-up, on the program's own CPU a yield is cheaper than sleeping and being woken), one
`PTRACE_GET_SYSCALL_INFO` whose `op` byte says entry / exit / seccomp (so no per-task state),
preallocated buffers, bound methods in locals.  python-ptrace's own loop polls and sleeps and
was 22x slower than strace; we use python-ptrace for constants and tables only.

The API is split so the glue can fork before it starts any thread:

    session = CaptureSession(options); session.start()   # fork+exec (or attach); CaptureError
    result = session.run(listener)                       # the loop → CaptureResult

`start()` and `run()` must be called from the same thread (ptrace belongs to the thread that
seized).  `session.lock` is held by run() while it handles a stop and released across the
blocking waitpid, so another thread may take it to touch the listener between stops (the idle
flusher of `tracer.idle`).  With `traced_numbers`, launched programs get a seccomp-bpf filter and untraced
syscalls never stop them; the process-lifecycle calls (clone/fork/vfork/execve…) are always in
the kernel filter so the process tree stays causal — the span builder drops the ones the user
did not ask for.  Attached processes (-p) cannot get a filter: every syscall is reported.

Signals sent to the tracer: SIGINT/SIGTERM are forwarded to a launched root (the program
decides; a Ctrl-C typed at the terminal already reached it, so that one is not sent twice);
with -p they detach from every task and leave the process running.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from renacer_tui.model.syscalls import EXEC_NUMBERS, LIFECYCLE_NUMBERS
from renacer_tui.tracer.attach import attach, release
from renacer_tui.tracer.events import CaptureListener
from renacer_tui.tracer.launch import (
    CaptureError,
    Launched,
    exec_error,
    launch,
    read_exec_errno,
)
from renacer_tui.tracer.memory import ProcMemory
from renacer_tui.tracer.ptrace_raw import (
    OP_ENTRY,
    OP_EXIT,
    OP_SECCOMP,
    PTRACE_CONT,
    PTRACE_DETACH,
    PTRACE_EVENT_CLONE,
    PTRACE_EVENT_EXEC,
    PTRACE_EVENT_FORK,
    PTRACE_EVENT_STOP,
    PTRACE_EVENT_VFORK,
    PTRACE_GET_SYSCALL_INFO,
    PTRACE_INTERRUPT,
    PTRACE_LISTEN,
    PTRACE_O_EXITKILL,
    PTRACE_O_TRACECLONE,
    PTRACE_O_TRACEEXEC,
    PTRACE_O_TRACEFORK,
    PTRACE_O_TRACESECCOMP,
    PTRACE_O_TRACESYSGOOD,
    PTRACE_O_TRACEVFORK,
    PTRACE_SYSCALL,
    SIGINFO_BYTES,
    USER_ORIG_RAX,
    USER_RAX,
    PtraceError,
    SigInfo,
    SyscallInfo,
    check_platform,
    get_event_msg,
    poke_user,
    ptrace,
    ptrace_fast,
)
from renacer_tui.tracer.seccomp import SeccompFilter
from renacer_tui.tracer.signals import SignalRelay

if TYPE_CHECKING:  # the run imports it only when -e inject= is given
    from renacer_tui.tracer.inject import Injection

__all__ = ["CaptureError", "CaptureOptions", "CaptureResult", "CaptureSession", "LIFECYCLE_NUMBERS", "run_capture"]

# x86-64 numbers of the calls that shape the process tree: clone, fork, vfork, execve,
# execveat, clone3.  Always in the seccomp filter when one is used.

_SYSCALL_STOP = (((0x80 | signal.SIGTRAP) << 8) | 0x7F)  # status of a TRACESYSGOOD syscall stop
_SECCOMP_STOP = (((7 << 8) | signal.SIGTRAP) << 8) | 0x7F  # PTRACE_EVENT_SECCOMP stop
SIGCHLD = signal.SIGCHLD
_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
#: The default spin (bench, this 2-vCPU VM: unpinned dd 4.26 s -> 1.71 s, fork loop 0.93 -> 0.74,
#: python import 0.32 -> 0.24; pinned dd 1.46x -> 1.34x strace). At most this much CPU per stop.
DEFAULT_SPIN_US = 50


@dataclass
class CaptureOptions:
    """What to trace and how. `env` is the child's full environment (None: inherit ours)."""

    argv: list[str] | None = None
    attach_pid: int | None = None
    #: More processes to attach besides `attach_pid` (strace's repeated -p); one trace holds all
    also_attach: tuple[int, ...] = ()
    #: -e inject=: calls to fail, fake or follow with a signal (`tracer.inject`)
    injections: tuple[Injection, ...] = ()
    follow: bool = True
    traced_numbers: frozenset[int] | None = None  # None: every syscall, no seccomp filter
    env: dict[str, str] | None = None
    #: Poll waitpid(WNOHANG), yielding the CPU between polls, this long before blocking
    #: (None: DEFAULT_SPIN_US). On the program's CPU the yield lets it run, and costs less
    #: than sleeping in waitpid and being woken; on another CPU polling avoids the VM's
    #: cross-CPU wake-up. 0: block at once (no CPU spent waiting).
    spin_us: int | None = None
    pin_cpu: int | None = None  # sched_setaffinity tracer and tracee to this CPU
    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None


@dataclass
class CaptureResult:
    """How the capture ended. `exit_code` is the program's (128+N for signal N; 0 on detach)."""

    exit_code: int
    root_pid: int
    tasks_seen: int
    stops: int
    detached: bool
    foreign_exits: dict[int, int] = field(default_factory=dict)  # reaped non-traced children
    #: the one-line reason when the program's own execve failed after its entry was traced (a
    #: file the kernel will not run): the run was traced and ends, with the shell's exit code
    exec_failed: str | None = None


def _injections_by_number(injections: tuple[Injection, ...]) -> dict[int, list[Injection]]:
    by_number: dict[int, list[Injection]] = {}
    for injection in injections:
        for nr in injection.numbers:
            by_number.setdefault(nr, []).append(injection)
    return by_number


def _injection_at_entry(tid: int, nr: int, inject: dict[int, list[Injection]], counts: dict[tuple[int, int], int],
                        injecting: dict[int, Injection]) -> None:
    """Count this call of `nr` in its task; when an injection applies, skip the call (its number
    becomes -1) or just remember it (signal= only)."""
    count = counts[(tid, nr)] = counts.get((tid, nr), 0) + 1
    chosen = next((injection for injection in inject[nr] if injection.applies(count)), None)
    if chosen is None:
        return
    if chosen.replaces_call:
        try:
            poke_user(tid, USER_ORIG_RAX, -1)
        except PtraceError:
            return  # the task is gone
    injecting[tid] = chosen


def _injection_at_exit(tid: int, injection: Injection, rval: int, is_error: int,
                       listener: CaptureListener) -> tuple[int, int, int]:
    """(result, is_error, signal to resume with) of an injected call: the result set for a call
    that did not run (error=, retval=; the listener is told), the call's own for a signal= alone
    (strace marks it not INJECTED); the signal is delivered as from the kernel, as strace does."""
    resume_sig = injection.signal or 0
    if not injection.replaces_call:
        return rval, is_error, resume_sig
    rval = injection.result()
    try:
        poke_user(tid, USER_RAX, rval)
    except PtraceError:
        pass  # gone: its exit is reported next
    listener.on_injected(tid)
    return rval, int(injection.error is not None), resume_sig


class CaptureSession:
    """One capture: `start()` launches or attaches, `run(listener)` drives the stop loop."""

    def __init__(self, options: CaptureOptions) -> None:
        try:
            check_platform()
        except OSError as exc:
            raise CaptureError(f"renacer-tui: {exc.strerror}", 1) from None
        if (options.argv is None) == (options.attach_pid is None):
            raise CaptureError("renacer-tui: give either a command (-- CMD) or -p PID", 2)
        self.options = options
        self.root_pid = 0
        self.tgids: dict[int, int] = {}  # live traced tid -> tgid
        self._launched: Launched | None = None
        self._filtered = False
        self._pending: list[tuple[int, int]] = []  # stops already waited for, to handle first
        self._relay: SignalRelay | None = None
        self._thread: int | None = None
        self._done = False
        #: Held by run() while it handles a stop, never across the blocking waitpid: another
        #: thread that takes it (the idle flusher) sees the listener between two stops.
        self.lock = threading.Lock()

    # -- start ---------------------------------------------------------------------------------
    def _options_mask(self) -> int:
        mask = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC
        if self.options.follow:
            mask |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE
        if self.options.attach_pid is None:
            mask |= PTRACE_O_EXITKILL
            if self._filtered:
                mask |= PTRACE_O_TRACESECCOMP
        return mask

    def start(self) -> None:
        """Launch (stopping the root at its execve entry) or attach. Raises CaptureError."""
        if self._thread is not None:
            raise CaptureError("renacer-tui: capture already started", 1)
        opts = self.options
        self._thread = threading.get_ident()
        if opts.pin_cpu is not None:
            try:
                os.sched_setaffinity(0, {opts.pin_cpu})
            except (OSError, ValueError) as exc:
                raise CaptureError(f"renacer-tui: --pin-cpu {opts.pin_cpu}: {exc}", 2) from None
        if opts.attach_pid is not None:
            for pid in (opts.attach_pid, *opts.also_attach):
                if pid in self.tgids:  # named twice, or a thread of a process already attached
                    continue
                try:
                    tgid, tids = attach(pid, self._options_mask())
                except CaptureError:
                    release(list(self.tgids))  # leave the ones already seized as they were
                    self.tgids.clear()
                    raise
                self.root_pid = self.root_pid or tgid
                for tid in tids:
                    self.tgids[tid] = tgid
            self._detach_flag = []  # from now on a SIGINT means detach, even before run()
            self._relay = SignalRelay(self._request_detach)
            return
        seccomp = None
        if opts.traced_numbers is not None:
            self._filtered = True
            numbers = opts.traced_numbers | EXEC_NUMBERS
            if opts.follow:
                numbers |= LIFECYCLE_NUMBERS
            seccomp = SeccompFilter(numbers)
        self._launched = launch(
            list(opts.argv or []), self._options_mask(), opts.env, seccomp, (opts.stdin, opts.stdout, opts.stderr)
        )
        self.root_pid = self._launched.pid
        self.tgids[self.root_pid] = self.root_pid
        self._relay = SignalRelay(self._forward_to_root)
        self._run_to_exec_entry()

    def _run_to_exec_entry(self) -> None:
        """Drive the fresh child through its pre-exec steps; leave it stopped at execve entry.

        Nothing before the execve is the program's, so nothing is reported; the stop itself is
        kept pending and reported first by run(), while the old image (the path) is readable.
        """
        pid = self.root_pid
        info = SyscallInfo()
        resume_op = PTRACE_CONT if self._filtered else PTRACE_SYSCALL
        while True:
            try:
                _, status = os.waitpid(pid, 0x40000000)
            except ChildProcessError:
                status = 0x7F00  # vanished: treat as exit 127
            if not os.WIFSTOPPED(status):
                assert self._launched is not None
                err = read_exec_errno(self._launched)
                os.close(self._launched.errpipe)
                self.tgids.clear()
                self._restore_signals()
                raise exec_error((self.options.argv or ["?"])[0], err) if err else CaptureError(
                    f"renacer-tui: {(self.options.argv or ['?'])[0]}: exited before exec", 1
                )
            if status in (_SYSCALL_STOP, _SECCOMP_STOP):
                op = info.fetch(pid)
                if op in (OP_ENTRY, OP_SECCOMP):
                    nr, _args = info.entry()
                    if nr in EXEC_NUMBERS:
                        self._pending.append((pid, status))
                        return
                ptrace(PTRACE_SYSCALL if op in (OP_ENTRY, OP_SECCOMP) else resume_op, pid, 0, 0)
                continue
            event = status >> 16
            sig = (status >> 8) & 0xFF
            if event == PTRACE_EVENT_STOP and sig in _STOP_SIGNALS:
                ptrace(PTRACE_LISTEN, pid, 0, 0)
            elif event:
                ptrace(resume_op, pid, 0, 0)
            else:
                ptrace(resume_op, pid, 0, sig)  # our own SIGCONT, or a real signal: deliver it

    # -- signals -------------------------------------------------------------------------------
    def _forward_to_root(self, signum: int, from_terminal: bool) -> None:
        """Send the tracer's SIGINT/SIGTERM on to the program: its root while that lives, else
        the processes still traced (a background child keeps the run going after the root
        exited; a pid that is no longer ours is never signalled)."""
        if from_terminal or not self.root_pid or self._done:
            return
        live = self.tgids
        targets = {self.root_pid} if self.root_pid in live else set(live.values())
        for pid in targets:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def _request_detach(self, signum: int, from_terminal: bool) -> None:
        if self._detach_flag is not None and not self._detach_flag:
            self._detach_flag.append(signum)
            for tid in list(self.tgids):
                ptrace(PTRACE_INTERRUPT, tid, 0, 0)

    _detach_flag: list[int] | None = None

    def _restore_signals(self) -> None:
        if self._relay is not None:
            self._relay.restore()
            self._relay = None

    # -- the loop --------------------------------------------------------------------------------
    def run(self, listener) -> CaptureResult:  # one flat loop on purpose (speed)
        """Drive every stop until no traced task is left (or -p detaches). Calls `listener`."""
        if self._thread is None:
            self.start()
        if threading.get_ident() != self._thread:
            raise CaptureError("renacer-tui: capture.run() must run on the thread that called start()", 1)
        opts = self.options
        root = self.root_pid
        tgids = self.tgids
        attached = opts.attach_pid is not None
        filtered = self._filtered
        detach_flag: list[int] = self._detach_flag if self._detach_flag is not None else []
        self._detach_flag = detach_flag
        pending = self._pending
        early: dict[int, int] = {}  # first stops of tasks whose creator's event is not seen yet
        awaiting: set[int] = set()  # announced tasks whose first stop has not arrived yet
        in_sys: set[int] = set()  # filtered mode: tasks between a traced entry and its exit
        foreign: dict[int, int] = {}
        inject = _injections_by_number(opts.injections) or None  # None: the hot path tests one local
        injecting: dict[int, Injection] = {}  # tid → the injection its call in flight gets
        inject_counts: dict[tuple[int, int], int] = {}  # (tid, nr) → calls so far, for when=
        mem = ProcMemory()
        info = SyscallInfo()
        siginfo = SigInfo()
        fetch = info.fetch
        info_buf = info.buf
        info_arg = info.addr_arg
        GET_INFO = PTRACE_GET_SYSCALL_INFO
        INFO_SIZE = info.SIZE
        unpack_entry = info.unpack_entry
        unpack_exit = info.unpack_exit
        buf = info.buf
        fetch_sig = siginfo.fetch
        raw_sig = siginfo.raw
        on_entry = listener.on_syscall_entry
        on_exit_sc = listener.on_syscall_exit
        on_new_task = listener.on_new_task
        on_exec = listener.on_exec
        on_signal = listener.on_signal
        on_group_stop = listener.on_group_stop
        on_exit = listener.on_exit
        now = time.time_ns
        waitpid = os.waitpid
        pt = ptrace_fast  # every argument below is a small int (pid, request, signal)
        WALL = 0x40000000
        WNOHANG = os.WNOHANG
        spin_ns = max(0, DEFAULT_SPIN_US if opts.spin_us is None else opts.spin_us) * 1000
        sched_yield = os.sched_yield
        perf = time.perf_counter_ns
        after_exit = PTRACE_CONT if filtered else PTRACE_SYSCALL
        exists = os.path.exists
        stops = 0
        tasks_seen = len(tgids)
        root_status: int | None = None
        exec_seen = attached
        detached = False

        lock = self.lock.acquire
        unlock = self.lock.release
        finished = False
        lock()
        try:
            listener.on_start(root, now())
        except BaseException:
            unlock()
            raise
        try:
            while tgids or awaiting or pending:
                if pending:
                    pid, status = pending.pop()
                else:
                    unlock()
                    try:
                        if spin_ns:
                            deadline = perf() + spin_ns
                            while True:
                                pid, status = waitpid(-1, WALL | WNOHANG)
                                if pid or perf() > deadline:
                                    break
                                sched_yield()  # a tracee on our CPU runs now; on another CPU, this returns at once
                            if not pid:
                                pid, status = waitpid(-1, WALL)
                        else:
                            pid, status = waitpid(-1, WALL)
                    except ChildProcessError:
                        lock()
                        break
                    except BaseException:
                        lock()
                        raise
                    lock()
                    stops += 1
                if detach_flag:
                    self._drain_detach(pid, status, early, awaiting)
                    detached = True
                    break
                t = now()
                tgid = tgids.get(pid)

                # Hot path: a syscall stop of a known task.
                if status == _SYSCALL_STOP and tgid is not None:
                    op = info_buf[0] if pt(GET_INFO, pid, INFO_SIZE, info_arg) > 0 else 0  # info.fetch, inlined
                    if op == OP_ENTRY:
                        values = unpack_entry(buf, 24)
                        if inject is not None and values[0] in inject:
                            _injection_at_entry(pid, values[0], inject, inject_counts, injecting)
                        on_entry(pid, tgid, values[0], values[1:], t, mem)
                        if filtered:
                            in_sys.add(pid)
                        pt(PTRACE_SYSCALL, pid, 0, 0)
                    else:
                        resume_sig = 0
                        if op == OP_EXIT:
                            rval, is_error = unpack_exit(buf, 24)
                            if injecting and pid in injecting:
                                rval, is_error, resume_sig = _injection_at_exit(pid, injecting.pop(pid), rval,
                                                                                is_error, listener)
                            on_exit_sc(pid, rval, is_error != 0, t, mem)
                            if filtered:
                                in_sys.discard(pid)
                        pt(after_exit, pid, 0, resume_sig)
                    continue
                if status == _SECCOMP_STOP and tgid is not None:
                    if fetch(pid) == OP_SECCOMP:
                        values = unpack_entry(buf, 24)
                        if inject is not None and values[0] in inject:
                            _injection_at_entry(pid, values[0], inject, inject_counts, injecting)
                        on_entry(pid, tgid, values[0], values[1:], t, mem)
                        in_sys.add(pid)
                        pt(PTRACE_SYSCALL, pid, 0, 0)
                    else:
                        pt(PTRACE_CONT, pid, 0, 0)
                    continue

                if (status & 0x7F) != 0x7F:  # WIFEXITED or WIFSIGNALED: the task is gone
                    if tgid is None and pid not in awaiting:
                        if pid in early:
                            early.pop(pid)
                        else:
                            foreign[pid] = status  # a child of ours we never traced
                            continue
                    awaiting.discard(pid)
                    tgids.pop(pid, None)
                    in_sys.discard(pid)
                    on_exit(pid, status, t)
                    if pid == root:
                        root_status = status
                    continue

                # A stop other than a syscall stop.
                event = status >> 16
                sig = (status >> 8) & 0xFF
                resume = PTRACE_SYSCALL if (not filtered or pid in in_sys) else PTRACE_CONT
                if tgid is None:
                    if pid in awaiting:  # first stop of an announced child
                        awaiting.discard(pid)
                        tgid = tgids.get(pid, pid)
                    elif event == PTRACE_EVENT_EXEC:  # a leader we saw die "reappears" via exec
                        tgid = pid
                        tgids[pid] = pid
                    else:  # first stop before the creator's fork event: park it
                        early[pid] = status
                        continue
                    if event == PTRACE_EVENT_STOP and sig not in _STOP_SIGNALS:
                        pt(resume, pid, 0, 0)
                        continue
                if event:
                    if event == PTRACE_EVENT_STOP:
                        awaiting.discard(pid)  # a child announced by its creator's event: its first stop
                        if sig in _STOP_SIGNALS:
                            on_group_stop(pid, sig, t)
                            pt(PTRACE_LISTEN, pid, 0, 0)  # group-stop: stay stopped, keep tracing
                        else:
                            pt(resume, pid, 0, 0)  # PTRACE_INTERRUPT / initial stop
                    elif event == PTRACE_EVENT_FORK or event == PTRACE_EVENT_VFORK or event == PTRACE_EVENT_CLONE:
                        child = get_event_msg(pid)
                        if child > 0 and child not in tgids:
                            is_thread = event == PTRACE_EVENT_CLONE and exists(f"/proc/{tgid}/task/{child}")
                            tgids[child] = tgid if is_thread else child
                            tasks_seen += 1
                            on_new_task(child, tgid if is_thread else child, pid, is_thread, t)
                            first = early.pop(child, None)
                            if first is not None:
                                pending.append((child, first))
                            else:
                                awaiting.add(child)
                        pt(resume, pid, 0, 0)
                    elif event == PTRACE_EVENT_EXEC:
                        former = get_event_msg(pid)
                        if former > 0 and former != pid:
                            tgids.pop(former, None)
                            awaiting.discard(former)  # its tid is gone: no exit will ever be reported
                            if former in in_sys:
                                in_sys.discard(former)
                                in_sys.add(pid)
                                resume = PTRACE_SYSCALL
                        else:
                            former = pid
                        tgids[pid] = tgid
                        if tgid == root:
                            exec_seen = True
                        on_exec(pid, tgid, former, t)
                        pt(resume, pid, 0, 0)
                    else:  # VFORK_DONE, EXIT, a stray seccomp stop
                        pt(resume, pid, 0, 0)
                    continue

                # Signal-delivery stop: report and re-inject.
                got = fetch_sig(pid)
                # si_pid is meaningful for kill/tgkill/sigqueue (si_code <= 0) and SIGCHLD only;
                # faults carry an address there instead.
                sender = got[2] if got is not None and (got[1] <= 0 or sig == SIGCHLD) else 0
                on_signal(pid, sig, sender, t, b"" if got is None else raw_sig(SIGINFO_BYTES))
                pt(resume, pid, 0, sig)
            finished = True
        except BaseException:
            self._abandon(early, awaiting)
            raise
        finally:
            self._done = True
            self._restore_signals()
            self._detach_flag = None
            if not finished:
                unlock()
        try:
            listener.on_detach(now())
        finally:
            unlock()

        if self._launched is not None:
            err = 0 if exec_seen else read_exec_errno(self._launched)
            os.close(self._launched.errpipe)
            self._launched = None
            if err:
                failure = exec_error((opts.argv or ["?"])[0], err)
                return CaptureResult(failure.exit_code, root, tasks_seen, stops, detached, foreign, failure.message)
        if detached or root_status is None:
            exit_code = 0
        elif os.WIFSIGNALED(root_status):
            exit_code = 128 + os.WTERMSIG(root_status)
        else:
            exit_code = os.WEXITSTATUS(root_status)
        return CaptureResult(exit_code, root, tasks_seen, stops, detached, foreign)

    # -- endings ---------------------------------------------------------------------------------
    def _drain_detach(self, pid: int, status: int, early: dict[int, int], awaiting: set[int]) -> None:
        """-p and a signal: interrupt every task, detach each as it stops, leave all running."""
        tgids = self.tgids
        remaining = set(tgids) | awaiting | set(early)
        for tid in early:
            ptrace(PTRACE_DETACH, tid, 0, 0)
            remaining.discard(tid)
        while True:
            if os.WIFSTOPPED(status):
                event = status >> 16
                sig = os.WSTOPSIG(status)
                if event in (PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE):
                    child = get_event_msg(pid)
                    if child > 0:
                        remaining.add(child)
                inject = sig if (event == 0 and status != _SYSCALL_STOP) else 0
                ptrace(PTRACE_DETACH, pid, 0, inject)
            remaining.discard(pid)
            tgids.pop(pid, None)
            if not remaining:
                break
            try:
                pid, status = os.waitpid(-1, 0x40000000)
            except ChildProcessError:
                break
        tgids.clear()

    def _abandon(self, early: dict[int, int], awaiting: set[int]) -> None:
        """The listener failed: kill what we launched, or detach from what we attached."""
        if self.options.attach_pid is not None:
            if self.tgids:
                for tid in list(self.tgids):
                    ptrace(PTRACE_INTERRUPT, tid, 0, 0)
                try:
                    pid, status = os.waitpid(-1, 0x40000000)
                except ChildProcessError:
                    return
                self._drain_detach(pid, status, early, awaiting)
            return
        victims = set(self.tgids) | awaiting | set(early)
        for tid in victims:
            try:
                os.kill(tid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while victims:
            try:
                pid, _ = os.waitpid(-1, 0x40000000)
            except ChildProcessError:
                break
            victims.discard(pid)
        self.tgids.clear()


def run_capture(options: CaptureOptions, listener) -> CaptureResult:
    """start() and run() in one call, for callers that start no threads in between."""
    session = CaptureSession(options)
    session.start()
    return session.run(listener)

