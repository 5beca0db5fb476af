"""The `renacer-tui` command: a thin dispatcher over typer sub-applications.

`renacer-tui [OPTIONS] -- CMD …` traces CMD (the `run` command); the other first words
(`db`, `graph`, `export`, `view`, `demo`, `check`, `serve`, `diff`) select a sub-application. Each
sub-application lives in its own module and exposes `register(app)`; this module only wires them
together.
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
}
SUBCOMMANDS = frozenset(_COMMAND_MODULES)


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
    return escape(f"{where}: {message} (see {where} -h)")


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
    if args and args[0] not in SUBCOMMANDS and args[0] not in ("-h", "--help"):
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
