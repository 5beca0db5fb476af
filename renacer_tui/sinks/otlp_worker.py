"""OTLP export worker: a child process that turns Arrow span batches into OTLP requests.

Protobuf encoding and gRPC/HTTP I/O are heavy Python work; done in the capture process they
would compete with the ptrace loop for the GIL and slow the traced program.  So the capture
side (`sinks.otlp.OtlpSink`) only forwards Arrow IPC bytes on this process's stdin, and
this process converts (`sinks.otlp_convert`) and exports with opentelemetry-sdk's exporters.

Configuration comes as JSON in the environment variable `RENACER_OTLP_WORKER` (headers may
hold secrets: the environment, unlike argv, is private to the user).  A collector that is down
is reported once on stderr; the worker keeps draining its input so the capture never waits.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import signal
import sys
import threading
import time
from typing import Any, BinaryIO, Mapping

import pyarrow as pa

from renacer_tui.model.payload_privacy import redact_batch

CONFIG_ENV = "RENACER_OTLP_WORKER"
PROTOCOLS = ("grpc", "http/protobuf")
#: Spans per export request (`[otlp] batch_size`): keeps every request far below gRPC's default
#: 4 MiB message limit.
CHUNK_SPANS = 512
#: The longest a span waits in the worker for its request to fill (`[otlp] batch_delay_ms`).
BATCH_DELAY_S = 1.0
#: After a failed export, batches arriving within this many seconds are not retried (counted).
RETRY_PAUSE_S = 5.0


class _LastProblem(logging.Handler):
    """Remembers the first warning/error the exporter logged during one export (its cause)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.first is None:
            try:
                self.first = record.getMessage()
            except Exception:
                self.first = str(record.msg)


def short_reason(message: str) -> str:
    """The useful part of an exporter log message, on one line."""
    text = " ".join(str(message).split())
    errno = re.search(r"\[Errno \d+\] ([^\"')]+)", text)
    if errno:
        return errno.group(1).strip()
    transient = re.match(r"Transient error (.*?) encountered while exporting .*?(?:Error details: (.*))?$", text)
    if transient:
        code = transient.group(1).replace("StatusCode.", "")
        text = f"{code}: {transient.group(2)}" if transient.group(2) else code
    return text[:300]


def normalize_endpoint(endpoint: str, protocol: str) -> str:
    """A full URL: scheme added when missing; `/v1/traces` added for HTTP when no path is given."""
    url = endpoint.strip()
    if "://" not in url:
        url = "http://" + url
    if protocol == "http/protobuf":
        scheme, rest = url.split("://", 1)
        if "/" not in rest or rest.endswith("/") and rest.count("/") == 1:
            url = f"{scheme}://{rest.rstrip('/')}/v1/traces"
    return url


def make_exporter(config: Mapping[str, Any]) -> Any:
    """The opentelemetry-sdk OTLP span exporter for `config` (https ⇒ TLS on both protocols)."""
    protocol = config.get("protocol", "grpc")
    endpoint = normalize_endpoint(str(config["endpoint"]), protocol)
    headers = {str(k).lower() if protocol == "grpc" else str(k): str(v) for k, v in (config.get("headers") or {}).items()}
    timeout = float(config.get("timeout", 5.0))
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter,
        )

        from renacer_tui.sinks.otlp_convert import to_request

        class GrpcExporter(OTLPSpanExporter):
            """The SDK's gRPC exporter, encoding with `to_request` (trace flags in `Span.flags`)."""

            def _translate_data(self, data: Any) -> Any:
                return to_request(data)

        return GrpcExporter(endpoint=endpoint, insecure=not endpoint.startswith("https://"),
                            headers=headers, timeout=timeout)
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_trace_exporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        from renacer_tui.sinks.otlp_convert import to_request

        # The SDK's encoder writes only the is-remote bits of `Span.flags`; OTLP carries the W3C
        # trace flags in bits 0-7.  The HTTP exporter has no encoding hook (the gRPC one has
        # `_translate_data`), so this process — the export worker, nothing else runs in it —
        # points the exporter module's encoder at ours.
        http_trace_exporter.encode_spans = to_request

        if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE") or os.environ.get("OTEL_EXPORTER_OTLP_CERTIFICATE"):
            # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's CA file; the
            # OTLP-specific certificate must win (this is our own process: safe to drop them).
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
            os.environ.pop("CURL_CA_BUNDLE", None)

        return HttpExporter(endpoint=endpoint, headers=headers, timeout=timeout)
    raise ValueError(f"unknown OTLP protocol {protocol!r} (use grpc or http/protobuf)")


class Worker:
    """Reads the Arrow stream, exports chunk by chunk, reports the first failure once."""

    def __init__(self, config: Mapping[str, Any], err: Any = None) -> None:
        self.config = dict(config)
        self.endpoint = normalize_endpoint(str(config["endpoint"]), config.get("protocol", "grpc"))
        self.err = err or sys.stderr
        from renacer_tui.sinks.otlp_convert import (
            SpanConverter,  # OpenTelemetry SDK: in the worker only
        )

        self.converter = SpanConverter(config.get("service_name") or "renacer", config.get("resource_attrs"),
                                       trace_flags=int(config.get("trace_flags", 0x01)) & 0xFF)
        self.exporter = make_exporter(config)
        self.store_payloads = bool(config.get("store_payloads", False))
        self.exported = 0
        self.failed_spans = 0
        self.reported = False
        self._pause_until = 0.0
        self.stopping = False
        self.batch_size = max(1, int(config.get("batch_size", CHUNK_SPANS)))
        self.batch_delay_s = max(0.0, float(config.get("batch_delay_ms", BATCH_DELAY_S * 1000)) / 1000)
        #: spans read but not yet sent (their request is filling), and when the oldest arrived
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._pending_since = 0.0
        self._problem = _LastProblem()
        for name in ("opentelemetry", "grpc"):
            log = logging.getLogger(name)
            log.handlers[:] = [self._problem]
            log.propagate = False
            log.setLevel(logging.WARNING)

    def run(self, stream: BinaryIO) -> int:
        """Export what arrives on `stream` in requests of `batch_size` spans, a partial request
        once its oldest span has waited `batch_delay_s`, and the rest at the end of the stream.
        A thread reads the stream, so a quiet program's last spans still leave on time."""
        # bounded: a worker behind its collector stops reading, so the pipe fills and the run's
        # fan-out drops (counted) instead of this process holding every span in memory
        arrived: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=1)
        threading.Thread(target=_read_batches, args=(stream, arrived), daemon=True, name="otlp-reader").start()
        while True:
            wait = None if not self._pending else max(0.0, self._pending_since + self.batch_delay_s - time.monotonic())
            try:
                batch = arrived.get(timeout=wait)
            except queue.Empty:
                self.send_pending()
                continue
            if batch is None:
                break
            self.export_batch(batch)
        self.send_pending()
        return self.finish()

    def export_batch(self, batch: pa.RecordBatch) -> None:
        """Add `batch` to the request filling; send every request it fills."""
        if not self.store_payloads:
            batch = redact_batch(batch)  # a collector keeps what it is sent: no buffer contents
        if batch.num_rows == 0:
            return
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= self.batch_size:
            whole = self._pending_rows - self._pending_rows % self.batch_size
            self._send(whole)

    def send_pending(self) -> None:
        """Send the spans waiting for their request to fill (its delay is up, or the stream ended)."""
        if self._pending_rows:
            self._send(self._pending_rows)

    def _send(self, rows: int) -> None:
        """Export the first `rows` pending spans in requests of at most `batch_size`; keep the rest."""
        table = pa.Table.from_batches(self._pending)
        rest = table.slice(rows)
        self._pending = rest.to_batches()
        self._pending_rows = rest.num_rows
        self._pending_since = time.monotonic()
        for chunk in table.slice(0, rows).combine_chunks().to_batches(max_chunksize=self.batch_size):
            self._export_chunk(chunk)

    def _export_chunk(self, chunk: pa.RecordBatch) -> None:
        """One export request; a failure is reported once and pauses exports for RETRY_PAUSE_S."""
        if self.stopping or time.monotonic() < self._pause_until:
            self.failed_spans += chunk.num_rows
            return
        self._problem.first = None
        try:
            spans = self.converter.convert(chunk)
            ok = self.exporter.export(spans).name == "SUCCESS"
            reason = self._problem.first or "the collector refused the spans"
        except Exception as exc:  # conversion or transport bug: still one line, never a traceback
            ok, reason = False, f"{type(exc).__name__}: {exc}"
        if ok:
            self.exported += chunk.num_rows
        else:
            self.failed_spans += chunk.num_rows
            self._pause_until = time.monotonic() + RETRY_PAUSE_S
            self.report(reason)

    def report(self, reason: str) -> None:
        if self.reported:
            return
        self.reported = True
        line = short_reason(reason)
        print(f"renacer-tui: OTLP export to {self.endpoint} failed: {line}", file=self.err, flush=True)

    def stop(self, *_: object) -> None:
        """SIGTERM from the sink's bounded close: abort retries, let the current export fail fast."""
        self.stopping = True
        try:
            self.exporter.shutdown()
        except Exception:
            pass

    def finish(self) -> int:
        if self.failed_spans and not self.reported:
            self.report(f"{self.failed_spans} spans not sent before the exit deadline")
        try:
            self.exporter.shutdown()
        except Exception:
            pass
        return 1 if self.failed_spans else 0


def _read_batches(stream: BinaryIO, arrived: "queue.Queue[pa.RecordBatch | None]") -> None:
    """Put each Arrow batch of `stream` on `arrived`, then None at its end (or when the capture
    died mid-stream: what arrived is still exported)."""
    try:
        reader = pa.ipc.open_stream(stream)
        while True:
            arrived.put(reader.read_next_batch())
    except (StopIteration, pa.ArrowInvalid, OSError):
        pass
    finally:
        arrived.put(None)


def serve(raw_config: str | None, stream: BinaryIO) -> int:
    """Export the Arrow stream on `stream` with the JSON configuration `raw_config`; exit status."""
    # Ctrl-C reaches the whole foreground group; the worker ends on EOF of its input, after flushing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        config = json.loads(raw_config or "")
        if not isinstance(config, dict) or not config.get("endpoint"):
            raise ValueError("no endpoint")
        worker = Worker(config)
    except Exception as exc:
        print(f"renacer-tui: OTLP export disabled: bad configuration: {exc}", file=sys.stderr, flush=True)
        while stream.read(1 << 16):  # drain so the sender never sees a broken pipe mid-run
            pass
        return 2
    signal.signal(signal.SIGTERM, worker.stop)
    return worker.run(stream)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m renacer_tui.sinks.otlp_worker` (reads the config from the environment)."""
    return serve(os.environ.get(CONFIG_ENV), sys.stdin.buffer)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
