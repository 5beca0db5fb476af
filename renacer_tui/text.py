"""Literal rendering of traced data.

Traced programs choose their own file names, argv and error strings, so nothing they produce
may be interpreted by the terminal (ANSI escapes) or by Rich (``[bold]`` markup).  Every string
that came from a trace passes through here before it reaches a widget: control characters and
bytes that are not UTF-8 become visible escapes, and the result is a ``rich.text.Text`` built
without markup parsing.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 and C1 control characters, DEL, and lone surrogates (how surrogateescape carries bytes
# that were not UTF-8).  Printable Unicode passes through unchanged.  JSON outputs write the
# same characters as \u escapes (`renacer_tui.model.safe_json`).
from renacer_tui.model.safe_json import UNSAFE as _UNSAFE

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b", "\\": "\\\\"}


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape'd raw byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def escape(value: object) -> str:
    """A printable, single-line rendering of traced data (str, bytes or anything else)."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "surrogateescape")
    elif not isinstance(value, str):
        value = str(value)
    return _UNSAFE.sub(_escape_char, value)


def literal(value: object, style: str = "") -> Text:
    """Rich Text showing `value` exactly as data: no markup, no escapes interpreted."""
    return Text(escape(value), style=style, no_wrap=True, end="")


def clip(value: str, width: int) -> str:
    """Shorten `value` to `width` cells with an ellipsis (escaped text is one cell per char)."""
    if width <= 0:
        return ""
    return value if len(value) <= width else value[: max(0, width - 1)] + "…"
