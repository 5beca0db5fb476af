"""`serve --workers N`: N daemon processes sharing the listening ports, for ingest beyond one GIL.

Converting received spans is Python work, so one process tops out at one core.  The parent makes
the HTTP listening socket and holds the gRPC port (a SO_REUSEPORT placeholder), then forks the
workers before it has a thread, a store connection or gRPC: each worker accepts on the shared
HTTP socket, binds gRPC beside its siblings (the kernel spreads connections), and writes its own
segments into the one store.  Workers report their counters as JSON lines on a pipe; the parent
prints the progress and the summary, and on Ctrl-C / SIGTERM stops them all and waits for their
flush.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import socket
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable

from renacer_tui.receiver.daemon import DaemonOptions, DaemonStats
from renacer_tui.receiver.ports import listening_socket, reserve_port, url_host

REPORT_INTERVAL_S = 1.0


@dataclasses.dataclass
class _Worker:
    pid: int
    fd: int  # the read end of its report pipe
    buffer: bytes = b""
    stats: DaemonStats | None = None
    error: str | None = None
    done: bool = False


def _stats(data: dict[str, Any]) -> DaemonStats:
    return DaemonStats(int(data["requests"]), int(data["spans"]), {str(k): int(v) for k, v in data["rejected"].items()},
                       int(data["dropped"]), int(data["traces"]))


def total(stats: list[DaemonStats]) -> DaemonStats:
    """The workers' counters added up (`traces` counts a trace once per worker that saw it)."""
    rejected: dict[str, int] = {}
    for one in stats:
        for reason, count in one.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + count
    return DaemonStats(sum(s.requests for s in stats), sum(s.spans for s in stats), rejected,
                       sum(s.dropped for s in stats), sum(s.traces for s in stats))


def _worker_main(db: Path | None, options: DaemonOptions, http_socket: socket.socket | None, out: IO[str]) -> int:
    """One worker: its own store handle and daemon until SIGINT/SIGTERM; counters as JSON lines."""
    from renacer_tui.receiver.daemon import ServeDaemon
    from renacer_tui.store.store import Store

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stop.set())

    def say(kind: str, **fields: Any) -> None:
        out.write(json.dumps({"kind": kind, **fields}) + "\n")
        out.flush()

    try:
        store = Store.open(db)
        daemon = ServeDaemon(store, options, command="serve (worker)", http_socket=http_socket, shared_ports=True,
                             on_sink_error=lambda name, message: say("error", message=f"{name} sink failed: {message}"))
    except Exception as exc:  # a port taken, an unusable store: the parent reports it
        say("error", message=f"{type(exc).__name__}: {exc}")
        return 1
    say("ready", **dataclasses.asdict(daemon.stats()))
    while not stop.wait(REPORT_INTERVAL_S):
        say("stats", **dataclasses.asdict(daemon.stats()))
    final = daemon.close()
    store.close()
    say("final", **dataclasses.asdict(final))
    return 0


class WorkerPool:
    """The forked workers of one `serve --workers N`."""

    def __init__(self, db: Path | None, options: DaemonOptions, count: int) -> None:
        self.options = options
        self.workers: list[_Worker] = []
        http_socket = listening_socket(options.host, options.http_port) if options.http_port is not None else None
        placeholder = None
        grpc_port = options.grpc_port
        if grpc_port == 0:  # one free port for all of them
            placeholder = reserve_port(options.host)
            grpc_port = placeholder.getsockname()[1]
        shared = dataclasses.replace(options, grpc_port=grpc_port)
        self.http_endpoint = (f"http://{url_host(options.host)}:{http_socket.getsockname()[1]}"
                              if http_socket is not None else None)
        self.grpc_endpoint = f"http://{url_host(options.host)}:{grpc_port}" if grpc_port is not None else None
        try:
            for _ in range(count):
                read_fd, write_fd = os.pipe()
                pid = os.fork()
                if pid == 0:  # the worker: never returns into the parent's code
                    code = 1
                    try:
                        os.close(read_fd)
                        code = _worker_main(db, shared, http_socket, os.fdopen(write_fd, "w"))
                    finally:
                        os._exit(code)
                os.close(write_fd)
                self.workers.append(_Worker(pid, read_fd))
            self._wait_ready()
        finally:
            if placeholder is not None:
                placeholder.close()
            if http_socket is not None:
                http_socket.close()  # the workers hold it

    def _wait_ready(self) -> None:
        while any(w.stats is None and w.error is None and not w.done for w in self.workers):
            self.poll(None)

    @property
    def errors(self) -> list[str]:
        return [w.error for w in self.workers if w.error is not None]

    def poll(self, timeout: float | None) -> None:
        """Read what the workers reported (waiting up to `timeout` s for the first line)."""
        open_pipes = [w for w in self.workers if not w.done]
        if not open_pipes:
            return
        try:
            ready, _, _ = select.select([w.fd for w in open_pipes], [], [], timeout)
        except InterruptedError:
            return
        for worker in open_pipes:
            if worker.fd not in ready:
                continue
            data = os.read(worker.fd, 65536)
            if not data:  # the worker is gone (after its final line, or killed)
                worker.done = True
                continue
            *lines, worker.buffer = (worker.buffer + data).split(b"\n")
            for line in lines:
                report = json.loads(line)
                if report["kind"] == "error":
                    worker.error = str(report["message"])
                else:
                    worker.stats = _stats(report)

    def stats(self) -> DaemonStats:
        return total([w.stats for w in self.workers if w.stats is not None])

    def stop(self) -> DaemonStats:
        """Stop every worker, wait for their flush, return the counters added up."""
        for worker in self.workers:
            try:
                os.kill(worker.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        while any(not w.done for w in self.workers):
            self.poll(None)
        for worker in self.workers:
            os.waitpid(worker.pid, 0)
            os.close(worker.fd)
        return self.stats()


def run_pool(pool: WorkerPool, stop: threading.Event, progress: Callable[[DaemonStats, DaemonStats], None]) -> DaemonStats:
    """Report until `stop` is set, then stop the workers; their summed final counters."""
    last = pool.stats()
    next_report = time.monotonic() + REPORT_INTERVAL_S
    while not stop.is_set():
        pool.poll(max(0.0, next_report - time.monotonic()))
        if time.monotonic() >= next_report:
            now = pool.stats()
            if now != last:
                progress(last, now)
                last = now
            next_report = time.monotonic() + REPORT_INTERVAL_S
        if all(w.done for w in pool.workers):  # every worker died: nothing left to serve
            break
    return pool.stop()
