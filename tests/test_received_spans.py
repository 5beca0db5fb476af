"""A traced program's own OpenTelemetry spans, received by the run and stored beside its syscalls.

Real programs under the real tracer: an opentelemetry-sdk-instrumented python3 program that
joins TRACEPARENT, and two tools of a shell pipeline using `renacer_tui.golden`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from renacer_tui.model.attributes import ATTR_RECEIVED_SPANS, ATTR_SENDER_PID, parse_attributes
from renacer_tui.store import Store
from tests.test_cli_run import assert_no_traceback, renacer, trace_id_of

APP = r"""
import json, os, sys
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
with open(sys.argv[1], "w") as seen:
    json.dump({k: v for k, v in os.environ.items() if k.startswith(("OTEL_", "TRACEPARENT"))}, seen)
provider = TracerProvider(resource=Resource({"service.name": "app", "service.version": "1.2"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("app.scope")
with tracer.start_as_current_span("app:main", context=extract({"traceparent": os.environ["TRACEPARENT"]})):
    with tracer.start_as_current_span("app:fetch", kind=SpanKind.CLIENT) as span:
        span.add_event("retry", {"attempt": 2})
        span.set_status(Status(StatusCode.ERROR, "gave up"))
        open("/dev/null").close()
with tracer.start_as_current_span("elsewhere", context=trace.set_span_in_context(trace.INVALID_SPAN)):
    pass
provider.shutdown()
"""


def _program(tmp_path: Path, source: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(source)
    return path


def _spans(db_path: Path, trace_id: str) -> list[dict]:
    with Store.open(db_path) as store:
        return store.trace_spans(trace_id).to_pylist()


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_an_instrumented_program_lands_under_the_run(db_path: Path, tmp_path: Path, protocol: str) -> None:
    app = _program(tmp_path, APP, "app.py")
    seen = tmp_path / "env.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
    result = renacer("--no-tui", "-o", str(tmp_path / "trace.txt"), "--", sys.executable, str(app), str(seen), env=env)
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    trace_id = trace_id_of(result)
    told = json.loads(seen.read_text())
    assert told["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://127.0.0.1:")
    assert told["OTEL_EXPORTER_OTLP_PROTOCOL"] == protocol

    spans = _spans(db_path, trace_id)
    by_name = {row["span_name"]: row for row in spans}
    run = next(row for row in spans if row["span_name"].startswith("renacer:run"))
    main, fetch = by_name["app:main"], by_name["app:fetch"]
    process = next(row for row in spans if row["span_name"].startswith("process:") and row["process_pid"] == main["process_pid"])
    assert main["parent_span_id"] == process["span_id"] and process["parent_span_id"] == run["span_id"]
    assert fetch["parent_span_id"] == main["span_id"]
    assert (fetch["span_kind"], fetch["status"], fetch["status_message"]) == ("CLIENT", "ERROR", "gave up")
    assert main["service_name"] == "app" and main["service_version"] == "1.2"
    assert [(e["name"], json.loads(e["attributes"])) for e in fetch["events"]] == [("retry", {"attempt": 2})]
    assert parse_attributes(main["attributes"])[ATTR_SENDER_PID] == process["process_pid"]
    assert parse_attributes(main["attributes"])["renacer.links"] == [{"type": "process", "span_id": process["span_id"]}]
    assert parse_attributes(run["attributes"])[ATTR_RECEIVED_SPANS] == 3
    # the syscalls of that process are there too, under its process span
    assert any(row["span_name"].startswith("syscall:") and row["parent_span_id"] == process["span_id"] for row in spans)

    with Store.open(db_path) as store:  # a span of another trace is stored under its own trace id
        other = store.query("SELECT trace_id, parent_span_id FROM spans WHERE span_name = 'elsewhere'").to_pylist()
    assert len(other) == 1 and other[0]["trace_id"] != trace_id and other[0]["parent_span_id"] is None


def test_no_receiver_and_an_endpoint_of_the_programs_own(db_path: Path, tmp_path: Path) -> None:
    show = _program(tmp_path, "import json, os, sys\njson.dump(dict(os.environ), open(sys.argv[1], 'w'))\n", "show.py")
    seen = tmp_path / "env.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = renacer("--no-tui", "--no-store", "-o", "/dev/null", "--no-receiver", "--", sys.executable, str(show),
                     str(seen), env=env)
    assert result.returncode == 0, result.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in json.loads(seen.read_text())
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector.example:4318"
    result = renacer("--no-tui", "--no-store", "-o", "/dev/null", "--", sys.executable, str(show), str(seen), env=env)
    assert result.returncode == 0, result.stderr
    told = json.loads(seen.read_text())
    assert told["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector.example:4318"
    assert "OTEL_EXPORTER_OTLP_PROTOCOL" not in told


PRODUCE = r"""
import subprocess, sys
from renacer_tui.golden import span
with span("tool:produce", items=3) as s:
    s.event("decision:emit", count=3, detail={"why": "all"})
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ['TRACEPARENT'])"],
                           capture_output=True, text=True, check=True)
    open(sys.argv[1], "w").write(child.stdout.strip() + " " + s.span_id)
    print("a\nb\nc")
"""

CONSUME = r"""
import sys
from renacer_tui.golden import span
with span("tool:consume") as s:
    s.event("decision:count", n=len(sys.stdin.read().split()))
"""


def test_the_helper_api_in_a_shell_pipeline(db_path: Path, tmp_path: Path) -> None:
    produce = _program(tmp_path, PRODUCE, "produce.py")
    consume = _program(tmp_path, CONSUME, "consume.py")
    handed = tmp_path / "handed.txt"
    pipeline = f"{sys.executable} {produce} {handed} | {sys.executable} {consume}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEPARENT"))}
    result = renacer("--no-tui", "-o", "/dev/null", "--", "sh", "-c", pipeline, env=env)
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    trace_id = trace_id_of(result)
    spans = _spans(db_path, trace_id)
    by_name = {row["span_name"]: row for row in spans}
    processes = {row["span_id"]: row for row in spans if row["span_name"].startswith("process:")}
    produced, consumed = by_name["tool:produce"], by_name["tool:consume"]
    for tool in (produced, consumed):  # one trace, each tool under the process that ran it
        assert processes[tool["parent_span_id"]]["process_pid"] == tool["process_pid"]
    assert produced["process_pid"] != consumed["process_pid"]
    assert parse_attributes(produced["attributes"])["items"] == 3
    emitted = [(e["name"], json.loads(e["attributes"])) for e in produced["events"]]
    assert emitted == [("decision:emit", {"count": 3, "detail": '{"why":"all"}'})]
    assert [e["name"] for e in consumed["events"]] == ["decision:count"]
    assert json.loads(consumed["events"][0]["attributes"]) == {"n": 3}
    # a program the tool started was handed the tool's span as TRACEPARENT
    traceparent, span_id = handed.read_text().split()
    assert traceparent.split("-")[1:3] == [trace_id, span_id] and span_id == produced["span_id"]


def test_the_helper_api_outside_any_run(tmp_path: Path) -> None:
    """Without TRACEPARENT the tool's span is a root; it leaves the environment as it found it."""
    code = ("import os\nfrom renacer_tui.golden import span\n"
            "with span('alone') as s:\n    inside = os.environ['TRACEPARENT']\n"
            "print(inside.split('-')[1] == s.trace_id, 'TRACEPARENT' in os.environ)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEPARENT"))}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens: the export fails, the tool does not
    env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "1"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]
