"""Decision traces: `[DECISION]` / `[RESULT]` lines a traced program writes to stderr → span events.

A transpiler that explains itself prints `[DECISION] category::name input=<json>` before it
decides and `[RESULT] name = <json>` after; with --trace-transpiler-decisions the span builder
hands the bytes of every write to fd 2 here.  Lines are reassembled per process (a line may span
writes), each decision becomes an event `decision:<category>::<name>` of the process span, and a
result fills in the latest still-open decision of that name (or stands alone when none is open).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from renacer_tui.model.attributes import (
    ATTR_DECISION_CATEGORY,
    ATTR_DECISION_ID,
    ATTR_DECISION_INPUT,
    ATTR_DECISION_NAME,
    ATTR_DECISION_ORIGIN,
    ATTR_DECISION_RESULT,
)

DECISION_PREFIX = "decision:"
_DECISION_TAG = "[DECISION]"
_RESULT_TAG = "[RESULT]"
_MAX_PENDING = 64 * 1024  # an unterminated "line" longer than this is not a decision line

#: (name, time_unix_nano, attributes) of one span event, as `tracer.rows.Row.events` holds them.
Event = tuple[str, int, dict[str, Any]]


@dataclass(frozen=True)
class DecisionLine:
    """`[DECISION] category::name input=<json>` (kind "decision") or `[RESULT] name = <json>`."""

    kind: str
    name: str
    category: str = ""
    value: str = ""  # the input (decision) or result, as JSON text


def json_text(text: str) -> str:
    """`text` re-encoded compactly when it is JSON, otherwise as written (stripped)."""
    text = text.strip()
    try:
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return text


def parse_decision_line(line: str) -> DecisionLine | None:
    """The decision or result `line` announces, or None for any other line."""
    line = line.strip()
    if line.startswith(_DECISION_TAG):
        head, _sep, value = line[len(_DECISION_TAG):].strip().partition(" input=")
        category, sep, name = head.strip().partition("::")
        if not sep or not category.strip() or not name.strip() or " " in name.strip():
            return None
        return DecisionLine("decision", name.strip(), category.strip(), json_text(value))
    if line.startswith(_RESULT_TAG):
        name, sep, value = line[len(_RESULT_TAG):].partition("=")
        name = name.strip()
        if not sep or not name or " " in name:
            return None
        return DecisionLine("result", name, value=json_text(value))
    return None


class DecisionRecorder:
    """Turns the stderr bytes of traced processes into decision events (one recorder per run)."""

    def __init__(self) -> None:
        self._pending: dict[int, bytes] = {}  # pid → the unterminated tail of its last write
        self._open: dict[tuple[int, str], list[dict[str, Any]]] = {}  # (pid, name) → open decisions
        self._count = 0
        self.decisions = 0  # events recorded so far

    def feed(self, pid: int, data: bytes, t_ns: int, events: list[Event]) -> None:
        """Take the bytes `pid` wrote to stderr at `t_ns`; new events are appended to `events`."""
        buffered = self._pending.pop(pid, b"") + data
        *lines, tail = buffered.split(b"\n")
        if tail and len(tail) <= _MAX_PENDING:
            self._pending[pid] = tail
        for raw in lines:
            if b"[DECISION]" in raw or b"[RESULT]" in raw:
                parsed = parse_decision_line(raw.decode("utf-8", "replace"))
                if parsed is not None:
                    self._record(pid, parsed, t_ns, events)

    def forget(self, pid: int) -> None:
        """`pid` ended (or exec'd a new image): drop its partial line and open decisions."""
        self._pending.pop(pid, None)
        for key in [k for k in self._open if k[0] == pid]:
            del self._open[key]

    def _record(self, pid: int, line: DecisionLine, t_ns: int, events: list[Event]) -> None:
        if line.kind == "result":
            stack = self._open.get((pid, line.name))
            if stack:
                stack.pop()[ATTR_DECISION_RESULT] = line.value
                return
            self._count += 1
            attrs: dict[str, Any] = {ATTR_DECISION_ID: f"r{self._count}", ATTR_DECISION_NAME: line.name,
                                     ATTR_DECISION_RESULT: line.value, ATTR_DECISION_ORIGIN: "stderr"}
            events.append((f"{DECISION_PREFIX}result::{line.name}", t_ns, attrs))
            self.decisions += 1
            return
        self._count += 1
        attrs = {
            ATTR_DECISION_ID: f"d{self._count}",
            ATTR_DECISION_CATEGORY: line.category,
            ATTR_DECISION_NAME: line.name,
            ATTR_DECISION_INPUT: line.value,
            ATTR_DECISION_ORIGIN: "stderr",
        }
        self._open.setdefault((pid, line.name), []).append(attrs)
        events.append((f"{DECISION_PREFIX}{line.category}::{line.name}", t_ns, attrs))
        self.decisions += 1
