"""The analyses on real GPU numbers: the traced matmul demo's syscalls plus its profiler's spans.

The demo runs under the real tracer; its `gpu:` spans leave the program over OTLP (the SDK's
HTTP exporter) to a loopback receiver and are joined with the stored syscall spans of the same
trace, as the run's own receiver does.  The PCIe detector must fire on the transfer-heavy run
and stay quiet on the compute-heavy one, and the critical path must reach the kernel.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from gpu_helpers import require_adapter
from otlp_receiver import HttpReceiver, ReceivedSpan, wait_for
from synthetic import MS, span
from test_cli_run import trace_id_of
from test_critical_path import assert_well_formed

from renacer_tui.analysis.antipatterns import Thresholds, detect
from renacer_tui.analysis.critical_path import _gpu_handoffs, critical_path
from renacer_tui.analysis.graph import build_graph
from renacer_tui.check.metrics import TraceMetrics
from renacer_tui.model.attributes import ATTR_GPU_KIND
from renacer_tui.model.schema import SPAN_SCHEMA, batch_from_rows
from renacer_tui.store.store import Store

pytestmark = pytest.mark.timeout(300)


def _row(span: ReceivedSpan) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id, "span_id": span.span_id, "parent_span_id": span.parent_span_id,
        "start_time_nanos": span.start_time_nanos, "end_time_nanos": span.end_time_nanos, "span_name": span.name,
        "attributes": span.attributes, "process_pid": span.resource.get("process.pid"), "rle_count": 1,
    }


def gpu_figures(table: pa.Table) -> dict[str, float]:
    """The trace assertions' gpu.* metrics of the trace (`renacer-tui check` reads the same)."""
    metrics = TraceMetrics(table, table.column("trace_id")[0].as_py())
    return {what: metrics.value(("gpu", what)) for what in ("count", "compute_time_ms", "transfer_time_ms")}


def traced_demo(db_path: Path, *demo_args: str) -> tuple[pa.Table, list[ReceivedSpan], str]:
    """Trace the demo; (stored spans + received spans of its trace, the received spans, stdout)."""
    receiver = HttpReceiver()
    try:
        env = dict(os.environ, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.endpoint,
                   OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_BSP_SCHEDULE_DELAY="100")
        result = subprocess.run(
            [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-rle", "--", sys.executable, "-m", "renacer_tui.gpu.matmul",
             *demo_args],
            capture_output=True, text=True, env=env, timeout=240, stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        trace_id = trace_id_of(result)
        received = [s for s in wait_for(receiver, 5) if s.trace_id == trace_id]
    finally:
        receiver.stop()
    with Store.open(db_path) as store:
        stored = store.trace_spans(trace_id)
    table = pa.concat_tables([stored.cast(SPAN_SCHEMA), pa.Table.from_batches([batch_from_rows(map(_row, received))])])
    return table, received, result.stdout


def test_compute_heavy_run_has_no_pcie_finding_and_the_path_reaches_the_kernel(db_path: Path) -> None:
    require_adapter()
    table, received, stdout = traced_demo(db_path, "--size", "192")
    assert ": correct" in stdout
    gpu = [s for s in received if s.name.startswith("gpu:")]
    assert {s.attributes[ATTR_GPU_KIND] for s in gpu} == {"compute", "transfer"}
    cg = build_graph(table)
    metrics = gpu_figures(table)
    assert metrics["count"] == len(gpu) == 4 and metrics["compute_time_ms"] > metrics["transfer_time_ms"] > 0
    assert "pcie-bottleneck" not in {f.kind for f in detect(cg, Thresholds())}
    # The host waited for the kernel: some call of the program was running when it ended, and
    # the critical path may cross from that call into gpu:matmul.  (Whether the walk takes that
    # crossing depends on llvmpipe's idle worker threads, whose long futex waits can end later
    # and cover the kernel; the known-answer test below pins the walk itself.)
    matmul = next(i for i in range(cg.n) if cg.cols.name(i) == "gpu:matmul")
    src, dst = _gpu_handoffs(cg.cols, cg.cols.start, cg.cols.end)
    waiting = dst[src == matmul]
    assert len(waiting) > 0 and all(cg.cols.name(int(i)).startswith("syscall:") for i in waiting)
    assert set(cg.cols.pid[waiting].tolist()) == {cg.cols.pid[matmul]}
    assert_well_formed(critical_path(cg))


def test_critical_path_crosses_from_the_waiting_call_to_the_kernel() -> None:
    """run ⊃ process ⊃ app span ⊃ {openat, read, gpu:upload, futex ⊃⊃ gpu:matmul}: known answer."""
    rows = [
        span(1, None, 0, 100, "renacer:run python", pid=1, clock=0),
        span(2, 1, 0, 100, "process:python", pid=100),
        span(3, 2, 5, 95, "demo:matmul", pid=100, tid=0, clock=100),
        span(4, 2, 10, 12, "syscall:openat", pid=100, syscall__pathname="inputs.npz"),
        span(5, 2, 13, 20, "syscall:read", pid=100),
        span(6, 3, 22, 25, "gpu:upload a", pid=100, tid=0, clock=101, gpu__transfer_time_nanos=3 * MS),
        span(7, 2, 26, 90, "syscall:futex", pid=100),  # the host waits for the kernel
        span(8, 3, 30, 85, "gpu:matmul", pid=100, tid=0, clock=102, gpu__compute_time_nanos=55 * MS),
    ]
    cp = critical_path(build_graph(pa.Table.from_batches([batch_from_rows(rows)])))
    assert_well_formed(cp)
    path = [(int(cp.cg.cols.id_of(int(i)), 16), int(s) // MS, int(e) // MS) for i, s, e in zip(cp.node, cp.start, cp.end)]
    assert (8, 30, 85) in path and (7, 85, 90) in path  # the kernel, then the wait's tail after it
    order = [n for n, _s, _e in path]
    assert order.index(4) < order.index(5) < order.index(8)  # openat → read → … → gpu:matmul


def test_transfer_heavy_run_is_a_pcie_bottleneck(db_path: Path) -> None:
    require_adapter()
    table, received, stdout = traced_demo(db_path, "--transfer-heavy")
    assert ": correct" in stdout
    cg = build_graph(table)
    metrics = gpu_figures(table)
    assert metrics["transfer_time_ms"] > 5 * metrics["compute_time_ms"] > 0
    findings = [f for f in detect(cg, Thresholds()) if f.kind == "pcie-bottleneck"]
    assert len(findings) == 1 and findings[0].severity in ("medium", "high")
    transfer_ids = {s.span_id for s in received if s.attributes.get(ATTR_GPU_KIND) == "transfer"}
    assert set(findings[0].span_ids) == transfer_ids and "MiB" in findings[0].title
