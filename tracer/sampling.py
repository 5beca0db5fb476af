"""Adaptive sampling: of the fast calls RLE could not fold, one row in k, standing for all k.

The spec's `[sampling] threshold_us, sample_rate`: a busy program makes millions of calls of a
few microseconds each (the `stat` of every file a build looks at, the `lseek` of each record)
that differ in their arguments, so RLE cannot fold them, and they are most of the store.  Here
the first fast call of a thread's syscall is held, and the next fast calls of that syscall on
that thread are counted into it (their number, the sum and the maximum of their durations),
until it stands for k = 1 / sample_rate calls or has been held for a batch interval; then it
is emitted with `rle_count` = the calls it stands for and `renacer.sampled` = that number.
So the `spans` view, the `-c` table and the catalog still count every call and sum every
duration exactly; what is lost is each left-out call's own arguments and times (the view
gives each the average duration, at the kept call's start).  A reference to a left-out call
(the next call's happens-before edge) resolves to the kept row, as for a call RLE folded.

Never sampled: errors and unfinished calls, calls at or above the threshold, calls that start
or end a link (pipes, signals, waits, forks: `Row.linked`, `Row.links`), calls carrying events
(signals), structural calls (`Row.keep`: the ones processes hang off), rows RLE folded, and
anything that is not a syscall span (runs, processes, streams).  Off unless both keys are set
(or the CLI's `--sample-threshold-us` / `--sample-rate`), and off when `-e trace=` or `-P`
names the calls the user asked for (those are never sampled).
"""

from __future__ import annotations

from renacer_tui.model.attributes import ATTR_SAMPLED
from renacer_tui.model.kinds import SYSCALL_PREFIX
from renacer_tui.tracer.rows import Row


class Sampler:
    """Per finished syscall row: emit it, or count it into the row held for its thread and syscall."""

    __slots__ = ("threshold_ns", "every", "_held", "kept", "represented")

    def __init__(self, threshold_us: float, rate: float) -> None:
        if not 0 < rate <= 1:
            raise ValueError(f"sample_rate must be in (0, 1], not {rate!r}")
        self.threshold_ns = int(threshold_us * 1000)
        self.every = max(1, round(1 / rate))
        self._held: dict[tuple[int, str], Row] = {}  # (thread, syscall) → the row counting its calls
        self.kept = 0  # rows emitted standing for more than one call
        self.represented = 0  # calls counted into them and not emitted

    def admit(self, row: Row) -> Row | None:
        """The row to emit now (`row`, or a held one it completed), or None."""
        if (row.count != 1 or row.status != "OK" or row.keep or row.linked or row.links or row.events
                or row.end - row.start >= self.threshold_ns or not row.name.startswith(SYSCALL_PREFIX)):
            return row
        key = (row.tid, row.name)
        held = self._held.get(key)
        if held is None:
            self._held[key] = row
            return None
        duration = row.end - row.start
        if held.count == 1:
            held.total = held.max = held.end - held.start
        held.count += 1
        held.total += duration
        held.max = max(held.max, duration)  # its own start and end stay: the calls were not contiguous
        row.alias = held
        row.prev = None
        self.represented += 1
        if held.count < self.every:
            return None
        del self._held[key]
        return self._sealed(held)

    def release(self, tid: int | None = None, before_ns: int | None = None) -> list[Row]:
        """Emit the held rows of thread `tid` (every thread: None), or those that started before `before_ns`."""
        out = [row for key, row in self._held.items()
               if (tid is None or key[0] == tid) and (before_ns is None or row.start < before_ns)]
        for row in out:
            del self._held[(row.tid, row.name)]
        return [self._sealed(row) for row in sorted(out, key=lambda r: r.start)]

    def earliest(self, tid: int) -> int | None:
        """The start of thread `tid`'s earliest held row (the text output waits for it)."""
        starts = [row.start for key, row in self._held.items() if key[0] == tid]
        return min(starts) if starts else None

    def _sealed(self, row: Row) -> Row:
        if row.count > 1:
            row.attrs[ATTR_SAMPLED] = row.count
            self.kept += 1
        return row
