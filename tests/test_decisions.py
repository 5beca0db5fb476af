"""Decision traces: a real script's [DECISION]/[RESULT] stderr lines and a manifest, queried in SQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cli_run import assert_no_traceback, renacer, trace_id_of
from test_cli_run import query_json as query

from renacer_tui.model.attributes import parse_attributes
from renacer_tui.tracer.decision_manifest import ManifestError, load_manifest
from renacer_tui.tracer.decisions import DecisionRecorder, parse_decision_line

pytestmark = pytest.mark.timeout(300)

SCRIPT = r'''
import sys, os
print('[DECISION] type_inference::infer_list input={"elems": [1, 2]}', file=sys.stderr)
print("ordinary text", file=sys.stderr)
sys.stderr.write("[DECISION] ownership::borrow inp")  # one line in two writes
sys.stderr.flush()
sys.stderr.write('ut={"var": "x"}\n')
sys.stderr.flush()
print('[RESULT] infer_list = "Vec<i64>"', file=sys.stderr)
print('[RESULT] borrow = {"kind": "shared"}', file=sys.stderr)
print('[DECISION] ownership::borrow input={"var": "y"}', file=sys.stderr)
print("[DECISION] not a decision", file=sys.stderr)
os.write(2, b'[DECISION] codegen::emit input=[1]\n' + b'x' * 3000 + b'\n[RESULT] emit = true\n')
'''


def decision_events(trace_id: str) -> list[dict]:
    return query(
        "SELECT span_name, process_pid, event_name, event_attributes FROM span_events WHERE trace_id = '"
        + trace_id + "' AND event_name LIKE 'decision:%' ORDER BY time_unix_nano, event_name"
    )


def test_decision_lines_of_a_traced_script_become_events_of_its_process_span(db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "transpile.py"
    script.write_text(SCRIPT)
    result = renacer("--no-tui", "--trace-transpiler-decisions", "-o", str(tmp_path / "out.txt"),
                     "--", sys.executable, str(script))
    assert result.returncode == 0, result.stderr[-2000:]
    assert_no_traceback(result)
    rows = decision_events(trace_id_of(result))
    assert {row["span_name"] for row in rows} == {"process:" + Path(sys.executable).name[:15]}
    events = [(row["event_name"], parse_attributes(row["event_attributes"])) for row in rows]
    names = [name for name, _attrs in events]
    assert names == [
        "decision:type_inference::infer_list",
        "decision:ownership::borrow",
        "decision:ownership::borrow",
        "decision:codegen::emit",
    ]
    infer, first_borrow, second_borrow, emit = (attrs for _name, attrs in events)
    assert infer["decision.category"] == "type_inference" and infer["decision.name"] == "infer_list"
    assert json.loads(infer["decision.input"]) == {"elems": [1, 2]}
    assert json.loads(infer["decision.result"]) == "Vec<i64>"
    assert json.loads(first_borrow["decision.input"]) == {"var": "x"}  # reassembled across writes
    assert json.loads(first_borrow["decision.result"]) == {"kind": "shared"}
    assert "decision.result" not in second_borrow  # still open when the program ended
    assert json.loads(emit["decision.result"]) is True  # a result beyond -s bytes into the write
    assert len({attrs["decision.id"] for _name, attrs in events}) == 4


def test_without_the_flag_no_decisions_are_recorded(db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "transpile.py"
    script.write_text(SCRIPT)
    result = renacer("--no-tui", "-o", str(tmp_path / "out.txt"), "--", sys.executable, str(script))
    assert result.returncode == 0, result.stderr[-2000:]
    assert decision_events(trace_id_of(result)) == []


def test_a_decision_manifest_becomes_events_of_the_run_span(db_path: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "decisions.json"
    manifest.write_text(json.dumps({"decisions": [
        {"id": "D-7", "category": "type_inference", "name": "infer_list",
         "source": {"file": "src/infer.rs", "line": 42}, "input": {"elems": [1]}, "result": "Vec<i64>"},
        {"id": 8, "category": "codegen", "name": "emit"},
    ]}))
    result = renacer("--no-tui", "--decisions", str(manifest), "-o", str(tmp_path / "out.txt"), "--", "true")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = decision_events(trace_id_of(result))
    assert [row["event_name"] for row in rows] == ["decision:codegen::emit", "decision:type_inference::infer_list"]
    assert all(row["span_name"].startswith("renacer:run") for row in rows)
    attrs = parse_attributes(rows[1]["event_attributes"])
    assert attrs["decision.id"] == "D-7" and attrs["decision.origin"] == "manifest"
    assert attrs["decision.source.file"] == "src/infer.rs" and attrs["decision.source.line"] == 42
    assert json.loads(attrs["decision.input"]) == {"elems": [1]}
    assert json.loads(attrs["decision.result"]) == "Vec<i64>"


@pytest.mark.parametrize(
    ("text", "words"),
    [("{not json", "not JSON"), ('{"decisions": 3}', "expected a JSON list"), ('[{"name": "x"}]', "'category'"),
     ('[{"category": "c", "name": "n", "source": {"file": "f", "line": -1}}]', "non-negative")],
)
def test_a_bad_manifest_is_refused_in_one_line(db_path: Path, tmp_path: Path, text: str, words: str) -> None:
    manifest = tmp_path / "decisions.json"
    manifest.write_text(text)
    result = renacer("--no-tui", "--decisions", str(manifest), "--", "true")
    assert result.returncode == 2
    assert_no_traceback(result)
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    with pytest.raises(ManifestError):
        load_manifest(manifest, 0)


def test_a_missing_manifest_is_refused(db_path: Path, tmp_path: Path) -> None:
    result = renacer("--no-tui", "--decisions", str(tmp_path / "absent.json"), "--", "true")
    assert result.returncode == 2 and "cannot read decision manifest" in result.stderr
    assert_no_traceback(result)


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@given(category=_names, name=_names, value=_json_values)
def test_decision_and_result_lines_round_trip(category: str, name: str, value: object) -> None:
    decision = parse_decision_line(f"[DECISION] {category}::{name} input={json.dumps(value)}")
    assert decision is not None and decision.kind == "decision"
    assert (decision.category, decision.name, json.loads(decision.value)) == (category, name, value)
    result = parse_decision_line(f"[RESULT] {name} = {json.dumps(value)}")
    assert result is not None and result.kind == "result"
    assert (result.name, json.loads(result.value)) == (name, value)


@given(st.binary(max_size=200))
def test_arbitrary_stderr_bytes_never_break_the_recorder(data: bytes) -> None:
    events: list = []
    recorder = DecisionRecorder()
    for cut in (0, len(data) // 2, len(data)):
        recorder.feed(1, data[:cut], 1, events)
    assert recorder.decisions == len(events)


def test_the_tui_refuses_a_bad_manifest_before_it_opens(db_path: Path, tmp_path: Path) -> None:
    import os
    import pty

    manifest = tmp_path / "decisions.json"
    manifest.write_text("{bad")
    leader, follower = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "renacer_tui", "--decisions", str(manifest), "--", "true"],
                                stdin=follower, stdout=follower, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "not JSON" in result.stderr and len(result.stderr.strip().splitlines()) == 1
