"""The golden-thread helper: a Python tool's own spans in the trace it runs in, in three lines.

    from renacer_tui.golden import span

    with span("transpile", file="main.rs") as s:
        s.event("decision:inline", function="f", inlined=True)

The span joins the trace the environment carries, as OpenTelemetry's "environment variables as
context propagation carriers" specification says: upper-case `TRACEPARENT` / `TRACESTATE`
(what `renacer-tui` hands every traced program), read with the W3C propagator.  While a span is
open it is the environment's `TRACEPARENT`, so a program the tool starts (a compiler, a test)
joins under it.  Spans go to `OTEL_EXPORTER_OTLP_ENDPOINT` with the SDK's OTLP exporter
(`OTEL_EXPORTER_OTLP_PROTOCOL` grpc or http/protobuf; unset, the SDK's defaults: localhost
4318, where `renacer-tui serve` listens), batched and flushed when the interpreter exits.
Attribute values that OpenTelemetry cannot carry (dicts, mixed lists) are sent as JSON text.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from renacer_tui.otel_env import CARRIER_VARIABLES, extract_environment, inject_environment, span_exporter

_lock = threading.Lock()
_provider: TracerProvider | None = None


def _tool_name(argv0: str) -> str:
    """`build.py` for a script, `python` for `python -c …` (argv[0] is "-c" there)."""
    name = os.path.basename(argv0)
    return "python" if name in ("", "-c", "-m") else name


def _resource() -> Resource:
    """OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES as the SDK reads them, plus this process."""
    argv = list(sys.argv) if sys.argv and sys.argv[0] else [sys.executable]
    attributes: dict[str, Any] = {
        "process.pid": os.getpid(),
        "process.executable.name": os.path.basename(sys.executable),
        "process.command_line": " ".join(argv),
    }
    resource = Resource.create(attributes)
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):  # the SDK's "none given"
        resource = resource.merge(Resource({"service.name": _tool_name(argv[0])}))
    return resource


def provider() -> TracerProvider:
    """The helper's own tracer provider (made once; shut down, hence flushed, at exit)."""
    global _provider
    with _lock:
        if _provider is None:
            made = TracerProvider(resource=_resource())
            made.add_span_processor(BatchSpanProcessor(span_exporter()))
            atexit.register(made.shutdown)
            _provider = made
        return _provider


def _value(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and value:
        kinds = {type(v) for v in value}
        if len(kinds) == 1 and kinds <= {str, bool, int, float}:  # a homogeneous list OpenTelemetry carries
            return list(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _value(value) for key, value in values.items() if value is not None}


class GoldenSpan:
    """The open span: `event(name, **attrs)` and `set(**attrs)`; `span` is the SDK span itself."""

    def __init__(self, sdk_span: trace.Span) -> None:
        self.span = sdk_span

    @property
    def trace_id(self) -> str:
        return f"{self.span.get_span_context().trace_id:032x}"

    @property
    def span_id(self) -> str:
        return f"{self.span.get_span_context().span_id:016x}"

    def event(self, name: str, **attributes: Any) -> None:
        """A point in time inside the span (`decision:inline`, `cache:miss`) with its facts."""
        self.span.add_event(name, _attributes(attributes))

    def set(self, **attributes: Any) -> None:
        self.span.set_attributes(_attributes(attributes))


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[GoldenSpan]:
    """A span of this tool, child of the open `span()` or of the environment's TRACEPARENT.

    An exception leaving the block is recorded on the span (status ERROR) and re-raised.
    """
    tracer = provider().get_tracer("renacer_tui.golden")
    if trace.get_current_span().get_span_context().is_valid:
        parent = None  # nested: the SDK's current span is the parent
    else:
        parent = extract_environment()
    with tracer.start_as_current_span(name, context=parent, attributes=_attributes(attributes)) as sdk_span:
        saved = {variable: os.environ.get(variable) for variable in CARRIER_VARIABLES}
        os.environ.pop("TRACESTATE", None)
        inject_environment(os.environ)  # children join under this span
        try:
            yield GoldenSpan(sdk_span)
        finally:
            for variable, value in saved.items():
                if value is None:
                    os.environ.pop(variable, None)
                else:
                    os.environ[variable] = value


def flush(timeout_millis: int = 30_000) -> bool:
    """Send what is batched now (it is sent at exit anyway); True when it went out in time."""
    return provider().force_flush(timeout_millis)
