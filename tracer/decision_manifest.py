"""`--decisions FILE`: a decision manifest (JSON) → span events of the run span.

A tool that records its decisions in a file instead of printing them (a transpiler's
`decisions.json`) hands that file to the run; every entry becomes a `decision:<category>::<name>`
event on `renacer:run`, beside the decisions its processes printed.  The format is documented in
docs/golden-thread.md; anything else is refused before tracing starts, in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from renacer_tui.model.attributes import (
    ATTR_DECISION_CATEGORY,
    ATTR_DECISION_ID,
    ATTR_DECISION_INPUT,
    ATTR_DECISION_NAME,
    ATTR_DECISION_ORIGIN,
    ATTR_DECISION_RESULT,
    ATTR_DECISION_SOURCE_FILE,
    ATTR_DECISION_SOURCE_LINE,
)
from renacer_tui.tracer.decisions import DECISION_PREFIX, Event

_MAX_BYTES = 64 * 1024 * 1024


class ManifestError(ValueError):
    """The manifest cannot be used; the message is one line naming the file and the problem."""


def _text(entry: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = entry.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{where}: {key!r} must be a non-empty string")
    return value.strip()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def manifest_events(document: Any, where: str, t_ns: int) -> list[Event]:
    """The events of a parsed manifest (`where` names it in errors); `t_ns` for entries without a time."""
    entries = document.get("decisions") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise ManifestError(f"{where}: expected a JSON list of decisions or an object with a 'decisions' list")
    events: list[Event] = []
    for index, entry in enumerate(entries):
        at = f"{where}: decision {index}"
        if not isinstance(entry, dict):
            raise ManifestError(f"{at}: expected a JSON object")
        category, name = _text(entry, "category", at), _text(entry, "name", at)
        ident = entry.get("id", index)
        if not isinstance(ident, (str, int)) or isinstance(ident, bool):
            raise ManifestError(f"{at}: 'id' must be a string or an integer")
        attrs: dict[str, Any] = {
            ATTR_DECISION_ID: str(ident),
            ATTR_DECISION_CATEGORY: category,
            ATTR_DECISION_NAME: name,
            ATTR_DECISION_ORIGIN: "manifest",
        }
        if "input" in entry:
            attrs[ATTR_DECISION_INPUT] = _json(entry["input"])
        if "result" in entry:
            attrs[ATTR_DECISION_RESULT] = _json(entry["result"])
        source = entry.get("source")
        if source is not None:
            if not isinstance(source, dict):
                raise ManifestError(f"{at}: 'source' must be an object with 'file' and 'line'")
            attrs[ATTR_DECISION_SOURCE_FILE] = _text(source, "file", f"{at} source")
            line = source.get("line")
            if line is not None:
                if not isinstance(line, int) or isinstance(line, bool) or line < 0:
                    raise ManifestError(f"{at}: source 'line' must be a non-negative integer")
                attrs[ATTR_DECISION_SOURCE_LINE] = line
        when = entry.get("time_unix_nano", t_ns)
        if not isinstance(when, int) or isinstance(when, bool) or when < 0:
            raise ManifestError(f"{at}: 'time_unix_nano' must be a non-negative integer")
        events.append((f"{DECISION_PREFIX}{category}::{name}", when, attrs))
    return events


def load_manifest(path: Path, t_ns: int) -> list[Event]:
    """The events of the manifest at `path` (ManifestError when unreadable or malformed)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise ManifestError(f"cannot read decision manifest {path}: {exc.strerror or exc}") from None
    if len(raw) > _MAX_BYTES:
        raise ManifestError(f"decision manifest {path}: larger than {_MAX_BYTES // (1024 * 1024)} MiB")
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise ManifestError(f"decision manifest {path}: not JSON ({exc})") from None
    return manifest_events(document, f"decision manifest {path}", t_ns)
