"""`[otlp]` in config.toml exports every run, as `--otlp-endpoint` does (issue 17, item 8): the
section's endpoint, protocol and headers, its request size (`batch_size`) and the longest a span
waits for its request to fill (`batch_delay_ms`); the command line wins, `--no-otlp` opts out.
Real runs against a real OTLP/HTTP receiver on loopback."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.otlp_receiver import HttpReceiver, otlp_http_receiver, wait_for  # noqa: F401 (fixture)
from tests.test_cli_run import trace_id_of

DD = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=300"]


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(body)
    monkeypatch.setenv("RENACER_CONFIG", str(path))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-rle", "-o", "/dev/null", *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def stored_rows(trace_id: str) -> int:
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "db", "query", "--format", "csv",
                             f"SELECT COUNT(*) FROM spans_raw WHERE trace_id = '{trace_id}'"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return int(result.stdout.split()[-1])


def enabled(endpoint: str, extra: str = "") -> str:
    return f'[otlp]\nenabled = true\nendpoint = "{endpoint}"\nprotocol = "http/protobuf"\n{extra}'


def test_enabled_section_exports_every_run_with_its_headers(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            otlp_http_receiver: HttpReceiver) -> None:
    write_config(tmp_path, monkeypatch, enabled(otlp_http_receiver.endpoint, '[otlp.headers]\nX-Team = "golden"\n'))
    result = run("--", *DD)
    assert result.returncode == 0, result.stderr
    rows = stored_rows(trace_id_of(result))
    spans = wait_for(otlp_http_receiver, rows)
    assert len(spans) == rows > 600, (len(spans), rows)
    assert {s.trace_id for s in spans} == {trace_id_of(result)}
    assert all(s.headers.get("x-team") == "golden" for s in spans)


def test_the_command_line_wins_and_no_otlp_opts_out(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     otlp_http_receiver: HttpReceiver) -> None:
    other = HttpReceiver()
    try:
        write_config(tmp_path, monkeypatch, enabled(other.endpoint, '[otlp.headers]\nx-team = "file"\n'))
        result = run("--otlp-endpoint", otlp_http_receiver.endpoint, "--otlp-protocol", "http/protobuf",
                     "--otlp-header", "x-team=cli", "--", "true")
        assert result.returncode == 0, result.stderr
        spans = wait_for(otlp_http_receiver, stored_rows(trace_id_of(result)))
        assert spans and all(s.headers.get("x-team") == "cli" for s in spans)
        opted_out = run("--no-otlp", "--", "true")
        assert opted_out.returncode == 0 and "OTLP" not in opted_out.stderr, opted_out.stderr
        time.sleep(0.5)
        assert other.count() == 0
    finally:
        other.stop()


def test_a_disabled_section_exports_nothing(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            otlp_http_receiver: HttpReceiver) -> None:
    write_config(tmp_path, monkeypatch, enabled(otlp_http_receiver.endpoint).replace("enabled = true", "enabled = false"))
    result = run("--", "true")
    assert result.returncode == 0, result.stderr
    time.sleep(0.5)
    assert otlp_http_receiver.count() == 0


def test_batch_size_is_the_spans_per_request(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             otlp_http_receiver: HttpReceiver) -> None:
    write_config(tmp_path, monkeypatch, enabled(otlp_http_receiver.endpoint, "batch_size = 50\n"))
    result = run("--", *DD)
    assert result.returncode == 0, result.stderr
    rows = stored_rows(trace_id_of(result))
    assert len(wait_for(otlp_http_receiver, rows)) == rows
    sizes = otlp_http_receiver.request_sizes
    assert max(sizes) == 50 and len(sizes) >= math.ceil(rows / 50), sizes


def _received_while_running(config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: HttpReceiver) -> int:
    """Spans the collector had before the program (a few calls, then 8 s asleep) woke up."""
    write_config(tmp_path, monkeypatch, config)
    woke = tmp_path / "woke"
    proc = subprocess.Popen([sys.executable, "-m", "renacer_tui", "--no-tui", "-o", "/dev/null", "--",
                             "sh", "-c", f"true; sleep 8; : > '{woke}'"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = 0
    while not woke.exists() and proc.poll() is None:
        seen = receiver.count()
        if seen:
            break
        time.sleep(0.05)
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    return seen


def test_batch_delay_sends_a_quiet_programs_spans_while_it_runs(db_path: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 otlp_http_receiver: HttpReceiver) -> None:
    config = enabled(otlp_http_receiver.endpoint, "batch_delay_ms = 200\n")
    assert _received_while_running(config, tmp_path, monkeypatch, otlp_http_receiver) > 0


def test_a_long_batch_delay_holds_a_small_batch_until_the_end(db_path: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               otlp_http_receiver: HttpReceiver) -> None:
    config = enabled(otlp_http_receiver.endpoint, "batch_delay_ms = 60000\n")
    assert _received_while_running(config, tmp_path, monkeypatch, otlp_http_receiver) == 0
    assert otlp_http_receiver.count() > 0  # sent at the end of the run, not lost


def test_a_bad_protocol_in_the_file_is_one_line(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, '[otlp]\nprotocol = "carrier-pigeon"\n')
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "config"], capture_output=True, text=True, timeout=60)
    assert "otlp.protocol must be grpc or http/protobuf" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
