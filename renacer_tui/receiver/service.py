"""The OTLP receiver as one thing: its HTTP and gRPC listeners, and the endpoint a program is told.

Two ways to use it.  A traced run reserves its ports before it forks the program
(`reserve_endpoints`, no protobuf or gRPC imported), puts the endpoint in the program's
environment, and starts the listeners after its last fork (`OtlpReceiver.on_reserved`).  The
standalone daemon (`renacer-tui serve`) binds fixed ports directly.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Mapping

from renacer_tui.receiver.ports import listening_socket, reserve_port, url_host

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
PROTOCOL_ENV = "OTEL_EXPORTER_OTLP_PROTOCOL"
TRACES_PROTOCOL_ENV = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
GRPC = "grpc"
HTTP_PROTOBUF = "http/protobuf"


def program_protocol(env: Mapping[str, str]) -> str:
    """The OTLP protocol the program's own settings ask for (http/protobuf when it says none)."""
    value = (env.get(TRACES_PROTOCOL_ENV) or env.get(PROTOCOL_ENV) or "").strip().lower()
    return value or HTTP_PROTOBUF


def has_endpoint(env: Mapping[str, str]) -> bool:
    """Whether the program already exports somewhere of its own choosing."""
    return bool((env.get(ENDPOINT_ENV) or "").strip() or (env.get(TRACES_ENDPOINT_ENV) or "").strip())


@dataclass
class ReservedEndpoints:
    """Ports held on `host` for the listeners a run starts after its forks."""

    host: str
    http_port: int | None
    grpc_port: int | None
    placeholders: list[socket.socket] = field(default_factory=list)

    @property
    def http_endpoint(self) -> str | None:
        return None if self.http_port is None else f"http://{url_host(self.host)}:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str | None:
        return None if self.grpc_port is None else f"http://{url_host(self.host)}:{self.grpc_port}"

    def program_environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """`env` with OTEL_EXPORTER_OTLP_ENDPOINT / _PROTOCOL pointing here, unless it has an endpoint."""
        out = dict(env)
        if has_endpoint(env):
            return out
        endpoint = self.grpc_endpoint if program_protocol(env) == GRPC else self.http_endpoint
        if endpoint is None:
            return out
        out[ENDPOINT_ENV] = endpoint
        out.setdefault(PROTOCOL_ENV, program_protocol(env))
        return out

    def release(self) -> None:
        for placeholder in self.placeholders:
            placeholder.close()
        self.placeholders.clear()


def reserve_endpoints(env: Mapping[str, str], host: str = "127.0.0.1") -> ReservedEndpoints | None:
    """The ports a run's receiver needs, held until it starts; None when the program exports elsewhere.

    HTTP (protobuf and JSON) always; gRPC only when the program's settings ask for gRPC: the
    endpoint variable names one port, and a listener no program is told about would only cost
    the run grpcio's start-up.
    """
    if has_endpoint(env):
        return None
    http = reserve_port(host, reuse_port=False)
    reserved = ReservedEndpoints(host, http.getsockname()[1], None, [http])
    if program_protocol(env) == GRPC:
        try:
            grpc = reserve_port(host)
        except OSError:
            reserved.release()
            raise
        reserved.placeholders.append(grpc)
        reserved.grpc_port = grpc.getsockname()[1]
    return reserved


class HttpService:
    """A listening socket and the thread that serves OTLP/HTTP on it.

    The thread sleeps in select() until the first connection and only then loads http.server,
    protobuf and the converter: a traced program that never exports costs the run one idle
    thread.  `close()` wakes it through a pipe, so stopping is immediate.
    """

    def __init__(self, intake, listening: socket.socket) -> None:  # noqa: ANN001
        self.intake = intake
        self.socket = listening
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._serve, name="otlp-http", daemon=True)
        self.error: BaseException | None = None

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    @property
    def endpoint(self) -> str:
        """The base URL (OTEL_EXPORTER_OTLP_ENDPOINT style: exporters add /v1/traces)."""
        return f"http://{url_host(str(self.socket.getsockname()[0]))}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            if any(key.fileobj == self._wake_r for key, _ in selector.select()):
                return
        from renacer_tui.receiver.http_listener import OtlpHttpServer

        try:
            OtlpHttpServer(self.intake, self.socket).serve_until(self._wake_r)
        except Exception as exc:  # kept for close(): the run goes on without its receiver
            self.error = exc

    def close(self) -> None:
        if self._thread.is_alive():
            os.write(self._wake_w, b"x")
            self._thread.join()
        self.socket.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)


class OtlpReceiver:
    """HTTP and/or gRPC listeners feeding one `Intake`; `close()` stops both."""

    def __init__(self, intake, host: str = "127.0.0.1", http_port: int | None = 0,  # noqa: ANN001
                 grpc_port: int | None = 0, http_socket: socket.socket | None = None,
                 grpc_reuse_port: bool = False) -> None:
        self.intake = intake
        self.host = host
        self.http: HttpService | None = None
        self.grpc = None
        try:
            if http_socket is not None:
                self.http = HttpService(intake, http_socket)
            elif http_port is not None:
                self.http = HttpService(intake, listening_socket(host, http_port))
            if grpc_port is not None:
                from renacer_tui.receiver.grpc_listener import OtlpGrpcListener

                self.grpc = OtlpGrpcListener(intake, host, grpc_port, reuse_port=grpc_reuse_port)
        except BaseException:
            self.close()
            raise

    @classmethod
    def on_reserved(cls, intake, reserved: ReservedEndpoints) -> "OtlpReceiver":  # noqa: ANN001
        """Listeners on a run's reserved ports, started; the gRPC placeholder is released."""
        http_socket = reserved.placeholders.pop(0) if reserved.http_port is not None else None
        try:
            if http_socket is not None:
                http_socket.listen(128)
            receiver = cls(intake, reserved.host, None, reserved.grpc_port, http_socket=http_socket,
                           grpc_reuse_port=True)
        except BaseException:
            if http_socket is not None:
                http_socket.close()
            raise
        finally:
            reserved.release()
        receiver.start()
        return receiver

    @property
    def http_endpoint(self) -> str | None:
        return self.http.endpoint if self.http is not None else None

    @property
    def grpc_endpoint(self) -> str | None:
        return self.grpc.endpoint if self.grpc is not None else None

    def start(self) -> None:
        if self.http is not None:
            self.http.start()
        if self.grpc is not None:
            self.grpc.start()

    def close(self) -> None:
        """Stop listening; requests in flight finish (gRPC gets a second's grace)."""
        if self.grpc is not None:
            self.grpc.close()
            self.grpc = None
        if self.http is not None:
            self.http.close()
            self.http = None
