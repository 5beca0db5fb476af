"""What every `renacer-tui` sub-command shares: one-line errors, trace ids, the store, output.

The sub-commands (`db`, `graph`, `export`, `view`) each turn bad input into one line on stderr
and an exit code; the pieces they need for that live here once, so the messages read alike.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Optional

from renacer_tui.model.ids import normalize_trace_id as _normalized
from renacer_tui.model.readable import one_line as first_line
from renacer_tui.text import escape

if TYPE_CHECKING:
    from renacer_tui.store import Store


class CliError(Exception):
    """A problem to report as one line on stderr with `code` as the exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def one_line(exc: BaseException) -> str:
    """The first line of an exception's text (its type when empty), escaped for a terminal."""
    return escape(first_line(exc))


def normalize_trace_id(text: str) -> str:
    """`text` as 32 lower-case hex digits, or a CliError (exit 2) naming what was given."""
    wanted = _normalized(text)
    if wanted is None:
        raise CliError(f"bad trace id {escape(text)!r}: expected 32 hex digits, not all zero", 2)
    return wanted


def check_format(fmt: str, allowed: tuple[str, ...]) -> str:
    """`fmt` if it is one of `allowed`, else a CliError (exit 2) listing them."""
    fmt = fmt.strip().lower()
    if fmt not in allowed:
        raise CliError(f"unknown format {escape(fmt)!r} (use {', '.join(allowed)})", 2)
    return fmt


def open_store(db: Optional[Path], *, from_segments: bool = True) -> Any:
    """The store at `db` (or the default location), or a CliError (exit 1) saying why not.

    `from_segments`: a damaged catalog is read around (a read-only catalog rebuilt in memory from
    the segments, with a warning naming the damage and the repair) — for commands that only read.
    """
    try:
        from renacer_tui.store.store import Store

        return Store.open(db, from_segments=from_segments)
    except Exception as exc:  # ConfigError, CatalogError, OSError, sqlite errors: all one line
        where = f" at {escape(db)}" if db is not None else ""
        raise CliError(f"cannot open the store{where}: {one_line(exc)}", 1) from None


def print_store_warnings(store: Store) -> None:
    """The store's warnings (a skipped corrupt segment, say) on stderr, one line each."""
    for warning in store.warnings:
        print(f"renacer-tui: warning: {escape(warning)}", file=sys.stderr)


def emit_text(text: str, output: Optional[Path], note: str) -> None:
    """`text` to stdout, or to FILE (`-` is stdout) with `note` on stderr; CliError when unwritable."""
    if not text.endswith("\n"):
        text += "\n"
    if output is None or str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {escape(output)}: {exc.strerror or exc}", 1) from None
    print(f"renacer-tui: wrote {note} to {escape(output)}", file=sys.stderr)


def literal_console(file: Optional[IO[str]] = None, width: Optional[int] = None, soft_wrap: bool = False) -> Any:
    """A Rich console that never interprets markup, emoji or highlighting in what it prints."""
    from rich.console import Console

    return Console(
        file=file or sys.stdout, markup=False, emoji=False, highlight=False, width=width, soft_wrap=soft_wrap
    )
