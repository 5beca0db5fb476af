"""OTLP/HTTP on `POST /v1/traces`: protobuf (`application/x-protobuf`) and JSON (`application/json`).

The standard library's ThreadingHTTPServer (one thread per connection, HTTP/1.1 keep-alive, as
the SDK exporters use it), on a listening socket `receiver.service` made and owns.  Errors follow OTLP/HTTP: 400 malformed, 401 token, 404
path, 405 method, 411 no length, 413 too large, 415 content type; each is counted by the intake.
"""

from __future__ import annotations

import gzip
import selectors
import socket
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from renacer_tui.receiver.convert import parse_json, parse_protobuf
from renacer_tui.receiver.errors import PayloadError
from renacer_tui.receiver.intake import (
    REJECT_BUSY,
    REJECT_CONTENT_TYPE,
    REJECT_DISCONNECTED,
    REJECT_MALFORMED,
    REJECT_NOT_FOUND,
    REJECT_TOO_LARGE,
    REJECT_UNAUTHORIZED,
    Intake,
)

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_VIA = {PROTOBUF: "otlp/http-protobuf", JSON: "otlp/http-json"}


class _TooLarge(Exception):
    pass


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """The body decoded per Content-Encoding, never more than `limit` bytes (a zip bomb is 413)."""
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    else:
        raise PayloadError(f"unsupported Content-Encoding {encoding!r}")
    try:
        out = inflater.decompress(body, limit + 1)
    except (zlib.error, gzip.BadGzipFile):
        raise PayloadError(f"bad {encoding} body") from None
    if len(out) > limit:
        raise _TooLarge()
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "renacer-tui"
    timeout = 30  # a client that stalls mid-request loses its connection, not a thread forever
    server: "OtlpHttpServer"

    def log_message(self, format: str, *args: Any) -> None:  # the daemon reports per batch itself
        return

    def finish(self) -> None:
        super().finish()
        self.server.intake.forget(self.client_address[:2])

    def _read_exactly(self, length: int) -> bytes:
        body = self.rfile.read(length)
        if len(body) < length:
            raise EOFError("short body")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        """A chunked body (RFC 9112 §7.1), refused past `limit` bytes without reading it all."""
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1026)
            if not size_line.endswith(b"\n"):
                raise EOFError("truncated chunk size")
            size = int(size_line.split(b";")[0].strip(), 16)  # ValueError: not a chunk size
            if size == 0:
                while self.rfile.readline(1026) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise _TooLarge()
            parts.append(self._read_exactly(size))
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise EOFError("chunk without its CRLF")

    def _reply(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")  # the sender must not wait to reuse it
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, code: int, reason: str, message: str, close: bool = False) -> None:
        self.server.intake.reject(reason)
        if close:
            self.close_connection = True
        self._reply(code, message.encode() + b"\n")
        if close:
            self._linger()

    def _linger(self, seconds: float = 2.0, limit: int = 64 << 20) -> None:
        """Let the sender see the answer: stop writing, then discard what it is still sending.

        Closing with its body unread would reset the connection, and a reset can destroy the
        answer before the sender reads it; a bounded drain (time and bytes) avoids that.
        """
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(seconds)
            deadline = time.monotonic() + seconds
            drained = 0
            while drained < limit and time.monotonic() < deadline:
                data = self.connection.recv(65536)
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802 (http.server name)
        self._refuse(405, REJECT_NOT_FOUND, "only POST /v1/traces")

    do_PUT = do_DELETE = do_PATCH = do_GET

    def do_POST(self) -> None:  # noqa: N802 (http.server name)
        intake = self.server.intake
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        length_text = (self.headers.get("Content-Length") or "").strip()
        if not chunked and not length_text.isdigit():
            return self._refuse(411, REJECT_MALFORMED, "Content-Length or chunked Transfer-Encoding required", close=True)
        if self.path.split("?")[0] != TRACES_PATH:
            return self._refuse(404, REJECT_NOT_FOUND, f"not found (traces go to {TRACES_PATH})", close=True)
        if not intake.authorized(self.headers.get("Authorization")):
            return self._refuse(401, REJECT_UNAUTHORIZED, "bearer token required", close=True)
        if not chunked and int(length_text) > intake.max_bytes:
            return self._refuse(413, REJECT_TOO_LARGE, f"request over {intake.max_bytes} bytes", close=True)
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in _VIA:
            return self._refuse(415, REJECT_CONTENT_TYPE, f"Content-Type must be {PROTOBUF} or {JSON}", close=True)
        try:
            body = self._read_chunked(intake.max_bytes) if chunked else self._read_exactly(int(length_text))
        except _TooLarge:
            return self._refuse(413, REJECT_TOO_LARGE, f"request over {intake.max_bytes} bytes", close=True)
        except (OSError, ValueError, EOFError):  # gone mid-request, or a broken chunk: nobody to answer
            intake.reject(REJECT_DISCONNECTED)
            self.close_connection = True
            return
        try:
            body = _inflate(body, (self.headers.get("Content-Encoding") or "").strip().lower(), intake.max_bytes)
        except _TooLarge:
            return self._refuse(413, REJECT_TOO_LARGE, f"request over {intake.max_bytes} bytes decompressed", close=True)
        except PayloadError as exc:
            return self._refuse(400, REJECT_MALFORMED, str(exc))
        try:
            request = parse_protobuf(body) if content_type == PROTOBUF else parse_json(body)
        except PayloadError as exc:
            return self._refuse(400, REJECT_MALFORMED, str(exc))
        try:
            ours = (str(self.server.server_address[0]), int(self.server.server_address[1]))
            intake.ingest(request, _VIA[content_type], self.client_address[:2], ours)
        except PayloadError as exc:  # counted by the intake
            return self._reply(400, str(exc).encode() + b"\n")
        if content_type == PROTOBUF:
            self._reply(200, ExportTraceServiceResponse().SerializeToString(), PROTOBUF)
        else:
            self._reply(200, b"{}", JSON)


class OtlpHttpServer(ThreadingHTTPServer):
    """OTLP/HTTP on a socket that is already bound and listening (`receiver.service` owns it).

    `serve_until(wake_fd)` serves until `wake_fd` becomes readable: stopping is immediate, not
    the next poll of `serve_forever` (a traced run's end would wait for it).
    """

    daemon_threads = True  # a kept-alive connection of a still-running program never blocks close()
    timeout = 0.5  # handle_request's own wait, should a ready connection vanish before accept
    #: Connections served at once (a thread each); more are closed at once and counted.
    max_connections = 256

    def __init__(self, intake: Intake, listening: socket.socket) -> None:
        self.address_family = listening.family
        super().__init__(listening.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = listening
        self.server_address = listening.getsockname()[:2]
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])
        self.intake = intake
        self._slots = threading.BoundedSemaphore(self.max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # a flood of connections costs no more threads
            self.intake.reject(REJECT_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def serve_until(self, wake_fd: int) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(wake_fd, selectors.EVENT_READ)
            while True:
                events = selector.select()
                if any(key.fileobj == wake_fd for key, _ in events):
                    return
                self.handle_request()
