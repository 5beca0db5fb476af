"""RENACER_LOGICAL_CLOCK: the logical clock of the span that launched the program.

A renacer-tui run inside a traced program (a nested run) starts its Lamport clock above the
launching span's, records that clock as the `parent_logical_clock` of its run span, and hands
its own run span's clock to the program it traces, next to the TRACEPARENT naming that span.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from renacer_tui.tracer.context import LOGICAL_CLOCK_ENV, resolve_trace_context

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
SID = "00f067aa0ba902b7"
CALLER = f"00-{TID}-{SID}-01"


def _spans(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run_span(spans: list[dict]) -> dict:
    (run,) = [s for s in spans if s["span_name"].startswith("renacer:run")]
    return run


def test_a_nested_run_starts_its_clock_above_the_launching_span(tmp_path: Path) -> None:
    outer_out, inner_out = tmp_path / "outer.jsonl", tmp_path / "inner.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("TRACEPARENT", LOGICAL_CLOCK_ENV)}
    env.update(TRACEPARENT=CALLER, **{LOGICAL_CLOCK_ENV: "41"})  # the caller's span has clock 41
    run = [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--format", "jsonl"]
    result = subprocess.run(
        # the outer run must not follow forks: the inner run is the tracer of its own program
        [*run, "--no-follow", "-o", str(outer_out), "--",
         *run, "-o", str(inner_out), "--", "sh", "-c", f'echo "$TRACEPARENT ${LOGICAL_CLOCK_ENV}"'],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env,
    )
    assert result.returncode == 0, result.stderr
    outer, inner = _spans(outer_out), _spans(inner_out)
    outer_run, inner_run = _run_span(outer), _run_span(inner)

    assert (outer_run["parent_span_id"], outer_run["parent_logical_clock"]) == (SID, 41)
    assert outer_run["logical_clock"] == 42
    assert min(s["logical_clock"] for s in outer) == 42

    assert inner_run["trace_id"] == TID and inner_run["parent_span_id"] == outer_run["span_id"]
    assert inner_run["parent_logical_clock"] == outer_run["logical_clock"] == 42
    assert inner_run["logical_clock"] == 43
    assert min(s["logical_clock"] for s in inner) == 43  # every span of the nested run is after its launch

    traceparent, clock = result.stdout.split()
    assert traceparent == f"00-{TID}-{inner_run['span_id']}-01"
    assert clock == str(inner_run["logical_clock"])
    # the inner run's root process hangs off its run span in happens-before order too
    roots = [s for s in inner if s["parent_span_id"] == inner_run["span_id"]]
    assert roots and all(s["parent_logical_clock"] == 43 for s in roots)


def test_a_top_level_run_hands_on_clock_zero(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("TRACEPARENT", LOGICAL_CLOCK_ENV)}
    result = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--format", "jsonl", "-o", str(out), "--",
         "sh", "-c", f"echo ${LOGICAL_CLOCK_ENV}"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=env,
    )
    assert result.returncode == 0, result.stderr
    run = _run_span(_spans(out))
    assert (run["logical_clock"], run["parent_logical_clock"]) == (0, None)
    assert result.stdout.strip() == "0"


def test_the_clock_belongs_to_the_traceparent_it_came_with() -> None:
    env = {"TRACEPARENT": CALLER, LOGICAL_CLOCK_ENV: "7"}
    assert resolve_trace_context(None, None, env).parent_logical_clock == 7
    # an explicit --trace-parent or --trace-id is another span: the environment's clock is not its
    assert resolve_trace_context(None, f"00-{TID}-{'1' * 16}-01", env).parent_logical_clock is None
    assert resolve_trace_context(TID, None, env).parent_logical_clock is None
    assert resolve_trace_context(None, None, {LOGICAL_CLOCK_ENV: "7"}).parent_logical_clock is None


def test_a_bad_clock_is_ignored_with_one_warning() -> None:
    for value in ("-1", "x", "1e3", " 5", "9" * 30, "\x1b[31m"):
        ctx = resolve_trace_context(None, None, {"TRACEPARENT": CALLER, LOGICAL_CLOCK_ENV: value})
        assert ctx.parent_span_id == SID and ctx.parent_logical_clock is None, value
        assert len(ctx.warnings) == 1 and LOGICAL_CLOCK_ENV in ctx.warnings[0] and "\x1b" not in ctx.warnings[0]
    assert not resolve_trace_context(None, None, {"TRACEPARENT": CALLER, LOGICAL_CLOCK_ENV: ""}).warnings
