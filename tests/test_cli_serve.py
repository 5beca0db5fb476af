"""`renacer-tui serve`: the real daemon receiving from real `renacer-tui --otlp-endpoint` runs."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from renacer_tui.store import Store
from tests.test_cli_run import assert_no_traceback, trace_id_of

LISTENING = re.compile(r"listening: grpc (http://\S+), http (http://\S+);")
ROWS = re.compile(r"(\d+) spans \((\d+) rows\)")


class Served:
    """A `serve` child and its stderr lines (read by a thread, so the pipe never fills)."""

    def __init__(self, db: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "renacer_tui", "serve", "--grpc-port", "0", "--http-port", "0", "--db", str(db),
             "--no-tui", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.grpc, self.http = self._endpoints()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def _endpoints(self) -> tuple[str, str]:
        while True:
            try:
                line = self.lines.get(timeout=60)
            except queue.Empty:
                raise AssertionError(f"serve did not start: {''.join(self.stderr)}") from None
            match = LISTENING.search(line)
            if match:
                return match.group(1), match.group(2)

    def stop(self, signum: int = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=120)

    def text(self) -> str:
        return "".join(self.stderr)


@pytest.fixture()
def serve_db(tmp_path: Path) -> Path:
    return tmp_path / "served"


@pytest.fixture()
def served(serve_db: Path, db_path: Path) -> Iterator[Served]:
    daemon = Served(serve_db)
    try:
        yield daemon
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


def _run(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-o", "/dev/null", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_concurrent_runs_land_in_one_store(served: Served, serve_db: Path) -> None:
    first = _run("--otlp-endpoint", served.grpc, "--", "sh", "-c", "for i in 1 2 3; do ls / >/dev/null; done")
    second = _run("--otlp-endpoint", served.http, "--otlp-protocol", "http/protobuf", "--",
                  "sh", "-c", "cat /etc/hostname >/dev/null; echo done")
    runs = []
    for child in (first, second):
        _, err = child.communicate(timeout=180)
        result = subprocess.CompletedProcess(child.args, child.returncode, "", err)
        assert result.returncode == 0, err
        assert_no_traceback(result)
        represented, rows = map(int, ROWS.search(err).groups())
        runs.append((trace_id_of(result), represented, rows))
    assert runs[0][0] != runs[1][0]
    assert served.stop() == 0, served.text()
    assert "Traceback" not in served.text()
    assert re.search(r"stored \d+ spans of 2 traces", served.text()), served.text()

    with Store.open(serve_db) as store:
        for trace_id, represented, rows in runs:
            table = store.trace_spans(trace_id)
            assert table.num_rows == rows  # every row the run exported is stored
            assert sum(table.column("rle_count").to_pylist()) == represented  # RLE counts came back
            names = table.column("span_name").to_pylist()
            assert sum(name.startswith("renacer:run") for name in names) == 1
            assert any(name == "syscall:execve" for name in names)
        listed = {row["trace_id"] for row in store.list_traces().to_pylist()}
    assert {trace_id for trace_id, _, _ in runs} <= listed


def test_sigterm_flushes_and_exits_0(served: Served, serve_db: Path, tmp_path: Path) -> None:
    code = ("from renacer_tui.golden import span\n"
            "for i in range(50):\n    with span('step', i=i) as s:\n        s.event('decision:go', i=i)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEPARENT"))}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = served.http
    tool = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert tool.returncode == 0, tool.stderr
    assert served.stop(signal.SIGTERM) == 0, served.text()
    with Store.open(serve_db) as store:
        rows = store.query("SELECT trace_id, events FROM spans WHERE span_name = 'step'").to_pylist()
    assert len(rows) == 50 and len({row["trace_id"] for row in rows}) == 50  # each a root of its own trace
    assert all([event["name"] for event in row["events"]] == ["decision:go"] for row in rows)


def _post(url: str, headers: dict[str, str]) -> int:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = urllib.request.Request(url + "/v1/traces", data=ExportTraceServiceRequest().SerializeToString(),
                                     headers={"Content-Type": "application/x-protobuf", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("from_env", [False, True])
def test_a_token_guards_every_request(serve_db: Path, db_path: Path, from_env: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RENACER_TOKEN"}
    if from_env:
        env["RENACER_TOKEN"] = "hunter2"
    daemon = Served(serve_db, *([] if from_env else ["--token", "hunter2"]), env=env)
    try:
        assert "token required" in daemon.text()
        assert _post(daemon.http, {}) == 401
        assert _post(daemon.http, {"Authorization": "Bearer wrong"}) == 401
        assert _post(daemon.http, {"Authorization": "Bearer hunter2"}) == 200
        assert daemon.stop() == 0
        assert "2 rejected (2 unauthorized)" in daemon.text()
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()


def test_usage_mistakes_are_one_line(serve_db: Path, db_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RENACER_TOKEN"}
    for args, words in ((["--listen", "0.0.0.0"], "needs a bearer token"), (["--listen", "nowhere"], "IP address"),
                        (["--no-grpc", "--no-http"], "nothing to listen on"), (["--grpc-port", "70000"], "0..65535")):
        result = subprocess.run([sys.executable, "-m", "renacer_tui", "serve", "--db", str(serve_db), *args],
                                capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and words in lines[0], result.stderr


@pytest.mark.parametrize("which", ["http", "grpc"])
def test_a_port_in_use_is_one_line(served: Served, serve_db: Path, which: str) -> None:
    """A second daemon on a taken port is refused (gRPC too: it must not share the port and
    silently take half the traffic)."""
    taken = (served.http if which == "http" else served.grpc).rsplit(":", 1)[1]
    ports = ["--http-port", taken, "--grpc-port", "0"] if which == "http" else ["--grpc-port", taken, "--http-port", "0"]
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "serve", "--db", str(serve_db), "--no-tui", *ports],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "cannot listen" in lines[0], result.stderr


def test_workers_share_the_ports(serve_db: Path, db_path: Path) -> None:
    """`--workers 3`: several runs and tools at once, every span stored once, one summary."""
    daemon = Served(serve_db, "--workers", "3")
    try:
        runs = [_run("--otlp-endpoint", daemon.grpc, "--", "sh", "-c", "ls / >/dev/null")
                for _ in range(2)]
        runs.append(_run("--otlp-endpoint", daemon.http, "--otlp-protocol", "http/protobuf", "--", "true"))
        expected = {}
        for child in runs:
            _, err = child.communicate(timeout=180)
            assert child.returncode == 0, err
            expected[trace_id_of(subprocess.CompletedProcess(child.args, 0, "", err))] = int(ROWS.search(err).group(2))
        assert daemon.stop(signal.SIGTERM) == 0, daemon.text()
        assert "3 workers" in daemon.text()
        assert f"stored {sum(expected.values())} spans" in daemon.text(), daemon.text()
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
    with Store.open(serve_db) as store:
        for trace_id, rows in expected.items():
            assert store.trace_spans(trace_id).num_rows == rows


HOSTILE = "evil\x1b[31m[bold red]x[/]"
HOSTILE_SHOWN = "evil\\x1b[31m[bold red]x[/]"


@pytest.mark.asyncio
async def test_the_live_serve_screen(db_path: Path) -> None:
    """Traces appear as spans arrive; traced text is shown literally; q quits and the daemon flushes."""
    import asyncio

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from textual.widgets import DataTable, RichLog
    from tui_helpers import screen_text
    from tui_helpers import wait_until as until

    from renacer_tui.app import RenacerApp
    from renacer_tui.receiver.daemon import DaemonOptions, ServeDaemon
    from renacer_tui.screens.serve import ServeScreen
    from renacer_tui.serve_model import ServeModel

    store = Store.open(db_path)
    model = ServeModel()
    daemon = ServeDaemon(store, DaemonOptions(grpc_port=0, http_port=0), "serve", on_batch=model.absorb)

    def send() -> None:
        provider = TracerProvider(resource=Resource({"service.name": "svc-" + HOSTILE}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=daemon.http_endpoint + "/v1/traces")))
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("outer"):
            with tracer.start_as_current_span(HOSTILE):
                pass
        with tracer.start_as_current_span("another-trace"):
            pass
        provider.shutdown()

    app = RenacerApp(store=store)
    app.start_serve(model, f"http {daemon.http_endpoint}", daemon.stats)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, ServeScreen)
            await asyncio.to_thread(send)
            table = screen.query_one("#serve-traces", DataTable)
            await until(pilot, lambda: table.row_count == 2)
            await until(pilot, lambda: len(screen.query_one("#serve-spans", RichLog).lines) == 3)
            text = screen_text(app)
            assert HOSTILE_SHOWN in text and "\x1b[31m" not in text
            assert "3 spans of 2 traces from 3 requests" in text
            await pilot.press("q")
    finally:
        final = daemon.close()
        store.close()
    assert final.spans == 3
    with Store.open(db_path) as reopened:
        assert reopened.query("SELECT count(*) AS n FROM spans").to_pylist() == [{"n": 3}]
