"""Which calls and signals become spans: strace's -e trace=, -e status=, -P and -e signal=.

A call a filter rejects that other spans hang off (a fork, a link source) is kept and marked
`renacer.filtered`, so the text and summary outputs leave it out as strace would while the
span tree stays connected.
"""

from __future__ import annotations

import os
from typing import Iterable

from renacer_tui.model.attributes import ATTR_FILTERED
from renacer_tui.tracer.decode import Decoded
from renacer_tui.tracer.filter_spec import SyscallFilter
from renacer_tui.tracer.rows import Row


def _paths(paths: Iterable[str] | None) -> frozenset[str] | None:
    """-P's paths as given, absolute and resolved: a call matches by any of them."""
    if paths is None:
        return None
    out: set[str] = set()
    for p in paths:
        out.add(p)
        out.add(os.path.abspath(p))
        out.add(os.path.realpath(p))
    return frozenset(out)


class SpanFilter:
    """The run's filters. `plain` says none of -e status= / -P is given: then a call's fate is
    known at its entry, the common case the builder's hot path tests first."""

    __slots__ = ("statuses", "paths", "names", "signals", "plain")

    def __init__(
        self,
        statuses: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
        names: SyscallFilter | None = None,
        signals: Iterable[int] | None = None,
    ) -> None:
        self.statuses = frozenset(statuses) if statuses is not None else None
        self.paths = _paths(paths)
        self.names = names
        #: -e signal=: the signals whose deliveries become events (None: all)
        self.signals = frozenset(signals) if signals is not None else None
        self.plain = self.statuses is None and self.paths is None

    def shows_signal(self, signo: int) -> bool:
        return self.signals is None or signo in self.signals

    def keep(self, row: Row, dec: Decoded, obj: str | None, is_error: bool | None) -> bool:
        """Whether the finished (`is_error` None: unfinished) call's row is emitted."""
        if self._wanted(row, dec, obj, is_error):
            return True
        if row.keep:
            row.attrs[ATTR_FILTERED] = True
            return True
        return False

    def _wanted(self, row: Row, dec: Decoded, obj: str | None, is_error: bool | None) -> bool:
        if ATTR_FILTERED in row.attrs:
            return False
        statuses = self.statuses
        if statuses is not None:
            kind = "unfinished" if is_error is None else ("failed" if is_error else "successful")
            if kind not in statuses:
                return False
        paths = self.paths
        if paths is not None and dec.path not in paths and obj not in paths:
            return False
        return True
