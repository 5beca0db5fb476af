"""The OTLP export sink: forwards span batches to an exporter child process.

In the capture process this sink does no protobuf work at all: it encodes each batch as Arrow
IPC (C++, releases the GIL) and writes the bytes to the stdin of the exporter process — a fork
of the capture process where that is safe (`store.forked`), else `python -m renacer_tui.store.otlp_worker`
— which converts and exports them with opentelemetry-sdk.  A dead collector is the worker's
problem (reported once on stderr); a dead worker is reported once through the fan-out.
`close()` waits a bounded time for the worker to flush, then stops it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Mapping

import pyarrow as pa

from renacer_tui.store.ipc_pipe import PIPE_GONE, IpcPipeWriter
from renacer_tui.store.otlp_worker import CONFIG_ENV, PROTOCOLS

_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)


class OtlpWorkerGone(Exception):
    """The exporter child process exited before the run ended."""


def parse_otlp_headers(env_value: str | None, cli_values: Iterable[str] = ()) -> dict[str, str]:
    """Merge `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`, URL-encoded) with `--otlp-header K=V`.

    Names are lower-cased (gRPC metadata requires it, HTTP ignores case); the command line wins
    over the environment.  A malformed `--otlp-header` raises ValueError with a one-line message.
    """
    headers: dict[str, str] = {}
    if env_value and env_value.strip():
        from opentelemetry.util.re import parse_env_headers

        headers.update(parse_env_headers(env_value, liberal=True))
    for item in cli_values:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not key or any(c.isspace() for c in key):
            raise ValueError(f"bad --otlp-header {item!r}: expected NAME=VALUE")
        headers[key] = value.strip()
    return headers


def _start_worker(raw_config: str, stderr: Any) -> Any:
    """The exporter child: forked when that is safe (no interpreter start-up, pyarrow already
    loaded: ~0.15 s less CPU competing with the traced program), else `python -m renacer_tui.store.otlp_worker`."""
    from renacer_tui.store.forked import ForkedProcess, can_fork

    stderr_fd = None
    if stderr is not None:
        try:
            stderr_fd = stderr.fileno()
        except (AttributeError, OSError, ValueError):
            stderr_fd = -1  # not a real file (e.g. subprocess.DEVNULL): let subprocess handle it
    if can_fork() and (stderr_fd is None or stderr_fd >= 0):

        def child_main(stream: BinaryIO, report: Callable[[str], None]) -> int:
            from renacer_tui.store.otlp_worker import serve

            return serve(raw_config, stream)

        return ForkedProcess(child_main, stderr_fd)
    env = dict(os.environ)
    env[CONFIG_ENV] = raw_config
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PROJECT_ROOT, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "renacer_tui.store.otlp_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env=env,
        close_fds=True,
    )


class OtlpSink:
    """Fan-out sink exporting spans over OTLP (gRPC or HTTP/protobuf) through a worker process."""

    name = "otlp"

    def __init__(
        self,
        endpoint: str,
        protocol: str = "grpc",
        headers: Mapping[str, str] | None = None,
        service_name: str = "renacer",
        resource_attrs: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
        close_timeout: float = 5.0,
        stderr: Any = None,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown OTLP protocol {protocol!r} (use grpc or http/protobuf)")
        if not endpoint or not endpoint.strip():
            raise ValueError("empty OTLP endpoint")
        self.endpoint = endpoint
        self.close_timeout = close_timeout
        config = {
            "endpoint": endpoint,
            "protocol": protocol,
            "headers": dict(headers or {}),
            "service_name": service_name,
            "resource_attrs": dict(resource_attrs or {}),
            "timeout": timeout,
        }
        self._proc = _start_worker(json.dumps(config), stderr)
        assert self._proc.stdin is not None
        self._pipe = IpcPipeWriter(self._proc.stdin.fileno())
        self._closed = False

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The worker's exit status once closed: 0 all exported, 1 some spans not exported."""
        return self._proc.returncode

    def write(self, batch: pa.RecordBatch) -> None:
        """Forward one batch (blocks only this sink's thread when the worker is behind)."""
        self._guarded(self._pipe.write, batch)

    def close(self) -> None:
        """End the stream, give the worker `close_timeout` seconds to flush, then stop it."""
        if self._closed:
            return
        self._closed = True
        try:
            self._guarded(self._pipe.end)
        except OtlpWorkerGone:
            pass
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(self.close_timeout)
        except subprocess.TimeoutExpired:
            self._proc.terminate()  # the worker aborts its retries and reports once
            try:
                self._proc.wait(2.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def _guarded(self, send: Callable[..., None], *args: object) -> None:
        try:
            send(*args)
        except (*PIPE_GONE, ValueError) as exc:
            status = self._proc.poll()
            raise OtlpWorkerGone(f"OTLP exporter process exited (status {status})") from exc
