"""The standalone receiver (`renacer-tui serve`): OTLP in, the store out, until told to stop.

Like a collector: gRPC on 4317 and HTTP on 4318 by default.  Everything received goes to the
store through the same bounded fan-out a traced run uses (one run in the catalog stands for the
daemon's session; the spans keep their own traces, so `db traces` lists each sender's trace).
The segment writer is forked before any listener thread or gRPC exists, as in a run.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from renacer_tui.model.ids import new_trace_id
from renacer_tui.receiver.intake import DEFAULT_MAX_BYTES, Intake


@dataclass(frozen=True)
class DaemonOptions:
    host: str = "127.0.0.1"
    grpc_port: int | None = 4317
    http_port: int | None = 4318
    token: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    queue_capacity: int = 1024


@dataclass(frozen=True)
class DaemonStats:
    requests: int
    spans: int
    rejected: dict[str, int]
    dropped: int
    traces: int


class ServeDaemon:
    """Store, fan-out and listeners of one `serve` session; `close()` flushes everything.

    `on_sink_error(name, message)` hears of a sink that failed (the store's disk filled, say);
    `on_batch(batch)` sees every received batch too (the live screen's model), from the
    listeners' threads.  `http_socket` / `shared_ports`: a worker of `serve --workers`, serving
    a listening socket its parent made and binding the gRPC port beside its siblings.
    """

    def __init__(self, store: Any, options: DaemonOptions, command: str,
                 on_sink_error: Callable[[str, str], None] | None = None,
                 on_batch: Callable[[Any], None] | None = None, http_socket: Any | None = None,
                 shared_ports: bool = False) -> None:
        from renacer_tui.sinks.fanout import Fanout
        from renacer_tui.sinks.segments import segment_sink_process

        self.store = store
        self.options = options
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-serve-{os.urandom(4).hex()}"
        self.started_ns = time.time_ns()
        store.begin_run(self.run_id, trace_id=new_trace_id(), command=command, started_ns=self.started_ns)
        sink = store.segment_sink(self.run_id, child=segment_sink_process)  # forked while this process has one thread
        self.fanout = Fanout([sink], capacity_batches=options.queue_capacity, on_error=on_sink_error)
        self._on_batch = on_batch
        self._lock = threading.Lock()
        self._traces: set[str] = set()
        self._represented = 0
        self.intake = Intake(self._deliver, token=options.token, max_bytes=options.max_bytes)
        self.receiver = None
        try:
            from renacer_tui.receiver.service import OtlpReceiver

            self.receiver = OtlpReceiver(self.intake, options.host, options.http_port, options.grpc_port,
                                         http_socket=http_socket, grpc_reuse_port=shared_ports)
        except BaseException:  # a port taken, say: the session is recorded as failed
            self._end(status="error")
            raise
        self.receiver.start()
        self._closed = False

    def _deliver(self, batch: Any) -> None:
        import pyarrow.compute as pc

        traces = set(batch.column("trace_id").unique().to_pylist())
        represented = int(pc.sum(batch.column("rle_count")).as_py() or 0)
        with self._lock:
            if len(self._traces) < 1_000_000:  # a count for the report, bounded
                self._traces |= traces
            self._represented += represented
        self.fanout.offer(batch)
        if self._on_batch is not None:
            self._on_batch(batch)

    @property
    def grpc_endpoint(self) -> str | None:
        return self.receiver.grpc_endpoint if self.receiver is not None else None

    @property
    def http_endpoint(self) -> str | None:
        return self.receiver.http_endpoint if self.receiver is not None else None

    def stats(self) -> DaemonStats:
        with self._lock:
            traces = len(self._traces)
        return DaemonStats(self.intake.requests, self.intake.spans, dict(self.intake.rejected),
                           self.fanout.dropped, traces)

    def close(self) -> DaemonStats:
        """Stop listening, write what was received, record the session's end."""
        if not self._closed:
            self._closed = True
            if self.receiver is not None:
                self.receiver.close()
            self._end(status="ok")
        return self.stats()

    def _end(self, status: str) -> None:
        self.fanout.close(timeout=60.0)
        self.store.end_run(self.run_id, exit_code=0 if status == "ok" else 1, dropped_spans=self.fanout.dropped,
                           spans_represented=self._represented, status=status,
                           dropped_by_sink=self.fanout.dropped_per_sink)
