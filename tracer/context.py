"""Where a run's trace id comes from: the golden thread's entry point.

A run joins the caller's trace when the caller has one (`--trace-id`, `--trace-parent`, or the
`TRACEPARENT` environment variable a CI job or parent process exported), so every tool in a
pipeline lands in one trace.  Parsing uses OpenTelemetry's W3C propagator, so what we accept is
exactly what every OpenTelemetry SDK accepts; an invalid value is ignored with a warning and the
next source is tried, as the W3C rules say.

opentelemetry.trace is imported only when there is a value to parse: it pulls in asyncio, ~15 ms
of every run's start-up.  Formatting an id is `format(x, "032x")`, which is all OpenTelemetry's
`format_trace_id` does (checked against it in tests/test_context.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from renacer_tui.model.ids import is_valid_span_id, is_valid_trace_id, new_trace_id

#: The checks and the generator live in the model (one copy for every layer); these names stay
#: for the tracer's callers.
valid_trace_id = is_valid_trace_id
valid_span_id = is_valid_span_id

#: W3C trace-flags bit 0: the caller recorded (sampled) its span.  A new trace is sampled.
FLAG_SAMPLED = 0x01

#: The logical (Lamport) clock of the span named by TRACEPARENT, exported beside it: a run
#: inside a traced program starts its own clock above it (golden-thread spec, "Logical Clock
#: Propagation").
LOGICAL_CLOCK_ENV = "RENACER_LOGICAL_CLOCK"
#: Larger clocks are refused: the schema's clocks are int64 and a run ticks on from there.
MAX_LOGICAL_CLOCK = 2**62

SOURCE_TRACE_ID = "--trace-id"
SOURCE_TRACE_PARENT = "--trace-parent"
SOURCE_ENV = "TRACEPARENT"
SOURCE_NEW = "new"


@dataclass(frozen=True)
class TraceContext:
    """The resolved context of one run.

    `trace_flags` is the incoming trace-flags byte, kept whole (the sampled bit and any other,
    as OpenTelemetry's propagator keeps them): the run hands it on to the traced program and
    every exported span carries it, so an unsampled caller stays unsampled downstream.
    """

    trace_id: str  # 32 lower-case hex, never all zeros
    parent_span_id: str | None  # 16 lower-case hex, or None when the run is the trace's root
    trace_flags: int  # 0..255
    source: str  # one of SOURCE_*
    warnings: list[str] = field(default_factory=list)
    #: RENACER_LOGICAL_CLOCK that came with an environment TRACEPARENT (the launching span's
    #: clock), else None
    parent_logical_clock: int | None = None

    @property
    def first_clock(self) -> int:
        """The run span's logical clock: above the launching span's, 0 for a top-level run."""
        return 0 if self.parent_logical_clock is None else self.parent_logical_clock + 1

    @property
    def sampled(self) -> bool:
        return bool(self.trace_flags & FLAG_SAMPLED)

    def traceparent(self, span_id: str) -> str:
        """The TRACEPARENT to hand to the traced program (its parent is `span_id`)."""
        return format_traceparent(self.trace_id, span_id, self.trace_flags)


def format_traceparent(trace_id: str, span_id: str, flags: int = FLAG_SAMPLED) -> str:
    """`00-<trace id>-<span id>-<flags>` (W3C trace-context version 00); `flags` is the byte
    (a bool means sampled or not)."""
    tid = int(trace_id, 16)
    sid = int(span_id, 16)
    if not (0 < tid < 2**128) or not (0 < sid < 2**64):
        raise ValueError("trace and span ids must be non-zero 128/64-bit values")
    if not 0 <= int(flags) <= 0xFF:
        raise ValueError("trace flags are one byte")
    return f"00-{tid:032x}-{sid:016x}-{int(flags):02x}"


def parse_traceparent(value: str) -> tuple[str, str, int] | None:
    """(trace id, parent span id, trace flags byte) from a W3C traceparent, or None when invalid."""
    if not isinstance(value, str) or len(value) > 512:
        return None
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import (
        TraceContextTextMapPropagator,
    )

    ctx = TraceContextTextMapPropagator().extract({"traceparent": value})
    span_ctx = trace.get_current_span(ctx).get_span_context()
    if not span_ctx.is_valid:
        return None
    return (
        trace.format_trace_id(span_ctx.trace_id),
        trace.format_span_id(span_ctx.span_id),
        int(span_ctx.trace_flags) & 0xFF,
    )


def handoff_environment(env: Mapping[str, str], context: TraceContext, span_id: str) -> dict[str, str]:
    """`env` plus what the traced program inherits of the run: the TRACEPARENT naming `span_id`
    (the run span) with the run's trace flags, and that span's logical clock."""
    out = dict(env)
    out["TRACEPARENT"] = context.traceparent(span_id)
    out[LOGICAL_CLOCK_ENV] = str(context.first_clock)
    return out


def _logical_clock(env: Mapping[str, str], warnings: list[str]) -> int | None:
    """RENACER_LOGICAL_CLOCK as a clock, or None (unset, empty, or not a decimal clock: warned)."""
    value = env.get(LOGICAL_CLOCK_ENV)
    if value is None or value == "":
        return None
    if value.isascii() and value.isdigit() and len(value) <= 19 and int(value) <= MAX_LOGICAL_CLOCK:
        return int(value)
    warnings.append(f"warning: ignoring invalid {LOGICAL_CLOCK_ENV} {_shown(value)}: expected a decimal clock")
    return None


def _shown(value: str) -> str:
    """A value quoted for a one-line warning, shortened and with escapes made visible."""
    text = value if len(value) <= 80 else value[:77] + "..."
    return ascii(text)


def resolve_trace_context(
    trace_id_opt: str | None, trace_parent_opt: str | None, env: Mapping[str, str]
) -> TraceContext:
    """Pick the run's trace id: --trace-id > --trace-parent > env TRACEPARENT > new random."""
    warnings: list[str] = []
    if trace_id_opt is not None:
        value = trace_id_opt.strip()
        if valid_trace_id(value):
            return TraceContext(value, None, FLAG_SAMPLED, SOURCE_TRACE_ID, warnings)
        warnings.append(
            f"warning: ignoring --trace-id {_shown(trace_id_opt)}: expected 32 lower-case hex digits, not all zero"
        )
    if trace_parent_opt is not None:
        parsed = parse_traceparent(trace_parent_opt)
        if parsed:
            return TraceContext(parsed[0], parsed[1], parsed[2], SOURCE_TRACE_PARENT, warnings)
        warnings.append(f"warning: ignoring invalid --trace-parent {_shown(trace_parent_opt)}")
    env_value = env.get("TRACEPARENT")
    if env_value is not None and env_value != "":
        parsed = parse_traceparent(env_value)
        if parsed:
            clock = _logical_clock(env, warnings)  # the clock of the span TRACEPARENT names
            return TraceContext(parsed[0], parsed[1], parsed[2], SOURCE_ENV, warnings, clock)
        warnings.append(f"warning: ignoring invalid TRACEPARENT {_shown(env_value)}")
    return TraceContext(new_trace_id(), None, FLAG_SAMPLED, SOURCE_NEW, warnings)
