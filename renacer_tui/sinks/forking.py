"""Forking helpers shared by the sink children and the decoder process: when a fork is safe, and
how a forked child leaves the capture process's signals, descriptors and CPU behind.

Kept free of pyarrow so the capture process can decide to fork before it imports anything heavy.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Iterable

#: CPUs the tracer pinned itself and its program to (`--pin-cpu`): sink children run elsewhere.
_avoid_cpus: frozenset[int] = frozenset()


def keep_children_off(cpus: Iterable[int]) -> None:
    """Children forked from now on run on the other CPUs (if any are usable).

    `--pin-cpu N` puts the capture loop and the traced program on one CPU so every stop is a
    same-CPU switch; a sink child inheriting that pin would take turns with them instead of
    using an idle CPU.
    """
    global _avoid_cpus
    _avoid_cpus = frozenset(int(c) for c in cpus)


def can_fork() -> bool:
    """True when forking this process now is safe: one Python thread, gRPC never imported."""
    return hasattr(os, "fork") and threading.active_count() == 1 and "grpc" not in sys.modules


def become_child(keep: tuple[int, ...], stderr_fd: int | None) -> None:
    """Leave the capture process's signal handling and descriptors behind (sink children and
    the decoder process): only `keep`, stderr and /dev/null on stdin/stdout stay open."""
    # Ctrl-C reaches the whole foreground group: the child ends on EOF, after flushing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGQUIT):
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    try:
        signal.set_wakeup_fd(-1)
    except (OSError, ValueError):
        pass
    if stderr_fd is not None and stderr_fd != 2:
        os.dup2(stderr_fd, 2)
    # stdin/stdout belong to the traced program's user (a terminal, a test's pipe): a child
    # must neither read them nor keep a pipe reader from seeing EOF when the tracer exits.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        if fd not in keep and fd != null:
            os.dup2(null, fd)
    if null not in keep and null > 2:
        os.close(null)
    # Other pipes (the live feed, a sibling sink's input) must see EOF when the capture
    # process closes them, not when this child exits.
    last = 2
    for fd in sorted(keep):
        if fd > last + 1:
            os.closerange(last + 1, fd)
        last = max(last, fd)
    os.closerange(last + 1, _max_fd())
    if _avoid_cpus:
        move_off(_avoid_cpus)


def _max_fd() -> int:
    try:
        return max(int(name) for name in os.listdir("/proc/self/fd")) + 1
    except (OSError, ValueError):
        return os.sysconf("SC_OPEN_MAX")


def move_off(cpus: Iterable[int]) -> None:
    """Run this process on every CPU but `cpus` (if any other is usable)."""
    others = set(range(os.cpu_count() or 1)) - set(cpus)
    try:
        if others:
            os.sched_setaffinity(0, others)
    except (OSError, ValueError):  # none of them is ours to use (a cpuset): stay put
        pass
