"""Where the profiler's spans go: the program's tracer provider, or one made from the environment.

A tracer cannot see another process's GPU work, so GPU spans are made inside the program and
join the golden thread the way any OpenTelemetry program does: `OTEL_EXPORTER_OTLP_ENDPOINT`
(which `renacer-tui` hands every traced program) says where to export, and the upper-case
`TRACEPARENT` / `TRACESTATE` variables carry the parent, as the OpenTelemetry specification
"environment variables as context propagation carriers" says.  With no endpoint nothing is
exported and nothing fails: the API's no-op tracer takes the spans.
"""

from __future__ import annotations

import atexit
import os
from typing import Any, Mapping

from opentelemetry import trace
from opentelemetry.context import Context

from renacer_tui.otel_env import extract_environment, span_exporter

TRACER_NAME = "renacer_tui.gpu"


def environment_context(environ: Mapping[str, str] | None = None) -> Context | None:
    """The parent the environment carries (None when TRACEPARENT is absent or invalid)."""
    context = extract_environment(environ)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def parent_context() -> Context | None:
    """The program's current span when it has one, else the environment's TRACEPARENT."""
    if trace.get_current_span().get_span_context().is_valid:
        return None  # the SDK parents under the current span itself
    return environment_context()


def provider_from_environment(service_name: str | None = None) -> Any | None:
    """An SDK tracer provider exporting to OTEL_EXPORTER_OTLP_ENDPOINT (None when unset).

    Shut down, hence flushed, when the interpreter exits.  Not made global: see
    `install_provider_from_environment` for that.
    """
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes: dict[str, Any] = {"process.pid": os.getpid()}
    if service_name and not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = service_name
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(span_exporter()))
    atexit.register(provider.shutdown)
    return provider


def install_provider_from_environment(service_name: str | None = None) -> Any | None:
    """Make `provider_from_environment()` the global tracer provider, if there is an endpoint.

    Leaves a provider the program already set alone (returns None then, as when no endpoint is
    set).
    """
    from opentelemetry.sdk.trace import TracerProvider

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return None
    provider = provider_from_environment(service_name)
    if provider is None:
        return None
    trace.set_tracer_provider(provider)
    return provider if trace.get_tracer_provider() is provider else None


def tracer() -> trace.Tracer:
    """The profiler's tracer from whatever provider is global when a span is made."""
    return trace.get_tracer(TRACER_NAME)
