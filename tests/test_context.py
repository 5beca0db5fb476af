"""Trace-context resolution with OpenTelemetry's W3C propagator."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renacer_tui.model.ids import new_span_id, new_trace_id
from renacer_tui.tracer.context import (
    TraceOptionError,
    format_traceparent,
    parse_traceparent,
    resolve_trace_context,
    valid_span_id,
    valid_trace_id,
)

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
SID = "00f067aa0ba902b7"
GOOD = f"00-{TID}-{SID}-01"
hex32 = st.text("0123456789abcdef", min_size=32, max_size=32).filter(lambda s: int(s, 16) != 0)
hex16 = st.text("0123456789abcdef", min_size=16, max_size=16).filter(lambda s: int(s, 16) != 0)


def test_precedence() -> None:
    other = "a" * 32
    env = {"TRACEPARENT": f"00-{'b' * 32}-{SID}-01"}
    ctx = resolve_trace_context(other, GOOD, env)
    assert (ctx.trace_id, ctx.parent_span_id, ctx.source) == (other, None, "--trace-id")
    ctx = resolve_trace_context(None, GOOD, env)
    assert (ctx.trace_id, ctx.parent_span_id, ctx.source) == (TID, SID, "--trace-parent")
    ctx = resolve_trace_context(None, None, env)
    assert (ctx.trace_id, ctx.source) == ("b" * 32, "TRACEPARENT")
    ctx = resolve_trace_context(None, None, {})
    assert ctx.source == "new" and valid_trace_id(ctx.trace_id) and ctx.parent_span_id is None
    assert not ctx.warnings


def test_unsampled_flag_is_kept() -> None:
    ctx = resolve_trace_context(None, f"00-{TID}-{SID}-00", {})
    assert ctx.sampled is False
    assert ctx.traceparent("1" * 16).endswith("-00")


def test_invalid_values_fall_through_with_warnings() -> None:
    bad = [
        f"ff-{TID}-{SID}-01",  # forbidden version
        f"00-{TID.upper()}-{SID}-01",  # upper case
        f"00-{'0' * 32}-{SID}-01",  # all-zero trace id
        f"00-{TID}-{'0' * 16}-01",  # all-zero span id
        f"00-{TID[:-1]}-{SID}-01",  # wrong length
        f"00-{TID}-{SID}-01-extra",  # version 00 has no extra fields
        "00-xyz-abc-01",
        "\x1b[31m",
    ]
    for value in bad:
        ctx = resolve_trace_context(None, None, {"TRACEPARENT": value})
        assert ctx.source == "new", value
        assert len(ctx.warnings) == 1 and "\n" not in ctx.warnings[0]
        assert "\x1b" not in ctx.warnings[0]
    ctx = resolve_trace_context(None, None, {"TRACEPARENT": GOOD})
    assert ctx.source == "TRACEPARENT" and ctx.trace_id == TID and not ctx.warnings


def test_future_version_with_extra_fields_is_accepted() -> None:
    assert parse_traceparent(f"01-{TID}-{SID}-01-whatever") == (TID, SID, True)


@given(hex32, hex16, st.booleans())
def test_format_parse_round_trip(trace_id: str, span_id: str, sampled: bool) -> None:
    text = format_traceparent(trace_id, span_id, sampled)
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]", text)
    assert parse_traceparent(text) == (trace_id, span_id, sampled)
    ctx = resolve_trace_context(None, None, {"TRACEPARENT": text})
    assert (ctx.trace_id, ctx.parent_span_id, ctx.sampled) == (trace_id, span_id, sampled)


@given(hex32, hex16, st.booleans())
def test_format_equals_opentelemetry_propagator(trace_id: str, span_id: str, sampled: bool) -> None:
    """Our formatter (no OpenTelemetry import on the run path) writes what the SDK's propagator injects."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import (
        TraceContextTextMapPropagator,
    )

    span_ctx = trace.SpanContext(
        int(trace_id, 16), int(span_id, 16), is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED if sampled else trace.TraceFlags.DEFAULT),
    )
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, trace.set_span_in_context(trace.NonRecordingSpan(span_ctx)))
    assert format_traceparent(trace_id, span_id, sampled) == carrier["traceparent"]


def test_new_ids_are_valid_w3c_ids() -> None:
    for _ in range(100):
        assert valid_trace_id(new_trace_id()) and valid_span_id(new_span_id())


@given(st.text(max_size=80))
def test_arbitrary_traceparent_is_joined_or_refused(value: str) -> None:
    """From the environment a bad value is ignored with a warning; as an option it is refused."""
    ctx = resolve_trace_context(None, None, {"TRACEPARENT": value})
    assert valid_trace_id(ctx.trace_id)
    assert ctx.parent_span_id is None or valid_span_id(ctx.parent_span_id)
    if ctx.source == "new":  # an empty TRACEPARENT counts as unset
        assert len(ctx.warnings) == (1 if value else 0)
    assert all("\n" not in w for w in ctx.warnings)
    try:
        ctx = resolve_trace_context(None, value, {})
    except TraceOptionError as exc:
        assert "\n" not in str(exc)
    else:
        assert ctx.source == "--trace-parent" and valid_span_id(ctx.parent_span_id)


@given(st.text(max_size=40))
def test_arbitrary_trace_id_option(value: str) -> None:
    if valid_trace_id(value.strip().lower()):
        ctx = resolve_trace_context(value, None, {})
        assert ctx.trace_id == value.strip().lower() and ctx.source == "--trace-id"
    else:
        with pytest.raises(TraceOptionError):
            resolve_trace_context(value, None, {})


def test_new_ids_are_distinct() -> None:
    ids = {resolve_trace_context(None, None, {}).trace_id for _ in range(200)}
    assert len(ids) == 200
