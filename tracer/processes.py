"""Per-process and per-thread state of the span builder, and the table that holds it.

A process owns its `process:<comm>` row (kept open until its last thread exits, so exec can
rename it) and the set of its live threads; a thread owns its in-flight syscall, its
happens-before predecessor, the links waiting for its next span, and its RLE window.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from renacer_tui.model.attributes import ATTR_PROCESS_PARENT_PID, ATTR_PROCESS_PID
from renacer_tui.model.kinds import LinkKind
from renacer_tui.tracer import formats as F
from renacer_tui.tracer.rle import ThreadRle
from renacer_tui.tracer.rows import Row


class Proc:
    """A traced process (thread group)."""

    __slots__ = ("tgid", "row", "name", "cmdline", "threads", "last_row", "wait_status")

    def __init__(self, tgid: int, row: Row, name: str, cmdline: str) -> None:
        self.tgid = tgid
        self.row = row
        self.name = name
        self.cmdline = cmdline
        self.threads: set[int] = set()
        self.last_row: Row | None = None
        self.wait_status: int | None = None


class Thread:
    """A traced task."""

    __slots__ = ("tid", "proc", "rle", "inflight", "prev", "links", "last_ns", "signals", "interrupted", "stopped")

    def __init__(self, tid: int, proc: Proc, rle: ThreadRle) -> None:
        self.tid = tid
        self.proc = proc
        self.rle = rle
        self.inflight: tuple[Row, Any, tuple, str | None] | None = None
        self.prev: Row | int | None = None
        self.links: list[tuple[str, Row]] = []
        self.last_ns = 0
        #: span events of signals delivered since the thread's last kept call (they go on the next)
        self.signals: list[tuple[str, int, dict[str, Any]]] = []
        #: the call a signal interrupted with ERESTART_RESTARTBLOCK: what restart_syscall resumes
        self.interrupted: str | None = None
        #: in a group-stop since its last call: its signal events wait for a call that may be
        #: minutes away, so the text output's watermark does not wait for them
        self.stopped = False


class ProcessTable:
    """The processes and threads being traced, and the process span of every pid seen.

    It creates their rows (each new process takes the next clock from `tick`) and names them:
    a launched root before its exec by the command it is about to run (/proc still shows the
    tracer that forked it), a forked child by its parent, anything else by `identity`.
    """

    def __init__(
        self,
        *,
        run_span_id: str,
        run_clock: int,
        command: list[str],
        attached: bool,
        tick: Callable[[], tuple[int, str]],
        identity: Callable[[int], tuple[str, str]],
    ) -> None:
        self.threads: dict[int, Thread] = {}
        self.procs: dict[int, Proc] = {}
        #: pid → its process span, kept after it ends (the OTLP receiver places senders by it)
        self.spans: dict[int, str] = {}
        self.root_pid: int | None = None
        self._run_span_id = run_span_id
        self._run_clock = run_clock
        self._command = command
        self._attached = attached
        self._tick = tick
        self._identity = identity

    def identity(self, tgid: int) -> tuple[str, str]:
        """(comm, cmdline) of `tgid` as it is now (after an exec, say)."""
        return self._identity(tgid)

    def _launched_identity(self) -> tuple[str, str]:
        argv0 = self._command[0] if self._command else "?"
        comm = os.path.basename(argv0).encode("utf-8", "surrogateescape")[:15]
        return F.escape_bytes(comm), " ".join(F.escape_text(arg) for arg in self._command)

    def new_process(self, tgid: int, t_ns: int, parent: Row | None, parent_proc: Proc | None) -> Proc:
        """A process span for `tgid`: under the call that created it (`parent`), else under
        its parent process, else under the run span."""
        clock, span_id = self._tick()
        if parent_proc is not None:
            name, cmdline = parent_proc.name, parent_proc.cmdline
        elif tgid == self.root_pid and not self._attached:
            name, cmdline = self._launched_identity()
        else:
            name, cmdline = self._identity(tgid)
        row = Row(span_id, clock, "", t_ns, tgid, tgid)
        if parent is not None:
            row.parent_span_id = parent.span_id
            row.prev = parent
            row.links.append((LinkKind.FORK, parent))
        elif parent_proc is not None:
            row.parent_span_id = parent_proc.row.span_id
            row.prev = parent_proc.row
        else:
            row.parent_span_id = self._run_span_id
            row.prev = self._run_clock
        row.attrs[ATTR_PROCESS_PID] = tgid
        if parent_proc is not None:
            row.attrs[ATTR_PROCESS_PARENT_PID] = parent_proc.tgid
        proc = Proc(tgid, row, name, cmdline)
        self.procs[tgid] = proc
        self.spans[tgid] = span_id
        return proc

    def new_thread(self, tid: int, proc: Proc, creator: Row | None) -> Thread:
        """A thread of `proc`, made by the call `creator` (None: the process's first)."""
        th = Thread(tid, proc, ThreadRle())
        if creator is not None:
            th.links.append((LinkKind.FORK, creator))
            th.prev = creator
        else:
            th.prev = proc.row
        proc.threads.add(tid)
        self.threads[tid] = th
        return th

    def thread(self, tid: int, tgid: int, t_ns: int) -> Thread:
        """The thread `tid`, made (with its process, if new) when the tracer was not told of it:
        an attached task, a child of the run."""
        th = self.threads.get(tid)
        if th is not None:
            return th
        proc = self.procs.get(tgid)
        if proc is None:
            proc = self.new_process(tgid, t_ns, None, None)
        return self.new_thread(tid, proc, None)

    def take_over(self, former_tid: int, tid: int) -> Thread | None:
        """An exec by a non-leader thread: it becomes `tid`, the leader.  Returns the old
        leader's thread, killed by the exec, for the caller to close (None: none known)."""
        th = self.threads.pop(former_tid)
        th.proc.threads.discard(former_tid)
        stale = self.threads.pop(tid, None)
        if stale is not None:
            stale.proc.threads.discard(tid)
        th.tid = tid
        th.proc.threads.add(tid)
        self.threads[tid] = th
        return stale

    # -- for the OTLP receiver (called from its threads: single dict reads, atomic under the GIL) --
    def process_span_id(self, pid: int) -> str | None:
        """The span id of traced process `pid` (its latest, if the pid was reused), or None."""
        return self.spans.get(pid)

    def traced_pids(self) -> list[int]:
        """The processes being traced now."""
        return list(self.procs)
