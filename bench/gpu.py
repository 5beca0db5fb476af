"""`python -m bench gpu`: the wgpu profiler's cost per kernel, and the demo's figures per adapter (issue 13).

- Overhead: the same matmul dispatch submitted and waited for, plain (`off`: no timestamp writes,
  no query resolve, no span) and through `GpuProfiler.dispatch` (`on`: timestamp writes, resolve,
  read-back, clock mapping and a span into a real SDK provider with an in-memory exporter).  The
  two cases alternate kernel by kernel so load hits both alike; the figure is the ratio of the
  medians of the host's time per kernel (target ≤ 1.05).
- Demo: per adapter, the compute-heavy and the transfer-heavy matmul through the profiler: span
  count, GPU compute and transfer time, correctness.

Adapters: every one wgpu lists that has `timestamp-query` (`--adapter SUBSTRING` picks some);
llvmpipe (OpenGL) and, with mesa-vulkan-drivers, lavapipe (Vulkan) on a machine without a GPU.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import numpy as np

from bench.common import base_parser, machine, machine_line, markdown_table, median, report, target_row, targets_table

_KEPT: list[Any] = []


def _adapters(wanted: str | None) -> list[Any]:
    import wgpu

    out = []
    for adapter in wgpu.gpu.enumerate_adapters_sync():
        info = adapter.info
        if "timestamp-query" not in adapter.features:
            continue
        name = f"{info.get('device')} {info.get('backend_type')}"
        if wanted and wanted.lower() not in name.lower():
            continue
        out.append(adapter)
    return out


def _plain_dispatch(device: Any, pipeline: Any, group: Any, groups: int, fence: Any) -> None:
    encoder = device.create_command_encoder()
    compute = encoder.begin_compute_pass()
    compute.set_pipeline(pipeline)
    compute.set_bind_group(0, group)
    compute.dispatch_workgroups(groups, groups, 1)
    compute.end()
    device.queue.submit([encoder.finish()])
    device.queue.read_buffer(fence)  # waits for the kernel, as the profiler's read-back does


def _overhead(adapter: Any, device: Any, size: int, kernels: int) -> dict[str, Any]:
    import wgpu
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from renacer_tui.gpu.matmul import SHADER, WORKGROUP
    from renacer_tui.gpu.profiler import GpuProfiler

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    gpu = GpuProfiler(device, adapter, tracer_provider=provider)
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    storage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST
    buffers = [device.create_buffer_with_data(data=a, usage=storage) for _ in range(2)]
    out = device.create_buffer(size=a.nbytes, usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC)
    dims = device.create_buffer_with_data(data=np.array([size, 0, 0, 0], dtype=np.uint32), usage=wgpu.BufferUsage.UNIFORM)
    fence = device.create_buffer(size=4, usage=wgpu.BufferUsage.COPY_SRC)
    pipeline = device.create_compute_pipeline(layout="auto", compute={"module": device.create_shader_module(code=SHADER),
                                                                       "entry_point": "main"})
    group = device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
        {"binding": 0, "resource": {"buffer": buffers[0]}}, {"binding": 1, "resource": {"buffer": buffers[1]}},
        {"binding": 2, "resource": {"buffer": out}}, {"binding": 3, "resource": {"buffer": dims}}])
    groups = (size + WORKGROUP - 1) // WORKGROUP
    for _ in range(3):  # warm both paths (pipeline caches, first mapping)
        _plain_dispatch(device, pipeline, group, groups, fence)
        gpu.dispatch("warm", pipeline, [group], (groups, groups, 1))
    off: list[float] = []
    on: list[float] = []
    for k in range(2 * kernels):
        profiled = (k % 2 == 0) == ((k // 2) % 2 == 0)  # on, off, off, on, on, off, …: neither always first
        t0 = time.perf_counter_ns()
        if profiled:
            gpu.dispatch("matmul", pipeline, [group], (groups, groups, 1))
        else:
            _plain_dispatch(device, pipeline, group, groups, fence)
        (on if profiled else off).append((time.perf_counter_ns() - t0) / 1e6)
    kernel_ms = [m.gpu_ns / 1e6 for m in gpu.measurements if m.label == "matmul"]
    return {"off_ms": off, "on_ms": on, "kernel_gpu_ms": kernel_ms, "spans": len(exporter.get_finished_spans()),
            "clock": gpu.clock.source}


def _demo(adapter: Any, device: Any, size: int, batch_mib: int) -> dict[str, Any]:
    from renacer_tui.gpu.matmul import TRANSFER_HEAVY_SIZE, run_matmul
    from renacer_tui.gpu.profiler import GpuProfiler
    out = {}
    with GpuProfiler(device, adapter) as gpu:
        for variant, n, batch in (("compute-heavy", size, 1),
                                  ("transfer-heavy", TRANSFER_HEAVY_SIZE, batch_mib * 2**20 // (TRANSFER_HEAVY_SIZE**2 * 4))):
            result = run_matmul(gpu, n, batch)
            out[variant] = {"size": n, "batch": batch, "correct": result.correct, "spans": result.spans,
                            "compute_ms": result.compute_ns / 1e6, "transfer_ms": result.transfer_ns / 1e6,
                            "transfer_mib": result.transfer_bytes / 2**20}
    return out


def main(argv: list[str]) -> int:
    parser = base_parser("gpu", __doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="matmul size N of the overhead and compute cases (256)")
    parser.add_argument("--kernels", type=int, default=None, help="kernels per case (30; 4 with --quick)")
    parser.add_argument("--batch-mib", type=int, default=128, help="transfer-heavy demo: MiB per input (128)")
    parser.add_argument("--adapter", default=None, help="only adapters whose name or backend contains this")
    args = parser.parse_args(argv)
    from renacer_tui.gpu.profiler import timestamp_features

    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="renacer-xdg-"))
    size = 32 if args.quick else args.size
    kernels = args.kernels or (4 if args.quick else 30)
    batch_mib = 4 if args.quick else args.batch_mib
    adapters = _adapters(args.adapter)
    if not adapters:
        print("bench gpu: no wgpu adapter with timestamp-query here", flush=True)
        return 1
    info = machine()
    rows, demo_rows, targets, results = [], [], [], []
    for adapter in adapters:
        name = f"{adapter.info.get('device')} ({adapter.info.get('backend_type')})"
        # one device per adapter, kept to the end: wgpu 0.32 can abort when a dropped device is polled
        device = adapter.request_device_sync(required_features=timestamp_features(adapter))
        _KEPT.append(device)
        overhead = _overhead(adapter, device, size, kernels)
        demo = _demo(adapter, device, size, batch_mib)
        ratio = median(overhead["on_ms"]) / median(overhead["off_ms"])
        fastest = min(overhead["on_ms"]) / min(overhead["off_ms"])
        results.append({"adapter": name, "overhead": overhead, "demo": demo, "ratio": ratio, "fastest_ratio": fastest})
        rows.append([name, f"{size}×{size}", kernels, median(overhead["kernel_gpu_ms"]), median(overhead["off_ms"]),
                     median(overhead["on_ms"]), f"{ratio:.3f} ×", f"{fastest:.3f} ×", overhead["clock"]])
        for variant, figures in demo.items():
            demo_rows.append([name, variant, f"{figures['size']}×{figures['size']}", figures["spans"], figures["compute_ms"],
                              figures["transfer_ms"], f"{figures['transfer_mib']:.1f}", "yes" if figures["correct"] else "NO"])
        targets.append(target_row(f"{name}: host time per kernel, profiled / plain", ratio, 1.05, "×"))
    markdown = "\n\n".join([
        machine_line(info),
        markdown_table(["adapter", "matmul", "kernels/case", "kernel GPU ms", "plain ms/kernel", "profiled ms/kernel",
                        "profiled / plain", "fastest: profiled / plain", "clock"], rows),
        markdown_table(["adapter", "demo", "size", "gpu spans", "compute ms", "transfer ms", "MiB moved", "correct"], demo_rows),
        targets_table(targets),
    ])
    return report("gpu", {"machine": info, "adapters": results, "targets": targets}, markdown, args.out)
