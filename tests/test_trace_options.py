"""A trace id the user asked for is used, or refused with one line and exit 2 (issue 17, item 6).

The environment's TRACEPARENT is someone else's header and stays a warning (W3C: ignore a bad
one); `--trace-id` / `--trace-parent` are the user's request, and a run filed under another id
would be lost to them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renacer_tui.tracer.context import (
    TraceOptionError,
    check_trace_options,
    resolve_trace_context,
)

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
SID = "00f067aa0ba902b7"

BAD_TRACE_IDS = [
    TID[:-1],  # 31 digits
    TID + "0",  # 33 digits
    "0" * 32,  # all zero
    "g" + TID[1:],  # not hex
    "",
    "\x1b[31m[bold]x",
]
BAD_TRACE_PARENTS = [
    f"00-{'0' * 32}-{SID}-01",
    f"00-{TID}-{'0' * 16}-01",
    f"00-{TID[:-1]}-{SID}-01",
    f"ff-{TID}-{SID}-01",
    "garbage",
]


def renacer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "renacer_tui", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env,
    )


@pytest.mark.parametrize("bad", BAD_TRACE_IDS)
def test_bad_trace_id_is_an_error_not_a_random_id(bad: str) -> None:
    with pytest.raises(TraceOptionError):
        resolve_trace_context(bad, None, {})
    problem = check_trace_options(bad, None)
    assert problem is not None and "--trace-id" in problem and "\n" not in problem and "\x1b" not in problem


@pytest.mark.parametrize("bad", BAD_TRACE_PARENTS)
def test_bad_trace_parent_is_an_error(bad: str) -> None:
    with pytest.raises(TraceOptionError):
        resolve_trace_context(None, bad, {})
    # even when --trace-id wins, the user's --trace-parent is not silently dropped
    with pytest.raises(TraceOptionError):
        resolve_trace_context(TID, bad, {})


def test_upper_case_is_the_same_id_with_a_note() -> None:
    ctx = resolve_trace_context(TID.upper(), None, {})
    assert ctx.trace_id == TID and ctx.source == "--trace-id"
    assert len(ctx.warnings) == 1 and ctx.warnings[0].startswith("note:") and TID in ctx.warnings[0]
    ctx = resolve_trace_context(None, f"00-{TID.upper()}-{SID.upper()}-01", {})
    assert (ctx.trace_id, ctx.parent_span_id) == (TID, SID) and ctx.warnings[0].startswith("note:")
    assert not resolve_trace_context(TID, None, {}).warnings


def test_environment_traceparent_stays_a_warning() -> None:
    ctx = resolve_trace_context(None, None, {"TRACEPARENT": f"00-{'0' * 32}-{SID}-01"})
    assert ctx.source == "new" and ctx.warnings and ctx.warnings[0].startswith("warning:")


@given(st.text(max_size=40))
def test_any_user_trace_id_is_used_or_refused(text: str) -> None:
    try:
        ctx = resolve_trace_context(text, None, {})
    except TraceOptionError as exc:
        assert "\n" not in str(exc)
        return
    assert ctx.trace_id == text.strip().lower() and ctx.source == "--trace-id"


@pytest.mark.parametrize(("option", "value"), [("--trace-id", "0" * 32), ("--trace-id", TID[:20]), ("--trace-parent", "nope")])
def test_command_line_refuses_with_one_line_and_exit_2(db_path, option: str, value: str) -> None:
    result = renacer("--no-tui", "--no-store", option, value, "--", "true")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and option in lines[0] and "trace_id=" not in result.stderr


def test_command_line_upper_case_id_is_used(db_path) -> None:
    env = dict(os.environ)
    env.pop("TRACEPARENT", None)
    result = renacer("--no-tui", "--no-store", "--trace-id", TID.upper(), "--", "true", env=env)
    assert result.returncode == 0, result.stderr
    assert f"trace_id={TID}" in result.stderr and "note: --trace-id" in result.stderr
