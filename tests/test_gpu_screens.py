"""gpu: spans on screen: the span tree, the live pane's line and the critical path's target.

The GPU spans are the profiler's own, measured on the real adapter (SDK in-memory exporter),
stored beside a run and a process span in a real store, and shown by the real app.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from gpu_helpers import profiler, require_adapter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from synthetic import TRACE, sid
from test_tui_span_tree import labels, open_tree

from renacer_tui.analysis.critical_path import describe
from renacer_tui.analysis.graph import build_graph
from renacer_tui.app import RenacerApp
from renacer_tui.gpu_label import GPU_MARK, GPU_STYLE
from renacer_tui.live.model import span_line
from renacer_tui.model.schema import batch_from_rows
from renacer_tui.store import Store

pytestmark = pytest.mark.timeout(240)


def gpu_trace_rows() -> list[dict[str, Any]]:
    """run ⊃ process ⊃ the profiler's real spans of a 32×32 matmul (ids renumbered under the process)."""
    require_adapter()
    from renacer_tui.gpu.matmul import run_matmul

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with profiler(tracer_provider=provider) as gpu:
        assert run_matmul(gpu, size=32).correct
    spans = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)
    t0, t1 = spans[0].start_time - 1000, spans[-1].end_time + 1000
    rows = [
        {"trace_id": TRACE, "span_id": sid(1), "span_name": "renacer:run python", "start_time_nanos": t0,
         "end_time_nanos": t1, "process_pid": 7, "thread_id": 7, "process_name": "renacer", "logical_clock": 0, "attributes": {}},
        {"trace_id": TRACE, "span_id": sid(2), "parent_span_id": sid(1), "span_name": "process:python",
         "process_name": "python", "start_time_nanos": t0, "end_time_nanos": t1, "process_pid": 7, "thread_id": 7, "logical_clock": 1,
         "attributes": {}},
    ]
    for k, s in enumerate(spans):
        rows.append({"trace_id": TRACE, "span_id": sid(10 + k), "parent_span_id": sid(2), "span_name": s.name,
                     "start_time_nanos": s.start_time, "end_time_nanos": s.end_time, "process_pid": 7, "thread_id": 7, "process_name": "python",
                     "logical_clock": 10 + k, "attributes": dict(s.attributes)})
    return rows


def test_live_line_marks_gpu_work_and_says_what_it_did() -> None:
    rows = gpu_trace_rows()
    kernel = next(r for r in rows if r["span_name"] == "gpu:matmul")
    line = span_line(dict(kernel, attributes=batch_from_rows([kernel]).column("attributes")[0].as_py()), rows[0]["start_time_nanos"])
    assert GPU_MARK + "gpu:matmul" in line.plain and "compute 2×2×1 wg" in line.plain
    assert " / host " in line.plain and "gpu " in line.plain
    assert any(str(span.style) == GPU_STYLE for span in line.spans)
    upload = next(r for r in rows if r["span_name"] == "gpu:upload a")
    text = span_line(dict(upload, attributes=batch_from_rows([upload]).column("attributes")[0].as_py()), 0).plain
    assert "host→gpu 4.0 KiB" in text


def test_critical_path_target_of_a_gpu_step() -> None:
    cg = build_graph(pa.Table.from_batches([batch_from_rows(gpu_trace_rows())]))
    by_name = {cg.cols.name(i): i for i in range(cg.n)}
    assert describe(cg, by_name["gpu:matmul"]) == "compute 2×2×1 workgroups"
    assert describe(cg, by_name["gpu:read c"]) == "device_to_host 4,096 B"


@pytest.mark.asyncio
async def test_span_tree_shows_gpu_spans_with_their_marker(db_path: Path) -> None:
    rows = gpu_trace_rows()
    store = Store.open(db_path)
    store.begin_run("gpu-run", TRACE, "python matmul")
    sink = store.segment_sink("gpu-run")
    sink.write(batch_from_rows(rows))
    sink.close()
    store.end_run("gpu-run", 0)
    app = RenacerApp(store=store)
    app.start_trace(TRACE)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            _screen, tree = await open_tree(pilot, app)
            deadline = time.monotonic() + 20
            while not any("gpu:matmul" in label for label in labels(tree)):
                assert time.monotonic() < deadline, labels(tree)
                await pilot.pause(0.05)
            kernel = next(node for node in tree.nodes.values() if "gpu:matmul" in node.label.plain)
            assert kernel.label.plain.startswith(GPU_MARK + "gpu:matmul")
            assert "compute 2×2×1 wg" in kernel.label.plain and "/ host " in kernel.label.plain
            assert any(str(span.style) == GPU_STYLE for span in kernel.label.spans)
            process = next(node for node in tree.nodes.values() if node.label.plain.startswith("process:python"))
            assert GPU_MARK not in process.label.plain
    finally:
        store.close()
