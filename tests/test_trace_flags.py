"""The W3C trace flags of an incoming context survive end to end: the traced program's
TRACEPARENT, the run span, OTLP export to a real receiver, and OTLP/JSON export from the store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from renacer_tui.model.attributes import ATTR_TRACE_FLAGS
from tests.otlp_receiver import (  # noqa: F401 (fixtures)
    GrpcReceiver,
    HttpReceiver,
    otlp_grpc_receiver,
    otlp_http_receiver,
)

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
SID = "00f067aa0ba902b7"


def renacer(*args: str, traceparent: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, TRACEPARENT=traceparent)
    return subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, env=env, cwd=cwd)


@pytest.mark.parametrize("flags", ["00", "01", "03"])
def test_the_program_sees_the_incoming_flags_and_the_run_span_records_them(tmp_path: Path, flags: str) -> None:
    out = tmp_path / "trace.jsonl"
    result = renacer("--no-store", "--format", "jsonl", "-o", str(out), "--", "sh", "-c", "echo $TRACEPARENT",
                     traceparent=f"00-{TID}-{SID}-{flags}")
    assert result.returncode == 0, result.stderr
    spans = [json.loads(line) for line in out.read_text().splitlines()]
    run = next(s for s in spans if s["span_name"].startswith("renacer:run"))
    assert (run["trace_id"], run["parent_span_id"]) == (TID, SID)
    assert result.stdout.strip() == f"00-{TID}-{run['span_id']}-{flags}"
    assert run["attributes"][ATTR_TRACE_FLAGS] == flags


def test_a_new_trace_is_sampled(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "TRACEPARENT"}
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--format", "jsonl",
                             "-o", str(out), "--", "sh", "-c", "echo $TRACEPARENT"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=env)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", result.stdout.strip())


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize("flags", [0x00, 0x01])
def test_otlp_export_carries_the_incoming_flags(
    protocol: str, flags: int, otlp_grpc_receiver: GrpcReceiver, otlp_http_receiver: HttpReceiver
) -> None:
    receiver = otlp_grpc_receiver if protocol == "grpc" else otlp_http_receiver
    result = renacer("--no-store", "-o", os.devnull, "--otlp-endpoint", receiver.endpoint, "--otlp-protocol", protocol,
                     "--", "sh", "-c", "echo hi | cat >/dev/null", traceparent=f"00-{TID}-{SID}-{flags:02x}")
    assert result.returncode == 0, result.stderr
    rows = int(re.search(r"\((\d+) rows\)", result.stderr).group(1))
    deadline = time.monotonic() + 10
    while receiver.count() < rows and time.monotonic() < deadline:
        time.sleep(0.05)
    spans = receiver.spans()
    assert len(spans) == rows and {s.trace_id for s in spans} == {TID}
    assert {s.flags & 0xFF for s in spans} == {flags}
    links = [f for s in spans for f in s.link_flags]
    assert links and {f & 0xFF for f in links} == {flags}  # fork/wait/pipe links point into the same trace
    run = next(s for s in spans if s.name.startswith("renacer:run"))
    assert run.attributes[ATTR_TRACE_FLAGS] == f"{flags:02x}"
    assert run.flags & 0x300 == 0x300  # its parent (the caller's span) is remote, as the encoder says


@pytest.mark.parametrize("flags", [0x00, 0x01])
def test_otlp_json_export_from_the_store_keeps_the_flags(tmp_path: Path, flags: int) -> None:
    db = tmp_path / "db"
    result = renacer("--db", str(db), "-o", os.devnull, "--", "true", traceparent=f"00-{TID}-{SID}-{flags:02x}")
    assert result.returncode == 0, result.stderr
    exported = subprocess.run([sys.executable, "-m", "renacer_tui", "export", "--db", str(db), "--trace-id", TID,
                               "--format", "otlp-json"], capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    spans = [span for rs in data["resourceSpans"] for ss in rs["scopeSpans"] for span in ss["spans"]]
    assert spans and {span.get("flags", 0) & 0xFF for span in spans} == {flags}
    assert any(span.get("flags", 0) & 0x100 for span in spans)
