"""GPU timestamps onto the trace's clock (Unix epoch nanoseconds): one offset per run.

Timestamp queries count nanoseconds from a device-chosen origin.  Mesa's llvmpipe (OpenGL)
and lavapipe (Vulkan) use CLOCK_MONOTONIC, as many Linux drivers do; then the offset is the
host's wall-minus-monotonic difference, exact.  Where a calibration timestamp falls outside
the monotonic window it was taken in, the origin is the device's own and the offset is fixed by
that calibration: its end timestamp is taken to be the moment the host saw the result, so
mapped spans can only be late by the read-back latency, never early.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ClockMap:
    """`to_wall(gpu_ns)` = gpu_ns + offset_ns; `source` says how the offset was found."""

    offset_ns: int
    source: str  # "monotonic" or "calibrated"

    def to_wall(self, gpu_ns: int) -> int:
        return int(gpu_ns) + self.offset_ns


def wall_minus_monotonic() -> int:
    """time_ns() − monotonic_ns(), read back to back (the tighter of three tries)."""
    best: tuple[int, int] | None = None
    for _ in range(3):
        m0 = time.monotonic_ns()
        wall = time.time_ns()
        m1 = time.monotonic_ns()
        if best is None or m1 - m0 < best[0]:
            best = (m1 - m0, wall - (m0 + m1) // 2)
    assert best is not None
    return best[1]


def clock_map(begin_ns: int, end_ns: int, window: tuple[int, int], wall_at_end: int) -> ClockMap:
    """The map from one calibration pair taken while monotonic time ran through `window`.

    `wall_at_end` is the wall clock when the host had the calibration result.
    """
    lo, hi = window
    if lo <= begin_ns <= end_ns <= hi:
        return ClockMap(wall_minus_monotonic(), "monotonic")
    return ClockMap(wall_at_end - int(end_ns), "calibrated")
