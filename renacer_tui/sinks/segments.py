"""The segment writer in a forked child: the capture process ships Arrow IPC, the child writes.

The child is an ordinary `SegmentSink` (sort, zstd, Parquet, catalog, the flush timer) with its
own catalog connection, so crash safety is the writer's: a segment at least every
`flush_interval_s`, and — new with the child — a tracer killed with `kill -9` closes the pipe,
so the child still flushes what it had received.  The capture process keeps only
`begin_run`/`end_run`; `close()` returns once the child has written its last segment (bounded),
so `end_run` follows every segment of the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Callable

from renacer_tui.sinks.child import ForkedSink, run_child_sink
from renacer_tui.store.config import DatabaseConfig

#: How long the end of a run waits for the child's last segment before giving up on it.
CLOSE_TIMEOUT_S = 8.0


def segment_sink_process(root: Path, run_id: str, config: DatabaseConfig) -> ForkedSink:
    """A fan-out sink named `store` whose segments are written by a forked child process."""
    from renacer_tui.store.writer import StoreWriteError

    def child_main(stream: BinaryIO, report: Callable[[str], None]) -> int:
        from renacer_tui.store.catalog import Catalog
        from renacer_tui.store.writer import SegmentSink

        catalog = Catalog(root)
        try:
            sink = SegmentSink(root, catalog, run_id, config)
            return run_child_sink(sink, stream, report, str)
        finally:
            catalog.close()

    return ForkedSink("store", child_main, close_timeout=CLOSE_TIMEOUT_S, error_type=StoreWriteError)
