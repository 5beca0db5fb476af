"""Per-process and per-thread state of the span builder.

A process owns its `process:<comm>` row (kept open until its last thread exits, so exec can
rename it) and the set of its live threads; a thread owns its in-flight syscall, its
happens-before predecessor, the links waiting for its next span, and its RLE window.
"""

from __future__ import annotations

from typing import Any

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
