"""OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

The method is registered with a raw-bytes deserializer rather than through
`trace_service_pb2_grpc.add_TraceServiceServicer_to_server`: grpcio would otherwise reject a
malformed message itself (as INTERNAL, before any code of ours runs), so it could be neither
answered INVALID_ARGUMENT nor counted.  grpcio is imported only when a listener is made: a run
makes it after its sink children are forked (gRPC must not cross a fork).
"""

from __future__ import annotations

import os
from concurrent import futures
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from renacer_tui.receiver.convert import parse_protobuf
from renacer_tui.receiver.errors import PayloadError
from renacer_tui.receiver.intake import REJECT_MALFORMED, REJECT_TOO_LARGE, REJECT_UNAUTHORIZED, Intake
from renacer_tui.receiver.peer import parse_grpc_peer

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
VIA = "otlp/grpc"


class OtlpGrpcListener:
    """A grpcio server with the trace Export method, on `host:port` (0: a free port)."""

    def __init__(self, intake: Intake, host: str = "127.0.0.1", port: int = 0, workers: int = 4,
                 reuse_port: bool = False) -> None:
        # grpcio's core would log a failed bind on stderr itself; the caller reports it in one line
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
        import grpc

        self.intake = intake
        self.host = host
        self._grpc = grpc
        # grpcio's own limit sits above ours, so an oversized request usually reaches our check
        # and is answered and counted; only one beyond 4× the limit is refused by grpcio alone
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
            options=[("grpc.max_receive_message_length", max(intake.max_bytes * 4, 4 << 20)),
                     # only where sharing the port is meant (a run's placeholder, serve's workers):
                     # grpcio's default would let a second daemon bind the port and take half the traffic
                     ("grpc.so_reuseport", 1 if reuse_port else 0)],
        )
        handler = grpc.unary_unary_rpc_method_handler(
            self._export,
            request_deserializer=None,
            response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
        )
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
        bind_host = f"[{host}]" if ":" in host else host
        self.port = self.server.add_insecure_port(f"{bind_host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot listen for OTLP/gRPC on {host}:{port}")

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self.server.start()

    def close(self, grace: float = 1.0) -> None:
        self.server.stop(grace).wait()

    def _export(self, body: bytes, context: Any) -> trace_service_pb2.ExportTraceServiceResponse:
        grpc = self._grpc
        metadata = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        if not self.intake.authorized(metadata.get("authorization")):
            self.intake.reject(REJECT_UNAUTHORIZED)
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bearer token required")
        if len(body) > self.intake.max_bytes:
            self.intake.reject(REJECT_TOO_LARGE)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"request over {self.intake.max_bytes} bytes")
        try:
            request = parse_protobuf(body)
        except PayloadError as exc:
            self.intake.reject(REJECT_MALFORMED)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            self.intake.ingest(request, VIA, parse_grpc_peer(context.peer()), (self.host, self.port))
        except PayloadError as exc:  # counted by the intake
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return trace_service_pb2.ExportTraceServiceResponse()
