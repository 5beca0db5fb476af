"""Where a run's trace id comes from: the golden thread's entry point.

A run joins the caller's trace when the caller has one (`--trace-id`, `--trace-parent`, or the
`TRACEPARENT` environment variable a CI job or parent process exported), so every tool in a
pipeline lands in one trace.  Parsing uses OpenTelemetry's W3C propagator, so what we accept is
exactly what every OpenTelemetry SDK accepts.

The two kinds of source are treated differently on purpose.  A `TRACEPARENT` inherited from the
environment is a header someone else set: an invalid one is ignored with a warning and a new trace
starts, as the W3C rules say for a receiver.  `--trace-id` / `--trace-parent` are what the user
asked for: a run with another id would be filed where nobody looks, so an invalid value is a
`TraceOptionError` (the CLI's one-line usage error, exit 2).  Upper-case hex typed by a person is
the same id and is lower-cased, with a note saying so.

opentelemetry.trace is imported only when there is a value to parse: it pulls in asyncio, ~15 ms
of every run's start-up.  Formatting an id is `format(x, "032x")`, which is all OpenTelemetry's
`format_trace_id` does (checked against it in tests/test_context.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from renacer_tui.model.ids import TRACE_ID_HEX, is_valid_span_id, is_valid_trace_id, new_trace_id

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


class TraceOptionError(ValueError):
    """A `--trace-id` or `--trace-parent` the user gave that is not a valid W3C value."""


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


def _trace_id_problem(value: str) -> str:
    """Why `value` (stripped, lower-cased) is not a trace id, in a few words."""
    if len(value) != TRACE_ID_HEX:
        return f"expected 32 hex digits, got {len(value)} characters"
    if not all(c in "0123456789abcdef" for c in value):
        return "expected 32 hex digits, found a character that is not hex"
    return "an all-zero trace id is invalid (W3C)"


def user_trace_id(text: str) -> tuple[str, str | None]:
    """(trace id, note) for a `--trace-id` a person typed; TraceOptionError when it is not one.

    The note is set when the id was written in upper case (or with spaces) and was normalised.
    """
    value = text.strip().lower()
    if not valid_trace_id(value):
        raise TraceOptionError(f"bad --trace-id {_shown(text)}: {_trace_id_problem(value)}")
    note = None if value == text else f"note: --trace-id {_shown(text)} used as {value} (W3C ids are lower-case hex)"
    return value, note


def user_trace_parent(text: str) -> tuple[tuple[str, str, int], str | None]:
    """(trace id, parent span id, trace flags byte), note, for a `--trace-parent` a person typed.

    TraceOptionError when it is not a valid W3C traceparent even once lower-cased.
    """
    value = text.strip().lower()
    parsed = parse_traceparent(value)
    if parsed is None:
        raise TraceOptionError(
            f"bad --trace-parent {_shown(text)}: expected 00-<32 hex>-<16 hex>-<2 hex>, ids not all zero"
        )
    note = None if value == text else f"note: --trace-parent {_shown(text)} used as {value} (W3C is lower-case hex)"
    return parsed, note


def check_trace_options(trace_id_opt: str | None, trace_parent_opt: str | None) -> str | None:
    """What is wrong with the user's `--trace-id` / `--trace-parent`, in one line (None: nothing).

    Both are checked even when `--trace-id` wins: a value the user typed is never silently dropped.
    """
    try:
        if trace_id_opt is not None:
            user_trace_id(trace_id_opt)
        if trace_parent_opt is not None:
            user_trace_parent(trace_parent_opt)
    except TraceOptionError as exc:
        return str(exc)
    return None


def resolve_trace_context(
    trace_id_opt: str | None, trace_parent_opt: str | None, env: Mapping[str, str]
) -> TraceContext:
    """Pick the run's trace id: --trace-id > --trace-parent > env TRACEPARENT > new random.

    Raises TraceOptionError for an invalid `--trace-id` or `--trace-parent` (the user's own
    request); an invalid environment TRACEPARENT only adds a warning.
    """
    problem = check_trace_options(trace_id_opt, trace_parent_opt)
    if problem is not None:
        raise TraceOptionError(problem)
    warnings: list[str] = []
    if trace_id_opt is not None:
        value, note = user_trace_id(trace_id_opt)
        warnings += [note] if note else []
        return TraceContext(value, None, FLAG_SAMPLED, SOURCE_TRACE_ID, warnings)
    if trace_parent_opt is not None:
        joined, note = user_trace_parent(trace_parent_opt)
        warnings += [note] if note else []
        return TraceContext(joined[0], joined[1], joined[2], SOURCE_TRACE_PARENT, warnings)
    env_value = env.get("TRACEPARENT")
    if env_value is not None and env_value != "":
        parsed = parse_traceparent(env_value)
        if parsed:
            clock = _logical_clock(env, warnings)  # the clock of the span TRACEPARENT names
            return TraceContext(parsed[0], parsed[1], parsed[2], SOURCE_ENV, warnings, clock)
        warnings.append(f"warning: ignoring invalid TRACEPARENT {_shown(env_value)}")
    return TraceContext(new_trace_id(), None, FLAG_SAMPLED, SOURCE_NEW, warnings)
