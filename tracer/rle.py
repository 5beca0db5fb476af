"""Run-length encoding of one thread's syscalls, including short repeating cycles.

A tight loop rarely repeats one call: `dd bs=1` alternates read and write, a poll loop
alternates poll/read/write.  So each thread keeps a small window of finished rows and looks
for a cycle of period 1..4 at its tail (the last p rows equal the p before them).  While the
thread keeps repeating the cycle, each member row just counts; the first call that breaks it
ends the run and the rows go out.  Per call the work is a tuple comparison or two.
"""

from __future__ import annotations

from renacer_tui.tracer.rows import Row

MAX_PERIOD = 4
WINDOW = 2 * MAX_PERIOD  # rows held back while a cycle may still be forming


class ThreadRle:
    """RLE state of one thread; `push` returns the rows that are final."""

    __slots__ = ("pending", "cycle", "pos")

    def __init__(self) -> None:
        self.pending: list[Row] = []
        self.cycle: list[Row] | None = None
        self.pos = 0

    def push(self, row: Row) -> list[Row]:
        out: list[Row] = []
        cycle = self.cycle
        if cycle is not None:
            member = cycle[self.pos]
            if row.key is not None and row.key == member.key:
                member.absorb(row)
                self.pos = (self.pos + 1) % len(cycle)
                return out
            out.extend(cycle)  # the run ends here
            self.cycle = None
        pending = self.pending
        pending.append(row)
        key = row.key
        if key is not None:
            n = len(pending)
            for period in range(1, MAX_PERIOD + 1):
                if n < 2 * period:
                    break
                if pending[n - 1 - period].key != key:
                    continue  # cheap reject: the newest row must repeat the one a period back
                tail = pending[n - period :]
                head = pending[n - 2 * period : n - period]
                if all(a.key is not None and a.key == b.key for a, b in zip(head, tail)):
                    for a, b in zip(head, tail):
                        a.absorb(b)
                    out.extend(pending[: n - 2 * period])
                    self.cycle = head
                    self.pos = 0
                    self.pending = []
                    return out
        if len(pending) > WINDOW:
            cut = len(pending) - WINDOW
            out.extend(pending[:cut])
            del pending[:cut]
        return out

    def flush(self) -> list[Row]:
        """Everything held back (thread exit, idle timeout, end of run)."""
        out = self.pending
        if self.cycle is not None:
            out = self.cycle + out  # cycle rows are older than anything pending after them
            self.cycle = None
        self.pending = []
        self.pos = 0
        return out

    def __bool__(self) -> bool:
        return bool(self.pending) or self.cycle is not None
