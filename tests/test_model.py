"""The span model: one schema checked by name, one attribute decoder, kinds, ids, isolation."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renacer_tui.model.attributes import (
    ATTR_SYSCALL_PATH,
    ATTR_SYSCALL_RESULT,
    ATTR_SYSCALL_UNFINISHED,
    attribute_array,
    attribute_column,
    parse_attributes,
)
from renacer_tui.model.ids import is_valid_span_id, is_valid_trace_id, new_span_id, new_trace_id, normalize_trace_id
from renacer_tui.model.kinds import LinkKind, SpanCategory, categories, category_of, span_name
from renacer_tui.model.schema import COLUMN_NAMES, SPAN_SCHEMA, batch_from_columns, batch_from_rows
from renacer_tui.model.syscalls import EXEC_NUMBERS, LIFECYCLE_NUMBERS, SYSCALL_NAMES

ROOT = Path(__file__).resolve().parent.parent


def _columns(n: int = 1) -> dict[str, list]:
    row = batch_from_rows([{"trace_id": "a" * 32, "span_id": "b" * 16, "start_time_nanos": 1, "end_time_nanos": 2,
                            "span_name": "syscall:read", "process_pid": 1, "process_name": "x", "thread_id": 1,
                            "logical_clock": 1}] * n)
    return {name: row.column(name).to_pylist() for name in COLUMN_NAMES}


def test_batch_from_columns_builds_by_name_whatever_the_order() -> None:
    cols = _columns(3)
    shuffled = dict(reversed(list(cols.items())))
    batch = batch_from_columns(shuffled)
    assert batch.schema == SPAN_SCHEMA and batch.num_rows == 3
    assert batch.column("span_name").to_pylist() == ["syscall:read"] * 3


def test_batch_from_columns_names_missing_and_unknown_columns() -> None:
    cols = _columns()
    del cols["thread_id"]
    cols["thread"] = [1]
    with pytest.raises(ValueError, match=r"missing \['thread_id'\], unknown \['thread'\]"):
        batch_from_columns(cols)


@given(st.one_of(st.none(), st.text(), st.binary()))
def test_parse_attributes_never_raises_and_returns_a_dict(text) -> None:
    assert isinstance(parse_attributes(text), dict)


def test_attribute_column_does_not_match_a_key_inside_a_value() -> None:
    # A file *named* like an attribute key must not look like that attribute.
    batch = pa.RecordBatch.from_pydict({"attributes": [
        json.dumps({"syscall.pathname": f"/tmp/x/{ATTR_SYSCALL_UNFINISHED}"}),
        json.dumps({ATTR_SYSCALL_UNFINISHED: True}),
        "not json",
        None,
    ]})
    assert attribute_column(batch, ATTR_SYSCALL_UNFINISHED) == [None, True, None, None]


@given(st.lists(st.sampled_from(["renacer:run ls", "process:ls", "syscall:read", "gpu:matmul", "app", "", "syscall"])))
def test_vectorised_categories_agree_with_category_of(names: list[str]) -> None:
    assert categories(pa.array(names, pa.string())).to_pylist() == [category_of(n).value for n in names]


def test_span_names_round_trip_through_category_of() -> None:
    for category in SpanCategory:
        assert category_of(span_name(category, "x")) is category
    assert json.dumps([LinkKind.FORK]) == '["fork"]' and f"{LinkKind.PIPE}" == "pipe"


@given(st.text(max_size=40))
def test_trace_id_validation_is_the_w3c_rule(text: str) -> None:
    expected = bool(re.fullmatch(r"[0-9a-f]{32}", text)) and set(text) != {"0"}
    assert is_valid_trace_id(text) is expected
    assert is_valid_span_id(text[:16]) is (bool(re.fullmatch(r"[0-9a-f]{16}", text[:16])) and set(text[:16]) != {"0"})


def test_ids_generated_are_valid_and_all_zero_is_rejected_everywhere() -> None:
    assert all(is_valid_trace_id(new_trace_id()) and is_valid_span_id(new_span_id()) for _ in range(100))
    assert normalize_trace_id(" " + "AB" * 16 + " ") == "ab" * 16
    assert normalize_trace_id("0" * 32) is None and not is_valid_trace_id("0" * 32)


def test_syscall_numbers_come_from_the_table() -> None:
    assert {SYSCALL_NAMES[n] for n in EXEC_NUMBERS} == {"execve", "execveat"}
    assert {SYSCALL_NAMES[n] for n in LIFECYCLE_NUMBERS} == {"execve", "execveat", "clone", "clone3", "fork", "vfork"}


def test_the_model_imports_no_layer() -> None:
    code = (
        "import sys\n"
        "import renacer_tui.model.schema, renacer_tui.model.attributes, renacer_tui.model.kinds, "
        "renacer_tui.model.syscalls, renacer_tui.model.ids\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('renacer_tui'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert all(m == "renacer_tui" or m.startswith("renacer_tui.model") for m in out), out


def test_no_reader_looks_into_attribute_json_with_a_substring_or_regex() -> None:
    """Attribute JSON is read with parse_attributes / attribute_column only (issue: `-c` lost a
    call whose file name contained an attribute key)."""
    offenders = []
    # A quoted key followed by `:` inside a regex, or a `"key"` literal tested with `in`.
    regex = re.compile(r"""r['"].*\\?"(syscall|process|renacer|thread)\\?\.""")
    substring = re.compile(r"""['"]\\?"?(ATTR_[A-Z_]+|"(syscall|process|renacer|thread)\.[a-z_.]+")\\?"?['"]?\s+(not\s+)?in\s+\w*(attr|text|raw|json)""")
    fstring_in = re.compile(r"""f['"]\\?"\{ATTR_[A-Z_]+\}\\?"['"]?\s+(not\s+)?in\b""")
    # a key constant tested against the raw column (`ATTR_X not in row["attributes"]`, `in texts[i]`)
    constant_in_text = re.compile(r"""\bATTR_[A-Z_]+\s+(not\s+)?in\s+([\w.]+\[['"]attributes['"]\]|\w*(text|raw|json)\w*\b)""")
    for folder in ("tracer", "store", "analysis", "renacer_tui"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if (regex.search(line) or substring.search(line) or fstring_in.search(line)
                        or constant_in_text.search(line) or "PATTERN = r'\"" in line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


@settings(max_examples=200, deadline=None)
@given(
    st.text(),
    st.dictionaries(st.sampled_from(["syscall.args", "syscall.fd", "x"]), st.text() | st.integers(), max_size=3),
    st.booleans(),
    st.booleans(),
)
def test_path_extraction_round_trips_any_name(path: str, other: dict[str, Any], ascii_only: bool, compact: bool) -> None:
    if any(0xD800 <= ord(c) <= 0xDFFF for c in path + json.dumps(other)):
        ascii_only = True  # lone surrogates only travel as \u escapes (Arrow strings are UTF-8)
    separators = (",", ":") if compact else (", ", ": ")
    attributes = json.dumps({**other, "syscall.pathname": path, "syscall.result": -2}, ensure_ascii=ascii_only, separators=separators)
    rows = pa.table({"attributes": [attributes, "{}", None, "not json"]})
    assert attribute_array(rows, ATTR_SYSCALL_PATH).to_pylist() == [path, None, None, None]
    assert attribute_array(rows, ATTR_SYSCALL_RESULT, pa.int64()).to_pylist() == [-2, None, None, None]


def test_one_duration_format_everywhere() -> None:
    from renacer_tui.model.readable import format_duration

    assert [format_duration(n) for n in (950, 87_000, 12_340_000, 143_000_000, 1_200_000_000)] == [
        "950ns", "87.0µs", "12.3ms", "143ms", "1.20s"]
    assert format_duration(-2_500_000) == "-2.5ms"
    definitions = [
        f"{path.relative_to(ROOT)}"
        for folder in ("tracer", "store", "analysis", "renacer_tui")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"^def (format_duration|format_ns|parse_attributes|one_line|_one_line)\(", path.read_text(), re.M)
    ]
    # cli_common's one_line is the terminal-escaped wrapper of the model's, not a second parser.
    assert sorted(definitions) == ["renacer_tui/cli_common.py", "renacer_tui/model/attributes.py", "renacer_tui/model/readable.py"]


@given(st.floats(min_value=-1e15, max_value=1e15, allow_nan=False))
def test_durations_always_read_with_a_unit(ns: float) -> None:
    from renacer_tui.model.readable import format_duration

    assert re.fullmatch(r"-?\d+(\.\d+)?(ns|µs|ms|s)", format_duration(ns))


def test_one_line_is_the_first_line_or_the_type() -> None:
    from renacer_tui.model.readable import one_line

    assert one_line(ValueError("bad\nsecond")) == "bad"
    assert one_line(ValueError("")) == "ValueError"
    assert one_line(OSError("disk full"), with_type=True) == "OSError: disk full"
