"""The OTLP export sink: forwards span batches to an exporter child process.

In the capture process this sink does no protobuf work at all: it encodes each batch as Arrow
IPC (C++, releases the GIL) and writes the bytes to the stdin of the exporter process — a fork
of the capture process where that is safe (`sinks.child`), else `python -m renacer_tui.sinks.otlp_worker`
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

from renacer_tui.sinks.child import ChildSink, SinkProcess
from renacer_tui.sinks.forking import can_fork
from renacer_tui.sinks.otlp_worker import CONFIG_ENV, PROTOCOLS

_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])  # the checkout, for a worker run from source
#: Seconds the end of a run waits for the exporter to flush before it is told to stop (SIGTERM).
CLOSE_TIMEOUT_S = 2.0
#: The most the end of a run waits for OTLP: the flush wait, then SIGTERM's grace before SIGKILL
#: (`SinkProcess.stop`); `--help` states it.  A dead collector cannot stall a run for longer.
END_BOUND_S = CLOSE_TIMEOUT_S + 2.0


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


def _start_worker(raw_config: str, stderr: Any) -> SinkProcess:
    """The exporter child: forked when that is safe (no interpreter start-up, pyarrow already
    loaded: ~0.15 s less CPU competing with the traced program), else `python -m renacer_tui.sinks.otlp_worker`."""
    stderr_fd = _stderr_fd(stderr)
    if can_fork():

        def child_main(stream: BinaryIO, report: Callable[[str], None]) -> int:
            from renacer_tui.sinks.otlp_worker import serve

            return serve(raw_config, stream)

        return SinkProcess.fork(child_main, stderr_fd)
    env = dict(os.environ)
    env[CONFIG_ENV] = raw_config
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PROJECT_ROOT, env.get("PYTHONPATH")) if p)
    return SinkProcess.spawn([sys.executable, "-m", "renacer_tui.sinks.otlp_worker"], env, stderr_fd)


def _stderr_fd(stderr: Any) -> int | None:
    """The worker's stderr as a descriptor: None ours, -1 /dev/null (`subprocess.DEVNULL`)."""
    if stderr is None:
        return None
    if stderr == subprocess.DEVNULL:
        return -1
    if isinstance(stderr, int):
        return stderr
    try:
        return stderr.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file: the worker's messages go nowhere
        return -1


class OtlpSink(ChildSink):
    """Fan-out sink exporting spans over OTLP (gRPC or HTTP/protobuf) through a worker process.

    `trace_flags` is the run's W3C trace-flags byte (sampled by default); every exported span
    carries it.  The worker's life is `ChildSink`'s: bounded close, then SIGTERM (the worker
    aborts its retries and reports the spans it could not send itself, once).
    """

    name = "otlp"

    def __init__(
        self,
        endpoint: str,
        protocol: str = "grpc",
        headers: Mapping[str, str] | None = None,
        service_name: str = "renacer",
        resource_attrs: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
        close_timeout: float = CLOSE_TIMEOUT_S,
        stderr: Any = None,
        trace_flags: int = 0x01,
        store_payloads: bool = False,
        batch_size: int = 512,
        batch_delay_ms: int = 1000,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown OTLP protocol {protocol!r} (use grpc or http/protobuf)")
        if not endpoint or not endpoint.strip():
            raise ValueError("empty OTLP endpoint")
        self.endpoint = endpoint
        config = {
            "endpoint": endpoint,
            "protocol": protocol,
            "headers": dict(headers or {}),
            "service_name": service_name,
            "resource_attrs": dict(resource_attrs or {}),
            "timeout": timeout,
            "trace_flags": int(trace_flags),
            "store_payloads": bool(store_payloads),  # else the worker leaves buffer contents out
            "batch_size": int(batch_size),  # spans per request
            "batch_delay_ms": int(batch_delay_ms),  # the longest a span waits for its request to fill
        }
        super().__init__(
            "otlp",
            _start_worker(json.dumps(config), stderr),
            close_timeout=close_timeout,
            error_type=OtlpWorkerGone,
            label="OTLP exporter process",
            timeout_is_error=False,
            killed_message="OTLP exporter process was stopped before it could report; unsent spans are lost",
        )
