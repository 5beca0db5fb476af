"""JSON that is safe to print: the characters a terminal may act on as `\\u` escapes.

`json.dumps(..., ensure_ascii=False)` escapes only C0 controls, so a traced program's C1
control (U+009B is CSI to a terminal), DEL, a lone surrogate (a byte that was not UTF-8) or a
bidirectional override would reach a terminal raw when a JSON output goes to one.  `dumps`
writes every character of `UNSAFE` as JSON's own `\\uXXXX` escape, which any JSON parser turns
back into the same character: the data round-trips exactly and printable text stays as it is.
`UNSAFE` is also the class `renacer_tui.text` makes visible in what it renders (one definition).
"""

from __future__ import annotations

import json
import re
from typing import Any

#: C0 and C1 control characters, DEL, lone surrogates (how surrogateescape carries bytes that
#: were not UTF-8), the line and paragraph separators and the bidirectional controls.
_BEYOND_C0 = "\x7f-\x9f\ud800-\udfff\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069"
UNSAFE = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
#: json.dumps escapes C0 controls inside strings itself; a raw newline in its output is indentation
_IN_JSON = re.compile(f"[{_BEYOND_C0}]")


def _u_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group(0)):04x}"


def dumps(value: Any, **options: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, **options)` with every `UNSAFE` character written
    as a `\\uXXXX` escape (json escapes the C0 ones itself; the others occur only in strings)."""
    return _IN_JSON.sub(_u_escape, json.dumps(value, ensure_ascii=False, **options))
