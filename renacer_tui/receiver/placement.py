"""Where received spans go in a traced run (a light module: the run makes one before any request)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Placement:
    """The run a receiver serves.

    `trace_id` / `run_span_id`: the run's golden trace and its `renacer:run` span (a span of
    that trace without a parent becomes its child).  `process_span(pid)`: the span id of a
    traced process, or None when the pid is not one of the run's.
    """

    trace_id: str
    run_span_id: str
    process_span: Callable[[int], str | None]
