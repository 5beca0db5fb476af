"""The `renacer-tui` command: a thin dispatcher over typer sub-applications.

`renacer-tui [OPTIONS] -- CMD …` traces CMD (the `run` command); the other first words
(`db`, `graph`, `export`, `view`) select a sub-application. Each sub-application lives in
its own module and exposes `register(app)`; this module only wires them together.
"""

from __future__ import annotations

import importlib
import sys

import typer

#: Sub-application modules, each exposing `register(app: typer.Typer) -> None`.
_COMMAND_MODULES: tuple[str, ...] = (
    "renacer_tui.cli_run",
    "renacer_tui.cli_db",
    "renacer_tui.cli_export",
    "renacer_tui.cli_graph",
    "renacer_tui.cli_view",
)


def build_app() -> typer.Typer:
    """The full typer application with every sub-command registered."""
    app = typer.Typer(
        name="renacer-tui",
        help="Trace a program's system calls as one OpenTelemetry golden thread, live in the terminal.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a sub-application not installed in this build
            if exc.name != module_name:
                raise
            continue
        module.register(app)
    return app


def _subcommand_names(app: typer.Typer) -> set[str]:
    names = {info.name or (info.callback.__name__ if info.callback else "") for info in app.registered_commands}
    names |= {info.name for info in app.registered_groups if info.name}
    return names


def main(argv: list[str] | None = None) -> int:
    """Entry point. Anything that is not a sub-command name is a program to trace."""
    args = list(sys.argv[1:] if argv is None else argv)
    app = build_app()
    if args and args[0] not in _subcommand_names(app) and args[0] not in ("-h", "--help", "--version"):
        args = ["run", *args]
    if args[:1] == ["--version"]:
        from renacer_tui import __version__

        print(f"renacer-tui {__version__}")
        return 0
    try:
        result = app(args=args, prog_name="renacer-tui", standalone_mode=False)
    except SystemExit as exc:  # typer/click exit paths
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # click usage errors and the like: one line, never a traceback
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 130
        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        raise
    return int(result or 0) if isinstance(result, int) else 0
