"""Synthetic span rows with known answers, shared by the analysis and graph CLI tests.

Times are in milliseconds and span ids are small numbers (`sid(3)` = `0000000000000003`), so a
test states its trace as a short table and its expected path in the same units.
"""

from __future__ import annotations

from typing import Any

from renacer_tui.model.attributes import ATTR_LINKS

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
MS = 1_000_000


def sid(n: int) -> str:
    return f"{n:016x}"


def span(
    n: int,
    parent: int | None,
    start: int,
    end: int,
    name: str,
    pid: int = 100,
    tid: int | None = None,
    clock: int | None = None,
    links: list[tuple[str, int]] | None = None,
    rle: int = 1,
    trace: str = TRACE,
    c_source: str | None = None,
    **attrs: Any,
) -> dict[str, Any]:
    """One span row; `links` as (type, source span number) like the tracer records them, and
    attribute keys with `__` for `.` (`syscall__pathname=` → `syscall.pathname`)."""
    a = {key.replace("__", "."): value for key, value in attrs.items()}
    if links:
        a[ATTR_LINKS] = [{"type": kind, "span_id": sid(src), "logical_clock": src} for kind, src in links]
    return {
        "trace_id": trace, "span_id": sid(n), "parent_span_id": sid(parent) if parent is not None else None,
        "start_time_nanos": start * MS, "end_time_nanos": end * MS, "span_name": name, "attributes": a,
        "process_pid": pid, "process_name": name.split(":", 1)[-1] if name.startswith("process:") else "prog", "thread_id": tid if tid is not None else pid,
        "logical_clock": clock if clock is not None else n, "rle_count": rle, "c_source": c_source,
    }


def fork_wait(wait_link: bool = True) -> list[dict[str, Any]]:
    """Parent 100 forks child 200 that sleeps 80 ms; the parent's wait4 reaps its exit_group.

    As the tracer records it: the process span hangs under the clone span (and repeats the fork
    link), the child's first syscall carries the fork link, wait4 a wait link.
    """
    return [
        span(1, None, 0, 100, "renacer:run ./parent", pid=1, clock=0),
        span(2, 1, 0, 99, "process:parent"),
        span(3, 2, 1, 2, "syscall:execve"),
        span(4, 2, 3, 4, "syscall:clone"),
        span(5, 4, 4, 90, "process:child", pid=200, links=[("fork", 4)]),
        span(6, 5, 5, 85, "syscall:nanosleep", pid=200, links=[("fork", 4)]),
        span(7, 5, 85, 90, "syscall:exit_group", pid=200),
        span(8, 2, 5, 95, "syscall:wait4", clock=9, links=[("wait", 7)] if wait_link else None),
        span(9, 2, 96, 99, "syscall:exit_group", clock=10),
    ]


def random_span_tree(draw: Any, max_calls: int) -> list[dict[str, Any]]:
    """Rows of a random span tree (for hypothesis `st.composite` strategies): a run, a process,
    up to `max_calls` calls with overhanging children, threads, a second process, random links."""
    from hypothesis import strategies as st

    rows = [span(1, None, 0, 1000, "renacer:run x", pid=1, clock=0), span(2, 1, 0, 1000, "process:x")]
    n = draw(st.integers(1, max_calls))
    for k in range(n):
        parent = draw(st.integers(2, 2 + k))
        start = draw(st.integers(0, 1000))
        length = draw(st.integers(0, 400))
        links = None
        if k and draw(st.booleans()):
            links = [(draw(st.sampled_from(["wait", "pipe", "signal", "fork", "other"])), draw(st.integers(3, 2 + k)))]
        pid = 200 if parent == 2 and k % 5 == 0 else 100
        rows.append(span(3 + k, parent, start, min(start + length, 1100), f"syscall:c{k % 4}", pid=pid,
                         tid=draw(st.sampled_from([pid, pid + 1, pid + 2])), clock=start * 10 + k, links=links))
    return rows
