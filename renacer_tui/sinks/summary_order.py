"""The orders of the `-c` table (`-S`), with strace's names for them."""

from __future__ import annotations

from typing import Any, Callable

#: `-S` values: strace 6.1's, and the short names its manual uses.
SUMMARY_SORTS = ("time", "total_time", "calls", "count", "errors", "name", "syscall", "avgtime", "avg_time", "nothing", "none")


def summary_key(sort_by: str) -> Callable[[tuple[str, Any]], Any] | None:
    """A sort key over (syscall name, totals with calls/errors/total_ns), or None for -S nothing."""
    if sort_by in ("time", "total_time"):
        return lambda item: (-item[1].total_ns, -item[1].calls, item[0])
    if sort_by in ("calls", "count"):
        return lambda item: (-item[1].calls, -item[1].total_ns, item[0])
    if sort_by == "errors":
        return lambda item: (-item[1].errors, -item[1].total_ns, item[0])
    if sort_by in ("name", "syscall"):
        return lambda item: item[0]
    if sort_by in ("avgtime", "avg_time"):
        return lambda item: (-(item[1].total_ns / item[1].calls if item[1].calls else 0), item[0])
    if sort_by in ("nothing", "none"):
        return None
    raise ValueError(f"unknown -S order {sort_by!r}")
