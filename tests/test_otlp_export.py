"""OTLP export through the worker process to a real loopback receiver (gRPC and HTTP)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from renacer_tui.model.schema import batch_from_rows
from renacer_tui.sinks.fanout import Fanout
from renacer_tui.sinks.otlp import OtlpSink, parse_otlp_headers
from renacer_tui.sinks.otlp_worker import normalize_endpoint
from tests.otlp_receiver import (  # noqa: F401 (fixtures)
    GrpcReceiver,
    HttpReceiver,
    otlp_grpc_receiver,
    otlp_http_receiver,
    self_signed_cert,
    wait_for,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1_732_500_000_123_456_789


def sample_rows() -> list[dict]:
    """A small run: run span → process → syscalls (one RLE row, one error, a fork link)."""
    run, proc, child = "a1b2c3d400000001", "a1b2c3d400000002", "a1b2c3d400000005"
    rows = [
        dict(trace_id=TRACE, span_id=run, parent_span_id="00f067aa0ba902b7", start_time_nanos=T0,
             end_time_nanos=T0 + 9_000_000, span_name="renacer:run dd", process_pid=100, process_name="dd",
             process_cmdline="dd if=/dev/zero of=/dev/null", thread_id=100, logical_clock=1,
             attributes={"renacer.dropped_spans": 0}),
        dict(trace_id=TRACE, span_id=proc, parent_span_id=run, start_time_nanos=T0 + 1000,
             end_time_nanos=T0 + 8_000_000, span_name="process:dd", process_pid=100, process_name="dd",
             process_cmdline="dd if=/dev/zero of=/dev/null", thread_id=100, logical_clock=2),
        dict(trace_id=TRACE, span_id="a1b2c3d400000003", parent_span_id=proc, start_time_nanos=T0 + 2000,
             end_time_nanos=T0 + 7_000_000, span_name="syscall:read", process_pid=100, process_name="dd",
             thread_id=100, logical_clock=3, rle_count=262144, status="OK",
             attributes={"syscall.fd": 0, "syscall.result": 1, "renacer.rle.first_timestamp": T0 + 2000,
                         "renacer.rle.total_duration_ns": 5_000_000, "syscall.flags": ["O_RDONLY", "O_CLOEXEC"]}),
        dict(trace_id=TRACE, span_id="a1b2c3d400000004", parent_span_id=proc, start_time_nanos=T0 + 7_000_100,
             end_time_nanos=T0 + 7_000_900, span_name="syscall:openat", process_pid=100, process_name="dd",
             thread_id=101, logical_clock=4, status="ERROR", status_message="ENOENT",
             attributes={"syscall.pathname": "[red]x\x1b[0m", "syscall.result": -2, "syscall.errno": "ENOENT"}),
        dict(trace_id=TRACE, span_id=child, parent_span_id="a1b2c3d400000004", start_time_nanos=T0 + 7_500_000,
             end_time_nanos=T0 + 7_900_000, span_name="process:sh", process_pid=101, process_name="sh",
             process_cmdline="sh -c true", thread_id=101, logical_clock=5, span_kind="INTERNAL",
             attributes={"renacer.links": [{"type": "fork", "span_id": "a1b2c3d400000004", "logical_clock": 4}]}),
    ]
    return rows


def check_received(received: list, headers: dict[str, str]) -> None:
    by_id = {s.span_id: s for s in received}
    rows = {r["span_id"]: r for r in sample_rows()}
    assert set(by_id) == set(rows)
    for span_id, row in rows.items():
        got = by_id[span_id]
        assert got.trace_id == TRACE
        assert got.parent_span_id == row["parent_span_id"]
        assert got.start_time_nanos == row["start_time_nanos"]
        assert got.end_time_nanos == row["end_time_nanos"]
        assert got.name == row["span_name"]
        assert got.resource["service.name"] == "ci-build"
        assert got.resource["deployment.environment"] == "test"
        assert got.resource["host.name"] == socket.gethostname()
        assert got.resource["process.pid"] == row["process_pid"]
        assert got.resource["process.executable.name"] == row["process_name"]
        assert got.attributes["thread.id"] == row["thread_id"]
        assert got.attributes["renacer.logical_clock"] == row["logical_clock"]
        for key, value in headers.items():
            assert got.headers[key] == value
    rle = by_id["a1b2c3d400000003"]
    assert rle.attributes["renacer.rle.count"] == 262144
    assert rle.attributes["renacer.rle.total_duration_ns"] == 5_000_000
    assert json.loads(rle.attributes["syscall.flags"]) == ["O_RDONLY", "O_CLOEXEC"]
    assert rle.status_code == 1  # STATUS_CODE_OK
    err = by_id["a1b2c3d400000004"]
    assert err.status_code == 2 and err.status_message == "ENOENT"
    assert err.attributes["syscall.pathname"] == "[red]x\x1b[0m"
    assert err.attributes["syscall.result"] == -2
    assert "renacer.rle.count" not in err.attributes
    child = by_id["a1b2c3d400000005"]
    assert child.links == [(TRACE, "a1b2c3d400000004", {"renacer.link.type": "fork", "renacer.link.logical_clock": 4})]
    assert child.resource["process.command_line"] == "sh -c true"
    assert by_id["a1b2c3d400000001"].parent_span_id == "00f067aa0ba902b7"  # incoming TRACEPARENT parent


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_arrive_with_ids_parents_times_attributes_resource_headers(
    protocol: str, otlp_grpc_receiver: GrpcReceiver, otlp_http_receiver: HttpReceiver
) -> None:
    receiver = otlp_grpc_receiver if protocol == "grpc" else otlp_http_receiver
    headers = parse_otlp_headers("x-tenant=acme,authorization=Bearer%20s3cret", ["X-Run=42"])
    sink = OtlpSink(receiver.endpoint, protocol, headers=headers, service_name="ci-build",
                    resource_attrs={"deployment.environment": "test"})
    sink.write(batch_from_rows(sample_rows()))
    sink.close()
    assert sink.returncode == 0
    check_received(wait_for(receiver, 5), {"x-tenant": "acme", "authorization": "Bearer s3cret", "x-run": "42"})


def test_http_base_url_gets_the_traces_path(otlp_http_receiver: HttpReceiver) -> None:
    base = f"http://127.0.0.1:{otlp_http_receiver.port}"
    assert normalize_endpoint(base, "http/protobuf") == otlp_http_receiver.endpoint
    assert normalize_endpoint("127.0.0.1:4317", "grpc") == "http://127.0.0.1:4317"
    sink = OtlpSink(base, "http/protobuf", service_name="ci-build", resource_attrs={"deployment.environment": "test"})
    sink.write(batch_from_rows(sample_rows()))
    sink.close()
    check_received(wait_for(otlp_http_receiver, 5), {})


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI needed for a test certificate")
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_https_endpoint_uses_tls(protocol: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(cert))  # trust our CA, as a user would
    if protocol == "grpc":
        creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
        receiver: GrpcReceiver | HttpReceiver = GrpcReceiver(credentials=creds)
    else:
        receiver = HttpReceiver(certfile=str(cert), keyfile=str(key))
    try:
        assert receiver.endpoint.startswith("https://")
        sink = OtlpSink(receiver.endpoint, protocol, service_name="ci-build",
                        resource_attrs={"deployment.environment": "test"})
        sink.write(batch_from_rows(sample_rows()))
        sink.close()
        assert sink.returncode == 0
        check_received(wait_for(receiver, 5), {})
    finally:
        receiver.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_dead_collector_is_one_line_and_close_is_bounded(protocol: str, tmp_path: Path) -> None:
    err_path = tmp_path / "stderr"
    with open(err_path, "wb") as err:
        sink = OtlpSink(f"http://127.0.0.1:{closed_port()}", protocol, stderr=err, timeout=2.0, close_timeout=4.0)
        t = time.monotonic()
        for k in range(3):
            sink.write(batch_from_rows(sample_rows()))
        sink.close()
        elapsed = time.monotonic() - t
    lines = err_path.read_text().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("renacer-tui: OTLP export to http://127.0.0.1:")
    assert "failed:" in lines[0] and "refused" in lines[0].lower()
    assert elapsed < 7.5
    assert sink.returncode == 1


def test_fanout_to_otlp_delivers_everything_it_did_not_drop(otlp_grpc_receiver: GrpcReceiver) -> None:
    sink = OtlpSink(otlp_grpc_receiver.endpoint, "grpc")
    fanout = Fanout([sink], capacity_batches=8)
    sent = 0
    for k in range(40):
        rows = [dict(trace_id=TRACE, span_id=f"{0xBEEF0000:08x}{sent + i + 1:08x}", parent_span_id="a1b2c3d400000002",
                     start_time_nanos=T0 + sent + i, end_time_nanos=T0 + sent + i + 50, span_name="syscall:write",
                     process_pid=7, process_name="w", thread_id=7, logical_clock=sent + i) for i in range(250)]
        fanout.offer(batch_from_rows(rows))
        sent += 250
    assert fanout.close(timeout=30)
    delivered = sent - fanout.dropped_per_sink["otlp"]
    received = wait_for(otlp_grpc_receiver, delivered, timeout=10)
    assert len(received) == delivered > 0
    assert len({s.span_id for s in received}) == delivered


def test_worker_killed_is_reported_once_by_the_fanout(otlp_grpc_receiver: GrpcReceiver) -> None:
    reports: list[tuple[str, str]] = []
    sink = OtlpSink(otlp_grpc_receiver.endpoint, "grpc")
    fanout = Fanout([sink], on_error=lambda n, m: reports.append((n, m)))
    os.kill(sink.pid, signal.SIGKILL)
    time.sleep(0.2)
    for _ in range(5):
        fanout.offer(batch_from_rows(sample_rows()))
    assert fanout.close(timeout=10)
    assert len(reports) == 1
    assert reports[0][0] == "otlp" and "OtlpWorkerGone: OTLP exporter process exited" in reports[0][1]
    assert fanout.dropped_per_sink["otlp"] == 25


def test_bad_configuration_rejected_up_front() -> None:
    with pytest.raises(ValueError, match="unknown OTLP protocol"):
        OtlpSink("http://127.0.0.1:4317", "thrift")
    with pytest.raises(ValueError, match="bad --otlp-header"):
        parse_otlp_headers(None, ["no-equals-sign"])


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)


@given(env=st.dictionaries(_token, _token, max_size=5), cli=st.dictionaries(_token, _token, max_size=5))
def test_header_merge_property(env: dict[str, str], cli: dict[str, str]) -> None:
    """Every env header survives unless the command line names it; the command line always wins."""
    env_text = ",".join(f"{k}={v}" for k, v in env.items())
    merged = parse_otlp_headers(env_text, [f"{k.upper()}={v}" for k, v in cli.items()])
    assert merged == {**env, **cli}


def test_empty_batches_and_unicode_survive(otlp_http_receiver: HttpReceiver) -> None:
    sink = OtlpSink(otlp_http_receiver.endpoint, "http/protobuf")
    sink.write(batch_from_rows([]))
    row = dict(sample_rows()[3], span_name="syscall:openat ☃", attributes={"syscall.pathname": "/tmp/ü\u202e"})
    sink.write(pa.record_batch(batch_from_rows([row]).columns, schema=batch_from_rows([row]).schema))
    sink.close()
    (got,) = wait_for(otlp_http_receiver, 1)
    assert got.name == "syscall:openat ☃"
    assert got.attributes["syscall.pathname"] == "/tmp/ü\u202e"
