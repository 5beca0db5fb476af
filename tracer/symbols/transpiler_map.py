"""renacer's JSON v1 source maps: a generated (transpiled) file's lines → the Python lines.

A transpiler that writes Rust or C from Python leaves a map beside its output:

    {"version": 1, "source_language": "python", "source_file": "sim.py",
     "generated_file": "sim.rs",
     "mappings": [{"rust_line": 12, "rust_function": "step", "python_line": 42,
                   "python_function": "step", "python_context": "x = load(path)"}],
     "function_map": {"step": "step"}}

With `--transpiler-map`, a call whose program frame is at `sim.rs:12` gets `python_source`
`sim.py:42` and `python.function`.  Every field is checked when the map is read: a bad map is
one `TranspilerMapError` that names the file, the field and the entry.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

_TOP_FIELDS = ("version", "source_language", "source_file", "generated_file", "mappings", "function_map")
_ENTRY_FIELDS = ("rust_line", "rust_function", "python_line", "python_function", "python_context")


class TranspilerMapError(ValueError):
    """A source map that cannot be used; the message is one line."""


@dataclass(frozen=True)
class MappedLine:
    """The Python side of one generated line."""

    python_line: int
    python_function: str | None
    python_context: str | None


@dataclass
class TranspilerMap:
    """One parsed map."""

    source_language: str
    source_file: str
    generated_file: str
    lines: dict[int, MappedLine]
    function_map: dict[str, str] = field(default_factory=dict)

    def covers(self, path: str) -> bool:
        """Whether `path` (a DWARF file name) is this map's generated file."""
        gen = self.generated_file
        if path == gen:
            return True
        if os.path.isabs(gen):
            return os.path.normpath(path) == os.path.normpath(gen)
        return path.endswith("/" + gen.lstrip("./")) or os.path.basename(path) == gen


def _show(value: Any) -> str:
    """A JSON value for an error line: short, one line."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def parse_map(data: Any, where: str) -> TranspilerMap:
    """Check and convert one decoded map; `where` names it in errors."""
    if not isinstance(data, dict):
        raise TranspilerMapError(f"{where}: expected a JSON object at the top, got {type(data).__name__}")
    for key in data:
        if key not in _TOP_FIELDS:
            raise TranspilerMapError(f"{where}: unknown field {key!r} (expected one of {', '.join(_TOP_FIELDS)})")
    version = data.get("version")
    if version != 1 or isinstance(version, bool):
        raise TranspilerMapError(f"{where}: version: expected 1, got {_show(version)}")
    texts: dict[str, str] = {}
    for name in ("source_language", "source_file", "generated_file"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise TranspilerMapError(f"{where}: {name}: expected a non-empty string, got {_show(value)}")
        texts[name] = value
    mappings = data.get("mappings")
    if not isinstance(mappings, list):
        raise TranspilerMapError(f"{where}: mappings: expected a list, got {_show(mappings)}")
    function_map = data.get("function_map", {})
    if not isinstance(function_map, dict):
        raise TranspilerMapError(f"{where}: function_map: expected an object, got {_show(function_map)}")
    for key, value in function_map.items():
        if not isinstance(value, str):
            raise TranspilerMapError(f"{where}: function_map[{key!r}]: expected a string, got {_show(value)}")
    lines: dict[int, MappedLine] = {}
    first: dict[int, int] = {}
    for i, entry in enumerate(mappings):
        lines_entry = _entry(entry, f"{where}: mappings[{i}]")
        rust_line = entry["rust_line"]
        if rust_line in first:
            raise TranspilerMapError(
                f"{where}: mappings[{i}].rust_line: line {rust_line} is already mapped by mappings[{first[rust_line]}]"
            )
        first[rust_line] = i
        python_function = lines_entry.python_function
        if python_function is None and isinstance(entry.get("rust_function"), str):
            python_function = function_map.get(entry["rust_function"])
        lines[rust_line] = MappedLine(lines_entry.python_line, python_function, lines_entry.python_context)
    return TranspilerMap(texts["source_language"], texts["source_file"], texts["generated_file"], lines, dict(function_map))


def _entry(entry: Any, where: str) -> MappedLine:
    if not isinstance(entry, dict):
        raise TranspilerMapError(f"{where}: expected an object, got {_show(entry)}")
    for key in entry:
        if key not in _ENTRY_FIELDS:
            raise TranspilerMapError(f"{where}: unknown field {key!r} (expected one of {', '.join(_ENTRY_FIELDS)})")
    for name in ("rust_line", "python_line"):
        if not _positive_int(entry.get(name)):
            raise TranspilerMapError(f"{where}.{name}: expected a positive integer, got {_show(entry.get(name))}")
    for name in ("rust_function", "python_function", "python_context"):
        if name in entry and not isinstance(entry[name], str):
            raise TranspilerMapError(f"{where}.{name}: expected a string, got {_show(entry[name])}")
    return MappedLine(entry["python_line"], entry.get("python_function"), entry.get("python_context"))


def load_map(path: str) -> TranspilerMap:
    """Read and check the map at `path`."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise TranspilerMapError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TranspilerMapError(f"{path}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TranspilerMapError(f"{path}: not JSON: {exc}") from None
    return parse_map(data, path)


class TranspilerMaps:
    """Every map given on the command line, looked up by a frame's file and line."""

    def __init__(self, maps: list[TranspilerMap]) -> None:
        self.maps = list(maps)

    @classmethod
    def load(cls, paths: list[str]) -> "TranspilerMaps":
        return cls([load_map(path) for path in paths])

    def lookup(self, file: str, line: int) -> tuple[str, MappedLine] | None:
        """(`source_file:python_line`, the mapped line) for a generated file's line, or None."""
        for m in self.maps:
            if m.covers(file):
                mapped = m.lines.get(line)
                if mapped is not None:
                    return f"{m.source_file}:{mapped.python_line}", mapped
        return None
