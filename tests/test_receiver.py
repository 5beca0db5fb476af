"""The OTLP receiver on loopback: the real opentelemetry-sdk exporters in, SPAN_SCHEMA batches out.

HTTP/protobuf, HTTP/JSON and gRPC; malformed, oversized, wrongly typed, unauthorized and
half-sent requests get an error answer and a counted rejection, and the receiver keeps serving.
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Iterator

import grpc
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from renacer_tui.model.attributes import ATTR_RECEIVED_VIA, ATTR_SENDER_PID, parse_attributes
from renacer_tui.model.schema import SPAN_SCHEMA, batch_from_rows
from renacer_tui.receiver.convert import PayloadError, Placement, parse_json, parse_protobuf, request_rows
from renacer_tui.receiver.intake import Intake
from renacer_tui.receiver.service import OtlpReceiver, reserve_endpoints
from renacer_tui.sinks.otlp_convert import SpanConverter, request_to_otlp_json, to_request

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


class Collected:
    """Batches the intake delivered (from the listeners' threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batches: list[pa.RecordBatch] = []

    def __call__(self, batch: pa.RecordBatch) -> None:
        with self.lock:
            self.batches.append(batch)

    def rows(self) -> list[dict]:
        with self.lock:
            return [row for batch in self.batches for row in batch.to_pylist()]


@pytest.fixture()
def served() -> Iterator[tuple[OtlpReceiver, Collected]]:
    collected = Collected()
    receiver = OtlpReceiver(Intake(collected, max_bytes=64 << 10), "127.0.0.1", 0, 0)
    receiver.start()
    try:
        yield receiver, collected
    finally:
        receiver.close()


def _export_sample(exporter) -> None:  # noqa: ANN001
    """A server span with an error child (event, link) and a client span, through `exporter`."""
    provider = TracerProvider(resource=Resource({"service.name": "sample", "service.version": "2.1",
                                                  "process.pid": 4242, "process.executable.name": "sample"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("sample.scope", "0.3")
    with tracer.start_as_current_span("handle", kind=SpanKind.SERVER, attributes={"http.route": "/x", "n": [1, 2]}):
        other = trace_context(0xABC, 0x123)
        with tracer.start_as_current_span("decide", links=[Link(other, {"why": "batch"})]) as span:
            span.add_event("decision:inline", {"input": '{"f":1}', "ok": True})
            span.set_status(Status(StatusCode.ERROR, "no luck"))
        with tracer.start_as_current_span("call", kind=SpanKind.CLIENT):
            pass
    provider.shutdown()


def trace_context(trace_id: int, span_id: int):  # noqa: ANN201
    from opentelemetry.trace import SpanContext, TraceFlags

    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(1))


def _wait_rows(collected: Collected, count: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while len(collected.rows()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return collected.rows()


def _check_sample(rows: list[dict], via: str) -> None:
    by_name = {row["span_name"]: row for row in rows}
    assert set(by_name) == {"handle", "decide", "call"}
    handle, decide, call = by_name["handle"], by_name["decide"], by_name["call"]
    assert len({row["trace_id"] for row in rows}) == 1 and len(handle["trace_id"]) == 32
    assert handle["parent_span_id"] is None
    assert decide["parent_span_id"] == handle["span_id"] and call["parent_span_id"] == handle["span_id"]
    assert (handle["span_kind"], decide["span_kind"], call["span_kind"]) == ("SERVER", "INTERNAL", "CLIENT")
    assert (decide["status"], decide["status_message"]) == ("ERROR", "no luck")
    assert handle["service_name"] == "sample" and handle["service_version"] == "2.1"
    assert handle["process_pid"] == 4242 and handle["process_name"] == "sample"
    attrs = parse_attributes(handle["attributes"])
    assert attrs["http.route"] == "/x" and attrs["n"] == [1, 2] and attrs[ATTR_RECEIVED_VIA] == via
    assert attrs["otel.scope.name"] == "sample.scope" and attrs["otel.scope.version"] == "0.3"
    assert handle["end_time_nanos"] >= decide["end_time_nanos"] >= decide["start_time_nanos"] >= handle["start_time_nanos"]


def test_http_protobuf_from_the_sdk_exporter(served) -> None:
    receiver, collected = served
    _export_sample(HttpExporter(endpoint=receiver.http_endpoint + "/v1/traces"))
    rows = _wait_rows(collected, 3)
    _check_sample(rows, "otlp/http-protobuf")
    assert all(batch.schema.equals(SPAN_SCHEMA) for batch in collected.batches)
    decide = next(row for row in rows if row["span_name"] == "decide")
    assert [(e["name"], json.loads(e["attributes"])) for e in decide["events"]] == [
        ("decision:inline", {"input": '{"f":1}', "ok": True})
    ]
    assert [(link["trace_id"], link["span_id"], link["trace_state"]) for link in decide["links"]] == [
        (f"{0xABC:032x}", f"{0x123:016x}", None)
    ]
    assert next(row for row in rows if row["span_name"] == "call")["events"] is None
    assert receiver.intake.spans == 3 and receiver.intake.rejected_total == 0


def test_grpc_from_the_sdk_exporter(served) -> None:
    receiver, collected = served
    _export_sample(GrpcExporter(endpoint=receiver.grpc_endpoint, insecure=True))
    _check_sample(_wait_rows(collected, 3), "otlp/grpc")


def _sample_request() -> ExportTraceServiceRequest:
    """A request as the SDK builds it, captured on the way (same spans as `_export_sample`)."""
    captured: list = []

    class Capture:
        def export(self, spans):  # noqa: ANN001, ANN201
            captured.extend(spans)
            from opentelemetry.sdk.trace.export import SpanExportResult

            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 0) -> bool:
            return True

    _export_sample(Capture())
    return to_request(captured)


def _post(url: str, body: bytes, content_type: str, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_http_json_with_hex_ids(served) -> None:
    receiver, collected = served
    request = _sample_request()
    text = request_to_otlp_json(request)
    status, body = _post(receiver.http_endpoint + "/v1/traces", text.encode(), "application/json")
    assert status == 200 and json.loads(body) == {}
    rows = _wait_rows(collected, 3)
    _check_sample(rows, "otlp/http-json")
    sent = {span.span_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans}
    assert {row["span_id"] for row in rows} == sent


def test_events_and_links_are_kept() -> None:
    rows = {row["span_name"]: row for row in request_rows(_sample_request(), via="test")}
    decide = rows["decide"]
    assert [(e["name"], json.loads(e["attributes"])) for e in decide["events"]] == [
        ("decision:inline", {"input": '{"f":1}', "ok": True})
    ]
    assert decide["events"][0]["time_unix_nano"] >= decide["start_time_nanos"]
    assert [(link["trace_id"], link["span_id"], json.loads(link["attributes"])) for link in decide["links"]] == [
        (f"{0xABC:032x}", f"{0x123:016x}", {"why": "batch"})
    ]


def test_placement_under_the_run_and_the_sender_process() -> None:
    spans = SpanConverter().convert(
        pa.Table.from_pylist(
            [
                dict(trace_id=TRACE, span_id="00000000000000a1", parent_span_id=None, start_time_nanos=1,
                     end_time_nanos=2, span_name="root", span_kind="INTERNAL", status="UNSET", attributes="{}",
                     process_pid=7, process_name="p", process_cmdline="", service_name="s", service_version="",
                     thread_id=7, logical_clock=0, rle_count=1),
                dict(trace_id="1" * 32, span_id="00000000000000a2", parent_span_id=None, start_time_nanos=1,
                     end_time_nanos=2, span_name="foreign", span_kind="INTERNAL", status="UNSET", attributes="{}",
                     process_pid=7, process_name="p", process_cmdline="", service_name="s", service_version="",
                     thread_id=7, logical_clock=0, rle_count=1),
            ]
        )
    )
    placement = Placement(TRACE, "00000000000000ff", {7: "00000000000000ee"}.get)
    rows = {row["span_name"]: row for row in request_rows(to_request(spans), via="t", sender_pid=7, placement=placement)}
    root, foreign = rows["root"], rows["foreign"]
    assert root["parent_span_id"] == "00000000000000ee" and root["process_pid"] == 7  # under its process
    assert parse_attributes(root["attributes"])["renacer.links"] == [{"type": "process", "span_id": "00000000000000ee"}]
    assert foreign["parent_span_id"] is None  # another trace's root stays a root
    unknown = request_rows(to_request(spans[:1]), via="t", sender_pid=8, placement=placement)[0]
    assert unknown["parent_span_id"] == "00000000000000ff" and "renacer.links" not in parse_attributes(unknown["attributes"])
    assert [(link["trace_id"], link["span_id"]) for link in foreign["links"]] == [(TRACE, "00000000000000ee")]


# -- bad input ------------------------------------------------------------------------------------

def test_bad_http_requests_are_answered_and_counted(served) -> None:
    receiver, collected = served
    url = receiver.http_endpoint + "/v1/traces"
    good = _sample_request().SerializeToString()
    assert _post(url, b"\xff\x00garbage" * 10, "application/x-protobuf")[0] == 400
    assert _post(url, b"{not json", "application/json")[0] == 400
    assert _post(url, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "application/json")[0] == 400
    assert _post(url, good, "text/plain")[0] == 415
    assert _post(url, b"\0" * (65 << 10), "application/x-protobuf")[0] == 413
    bomb = gzip.compress(b"\0" * (1 << 20))
    assert _post(url, bomb, "application/x-protobuf", {"Content-Encoding": "gzip"})[0] == 413
    assert _post(receiver.http_endpoint + "/v1/metrics", good, "application/x-protobuf")[0] == 404
    assert receiver.intake.rejected == {"malformed": 3, "content_type": 1, "too_large": 2, "not_found": 1}
    assert _post(url, gzip.compress(good), "application/x-protobuf", {"Content-Encoding": "gzip"})[0] == 200
    assert len(_wait_rows(collected, 3)) == 3


def test_a_client_that_disconnects_mid_request(served) -> None:
    receiver, collected = served
    with socket.create_connection(("127.0.0.1", receiver.http.port)) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                     b"Content-Length: 5000\r\n\r\n" + b"\x0a" * 100)
    deadline = time.monotonic() + 10
    while receiver.intake.rejected.get("disconnected", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert receiver.intake.rejected == {"disconnected": 1}
    _export_sample(HttpExporter(endpoint=receiver.http_endpoint + "/v1/traces"))
    assert len(_wait_rows(collected, 3)) == 3


def _grpc_export(endpoint: str, body: bytes, metadata: tuple = ()) -> grpc.StatusCode:
    with grpc.insecure_channel(endpoint.removeprefix("http://")) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                   request_serializer=None, response_deserializer=None)
        try:
            call(body, timeout=10, metadata=metadata)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def test_bad_grpc_requests_are_answered_and_counted(served) -> None:
    receiver, collected = served
    assert _grpc_export(receiver.grpc_endpoint, b"\xff\x00garbage") == grpc.StatusCode.INVALID_ARGUMENT
    assert _grpc_export(receiver.grpc_endpoint, b"\0" * (65 << 10)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert receiver.intake.rejected == {"malformed": 1, "too_large": 1}
    assert _grpc_export(receiver.grpc_endpoint, _sample_request().SerializeToString()) == grpc.StatusCode.OK
    assert len(_wait_rows(collected, 3)) == 3


def test_a_token_is_required_on_every_request() -> None:
    collected = Collected()
    receiver = OtlpReceiver(Intake(collected, token="s3cret"), "127.0.0.1", 0, 0)
    receiver.start()
    try:
        body = _sample_request().SerializeToString()
        url = receiver.http_endpoint + "/v1/traces"
        assert _post(url, body, "application/x-protobuf")[0] == 401
        assert _post(url, body, "application/x-protobuf", {"Authorization": "Bearer nope"})[0] == 401
        assert _grpc_export(receiver.grpc_endpoint, body) == grpc.StatusCode.UNAUTHENTICATED
        assert receiver.intake.rejected == {"unauthorized": 3}
        assert _post(url, body, "application/x-protobuf", {"Authorization": "Bearer s3cret"})[0] == 200
        metadata = (("authorization", "Bearer s3cret"),)
        assert _grpc_export(receiver.grpc_endpoint, body, metadata) == grpc.StatusCode.OK
        assert len(_wait_rows(collected, 6)) == 6
    finally:
        receiver.close()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_protobuf_parsing_never_crashes(body: bytes) -> None:
    try:
        request = parse_protobuf(body)
        request_rows(request, via="fuzz")
    except PayloadError:
        pass


_json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                            max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "x"]), _json_values, max_size=3))
def test_json_parsing_never_crashes(data: dict) -> None:
    try:
        request_rows(parse_json(json.dumps(data).encode()), via="fuzz")
    except PayloadError:
        pass


# -- the sender, and a run's reserved ports ---------------------------------------------------------

def test_the_sender_pid_is_found_through_proc() -> None:
    collected = Collected()
    child_code = (
        "import sys, urllib.request\n"
        "body = sys.stdin.buffer.read()\n"
        "req = urllib.request.Request(sys.argv[1], data=body, headers={'Content-Type': 'application/x-protobuf'})\n"
        "print(urllib.request.urlopen(req, timeout=10).status)\n"
    )
    senders: list[int] = []
    reserved = reserve_endpoints({})
    own = OtlpReceiver.on_reserved(Intake(collected, traced_pids=lambda: senders), reserved)
    try:
        child = subprocess.Popen([sys.executable, "-c", child_code, own.http_endpoint + "/v1/traces"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        pid = child.pid
        senders.append(pid)
        out, _ = child.communicate(_sample_request().SerializeToString(), timeout=60)
        assert out.strip() == b"200"
        rows = _wait_rows(collected, 3)
        assert {row["process_pid"] for row in rows} == {pid}
        assert {parse_attributes(row["attributes"])[ATTR_SENDER_PID] for row in rows} == {pid}
    finally:
        own.close()


def test_reserved_ports_and_the_program_environment() -> None:
    reserved = reserve_endpoints({})
    try:
        env = reserved.program_environment({"PATH": "/bin"})
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == reserved.http_endpoint
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf" and reserved.grpc_port is None
    finally:
        reserved.release()
    reserved = reserve_endpoints({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    try:
        env = reserved.program_environment({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == reserved.grpc_endpoint
    finally:
        reserved.release()
    assert reserve_endpoints({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) is None


def test_renacer_exported_spans_come_back_as_they_were() -> None:
    """What `renacer-tui --otlp-endpoint` sends to a `serve` is stored with its own columns again."""
    from tests.test_otlp_export import sample_rows

    table = pa.Table.from_batches([batch_from_rows(sample_rows())])
    sent = table.to_pylist()
    back = {row["span_id"]: row for row in request_rows(to_request(SpanConverter().convert(table)), via="otlp/grpc")}
    for row in sent:
        got = back[row["span_id"]]
        for column in ("trace_id", "parent_span_id", "start_time_nanos", "end_time_nanos", "span_name", "span_kind",
                       "status", "status_message", "process_pid", "process_name", "process_cmdline", "thread_id",
                       "logical_clock", "parent_logical_clock", "rle_count", "service_name"):
            assert got[column] == row[column], column
        attrs, original = parse_attributes(got["attributes"]), parse_attributes(row["attributes"])
        assert attrs.pop(ATTR_RECEIVED_VIA) == "otlp/grpc" and "host.name" in attrs
        attrs.pop("host.name")
        # lists other than renacer.links travel as JSON text in OTLP attributes
        assert attrs == {k: (v if k == "renacer.links" or not isinstance(v, list) else json.dumps(v, separators=(",", ":")))
                         for k, v in original.items()}
        assert got["links"] is None  # renacer.links were not stored a second time as OTLP links


def _raw_http(port: int, head: bytes, body: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(head + body)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before all of it was sent (a 413)
            pass
        chunks = []
        try:
            while data := sock.recv(65536):
                chunks.append(data)
        except ConnectionResetError:  # the server closed on a body it did not read to the end
            pass
    return b"".join(chunks)


def test_chunked_requests(served) -> None:
    receiver, collected = served
    body = _sample_request().SerializeToString()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:100], body[100:])) + b"0\r\n\r\n"
    head = (b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    assert _raw_http(receiver.http.port, head, chunks).startswith(b"HTTP/1.1 200")
    assert len(_wait_rows(collected, 3)) == 3
    huge = b"".join(b"%x\r\n%s\r\n" % (8192, b"\0" * 8192) for _ in range(10)) + b"0\r\n\r\n"
    assert _raw_http(receiver.http.port, head, huge).startswith(b"HTTP/1.1 413")
    assert _raw_http(receiver.http.port, head, b"zz\r\nxx") == b""  # not a chunk size: dropped, counted
    assert receiver.intake.rejected == {"too_large": 1, "disconnected": 1}


def test_connections_past_the_limit_are_closed_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    from renacer_tui.receiver.http_listener import OtlpHttpServer

    monkeypatch.setattr(OtlpHttpServer, "max_connections", 2)
    collected = Collected()
    receiver = OtlpReceiver(Intake(collected), "127.0.0.1", 0, None)
    receiver.start()
    idle = [socket.create_connection(("127.0.0.1", receiver.http.port)) for _ in range(2)]  # hold both slots
    try:
        deadline = time.monotonic() + 10
        while receiver.intake.rejected.get("busy", 0) < 1 and time.monotonic() < deadline:
            with socket.create_connection(("127.0.0.1", receiver.http.port), timeout=10) as extra:
                extra.settimeout(10)
                try:
                    assert extra.recv(1) == b""  # closed without an answer
                except ConnectionResetError:
                    pass
        assert receiver.intake.rejected == {"busy": 1}
    finally:
        for sock in idle:
            sock.close()
    # the slots come back: a real export goes through
    deadline = time.monotonic() + 10
    status = 0
    while status != 200 and time.monotonic() < deadline:
        try:
            status = _post(receiver.http_endpoint + "/v1/traces", _sample_request().SerializeToString(),
                           "application/x-protobuf")[0]
        except (urllib.error.URLError, ConnectionError):  # a slot not yet back: closed like the extra one
            time.sleep(0.05)
    assert status == 200 and len(_wait_rows(collected, 3)) == 3
    receiver.close()
