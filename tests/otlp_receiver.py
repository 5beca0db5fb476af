"""A real OTLP trace receiver on 127.0.0.1 (gRPC and HTTP/protobuf) for tests and benchmarks.

Built from opentelemetry-proto: a grpcio server implementing `TraceService.Export` and an
`http.server` accepting `POST /v1/traces` (application/x-protobuf, optionally gzip).  Both
decode `ExportTraceServiceRequest` and keep every span with its resource and the request's
headers.  Pytest fixtures `otlp_grpc_receiver` / `otlp_http_receiver` start one on an
ephemeral port (use `pytest_plugins = ["tests.otlp_receiver"]`).
"""

from __future__ import annotations

import gzip
import ssl
import subprocess
import threading
import zlib
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


@dataclass
class ReceivedSpan:
    """One span as a collector saw it (ids as lower-case hex, times in epoch ns)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_time_nanos: int
    end_time_nanos: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status_code: int
    status_message: str
    links: list[tuple[str, str, dict[str, Any]]]
    headers: dict[str, str] = field(default_factory=dict)
    scope: str = ""
    flags: int = 0  # the span's OTLP flags: bits 0-7 the W3C trace flags, 8-9 the is-remote bits
    link_flags: list[int] = field(default_factory=list)


def any_value(value: AnyValue) -> Any:
    """Plain Python for an OTLP AnyValue."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _attrs(items: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in items}


class Receiver:
    """Collects decoded spans from every request; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self.requests = 0
        self.request_sizes: list[int] = []  # spans per request, in arrival order
        self.endpoint = ""

    def ingest(self, request: trace_service_pb2.ExportTraceServiceRequest, headers: dict[str, str]) -> None:
        spans: list[ReceivedSpan] = []
        for rs in request.resource_spans:
            resource = _attrs(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(
                        ReceivedSpan(
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex() or None,
                            name=s.name,
                            kind=s.kind,
                            start_time_nanos=s.start_time_unix_nano,
                            end_time_nanos=s.end_time_unix_nano,
                            attributes=_attrs(s.attributes),
                            resource=resource,
                            status_code=s.status.code,
                            status_message=s.status.message,
                            links=[(link.trace_id.hex(), link.span_id.hex(), _attrs(link.attributes)) for link in s.links],
                            headers=dict(headers),
                            scope=ss.scope.name,
                            flags=s.flags,
                            link_flags=[link.flags for link in s.links],
                        )
                    )
        with self._lock:
            self.requests += 1
            self.request_sizes.append(len(spans))
            self._spans.extend(spans)

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def count(self) -> int:
        with self._lock:
            return len(self._spans)


class _Servicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 (gRPC name)
        headers = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        self.receiver.ingest(request, headers)
        return trace_service_pb2.ExportTraceServiceResponse()


class GrpcReceiver(Receiver):
    """OTLP/gRPC on 127.0.0.1:<ephemeral>; `endpoint` is `http://127.0.0.1:PORT`."""

    def __init__(self, credentials: grpc.ServerCredentials | None = None) -> None:
        super().__init__()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                                  options=[("grpc.max_receive_message_length", 64 << 20)])
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Servicer(self), self.server)
        if credentials is None:
            port = self.server.add_insecure_port("127.0.0.1:0")
            self.endpoint = f"http://127.0.0.1:{port}"
        else:
            port = self.server.add_secure_port("127.0.0.1:0", credentials)
            self.endpoint = f"https://localhost:{port}"
        self.port = port
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)


class HttpReceiver(Receiver):
    """OTLP/HTTP (protobuf) on 127.0.0.1:<ephemeral>; `endpoint` is the full `/v1/traces` URL."""

    def __init__(self, certfile: str | None = None, keyfile: str | None = None) -> None:
        super().__init__()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/v1/traces":
                    return self._reply(404, b"not found", "text/plain")
                if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-protobuf":
                    return self._reply(415, b"unsupported media type", "text/plain")
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                request = trace_service_pb2.ExportTraceServiceRequest()
                try:
                    request.ParseFromString(body)
                except Exception:
                    return self._reply(400, b"bad protobuf", "text/plain")
                receiver.ingest(request, {k.lower(): v for k, v in self.headers.items()})
                self._reply(200, trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
                            "application/x-protobuf")

            def _reply(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"
        if certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile, keyfile)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.endpoint = f"https://localhost:{self.port}/v1/traces"
        self._thread = threading.Thread(target=self.server.serve_forever, name="otlp-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for `localhost` (openssl CLI); returns (cert, key)."""
    cert, key = directory / "localhost.crt", directory / "localhost.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def wait_for(receiver: Receiver, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
    """Spans received, waiting up to `timeout` s for at least `count` of them."""
    import time

    deadline = time.monotonic() + timeout
    while receiver.count() < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return receiver.spans()


@pytest.fixture()
def otlp_grpc_receiver() -> Iterator[GrpcReceiver]:
    receiver = GrpcReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture()
def otlp_http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()
