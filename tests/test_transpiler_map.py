"""renacer JSON v1 source maps: the parser's accepted shape and every error path (hypothesis)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renacer_tui.tracer.symbols.transpiler_map import TranspilerMapError, TranspilerMaps, load_map, parse_map

VALID: dict[str, Any] = {
    "version": 1,
    "source_language": "python",
    "source_file": "sim.py",
    "generated_file": "sim.rs",
    "mappings": [
        {"rust_line": 12, "rust_function": "step", "python_line": 42, "python_function": "step", "python_context": "x = 1"},
        {"rust_line": 13, "rust_function": "step_inner", "python_line": 43},
    ],
    "function_map": {"step_inner": "step"},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
TOP_FIELDS = ["version", "source_language", "source_file", "generated_file", "mappings", "function_map"]
ENTRY_FIELDS = ["rust_line", "rust_function", "python_line", "python_function", "python_context"]


def test_a_valid_map_maps_generated_lines_to_python_lines() -> None:
    m = parse_map(VALID, "sim.map.json")
    maps = TranspilerMaps([m])
    hit = maps.lookup("/build/src/sim.rs", 12)
    assert hit is not None and hit[0] == "sim.py:42" and hit[1].python_function == "step"
    inner = maps.lookup("sim.rs", 13)
    assert inner is not None and inner[0] == "sim.py:43" and inner[1].python_function == "step"  # function_map
    assert maps.lookup("sim.rs", 14) is None
    assert maps.lookup("/build/src/other_sim.rs", 12) is None


def test_several_maps_each_cover_their_own_generated_file() -> None:
    other = dict(VALID, source_file="io.py", generated_file="io.rs")
    maps = TranspilerMaps([parse_map(VALID, "a"), parse_map(other, "b")])
    assert maps.lookup("/x/io.rs", 12)[0] == "io.py:42"  # type: ignore[index]
    assert maps.lookup("/x/sim.rs", 12)[0] == "sim.py:42"  # type: ignore[index]


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(TOP_FIELDS), value=json_values)
def test_a_top_level_field_of_any_value_is_accepted_or_named_in_one_line(field: str, value: Any) -> None:
    data = copy.deepcopy(VALID)
    data[field] = value
    try:
        parse_map(data, "m.json")
    except TranspilerMapError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("m.json: ")
        assert field in message
        if field == "mappings" and isinstance(value, list):
            assert "mappings[" in message  # which entry


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, 1), field=st.sampled_from(ENTRY_FIELDS), value=json_values)
def test_an_entry_field_of_any_value_is_accepted_or_names_the_entry_and_field(index: int, field: str, value: Any) -> None:
    data = copy.deepcopy(VALID)
    data["mappings"][index][field] = value
    try:
        m = parse_map(data, "m.json")
    except TranspilerMapError as exc:
        message = str(exc)
        assert "\n" not in message
        assert message.startswith(f"m.json: mappings[{index}].{field}: ") or message.startswith("m.json: mappings[1].rust_line")
    else:
        if field in ("rust_line", "python_line"):
            assert isinstance(value, int) and not isinstance(value, bool) and value > 0
        assert len(m.lines) == 2


@settings(max_examples=200, deadline=None)
@given(data=json_values)
def test_any_json_document_is_a_map_or_one_error(data: Any) -> None:
    try:
        parse_map(data, "m.json")
    except TranspilerMapError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("m.json: ")


def test_unknown_fields_and_duplicate_lines_are_errors() -> None:
    with pytest.raises(TranspilerMapError, match=r"m: unknown field 'mapping'"):
        parse_map(dict(VALID, mapping=[]), "m")
    entry = dict(VALID["mappings"][0], rust_lines=3)
    with pytest.raises(TranspilerMapError, match=r"m: mappings\[0\]: unknown field 'rust_lines'"):
        parse_map(dict(VALID, mappings=[entry]), "m")
    twice = [VALID["mappings"][0], dict(VALID["mappings"][1], rust_line=12)]
    with pytest.raises(TranspilerMapError, match=r"mappings\[1\]\.rust_line: line 12 is already mapped by mappings\[0\]"):
        parse_map(dict(VALID, mappings=twice), "m")
    with pytest.raises(TranspilerMapError, match=r"version: expected 1, got 2"):
        parse_map(dict(VALID, version=2), "m")


def test_files_that_are_not_maps(tmp_path: Path) -> None:
    with pytest.raises(TranspilerMapError, match="cannot read"):
        load_map(str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(TranspilerMapError, match="not JSON"):
        load_map(str(broken))
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(TranspilerMapError, match="not UTF-8"):
        load_map(str(binary))


def test_a_bad_map_on_the_command_line_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    data = copy.deepcopy(VALID)
    data["mappings"][1]["python_line"] = "43"
    bad.write_text(json.dumps(data))
    done = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--transpiler-map", str(bad), "--", "true"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "mappings[1].python_line" in lines[0] and str(bad) in lines[0]
