"""renacer.toml: the trace assertions of a project, strictly read.

Two forms, both as arrays of tables:

* the spec's `[[trace_assertions]]` — `name`, `condition`, `severity = "error"|"warning"`, `enabled`;
* renacer's typed `[[assertion]]` — `type = "critical_path" | "anti_pattern" | "span_count" |
  "memory_usage" | "custom"` with that type's keys, `fail_on_violation`, `enabled`.

Every typed form becomes a condition of the same language, so there is one evaluator and no
assertion kind can pass silently.  Why strict: in renacer an unknown key was ignored, so a typo
(`max_duration = 200`) turned an assertion off without a word.  Here any unknown table, key or
value is a `ConfigError` naming the file, the line and the closest valid spelling.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from renacer_tui.check.expression import ExpressionError, Node, format_path, kind_of, metrics_of, parse
from renacer_tui.check.metrics import ANTIPATTERN_NAMES, problem_with

CONFIG_NAME = "renacer.toml"
SEVERITIES = ("error", "warning")
TYPES = ("critical_path", "anti_pattern", "span_count", "memory_usage", "custom")
TRACKING_MODES = {"peak": "memory.peak_bytes", "total": "memory.allocated_bytes"}
_SPEC_KEYS = ("name", "condition", "severity", "enabled")
_COMMON_KEYS = ("name", "type", "enabled", "fail_on_violation")
_TYPE_KEYS = {
    "critical_path": ("max_duration_ms", "trace_name_pattern"),
    "anti_pattern": ("pattern", "threshold", "process_name_pattern"),
    "span_count": ("max_spans", "span_name_pattern"),
    "memory_usage": ("max_bytes", "tracking_mode"),
    "custom": ("expression",),
}
_TABLES = ("trace_assertions", "assertion")


class ConfigError(ValueError):
    """An unusable renacer.toml; the text is `file:line: what is wrong`."""


@dataclass(frozen=True)
class Assertion:
    """One enabled-or-not check: a condition over the trace's metrics and what a failure means."""

    name: str
    condition: Node
    condition_text: str
    severity: str
    enabled: bool
    file: Path
    line: int
    form: str  # "trace_assertions" or the typed form's type
    trace_name_pattern: str | None = None
    process_name_pattern: str | None = None


def find_config(start: Path | None = None) -> Path | None:
    """renacer.toml in `start` (default: the working directory) or the nearest parent that has one."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def _closest(word: str, choices: Any) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


class _Lines:
    """Where each table and key of the file is (tomllib keeps no positions)."""

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[str, int | None], int] = {}
        self.keys: dict[tuple[str | None, int | None, str], int] = {}
        counts: dict[str, int] = {}
        current: tuple[str | None, int | None] = (None, None)
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                name = header.group(2).strip().strip("\"'")
                if header.group(1) == "[[":
                    index = counts.get(name, 0)
                    counts[name] = index + 1
                    current = (name, index)
                else:
                    current = (name, None)
                self.tables.setdefault((name, current[1]), number)
                continue
            key = _KEY.match(line)
            if key:
                self.keys.setdefault((*current, key.group(1).strip("\"'")), number)

    def of_table(self, name: str, index: int | None = None) -> int:
        return self.tables.get((name, index), self.tables.get((name, None), 1))

    def of_key(self, table: str | None, index: int | None, key: str) -> int:
        found = self.keys.get((table, index, key))
        if found is not None:
            return found
        return self.of_table(table, index) if table is not None else 1


def load(path: Path) -> list[Assertion]:
    """Every assertion of the file at `path`, enabled or not; `ConfigError` for any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> list[Assertion]:
    """The assertions of renacer.toml text in file order (`path` is only named in messages)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = where.group(1) if where else "1"
        raise ConfigError(f"{path}:{line}: not valid TOML: {message.split(' (at line')[0]}") from None
    lines = _Lines(text)
    out: list[Assertion] = []
    for key, value in document.items():
        if key not in _TABLES:
            line = lines.of_table(key) if (key, None) in lines.tables or (key, 0) in lines.tables else lines.of_key(None, None, key)
            raise ConfigError(f"{path}:{line}: unknown table or key {key!r}{_closest(key, _TABLES)}")
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise ConfigError(f"{path}:{lines.of_table(key)}: {key} must be an array of tables ([[{key}]])")
        for index, table in enumerate(value):
            reader = _Table(path, lines, key, index, table)
            out.append(_spec_form(reader) if key == "trace_assertions" else _typed_form(reader))
    return sorted(out, key=lambda a: a.line)  # file order: tomllib groups the two forms apart


class _Table:
    """One `[[…]]` table: typed key access with file:line errors."""

    def __init__(self, path: Path, lines: _Lines, name: str, index: int, values: dict[str, Any]) -> None:
        self.path, self.lines, self.name, self.index, self.values = path, lines, name, index, values

    def line(self, key: str | None = None) -> int:
        return self.lines.of_key(self.name, self.index, key) if key else self.lines.of_table(self.name, self.index)

    def error(self, message: str, key: str | None = None) -> ConfigError:
        return ConfigError(f"{self.path}:{self.line(key)}: [[{self.name}]] {message}")

    def only(self, allowed: tuple[str, ...]) -> None:
        for key in self.values:
            if key not in allowed:
                raise self.error(f"unknown key {key!r}{_closest(key, allowed)}", key)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        if key not in self.values:
            if required:
                raise self.error(f"needs {key!r}")
            return default
        value = self.values[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            wanted = " or ".join({str: "a string", bool: "true or false", int: "an integer", float: "a number"}[k] for k in kinds)
            raise self.error(f"{key} must be {wanted}, not {value!r}", key)
        return value

    def choice(self, key: str, choices: Any, default: str | None = None, required: bool = False) -> str:
        value = self.get(key, str, default, required)
        if value not in choices:
            raise self.error(f"{key} = {value!r} is not one of {', '.join(choices)}{_closest(value, choices)}", key)
        return value

    def pattern(self, key: str) -> str | None:
        value = self.get(key, str)
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise self.error(f"{key} is not a regular expression: {exc}", key) from None
        return value

    def limit(self, key: str) -> float:
        value = self.get(key, (int, float), required=True)
        if value < 0:
            raise self.error(f"{key} must be 0 or more, not {value!r}", key)
        return value


def compile_condition(text: str) -> Node:
    """Parse and check a condition: boolean, every metric known; `ExpressionError` with a column."""
    node = parse(text)
    if kind_of(node) != "bool":
        raise ExpressionError("a condition must compare something (e.g. `duration_ms < 200`)", 1)
    for metric in metrics_of(node):
        problem = problem_with(metric.path)
        if problem is not None:
            raise ExpressionError(problem, metric.column)
    return node


def _condition(table: _Table, key: str, text: str) -> Node:
    try:
        return compile_condition(text)
    except ExpressionError as exc:
        raise table.error(f"{key} {text!r}: {exc}", key) from None


def _spec_form(t: _Table) -> Assertion:
    t.only(_SPEC_KEYS)
    text = t.get("condition", str, required=True)
    return Assertion(
        name=t.get("name", str, text),
        condition=_condition(t, "condition", text),
        condition_text=text,
        severity=t.choice("severity", SEVERITIES, "error"),
        enabled=t.get("enabled", bool, True),
        file=t.path,
        line=t.line(),
        form="trace_assertions",
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _antipattern_name(text: str) -> str | None:
    """`god_process` for "GodProcess", "god-process" or "god_process"."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text).replace("-", "_").lower()
    return snake if snake in ANTIPATTERN_NAMES else None


def _typed_form(t: _Table) -> Assertion:
    kind = t.choice("type", TYPES, required=True)
    t.only(_COMMON_KEYS + _TYPE_KEYS[kind])
    trace_pattern = process_pattern = None
    if kind == "critical_path":
        text = f"critical_path.duration_ms <= {_number(t.limit('max_duration_ms'))}"
        trace_pattern = t.pattern("trace_name_pattern")
    elif kind == "anti_pattern":
        given = t.get("pattern", str, required=True)
        name = _antipattern_name(given)
        if name is None:
            raise t.error(f"pattern = {given!r} is not an anti-pattern the detector has{_closest(given, ANTIPATTERN_NAMES)}", "pattern")
        threshold = t.limit("threshold") if "threshold" in t.values else 0
        text = f"antipatterns.{name}.count <= {_number(threshold)}"
        process_pattern = t.pattern("process_name_pattern")
    elif kind == "span_count":
        selector = t.get("span_name_pattern", str, "*")
        text = f"{format_path(('spans', selector, 'count'))} <= {_number(t.limit('max_spans'))}"
    elif kind == "memory_usage":
        mode = t.choice("tracking_mode", tuple(TRACKING_MODES), "peak")
        text = f"{TRACKING_MODES[mode]} <= {_number(t.limit('max_bytes'))}"
    else:
        text = t.get("expression", str, required=True)
    key = "expression" if kind == "custom" else ("span_name_pattern" if kind == "span_count" else None)
    return Assertion(
        name=t.get("name", str, kind),
        condition=_condition(t, key or "type", text),
        condition_text=text,
        severity="error" if t.get("fail_on_violation", bool, True) else "warning",
        enabled=t.get("enabled", bool, True),
        file=t.path,
        line=t.line(),
        form=kind,
        trace_name_pattern=trace_pattern,
        process_name_pattern=process_pattern,
    )
