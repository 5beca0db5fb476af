"""The wgpu profiler on a real adapter (llvmpipe/lavapipe here), spans into a real SDK provider."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gpu_helpers import profiler, require_adapter
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from renacer_tui.model.attributes import (
    ATTR_GPU_ADAPTER,
    ATTR_GPU_BACKEND,
    ATTR_GPU_BYTES,
    ATTR_GPU_COMPUTE_TIME,
    ATTR_GPU_DIRECTION,
    ATTR_GPU_DISPATCHES,
    ATTR_GPU_KIND,
    ATTR_GPU_TIME,
    ATTR_GPU_TIMING,
    ATTR_GPU_TRANSFER_TIME,
    ATTR_GPU_WORKGROUPS,
)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture()
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    require_adapter()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _open(provider: TracerProvider | None, **kwargs):
    return profiler(tracer_provider=provider, **kwargs)


def test_matmul_spans_kinds_times_and_result(spans) -> None:
    from renacer_tui.gpu.matmul import run_matmul

    provider, exporter = spans
    before = time.time_ns()
    with _open(provider) as gpu:
        result = run_matmul(gpu, size=64)
    after = time.time_ns()
    assert result.correct, result.max_error
    finished = exporter.get_finished_spans()
    by_name = {s.name: s for s in finished}
    assert sorted(by_name) == ["gpu:matmul", "gpu:read c", "gpu:upload a", "gpu:upload b"]
    kernel = by_name["gpu:matmul"].attributes
    assert kernel[ATTR_GPU_KIND] == "compute" and kernel[ATTR_GPU_TIMING] == "timestamp"
    assert kernel[ATTR_GPU_TIME] > 0 and kernel[ATTR_GPU_COMPUTE_TIME] == kernel[ATTR_GPU_TIME]
    assert tuple(kernel[ATTR_GPU_WORKGROUPS]) == (4, 4, 1) and kernel[ATTR_GPU_DISPATCHES] == 1
    assert kernel[ATTR_GPU_ADAPTER] == gpu.adapter_name and kernel[ATTR_GPU_BACKEND] == gpu.backend
    upload = by_name["gpu:upload a"].attributes
    assert upload[ATTR_GPU_KIND] == "transfer" and upload[ATTR_GPU_DIRECTION] == "host_to_device"
    assert upload[ATTR_GPU_BYTES] == 64 * 64 * 4 and upload[ATTR_GPU_TRANSFER_TIME] >= 0
    assert by_name["gpu:read c"].attributes[ATTR_GPU_DIRECTION] == "device_to_host"
    for s in finished:
        # GPU time is the span's duration, mapped onto the wall clock inside the run.
        assert s.end_time - s.start_time == s.attributes[ATTR_GPU_TIME]
        assert before - 50_000_000 <= s.start_time <= s.end_time <= after + 50_000_000
    order = [s.name for s in sorted(finished, key=lambda s: s.start_time)]
    assert order == ["gpu:upload a", "gpu:upload b", "gpu:matmul", "gpu:read c"]


def test_spans_parent_under_the_current_span(spans) -> None:
    provider, exporter = spans
    from renacer_tui.gpu.matmul import run_matmul

    with provider.get_tracer("test").start_as_current_span("app work") as parent:
        with _open(provider) as gpu:
            run_matmul(gpu, size=16)
    parent_id = parent.get_span_context().span_id
    gpu_spans = [s for s in exporter.get_finished_spans() if s.name.startswith("gpu:")]
    assert gpu_spans and all(s.parent is not None and s.parent.span_id == parent_id for s in gpu_spans)
    assert {s.context.trace_id for s in gpu_spans} == {parent.get_span_context().trace_id}


def test_spans_join_the_environment_traceparent(spans, monkeypatch: pytest.MonkeyPatch) -> None:
    provider, exporter = spans
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    monkeypatch.setenv("TRACEPARENT", f"00-{trace_id}-{span_id}-01")
    assert not trace.get_current_span().get_span_context().is_valid
    with _open(provider) as gpu:
        gpu.buffer("upload x", np.arange(1024, dtype=np.float32), 0x80)  # STORAGE
    (upload,) = exporter.get_finished_spans()
    assert f"{upload.context.trace_id:032x}" == trace_id and f"{upload.parent.span_id:016x}" == span_id


def test_host_timing_without_timestamps_and_the_threshold(spans) -> None:
    provider, exporter = spans
    from renacer_tui.gpu.matmul import run_matmul

    with _open(provider, timestamps=False) as gpu:
        assert not gpu.timestamps
        assert run_matmul(gpu, size=16).correct
    assert {s.attributes[ATTR_GPU_TIMING] for s in exporter.get_finished_spans()} == {"host"}
    exporter.clear()
    with _open(provider, threshold_ns=10**12) as gpu:  # 1000 s: nothing is that slow
        run_matmul(gpu, size=16)
    assert exporter.get_finished_spans() == () and gpu.below_threshold == 4 and len(gpu.measurements) == 4


def test_device_to_device_copy(spans) -> None:
    import wgpu

    provider, exporter = spans
    data = np.arange(4096, dtype=np.uint32)
    with _open(provider) as gpu:
        source = gpu.buffer("upload", data, wgpu.BufferUsage.COPY_SRC)
        target = gpu.device.create_buffer(size=data.nbytes, usage=wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC)
        gpu.copy("copy", source, target)
        back = np.frombuffer(gpu.download("read", target), dtype=np.uint32)
    assert np.array_equal(back, data)
    copy = next(s for s in exporter.get_finished_spans() if s.name == "gpu:copy")
    assert copy.attributes[ATTR_GPU_DIRECTION] == "device_to_device" and copy.attributes[ATTR_GPU_BYTES] == data.nbytes


def test_works_with_no_tracer_provider_at_all() -> None:
    """No SDK provider, no endpoint: the API's no-op tracer takes the spans, nothing fails."""
    require_adapter()
    from renacer_tui.gpu.matmul import run_matmul

    with _open(None) as gpu:
        assert run_matmul(gpu, size=16).correct
    assert gpu.spans_emitted == 4
