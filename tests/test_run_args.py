"""The run command's parser (argparse, off typer for start-up) and the TUI's round trip through it.

The TUI hands its options to a capture child as flags (`RunOptions.capture_args`); whatever a user
typed must come back unchanged on the other side, including values that start with "-" and
programs whose own arguments look like ours.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from renacer_tui.cli_run import parse_run_args
from renacer_tui.run_options import RunOptions

# argv strings: any text but NUL (and lone surrogates, which only come from undecodable bytes)
arg_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
small = st.integers(min_value=0, max_value=10_000)

run_options = st.builds(
    RunOptions,
    command=st.lists(arg_text, min_size=1, max_size=4),
    follow=st.booleans(),
    attach_pids=st.lists(st.integers(min_value=1, max_value=4_000_000), max_size=3),
    env_edits=st.lists(arg_text, max_size=2),
    quiet=st.integers(min_value=0, max_value=3),
    timestamps=st.integers(min_value=0, max_value=3),
    relative_timestamps=st.booleans(),
    xlat_style=st.sampled_from(["raw", "abbrev", "verbose"]),
    expressions=st.lists(arg_text, max_size=2),
    trace_paths=st.lists(arg_text, max_size=2),
    string_limit=small,
    output=st.none() | arg_text.filter(bool).map(Path),
    output_format=arg_text,
    trace_id=st.none() | arg_text,
    trace_parent=st.none() | arg_text,
    store=st.booleans(),
    db=st.none() | arg_text.filter(bool).map(Path),
    rle=st.booleans(),
    otlp_endpoint=st.none() | arg_text,
    otlp_protocol=st.none() | arg_text,
    otlp=st.booleans(),
    otlp_headers=st.lists(arg_text, max_size=2),
    service_name=arg_text,
    spin_us=st.none() | small,
    pin_cpu=st.none() | st.integers(min_value=0, max_value=255),
    queue_capacity=st.integers(min_value=1, max_value=10_000),
    receiver=st.booleans(),
    trace_compute=st.booleans(),
    trace_compute_threshold_us=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    trace_compute_all=st.booleans(),
    source=st.booleans(),
    stack_trace=st.booleans(),
    transpiler_maps=st.lists(arg_text, max_size=2),
    trace_transpiler_decisions=st.booleans(),
    decisions=st.none() | arg_text.filter(bool).map(Path),
)


@given(run_options)
@example(RunOptions(command=["x", "--"], service_name="--", trace_paths=["--"]))  # argparse drops a bare "--" value
def test_capture_args_round_trip(options: RunOptions) -> None:
    parsed, no_tui = parse_run_args([*options.capture_args(), "--", *options.command])
    forwarded = dataclasses.replace(options, summary=False, feed_fd=None)
    if options.output is None:  # the format only travels with an output file
        forwarded = dataclasses.replace(forwarded, output_format="text")
    assert parsed == forwarded and no_tui is False


@given(st.lists(arg_text, min_size=1, max_size=4))
def test_everything_after_the_program_is_the_programs(command: list[str]) -> None:
    """`renacer-tui -c ls -la`: the first word that is not an option starts the command."""
    first = "prog" + command[0].lstrip("-")  # a program name, never an option
    parsed, _ = parse_run_args(["-c", first, *command[1:]])
    assert parsed.command == [first, *command[1:]] and parsed.summary
    parsed, _ = parse_run_args(["--no-store", "--", *command])
    assert parsed.command == command and not parsed.store


def test_defaults_are_the_dataclass_defaults() -> None:
    parsed, no_tui = parse_run_args(["--", "true"])
    assert parsed == RunOptions(command=["true"]) and not no_tui


def test_run_help_lists_every_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "run", "-h"], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0 and result.stderr == ""
    for flag in ("--no-follow", "--attach", "--expr", "--trace-path", "--string-limit", "--output", "--format",
                 "--summary", "--trace-id", "--trace-parent", "--no-tui", "--no-store", "--db", "--no-rle",
                 "--otlp-endpoint", "--otlp-protocol", "--otlp-header", "--service-name", "--spin-us", "--pin-cpu",
                 "--queue-capacity", "--no-receiver", "--summary-and-trace", "--summary-sort", "--timestamps",
                 "--relative-timestamps", "--successful-only", "--failed-only", "--env", "--quiet", "--version"):
        assert flag in result.stdout, flag
    assert "--feed-fd" not in result.stdout  # internal: the TUI's capture child only
    assert "--per-task-files" not in result.stdout  # internal: -ff forwarded to the capture child
    # -h names every syscall class -e trace= takes (`net` is strace's alias of %network)
    from renacer_tui.tracer.filter_spec import SYSCALL_CLASSES

    listed = " ".join(result.stdout.split())
    for name in SYSCALL_CLASSES:
        if not name.startswith("%") and name != "net":
            assert f"%{name}" in listed, name
    assert "signal=SET" in listed and "status=" in listed
