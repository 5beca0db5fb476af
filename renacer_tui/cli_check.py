"""`renacer-tui check [--config F] [--trace-id ID | -- CMD ARGS]`: trace assertions that fail CI.

Traces CMD (through the same headless pipeline as a run) or loads a stored trace (default: the
newest), evaluates every enabled assertion of renacer.toml and prints the outcome.  Exit 0
when every error-severity assertion holds (warnings are printed, never fatal), 1 when one fails
(or the traced command itself failed), 2 for a bad config or bad options.  With `--baseline`
the same metrics are compared with a stored trace and each that got worse by more than
`--max-regression` fails.  Under GitHub Actions (`GITHUB_ACTIONS=true`) failures are also
printed as `::error` annotations on the renacer.toml line.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from renacer_tui.cli_common import (
    CliError,
    check_format,
    emit_text,
    normalize_trace_id,
    one_line,
    open_store,
    print_store_warnings,
)
from renacer_tui.text import escape

_PROG = "renacer-tui check"
_BASELINES = "check-baselines.json"
_HELP = (
    "Evaluate the trace assertions of renacer.toml on a traced command (after --) or a stored trace; "
    "exit 1 when an error-severity assertion fails, 0 on warnings only, 2 on a bad config."
)


def register(app: typer.Typer) -> None:
    """Add the `check` command (extra arguments after `--` are the command to trace)."""
    app.command(
        "check",
        help=_HELP,
        options_metavar="[OPTIONS] [-- CMD [ARGS…]]",
        context_settings={"allow_extra_args": True, "allow_interspersed_args": False},
    )(check_command)


def check_command(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="renacer.toml to use (default: found in . or a parent)."),
    trace_id: Optional[str] = typer.Option(None, "--trace-id", help="Check this stored trace instead of tracing a command."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, json or junit."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the report to FILE (the text summary still goes to stdout)."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="Compare with this trace id, 'latest' or 'latest-on-branch'."),
    max_regression: str = typer.Option("10%", "--max-regression", help="Worst allowed change against the baseline (10%)."),
    skip_undecided: bool = typer.Option(False, "--skip-undecided", help="Skip, not fail, assertions whose metric the trace lacks."),
    db: Optional[Path] = typer.Option(None, "--db", help="Store location (default: RENACER_DB or ~/.renacer/db)."),
) -> int:
    try:
        return _check(list(ctx.args), config, trace_id, fmt, output, baseline, max_regression, skip_undecided, db)
    except CliError as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return exc.code


def _check(command: list[str], config: Optional[Path], trace_id: Optional[str], fmt: str, output: Optional[Path],
           baseline: Optional[str], max_regression: str, skip_undecided: bool, db: Optional[Path]) -> int:
    from renacer_tui.check import config as cfg
    from renacer_tui.check.evaluate import check_all, exit_code, parse_ratio, regressions

    kind = check_format(fmt, ("text", "json", "junit"))
    if command[:1] == ["--"]:
        command = command[1:]
    if command and trace_id is not None:
        raise CliError("give either --trace-id or a command after --, not both", 2)
    try:
        ratio = parse_ratio(max_regression)
    except ValueError:
        raise CliError(f"bad --max-regression {escape(max_regression)!r}: expected a percentage like 10%", 2) from None
    path = config if config is not None else cfg.find_config()
    if path is None:
        raise CliError(f"no {cfg.CONFIG_NAME} in {escape(Path.cwd())} or its parents (write one or pass --config)", 2)
    try:
        assertions = cfg.load(path)
    except cfg.ConfigError as exc:
        raise CliError(escape(str(exc)), 2) from None
    if not assertions:
        raise CliError(f"{escape(path)}: no [[trace_assertions]] or [[assertion]] tables", 2)
    wanted = normalize_trace_id(trace_id) if trace_id is not None else None
    if baseline not in (None, "latest", "latest-on-branch"):
        normalize_trace_id(baseline)

    program_status = 0
    if command:
        # a JSON or JUnit report on stdout must stay parseable: the program's output goes to stderr
        wanted, program_status = _trace(command, db, stdout_to_stderr=kind != "text" and output is None)
    store = open_store(db)
    try:
        tid, metrics = _load(store, wanted)
        outcomes = check_all(assertions, metrics, skip_undecided)
        if baseline is not None:
            base = _load(store, _baseline_id(store, baseline, tid, metrics.command))[1]
            outcomes += regressions(metrics, base, assertions, ratio)
        code = exit_code(outcomes)
        if command and program_status != 0:
            print(f"{_PROG}: {escape(shlex.join(command))} exited with status {program_status}", file=sys.stderr)
            code = 1
        if command and code == 0:
            _remember_baseline(store, tid)
        _report(outcomes, tid, kind, output, code)
        print_store_warnings(store)
    finally:
        store.close()
    return code


def _trace(command: list[str], db: Optional[Path], stdout_to_stderr: bool = False) -> tuple[str, int]:
    """Trace `command` into the store headless; (its trace id, its exit status)."""
    from renacer_tui.model.ids import new_trace_id
    from renacer_tui.run_options import RunOptions
    from renacer_tui.run_pipeline import run_traced

    trace_id = new_trace_id()
    options = RunOptions(command=command, trace_id=trace_id, db=db, output=Path(os.devnull))
    sys.stdout.flush()
    saved = os.dup(1) if stdout_to_stderr else None
    if saved is not None:
        os.dup2(2, 1)
    try:
        status = run_traced(options)
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)
    if status in (126, 127):  # the program could not start: run_traced said why in one line
        raise CliError(f"could not run {escape(shlex.join(command))}", 1)
    return trace_id, status


def _load(store: Any, trace_id: Optional[str]) -> tuple[str, Any]:
    from renacer_tui.analysis.loading import TraceNotFound
    from renacer_tui.check.metrics import TraceMetrics

    if trace_id is None:
        recent = store.list_traces(1).column("trace_id").to_pylist()
        if not recent:
            raise CliError(f"no traces in {escape(store.root)}; give a command after -- or --trace-id", 1)
        trace_id = str(recent[0])
    try:
        return trace_id, TraceMetrics.from_store(store, trace_id)
    except TraceNotFound:
        raise CliError(f"no trace {trace_id} in {escape(store.root)}", 1) from None
    except Exception as exc:  # unreadable segments, a broken trace: one line
        raise CliError(f"cannot read trace {trace_id}: {one_line(exc)}", 1) from None


def _branch() -> str | None:
    """The CI's branch name, else git's current branch (None outside a repository)."""
    for var in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BRANCH_NAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        result = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    name = result.stdout.strip()
    return name if result.returncode == 0 and name and name != "HEAD" else None


def _baselines(store: Any) -> dict[str, str]:
    try:
        data = json.loads((Path(store.root) / _BASELINES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _remember_baseline(store: Any, trace_id: str) -> None:
    """Record a passing traced check as its branch's baseline (for `--baseline latest-on-branch`)."""
    branch = _branch()
    if branch is None:
        return
    known = _baselines(store)
    known[branch] = trace_id
    target = Path(store.root) / _BASELINES
    try:
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(known, indent=2), encoding="utf-8")
        temporary.replace(target)
    except OSError as exc:
        print(f"{_PROG}: warning: cannot record the baseline: {one_line(exc)}", file=sys.stderr)


def _baseline_id(store: Any, baseline: str, current: str, command: str) -> str:
    """The trace id `--baseline` names: an id, the newest other trace of this command, or the branch's last pass."""
    if baseline == "latest-on-branch":
        branch = _branch()
        known = _baselines(store).get(branch or "")
        if branch is None or known is None or known == current:
            raise CliError(f"no passing traced check recorded on branch {escape(branch or '?')} in {escape(store.root)}", 1)
        return known
    if baseline == "latest":
        for row in store.list_traces(1000).to_pylist():
            if row["trace_id"] != current and row["command"].strip() == command:
                return str(row["trace_id"])
        raise CliError(f"no earlier trace of {escape(command)!r} in {escape(store.root)} to compare with", 1)
    return normalize_trace_id(baseline)


def _report(outcomes: list[Any], trace_id: str, kind: str, output: Optional[Path], code: int) -> None:
    from renacer_tui.check import report

    renderers: dict[str, Callable[[], str]] = {
        "text": lambda: report.to_text(outcomes, trace_id),
        "json": lambda: report.to_json(outcomes, trace_id, code),
        "junit": lambda: report.to_junit(outcomes, trace_id),
    }
    body = renderers[kind]()
    if output is not None:
        emit_text(body, output, f"the check report ({kind})")
        if kind != "text":
            sys.stdout.write(report.to_text(outcomes, trace_id))
    else:
        sys.stdout.write(body)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        sys.stdout.write(report.github_annotations(outcomes))
    sys.stdout.flush()
