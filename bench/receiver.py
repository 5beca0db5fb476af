"""`python -m bench receiver`: `serve` ingest rate and sender latency, and what the run's receiver costs (issue 12).

- Sustained ingest into `renacer-tui serve --workers N` (HTTP/protobuf, the store behind it): sender
  processes post pre-built requests of `--spans-per-request` spans over kept-alive connections
  for `--seconds`; spans stored per second of sending (every sent span must be stored), and
  the p50/p95 latency of one export as a sender sees it.
- The run's loopback receiver when the program sends nothing: `dd bs=1` traced with every
  default sink (store, text output) with the receiver against `--no-receiver`, interleaved.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    base_parser,
    machine,
    machine_line,
    markdown_table,
    median,
    percentile,
    python_env,
    ratio,
    report,
    target_row,
    targets_table,
)

_LISTENING = re.compile(r"listening: grpc (\S+), http (http://\S+);")
_STORED = re.compile(r"stored (\d+) spans")


def request_body(spans: int) -> bytes:
    """An OTLP/protobuf export of `spans` spans like an instrumented service's (ids, times, 3 attributes)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    for key, value in (("service.name", "bench"), ("service.version", "1.0")):
        kv = resource_spans.resource.attributes.add()
        kv.key, kv.value.string_value = key, value
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "bench"
    trace_id = os.urandom(16)
    start = time.time_ns()
    for i in range(spans):
        span = scope_spans.spans.add()
        span.trace_id, span.span_id, span.parent_span_id = trace_id, os.urandom(8), os.urandom(8)
        span.name, span.kind = "GET /items", 2
        span.start_time_unix_nano, span.end_time_unix_nano = start + i * 1000, start + i * 1000 + 750
        for key, value in (("http.route", "/items"), ("http.method", "GET")):
            kv = span.attributes.add()
            kv.key, kv.value.string_value = key, value
        kv = span.attributes.add()
        kv.key, kv.value.int_value = "http.status_code", 200
    return request.SerializeToString()


def send(url: str, seconds: float, spans: int) -> dict[str, Any]:
    """Child mode: post for `seconds` over one kept-alive connection; spans sent and latencies."""
    body = request_body(spans)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Content-Type": "application/x-protobuf"}
    latencies: list[float] = []
    sent = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        t = time.perf_counter()
        connection.request("POST", "/v1/traces", body, headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"serve answered {response.status}")
        latencies.append(time.perf_counter() - t)
        sent += spans
    return {"sent": sent, "seconds": time.perf_counter() - t0, "latencies": latencies}


def serve_ingest(seconds: float, senders: int, spans: int, workers: int = 1) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="renacer-bench-receiver-") as tmp:
        env = python_env()
        serve = subprocess.Popen(
            [sys.executable, "-m", "renacer_tui", "serve", "--grpc-port", "0", "--http-port", "0", "--no-tui",
             "--db", str(Path(tmp) / "db"), "--workers", str(workers)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )
        assert serve.stderr is not None
        match = _LISTENING.search(serve.stderr.readline())
        if match is None:
            serve.kill()
            raise SystemExit("serve did not start")
        children = [
            subprocess.Popen([sys.executable, "-m", "bench", "receiver", "--send", match.group(2), "--seconds",
                              str(seconds), "--spans-per-request", str(spans)],
                             stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(senders)
        ]
        results = [json.loads(child.communicate()[0]) for child in children]
        serve.send_signal(signal.SIGINT)
        tail = serve.communicate(timeout=300)[1]
    stored = int(_STORED.findall(tail)[-1]) if _STORED.findall(tail) else 0
    sent = sum(r["sent"] for r in results)
    wall = max(r["seconds"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    return {"senders": senders, "workers": workers, "spans_per_request": spans, "sent": sent, "stored": stored, "seconds": wall,
            "spans_per_s": sent / wall if wall else float("nan"), "requests": len(latencies),
            "latency_p50_ms": percentile(latencies, 50) * 1000, "latency_p95_ms": percentile(latencies, 95) * 1000}


def _timed_run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s of the tracer and the processes it reaped) of one traced run.

    CPU time is what the receiver could add; wall time also carries whatever else the machine
    is doing (on a shared machine, far more than 2 %).
    """
    t = time.perf_counter()
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, _, usage = os.wait4(child.pid, 0)
    child.returncode = 0  # reaped here: Popen must not wait for it again
    return time.perf_counter() - t, usage.ru_utime + usage.ru_stime


def receiver_overhead(reps: int, dd_count: int) -> dict[str, Any]:
    workload = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={dd_count}"]
    cases = (("receiver", []), ("no_receiver", ["--no-receiver"]))
    wall: dict[str, list[float]] = {"receiver": [], "no_receiver": []}
    cpu: dict[str, list[float]] = {"receiver": [], "no_receiver": []}
    with tempfile.TemporaryDirectory(prefix="renacer-bench-receiver-") as tmp:
        env = {**python_env(), "RENACER_DB": str(Path(tmp) / "db")}
        for rep in range(reps + 1):  # the first round warms both up and is not counted
            for case, extra in cases:
                seconds, used = _timed_run([sys.executable, "-m", "renacer_tui", "--no-tui", "-o", os.devnull, *extra,
                                            "--", *workload], env)
                if rep:
                    wall[case].append(seconds)
                    cpu[case].append(used)
    return {"dd_count": dd_count, "reps": reps,
            "receiver_s": median(wall["receiver"]), "no_receiver_s": median(wall["no_receiver"]),
            "ratio": ratio(median(wall["receiver"]), median(wall["no_receiver"])),
            "ratio_of_min": ratio(min(wall["receiver"]), min(wall["no_receiver"])),
            "receiver_cpu_s": median(cpu["receiver"]), "no_receiver_cpu_s": median(cpu["no_receiver"]),
            "cpu_ratio": ratio(median(cpu["receiver"]), median(cpu["no_receiver"]))}


def render(result: dict[str, Any], info: dict[str, Any], command: str) -> str:
    ingest, overhead = result["ingest"], result["overhead"]
    return "\n\n".join([
        f"`{command}` — {machine_line(info)}",
        targets_table(result["targets"]),
        markdown_table(["senders", "serve workers", "spans/request", "requests", "sent", "stored", "spans/s", "p50 ms",
                        "p95 ms"],
                       [[ingest["senders"], ingest["workers"], ingest["spans_per_request"], ingest["requests"], ingest["sent"],
                         ingest["stored"], ingest["spans_per_s"], ingest["latency_p50_ms"], ingest["latency_p95_ms"]]]),
        markdown_table(["workload", "with receiver s", "--no-receiver s", "ratio (medians)", "ratio (fastest)",
                        "CPU with s", "CPU without s", "CPU ratio"],
                       [[f"dd bs=1 count={overhead['dd_count']}", overhead["receiver_s"], overhead["no_receiver_s"],
                         overhead["ratio"], overhead["ratio_of_min"], overhead["receiver_cpu_s"],
                         overhead["no_receiver_cpu_s"], overhead["cpu_ratio"]]]),
    ])


def main(argv: list[str]) -> int:
    parser = base_parser("receiver", __doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="sending time per sender")
    parser.add_argument("--senders", type=int, default=4, help="sender processes")
    parser.add_argument("--spans-per-request", type=int, default=2048, help="spans in one export (the SDK batches 512)")
    parser.add_argument("--dd-count", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="serve --workers (default: half the CPUs; the senders need the rest)")
    parser.add_argument("--send", default=None, help=__import__("argparse").SUPPRESS)  # child mode
    args = parser.parse_args(argv)
    if args.send is not None:
        print(json.dumps(send(args.send, args.seconds, args.spans_per_request)))
        return 0
    seconds, senders, spans, dd_count, reps = args.seconds, args.senders, args.spans_per_request, args.dd_count, args.reps or 7
    if args.quick:
        seconds, senders, spans, dd_count, reps = 1.0, 1, 256, 200, 1
    info = machine()
    result: dict[str, Any] = {"ingest": serve_ingest(seconds, senders, spans, args.workers),
                              "overhead": receiver_overhead(reps, dd_count)}
    ingest, overhead = result["ingest"], result["overhead"]
    result["targets"] = [
        target_row("serve ingest, sustained into the store", ingest["spans_per_s"], 100_000, "spans/s", higher_is_better=True),
        target_row("every span sent was stored", ingest["stored"] / ingest["sent"] if ingest["sent"] else 0.0, 1.0, "×",
                   higher_is_better=True),
        target_row("run with receiver / without, program sends nothing (wall, medians)", overhead["ratio"], 1.02, "×"),
        target_row("run with receiver / without, program sends nothing (CPU, medians)", overhead["cpu_ratio"], 1.02, "×"),
    ]
    info["load_after"] = machine()["load"]
    command = "python -m bench receiver" + ("" if not argv else " " + " ".join(argv))
    return report("receiver", {"machine": info, **result}, render(result, info, command), args.out)
