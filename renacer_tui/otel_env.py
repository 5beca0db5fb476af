"""OpenTelemetry context and export from the environment, for code that runs inside a traced program.

The specification "environment variables as context propagation carriers" puts the W3C fields in
upper-case `TRACEPARENT` / `TRACESTATE`; `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` picks gRPC or
HTTP/protobuf for the SDK's exporter. The golden-thread helper (`renacer_tui.golden`) and the GPU
profiler (`renacer_tui.gpu`) both join the trace this way. Only the OpenTelemetry API is loaded
here; the SDK exporter is imported when one is made.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, MutableMapping

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

#: The carrier variables (the specification's upper-case names).
CARRIER_VARIABLES = ("TRACEPARENT", "TRACESTATE")
PROPAGATOR = TraceContextTextMapPropagator()


class EnvironmentGetter(Getter[Mapping[str, str]]):
    """Reads a propagator's lower-case field (`traceparent`) from its upper-case variable."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key.upper())
        return [value] if value else None

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return [name.lower() for name in carrier if name in CARRIER_VARIABLES]


class EnvironmentSetter(Setter[MutableMapping[str, str]]):
    """Writes a propagator's field into its upper-case variable."""

    def set(self, carrier: MutableMapping[str, str], key: str, value: str) -> None:
        carrier[key.upper()] = value


def extract_environment(environ: Mapping[str, str] | None = None) -> Context:
    """The context the environment carries (an empty one when TRACEPARENT is absent or invalid)."""
    return PROPAGATOR.extract(os.environ if environ is None else environ, getter=EnvironmentGetter())


def inject_environment(environ: MutableMapping[str, str]) -> None:
    """Put the current span into `environ` as TRACEPARENT (and TRACESTATE when it has one)."""
    PROPAGATOR.inject(environ, setter=EnvironmentSetter())


def span_exporter() -> Any:
    """The SDK's OTLP span exporter for the protocol the environment names (HTTP/protobuf by default)."""
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    ).strip().lower()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()
