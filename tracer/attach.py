"""Attach to a running process (-p PID) and every one of its threads with PTRACE_SEIZE.

SEIZE leaves the threads running; PTRACE_INTERRUPT then brings each to a PTRACE_EVENT_STOP,
from which the capture loop restarts it with PTRACE_SYSCALL.  Threads created while we walk
/proc/<pid>/task may be missed by the walk, so it repeats until a pass finds nothing new (the
threads they create later are auto-attached through PTRACE_O_TRACECLONE).  No seccomp filter
is possible here — a filter can only be installed by the task itself — so an attached capture
stops at every syscall and the span builder filters in userspace.
"""

from __future__ import annotations

import errno
import os

from renacer_tui.tracer.launch import PTRACE_REFUSED_HINT, CaptureError
from renacer_tui.tracer.ptrace_raw import (
    PTRACE_DETACH,
    PTRACE_INTERRUPT,
    PTRACE_SEIZE,
    WALL,
    PtraceError,
    ptrace_checked,
)


def _tgid_of(pid: int) -> int:
    """The thread-group id of `pid` (a tid given to -p is promoted to its process)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        raise CaptureError(f"renacer-tui: attach: no such process: {pid}", 1) from None
    except OSError as exc:
        raise CaptureError(f"renacer-tui: attach: {pid}: {exc.strerror}", 1) from None
    return pid


def _tids(tgid: int) -> list[int]:
    try:
        return sorted(int(name) for name in os.listdir(f"/proc/{tgid}/task"))
    except FileNotFoundError:
        return []


def attach(pid: int, options_mask: int) -> tuple[int, list[int]]:
    """Seize and interrupt every thread of `pid`'s process; returns (tgid, tids)."""
    if pid <= 0:
        raise CaptureError(f"renacer-tui: attach: invalid pid: {pid}", 1)
    if pid == os.getpid():
        raise CaptureError("renacer-tui: attach: refusing to trace myself", 1)
    tgid = _tgid_of(pid)
    seized: list[int] = []
    while True:
        fresh = [tid for tid in _tids(tgid) if tid not in seized]
        if not fresh:
            break
        for tid in fresh:
            try:
                ptrace_checked(PTRACE_SEIZE, tid, 0, options_mask)
            except PtraceError as exc:
                if exc.errno == errno.ESRCH and seized:
                    continue  # a thread that exited while we walked the list
                if exc.errno == errno.ESRCH:
                    raise CaptureError(f"renacer-tui: attach: no such process: {pid}", 1) from None
                if exc.errno in (errno.EPERM, errno.EACCES):
                    raise CaptureError(f"renacer-tui: attach: {pid}: {PTRACE_REFUSED_HINT}", 1) from None
                raise CaptureError(f"renacer-tui: attach: {pid}: {os.strerror(exc.errno or 0)}", 1) from None
            seized.append(tid)
            try:
                ptrace_checked(PTRACE_INTERRUPT, tid)
            except PtraceError:
                pass  # exited already; the loop will reap it
    if not seized:
        raise CaptureError(f"renacer-tui: attach: no such process: {pid}", 1)
    return tgid, seized


def release(tids: list[int]) -> None:
    """Detach tasks `attach` seized (a later -p failed): each is waited for at its interrupt
    stop, then let go, untouched."""
    for tid in tids:
        try:
            os.waitpid(tid, WALL)  # the PTRACE_EVENT_STOP the interrupt caused
            ptrace_checked(PTRACE_DETACH, tid, 0, 0)
        except (ChildProcessError, PtraceError):
            pass  # gone already
