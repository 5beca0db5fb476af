"""Trace export: Perfetto/Chrome trace JSON structure, OTLP/JSON round trip, JSONL, the CLI."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renacer_tui.cli import main as cli_main
from renacer_tui.exporters.trace_files import (
    export_trace,
    perfetto_events,
    to_jsonl,
    to_otlp_json,
    to_perfetto,
)
from renacer_tui.model.schema import COLUMN_NAMES, batch_from_rows
from renacer_tui.sinks.otlp_convert import otlp_json_to_request
from tests.test_otlp_export import TRACE, sample_rows


def table_of(rows: list[dict]) -> pa.Table:
    return pa.Table.from_batches([batch_from_rows(rows)])


def check_perfetto(document: dict[str, Any], table: pa.Table) -> list[dict[str, Any]]:
    """Structural invariants of a Chrome trace that Perfetto imports; returns the X events."""
    events = document["traceEvents"]
    assert document["displayTimeUnit"] == "ns"
    xs = [e for e in events if e["ph"] == "X"]
    assert len(xs) == table.num_rows
    named_pids = {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    named_threads = {(e["pid"], e["tid"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    for e in xs:
        for key in ("name", "pid", "tid", "ts", "dur"):
            assert key in e, (key, e)
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
        assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0
        assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0
        assert e["pid"] in named_pids and (e["pid"], e["tid"]) in named_threads
    slices = defaultdict(list)
    for e in xs:
        slices[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    flows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["ph"] in ("s", "f"):
            flows[e["id"]].append(e)
    for flow_id, pair in flows.items():
        assert sorted(p["ph"] for p in pair) == ["f", "s"], pair
        start, finish = sorted(pair, key=lambda p: p["ph"] != "s")
        assert start["name"] == finish["name"] and start["cat"] == finish["cat"]
        assert finish["bp"] == "e"
        # each end lies inside a slice of its own thread (the binding point)
        for end in (start, finish):
            assert any(a <= end["ts"] <= b for a, b in slices[(end["pid"], end["tid"])]), end
    return xs


def test_perfetto_events_names_rle_and_fork_flow() -> None:
    table = table_of(sample_rows())
    document = json.loads(to_perfetto(table))
    xs = check_perfetto(document, table)
    by_span = {e["args"]["span_id"]: e for e in xs}
    rle = by_span["a1b2c3d400000003"]
    assert rle["args"]["rle_count"] == 262144 and rle["name"] == "syscall:read ×262144"
    assert rle["ts"] == 2.0 and rle["dur"] == 6998.0  # µs relative to the first span
    err = by_span["a1b2c3d400000004"]
    assert err["args"]["syscall.pathname"] == "[red]x\x1b[0m"  # markup/escapes kept literally
    assert err["args"]["status_message"] == "ENOENT"
    assert err["ts"] == 7000.1 and err["dur"] == 0.8  # nanosecond digits kept
    flows = [e for e in document["traceEvents"] if e["ph"] in ("s", "f")]
    assert [(e["ph"], e["name"], e["pid"], e["tid"]) for e in flows] == [
        ("s", "fork", 100, 101), ("f", "fork", 101, 101)]
    meta = {(e["name"], e["pid"], e["tid"]): e["args"] for e in document["traceEvents"] if e["ph"] == "M"}
    assert meta[("process_name", 101, 101)] == {"name": "sh 101"}
    assert meta[("thread_name", 100, 101)] == {"name": "dd [101]"}
    assert meta[("process_labels", 100, 100)] == {"labels": "dd if=/dev/zero of=/dev/null"}
    assert document["otherData"]["trace_id"] == TRACE
    assert int(document["otherData"]["start_time_unix_nanos"]) == min(r["start_time_nanos"] for r in sample_rows())


def test_pipe_link_becomes_a_flow_between_processes() -> None:
    rows = sample_rows()
    writer = dict(rows[3], span_id="a1b2c3d400000010", span_name="syscall:write", status="OK", status_message=None,
                  start_time_nanos=rows[4]["start_time_nanos"] + 10, end_time_nanos=rows[4]["start_time_nanos"] + 90,
                  process_pid=101, thread_id=101, logical_clock=10, attributes={"syscall.fd": 1})
    reader = dict(rows[3], span_id="a1b2c3d400000011", span_name="syscall:read", status="OK", status_message=None,
                  start_time_nanos=writer["end_time_nanos"] + 5, end_time_nanos=writer["end_time_nanos"] + 50,
                  logical_clock=11,
                  attributes={"renacer.links": [{"type": "pipe", "span_id": "a1b2c3d400000010", "logical_clock": 10},
                                                {"type": "pipe", "span_id": "ffffffff00000000"}]})
    table = table_of(rows + [writer, reader])
    document = json.loads(to_perfetto(table))
    check_perfetto(document, table)
    pipe = [e for e in document["traceEvents"] if e.get("name") == "pipe" and e["ph"] in "sf"]
    assert [(e["ph"], e["pid"]) for e in pipe] == [("s", 101), ("f", 100)]  # unknown source skipped


def test_otlp_json_parses_back_with_the_same_spans() -> None:
    table = table_of(sample_rows())
    text = to_otlp_json(table, service_name="exported")
    raw = json.loads(text)
    first = raw["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert first["traceId"] == TRACE  # hex, per the OTLP JSON encoding
    assert isinstance(first["kind"], int)
    request = otlp_json_to_request(text)
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == table.num_rows
    assert {s.span_id.hex() for s in spans} == {r["span_id"] for r in sample_rows()}
    assert {s.trace_id.hex() for s in spans} == {TRACE}
    parents = {s.span_id.hex(): s.parent_span_id.hex() for s in spans}
    assert parents["a1b2c3d400000005"] == "a1b2c3d400000004"
    services = {kv.value.string_value for rs in request.resource_spans for kv in rs.resource.attributes
                if kv.key == "service.name"}
    assert services == {"exported"}
    rle = next(s for s in spans if s.span_id.hex() == "a1b2c3d400000003")
    assert {kv.key: kv.value.int_value for kv in rle.attributes}["renacer.rle.count"] == 262144


def test_jsonl_has_every_column_per_row() -> None:
    table = table_of(sample_rows())
    lines = to_jsonl(table).splitlines()
    assert len(lines) == table.num_rows
    for line, row in zip(lines, sample_rows()):
        obj = json.loads(line)
        assert tuple(obj) == COLUMN_NAMES
        assert obj["span_id"] == row["span_id"]
        assert obj["attributes"] == row.get("attributes", {})


def test_unknown_format_rejected() -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        export_trace(table_of(sample_rows()), "xml")


_name = st.text(min_size=1, max_size=20)


@st.composite
def random_traces(draw: st.DrawFn) -> list[dict]:
    n = draw(st.integers(min_value=1, max_value=25))
    rows = []
    for i in range(n):
        start = draw(st.integers(min_value=1_600_000_000_000_000_000, max_value=1_600_000_000_010_000_000))
        links = []
        if i and draw(st.booleans()):
            links = [{"type": draw(st.sampled_from(["fork", "pipe", "wait", "signal"])),
                      "span_id": f"{draw(st.integers(0, n)):016x}"}]
        rows.append(dict(
            trace_id=TRACE, span_id=f"{i + 1:016x}", parent_span_id=f"{i:016x}" if i else None,
            start_time_nanos=start, end_time_nanos=start + draw(st.integers(0, 10_000_000)),
            span_name=draw(st.sampled_from(["syscall:", "process:", "renacer:run "])) + draw(_name),
            process_pid=draw(st.integers(1, 4)), thread_id=draw(st.integers(1, 6)), process_name=draw(_name),
            logical_clock=i, rle_count=draw(st.sampled_from([1, 1, 7])),
            attributes={"renacer.links": links, "syscall.pathname": draw(_name)},
        ))
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=random_traces())
def test_perfetto_invariants_property(rows: list[dict]) -> None:
    """Any trace, any names: valid JSON, every X event complete, every flow paired and bound."""
    table = table_of(rows)
    text = to_perfetto(table)
    document = json.loads(text)
    xs = check_perfetto(document, table)
    shown = [r["span_name"] if r["rle_count"] == 1 else f"{r['span_name']} ×{r['rle_count']}" for r in rows]
    assert sorted(e["name"] for e in xs) == sorted(shown)
    request = otlp_json_to_request(to_otlp_json(table))
    assert sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans) == len(rows)
    assert len(perfetto_events(table)) == len(document["traceEvents"])


# -- the CLI over a real store ------------------------------------------------------------------


@pytest.fixture()
def stored_trace(db_path: Path) -> Path:
    from renacer_tui.store.store import Store

    with Store.open(db_path) as store:
        store.begin_run("run-export-test", TRACE, "dd if=/dev/zero of=/dev/null")
        sink = store.segment_sink("run-export-test")
        sink.write(batch_from_rows(sample_rows()))
        sink.close()
        store.end_run("run-export-test", 0)
    return db_path


@pytest.mark.parametrize("fmt", ["jsonl", "otlp-json", "perfetto"])
def test_cli_export_writes_each_format(stored_trace: Path, tmp_path: Path, fmt: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"trace.{fmt}"
    code = cli_main(["export", "--trace-id", TRACE.upper(), "--format", fmt, "-o", str(out), "--db", str(stored_trace)])
    assert code == 0
    text = out.read_text()
    if fmt == "jsonl":
        assert len(text.splitlines()) == 5
    elif fmt == "otlp-json":
        request = otlp_json_to_request(text)
        assert sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans) == 5
    else:
        check_perfetto(json.loads(text), table_of(sample_rows()))
    assert "wrote 5 spans" in capsys.readouterr().err


def test_cli_export_to_stdout(stored_trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["export", "--trace-id", TRACE, "--format", "perfetto"]) == 0  # RENACER_DB from db_path
    document = json.loads(capsys.readouterr().out)
    assert sum(1 for e in document["traceEvents"] if e["ph"] == "X") == 5


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--trace-id", "0" * 31 + "1"], 1, "no trace 00000000000000000000000000000001"),
        (["--trace-id", "xyz"], 2, "bad trace id"),
        (["--trace-id", TRACE, "--format", "xml"], 2, "unknown format 'xml'"),
    ],
)
def test_cli_export_errors_are_one_line(stored_trace: Path, capsys: pytest.CaptureFixture[str],
                                        args: list[str], code: int, message: str) -> None:
    assert cli_main(["export", *args]) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert "Traceback" not in err
