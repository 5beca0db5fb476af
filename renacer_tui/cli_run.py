"""`renacer-tui [OPTIONS] -- CMD [ARGS…]`: trace a program (headless or in the TUI).

Why argparse and not typer here: the run path is on the clock. Every millisecond of start-up
is added to the traced program's wall time, and typer (0.29) builds pydantic adapters for
every option, ~75 ms before the program's first instruction. `cli.main` sends a run here
before it imports typer; the typer `run` command only forwards its raw arguments, so the
options are defined once, in `build_parser`.

This module only parses; `run_pipeline.run_traced` does the work, and the TUI path hands the
same options to a capture child process (`live.run_live_tui`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from renacer_tui import __version__
from renacer_tui.model.readable import STRING_LIMIT
from renacer_tui.run_options import RunOptions
from renacer_tui.sinks.summary_order import SUMMARY_SORTS

#: `sinks.otlp.END_BOUND_S`, spelled here so `--help` does not load pyarrow (a test keeps them equal).
_OTLP_END_BOUND_S = 4.0

if TYPE_CHECKING:
    import typer

PROG = "renacer-tui run"
HELP = "Trace CMD under ptrace: every syscall of every process and thread as one OpenTelemetry trace."


class _UsageError(Exception):
    """argparse's complaint, reported by `run_main` as one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would print a usage block and exit
        raise _UsageError(message)

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> object:
        # argparse (before 3.13) drops a value that is exactly "--" (`--service-name=--`) and
        # leaves [] behind; an attached value is a value, so keep it
        if action.nargs is None and arg_strings == ["--"]:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)


class _Follow(argparse.Action):
    """-f follows children (the default); given twice (-ff), with -o FILE, each task's lines go
    to FILE.TID, as strace."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)  # type: ignore[arg-type]

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        namespace.follow = True
        if option_string == "-f" and getattr(namespace, "_seen_f", False):
            namespace.per_task_files = True
        namespace._seen_f = option_string == "-f" or getattr(namespace, "_seen_f", False)


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


_non_negative.__name__ = "non-negative int"  # argparse names the type in its message


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise ValueError(text)
    return value


_non_negative_float.__name__ = "non-negative number"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_positive.__name__ = "positive int"


def build_parser() -> argparse.ArgumentParser:
    """Every option of a traced run, with the same names, defaults and help as strace's where it has them.

    Each `dest` is a `RunOptions` field (but `no_tui`), so the namespace becomes the options as is.
    """
    p = _Parser(
        prog=PROG,
        usage=f"{PROG} [OPTIONS] -- CMD [ARGS…]   (or: renacer-tui [OPTIONS] -- CMD [ARGS…])",
        description=HELP + " Exits with the program's exit code (128+N when it died of signal N).",
        add_help=False,
        allow_abbrev=False,
    )
    add = p.add_argument
    add("-h", "--help", action="help", help="Show this message and exit.")
    add("-f", "--follow", dest="follow", action=_Follow, default=True,
        help="Follow forks, clones and execs (default); -ff with -o FILE: one file per task, FILE.TID.")
    add("--per-task-files", dest="per_task_files", action="store_true", help=argparse.SUPPRESS)  # -ff, forwarded
    add("--no-follow", dest="follow", action="store_false", help="Trace the first process only.")
    add("-p", "--attach", dest="attach_pids", type=int, action="append", default=[], metavar="PID",
        help="Attach to a running PID and its threads (repeatable: one trace of them all).")
    add("-e", "--expr", dest="expressions", action="append", default=[], metavar="EXPR",
        help="strace-style filter: trace=SPEC (names, /regex/, !negation, classes %%file %%process %%network "
             "%%signal %%ipc %%desc %%memory %%creds %%clock %%stat %%lstat %%fstat %%statfs %%fstatfs %%pure), "
             "status=successful,failed,unfinished,unavailable,detached, signal=SET (SIGCHLD,usr1,!SIGPIPE, all, none), "
             "read=FDS / write=FDS (hex dumps of the bytes moved on those fds: 3,5 all !3), "
             "or inject=SET:error=ERRNO|retval=N|signal=SIG[:when=EXPR].")
    add("-E", "--env", dest="env_edits", action="append", default=[], metavar="VAR=VAL|VAR",
        help="Start the program with VAR=VAL in its environment, or without VAR (repeatable, as strace -E).")
    add("--stdin", dest="stdin_file", type=Path, metavar="FILE",
        help="The program reads FILE as its stdin (in the TUI it would otherwise read an empty one).")
    add("-P", "--trace-path", dest="trace_paths", action="append", default=[], metavar="PATH", help="Only syscalls touching PATH.")
    add("-s", "--string-limit", type=_non_negative, default=STRING_LIMIT, metavar="N",
        help=f"Max bytes of strings to capture ({STRING_LIMIT}, as strace).")
    add("-o", "--output", type=Path, metavar="FILE", help="Write the headless trace to FILE.")
    add("--format", dest="output_format", default="text", metavar="FMT", help="Headless output format: text or jsonl.")
    add("-c", "--summary", action="store_true",
        help="Count time, calls and errors per syscall and print the table instead of the trace (with -o, into FILE).")
    add("-C", "--summary-and-trace", dest="summary_and_trace", action="store_true",
        help="Like -c, but print the trace too (the table after it).")
    add("-S", "--summary-sort", dest="summary_sort", default="time", choices=SUMMARY_SORTS, metavar="SORTBY",
        help="Sort the -c table by time (default), calls, errors, name, avgtime or nothing.")
    add("-t", "--timestamps", dest="timestamps", action="count", default=0,
        help="Prefix each line with the wall-clock time: -t seconds, -tt microseconds, -ttt since the epoch.")
    add("-r", "--relative-timestamps", dest="relative_timestamps", action="store_true",
        help="Prefix each line with the time since the previous call's entry.")
    add("-y", "--decode-fds", dest="decode_fds", action="count", default=0,
        help="Print what each fd argument and returned fd refers to: read(3</etc/hostname>, …), = 3</path>.")
    add("-X", "--const-style", dest="xlat_style", default="abbrev", choices=("raw", "abbrev", "verbose"),
        metavar="FORMAT", help="Named constants and flags: abbrev (names, the default), raw (numbers), "
                               "verbose (numbers with the names as comments), as strace -X.")
    add("-T", "--syscall-times", dest="syscall_times", action="store_true",
        help="Show the time spent in each call, `<0.000012>`, which every line always shows (strace -T).")
    add("-w", "--summary-wall-clock", dest="summary_wall_clock", action="store_true",
        help="With -c: wall-clock latency per call, which is what the table always shows (strace -w).")
    add("-z", "--successful-only", dest="status_only", action="append_const", const="status=successful",
        help="Only calls that returned without an error (-e status=successful).")
    add("-Z", "--failed-only", dest="status_only", action="append_const", const="status=failed",
        help="Only calls that returned an error (-e status=failed).")
    add("-q", "--quiet", action="count", default=0,
        help="-q: no 'Process N attached/detached' notes; -qq: no '+++ exited with N +++' lines either.")
    add("-V", "--version", action="version", version=f"renacer-tui -- version {__version__}", help="Print the version and exit.")
    add("--sample-threshold-us", dest="sample_threshold_us", type=_non_negative_float, metavar="US",
        help="Adaptive sampling: calls faster than US microseconds are kept at --sample-rate, each kept one "
             "standing for the ones left out (default: [sampling] threshold_us; off when unset).")
    add("--sample-rate", dest="sample_rate", type=_non_negative_float, metavar="R",
        help="Adaptive sampling: the share of fast calls kept, in (0, 1] (default: [sampling] sample_rate).")
    add("--trace-id", metavar="HEX32", help="Use this 32-hex trace id (invalid: exit 2).")
    add("--trace-parent", metavar="TRACEPARENT", help="Join this W3C traceparent (invalid: exit 2).")
    add("--no-tui", action="store_true", help="Run headless even on a terminal.")
    add("--no-store", dest="store", action="store_false", help="Do not write spans to the store.")
    add("--db", type=Path, metavar="PATH", help="Store location (default: RENACER_DB or ~/.renacer/db).")
    add("--no-rle", dest="rle", action="store_false", help="Keep every span (no run-length encoding).")
    add("--otlp-endpoint", metavar="URL", help=(
        "Export spans over OTLP to URL (default: [otlp] endpoint when [otlp] enabled = true).  "
        "An unreachable collector is reported once, and the end "
        f"of the run waits at most {_OTLP_END_BOUND_S:g} s for the exporter."))
    add("--otlp-protocol", metavar="PROTO", help="grpc or http/protobuf (default: [otlp] protocol, grpc).")
    add("--no-otlp", dest="otlp", action="store_false", help="Do not export over OTLP, even with [otlp] enabled = true.")
    add("--otlp-header", dest="otlp_headers", action="append", default=[], metavar="K=V", help="OTLP header K=V (repeatable).")
    add("--service-name", default="renacer", metavar="NAME", help="OTLP resource service.name (renacer).")
    add("--spin-us", type=_non_negative, metavar="US",
        help="Poll for the next stop this long, yielding the CPU, before blocking (50; 0: block at once).")
    add("--pin-cpu", type=_non_negative, metavar="CPU", help="Pin tracer and program to one CPU.")
    add("--queue-capacity", type=_positive, default=256, metavar="N", help="Batches buffered per sink (256).")
    add("--no-receiver", dest="receiver", action="store_false",
        help="Do not receive the program's own OTLP spans (no OTEL_EXPORTER_OTLP_ENDPOINT for it).")
    add("--trace-compute", action="store_true",
        help="Profile a traced Python program's wgpu work as gpu: spans, without code changes (see README).")
    add("--trace-compute-threshold", dest="trace_compute_threshold_us", type=_non_negative_float, default=100.0, metavar="US",
        help="With --trace-compute: keep GPU work of at least US microseconds (100).")
    add("--trace-compute-all", action="store_true", help="With --trace-compute: keep every GPU span (threshold 0).")
    add("--capture-payloads", action="store_true",
        help="Hash (SHA-256) the bytes of every read/write/send/recv, per call and per file; for `renacer-tui diff`.")
    add("--store-payloads", action="store_true", default=None,
        help="Keep the bytes of read/write buffers (the first -s) in the store and OTLP export; by default only"
             " the text output and the live screen show them ([database] store_payloads).")
    add("--source", action="store_true", help="Record each call's user stack and fill c_source/rust_source (DWARF).")
    add("-k", "--stack-trace", dest="stack_trace", action="store_true",
        help="Print the symbolised stack under each call, like strace -k (implies --source).")
    add("--transpiler-map", dest="transpiler_maps", action="append", default=[], metavar="FILE",
        help="renacer JSON v1 source map: generated lines to python_source (implies --source; repeatable).")
    add("--trace-transpiler-decisions", action="store_true",
        help="Record the program's [DECISION] category::name input=<json> and [RESULT] name = <json> stderr lines"
             " as events of its process span.")
    add("--decisions", type=Path, metavar="FILE",
        help="Add the decisions of a JSON decision manifest (see docs/golden-thread.md) as events of the run span.")
    add("--feed-fd", type=int, help=argparse.SUPPRESS)  # the live feed's fd, set by the TUI
    # decode on the stop loop, as before the decoder process (for the equivalence test)
    add("--inline-decode", action="store_true", help=argparse.SUPPRESS)
    add("command", nargs=argparse.REMAINDER, metavar="CMD", help="The program and its arguments (after --).")
    return p


def parse_run_args(args: list[str]) -> tuple[RunOptions, bool]:
    """(options, whether the TUI was turned off) from the command line; raises _UsageError."""
    fields = vars(build_parser().parse_args(args))
    no_tui = fields.pop("no_tui")
    fields.pop("_seen_f", None)
    fields.pop("summary_wall_clock")  # -c already measures from entry to exit, as strace -w
    fields.pop("syscall_times")  # every line ends with its call's duration, as strace -T
    status_only = fields.pop("status_only") or []
    if len(set(status_only)) > 1:  # as strace 6: the last one counts, with the same notice
        print(f"{PROG}: only the last of -z/--successful-only/-Z/--failed-only takes effect", file=sys.stderr)
    if status_only:
        fields["expressions"] = [*fields["expressions"], status_only[-1]]
    if fields["command"][:1] == ["--"]:
        fields["command"] = fields["command"][1:]
    return RunOptions(**fields), no_tui


def run_main(args: list[str]) -> int:
    """Parse and run; the program's exit code, or 2 with one line on stderr for a usage mistake."""
    try:
        options, no_tui = parse_run_args(args)
    except _UsageError as exc:
        from renacer_tui.text import escape

        print(escape(f"{PROG}: {exc} (see {PROG} -h)"), file=sys.stderr)
        return 2
    problem = options.usage_problem()
    if problem is not None:  # refused before the TUI opens, not inside it
        from renacer_tui.text import escape

        print(escape(f"{PROG}: {problem} (see {PROG} -h)"), file=sys.stderr)
        return 2
    use_tui = not no_tui and options.feed_fd is None and sys.stdout.isatty() and sys.stdin.isatty()
    if use_tui:
        from renacer_tui.live.run import run_live_tui

        if options.decisions is not None:  # refused here, not by the capture child inside the TUI
            from renacer_tui.text import escape
            from renacer_tui.tracer.decision_manifest import ManifestError, load_manifest

            try:
                load_manifest(options.decisions, 0)
            except ManifestError as exc:
                print(escape(f"{PROG}: {exc}"), file=sys.stderr)
                return 2

        return run_live_tui(options.capture_args(), options.command)
    _without_numpy()
    from renacer_tui.run_pipeline import run_traced

    return run_traced(options)


def _without_numpy() -> None:
    """Keep numpy out of the headless capture process: ~40 ms of start-up it never uses.

    pyarrow imports numpy eagerly when it is installed, only for numpy/pandas interop; nothing
    on the capture path (span builder, fan-out, segment writer, outputs) converts to numpy.
    A `None` entry in sys.modules makes that optional import fail fast, as if numpy were absent.
    """
    if "numpy" not in sys.modules:
        sys.modules["numpy"] = None  # type: ignore[assignment]


def register(app: "typer.Typer") -> None:
    """List `run` among the sub-commands; `cli.main` normally dispatches runs before typer exists."""
    import typer

    def run(ctx) -> int:
        raise typer.Exit(run_main(list(ctx.args)))

    run.__annotations__ = {"ctx": typer.Context}  # resolved here: typer is imported lazily
    app.command(
        name="run",
        help=HELP + " See `renacer-tui run -h` for its options.",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )(run)
