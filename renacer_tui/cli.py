"""The `renacer-tui` command: a thin dispatcher over typer sub-applications.

`renacer-tui [OPTIONS] -- CMD …` traces CMD (the `run` command); the other first words
(`db`, `graph`, `export`, `view`, `demo`, `check`, `serve`, `diff`, `config`) select a
sub-application. Each sub-application lives in its own module and exposes `register(app)`; this
module only wires them together.

A first word that is neither is a program to trace, which makes a typo of a sub-command
(`renacer-tui chek`) a surprise.  So a first word close to a sub-command name (difflib, ratio
≥ 0.75) is refused with "did you mean" when no such program is on PATH, and traced with a
one-line note when there is one; after `--` every word is a program, with no note.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import typer

#: First word → the module whose `register(app: typer.Typer)` adds that sub-application.
#: Any other first word is a program to trace (known without importing typer or the modules).
_COMMAND_MODULES: dict[str, str] = {
    "run": "renacer_tui.cli_run",
    "db": "renacer_tui.cli_db",
    "export": "renacer_tui.cli_export",
    "graph": "renacer_tui.cli_graph",
    "view": "renacer_tui.cli_view",
    "demo": "renacer_tui.cli_demo",
    "check": "renacer_tui.cli_check",
    "serve": "renacer_tui.cli_serve",
    "diff": "renacer_tui.cli_diff",
    "config": "renacer_tui.cli_config",
}
SUBCOMMANDS = frozenset(_COMMAND_MODULES)

#: How close (difflib's ratio) a first word must be to a sub-command name to count as a typo of it.
NEAR_MISS_RATIO = 0.75
_LONGEST_SUBCOMMAND = max(len(name) for name in SUBCOMMANDS)


def build_app() -> "typer.Typer":
    """The full typer application with every sub-command registered."""
    import typer

    app = typer.Typer(
        name="renacer-tui",
        help="Trace a program's system calls as one OpenTelemetry golden thread, live in the terminal.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    for module_name in _COMMAND_MODULES.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a sub-application not installed in this build
            if exc.name != module_name:
                raise
            continue
        module.register(app)
    return app


def _root() -> None:
    """Trace a program's system calls as one OpenTelemetry golden thread, live in the terminal.

    `renacer-tui [OPTIONS] -- CMD [ARGS…]` traces CMD (see `renacer-tui run --help`).
    """


def _click_exception_type() -> type[Exception]:
    """typer ≥ 0.20 vendors click; older releases use the click package."""
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            return cast("type[Exception]", importlib.import_module(module).ClickException)
        except ImportError:  # pragma: no cover - depends on the typer release
            continue
    raise ImportError("neither typer's vendored click nor click is installed")


def _usage_line(exc: Exception) -> str:
    """`renacer-tui run: No such option: --bogus (see renacer-tui run -h)`: one line, no usage block."""
    from renacer_tui.text import escape

    message = " ".join(exc.format_message().split()) if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "renacer-tui"
    if not message:  # a group given no sub-command: click printed its help and says nothing
        names = getattr(ctx.command, "list_commands", None) if ctx is not None else None
        listed = f": {', '.join(names(ctx))}" if names is not None else ""
        message = f"missing a sub-command{listed}"
    return escape(f"{where}: {message} (see {where} -h)")


def near_miss(word: str) -> str | None:
    """The sub-command `word` is probably a typo of (`chek` → `check`), or None.

    Paths (`./db`) are never typos; the length bound skips difflib (2 ms of import) for the
    long names a ratio of 0.75 could not match anyway.
    """
    if "/" in word or word in SUBCOMMANDS or len(word) > 2 * _LONGEST_SUBCOMMAND:
        return None
    import difflib

    matches = difflib.get_close_matches(word, sorted(SUBCOMMANDS), n=1, cutoff=NEAR_MISS_RATIO)
    return matches[0] if matches else None


def _first_word_problem(word: str) -> tuple[str, int] | None:
    """(message, exit code 2 or 0 for a note) when the first word looks like a mistyped sub-command."""
    from renacer_tui.text import escape

    wanted = near_miss(word)
    if wanted is None:
        return None
    import shutil

    shown = escape(repr(word))
    if shutil.which(word) is None:
        return (
            f"renacer-tui: {shown} is not a sub-command (did you mean {wanted!r}?); "
            f"to trace a program of that name: renacer-tui -- {escape(word)}",
            2,
        )
    return (f"renacer-tui: note: {shown} is not a sub-command (did you mean {wanted!r}?); tracing the program {shown}", 0)


def _nothing_to_do() -> str:
    """The line for a bare `renacer-tui`: what it can do, since it was given nothing."""
    names = ", ".join(name for name in _COMMAND_MODULES if name != "run")
    return f"renacer-tui: nothing to do: trace a program (renacer-tui [OPTIONS] -- CMD) or give a sub-command ({names}) (see renacer-tui -h)"


def main(argv: list[str] | None = None) -> int:
    """Entry point. Anything that is not a sub-command name is a program to trace.

    A run goes straight to `cli_run.run_main` without importing typer: start-up is part of
    the traced program's wall time.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--version"]:
        from renacer_tui import __version__

        print(f"renacer-tui {__version__}")
        return 0
    if not args:
        print(_nothing_to_do(), file=sys.stderr)
        return 2
    if args[0] not in SUBCOMMANDS and args[0] not in ("-h", "--help"):
        if not args[0].startswith("-"):
            problem = _first_word_problem(args[0])
            if problem is not None:
                print(problem[0], file=sys.stderr)
                if problem[1]:
                    return problem[1]
        args = ["run", *args]
    try:
        if args[:1] == ["run"]:
            from renacer_tui.cli_run import run_main

            return run_main(args[1:])
        return _run_typer(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug of ours: say so in one line unless asked for details
        if os.environ.get("RENACER_DEBUG"):
            raise
        print(f"renacer-tui: internal error: {type(exc).__name__}: {exc} (set RENACER_DEBUG=1 for details)", file=sys.stderr)
        return 70


def _run_typer(args: list[str]) -> int:
    """Every sub-command but `run`, through typer; usage errors become one line with exit 2."""
    import typer

    app = build_app()
    click_exception = _click_exception_type()
    try:
        result = app(args=args, prog_name="renacer-tui", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except typer.Exit as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except typer.Abort:
        return 130
    except click_exception as exc:  # usage errors: one line naming where help is, never a traceback
        print(_usage_line(exc), file=sys.stderr)
        return int(getattr(exc, "exit_code", 2))
    return int(result or 0) if isinstance(result, int) else 0
