"""`renacer-tui config`: the configuration in effect, and where each value came from.

A key that is parsed but has no visible effect is indistinguishable from one that works, so
this command shows every value the program will use, each with its origin: the config file and
line, an environment variable or option, or the default.  Unknown keys are listed as warnings
with their file and line, as every other command prints them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from renacer_tui.cli_common import CliError, one_line
from renacer_tui.text import escape

_HELP = "Print the effective configuration (config.toml, environment, defaults) and where each value came from."


def register(app: typer.Typer) -> None:
    """Add the `config` command."""
    app.command("config", help=_HELP)(config_command)


def _toml_value(value: Any) -> str:
    """A value as TOML would write it (strings and paths quoted, booleans lower case)."""
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)


def effective_rows(config: Any, db: Optional[Path]) -> list[tuple[str, str, Any, str]]:
    """(section, key, value, origin) for every key of `[database]`, `[otlp]`, `[graph]`, `[sampling]`.

    `[graph]` shows every threshold of the analysis (its default when the file sets none), under
    the spec's name `tight_loop_threshold` for the tight-loop run length.
    """
    from renacer_tui.analysis.antipatterns import Thresholds
    from renacer_tui.store.config import TIGHT_LOOP_FIELD, resolve_db_path

    where = str(config.source) if config.source else "config.toml"

    def origin(section: str, key: str, fallback: str = "default") -> str:
        line = config.origins.get(f"{section}.{key}")
        return f"{where}:{line}" if line is not None else fallback

    rows: list[tuple[str, str, Any, str]] = []
    for section in ("database", "otlp"):
        values = getattr(config, section)
        for f in dataclasses.fields(values):
            key, value = f.name, getattr(values, f.name)
            if section == "database" and key == "path":
                if db is not None:
                    value, source = db, "--db"
                elif os.environ.get("RENACER_DB"):
                    value, source = os.environ["RENACER_DB"], "RENACER_DB"
                else:
                    value, source = resolve_db_path(None, config), origin(section, key)
                rows.append((section, key, str(value), source))
                continue
            shown = dict(value) if hasattr(value, "items") else value
            rows.append((section, key, shown, origin(section, key)))
    graph = config.graph
    rows.append(("graph", "enable_antipattern_detection", graph.enable_antipattern_detection,
                 origin("graph", "enable_antipattern_detection")))
    thresholds = Thresholds.from_config(graph)
    for f in dataclasses.fields(Thresholds):
        key = "tight_loop_threshold" if f.name == TIGHT_LOOP_FIELD else f.name
        source = origin("graph", key)
        if source == "default" and key != f.name:
            source = origin("graph", f.name)  # the analysis's own name works too
        rows.append(("graph", key, getattr(thresholds, f.name), source))
    sampling = config.sections.get("sampling", {})
    if isinstance(sampling, dict):
        for key, value in sampling.items():
            rows.append(("sampling", key, value, origin("sampling", key)))
    return rows


def config_command(
    db: Optional[Path] = typer.Option(None, "--db", help="Show the store location this option would select."),
    fmt: str = typer.Option("toml", "--format", "-f", help="toml (with the origin as a comment) or json."),
) -> int:
    """Print every value in effect with its origin; exit 2 when the config file is unusable."""
    from renacer_tui.cli_common import check_format
    from renacer_tui.store.config import ConfigError, config_file, load_config
    from renacer_tui.thresholds import graph_key_warnings

    try:
        kind = check_format(fmt, ("toml", "json"))
        try:
            config = load_config()
        except ConfigError as exc:
            raise CliError(one_line(exc), 2) from None
    except CliError as exc:
        print(f"renacer-tui config: {exc}", file=sys.stderr)
        return exc.code
    rows = effective_rows(config, db)
    warnings = [*config.warnings, *graph_key_warnings(config)]
    path = config_file()
    if kind == "json":
        document = {
            "config_file": str(path),
            "config_file_found": config.source is not None,
            "values": [{"section": s, "key": k, "value": v, "origin": o} for s, k, v, o in rows],
            "warnings": warnings,
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        found = "read" if config.source is not None else "not found: defaults"
        lines = [f"# config file: {path} ({found})"]
        section = ""
        width = max((len(f"{k} = {_toml_value(v)}") for _s, k, v, _o in rows), default=0)
        for s, k, v, o in rows:
            if s != section:
                lines += ["", f"[{s}]"]
                section = s
            assignment = f"{k} = {_toml_value(v)}"
            lines.append(f"{assignment:<{width}}  # {o}")
        sys.stdout.write("\n".join(escape(line) for line in lines) + "\n")
    for warning in warnings:
        print(f"renacer-tui: warning: {escape(warning)}", file=sys.stderr)
    return 0
