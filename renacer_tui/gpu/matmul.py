"""The GPU demo: a WGSL matrix multiply checked against numpy, its GPU work profiled as spans.

`python -m renacer_tui.gpu.matmul [--size N] [--transfer-heavy]` is what `renacer-tui demo gpu`
traces.  The inputs go through a file first (written, then opened and read back) so the trace
shows the spec's chain `syscall:openat → syscall:read → gpu:upload … → gpu:matmul`.

The compute-heavy run moves 3·N²·4 bytes and multiplies N×N matrices.  `--transfer-heavy`
uploads a whole batch of matrices (`--batch-mib` each way), multiplies only the first pair of a
small size and reads the whole output batch back: the shape the PCIe detector exists for.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from renacer_tui.gpu.profiler import GpuProfiler

WORKGROUP = 16
SHADER = """
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: vec4<u32>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = dims.x;
    let row = gid.y;
    let col = gid.x;
    if (row >= n || col >= n) {
        return;
    }
    var acc = 0.0;
    for (var k = 0u; k < n; k = k + 1u) {
        acc = acc + a[row * n + k] * b[k * n + col];
    }
    c[row * n + col] = acc;
}
"""
DEFAULT_SIZE = 256
TRANSFER_HEAVY_SIZE = 16
DEFAULT_BATCH_MIB = 128


@dataclass
class MatmulResult:
    size: int
    correct: bool
    max_error: float
    compute_ns: int
    transfer_ns: int
    transfer_bytes: int
    spans: int


def _inputs_through_a_file(size: int, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs written to a file and read back (openat/read in the trace).

    Only the pair that is multiplied goes through the file; the rest of a batch repeats it in
    memory (what it holds does not matter, only that it is moved).
    """
    rng = np.random.default_rng(seed)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="renacer-gpu-") as folder:
        path = os.path.join(folder, "inputs.npz")
        np.savez(path, a=a, b=b)
        with open(path, "rb") as handle, np.load(handle) as loaded:
            a, b = loaded["a"], loaded["b"]
    if batch == 1:
        return a[None], b[None]
    return np.broadcast_to(a, (batch, size, size)).copy(), np.broadcast_to(b, (batch, size, size)).copy()


def run_matmul(gpu: "GpuProfiler", size: int = DEFAULT_SIZE, batch: int = 1, seed: int = 0) -> MatmulResult:
    """Multiply the first pair of `batch` random size×size matrices on `gpu` (a GpuProfiler)."""
    import wgpu

    from renacer_tui.model.kinds import GpuWorkKind

    first = len(gpu.measurements)
    a, b = _inputs_through_a_file(size, batch, seed)
    device = gpu.device
    storage = wgpu.BufferUsage.STORAGE
    buffer_a = gpu.buffer("upload a", a, storage)
    buffer_b = gpu.buffer("upload b", b, storage)
    buffer_c = device.create_buffer(label="c", size=a.nbytes, usage=storage | wgpu.BufferUsage.COPY_SRC)
    dims = device.create_buffer_with_data(data=np.array([size, 0, 0, 0], dtype=np.uint32), usage=wgpu.BufferUsage.UNIFORM)
    pipeline = device.create_compute_pipeline(
        layout="auto", compute={"module": device.create_shader_module(code=SHADER), "entry_point": "main"}
    )
    group = device.create_bind_group(
        layout=pipeline.get_bind_group_layout(0),
        entries=[
            {"binding": 0, "resource": {"buffer": buffer_a}},
            {"binding": 1, "resource": {"buffer": buffer_b}},
            {"binding": 2, "resource": {"buffer": buffer_c}},
            {"binding": 3, "resource": {"buffer": dims}},
        ],
    )
    groups = (size + WORKGROUP - 1) // WORKGROUP
    gpu.dispatch("matmul", pipeline, [group], (groups, groups, 1))
    out = np.frombuffer(gpu.download("read c", buffer_c), dtype=np.float32).reshape(batch, size, size)
    expected = a[0].astype(np.float64) @ b[0].astype(np.float64)
    error = float(np.max(np.abs(out[0] - expected) / np.maximum(1.0, np.abs(expected))))
    mine = gpu.measurements[first:]
    compute = [m for m in mine if m.kind is GpuWorkKind.COMPUTE]
    transfers = [m for m in mine if m.kind is GpuWorkKind.TRANSFER]
    return MatmulResult(
        size=size,
        correct=error < 1e-4,
        max_error=error,
        compute_ns=sum(m.gpu_ns for m in compute),
        transfer_ns=sum(m.gpu_ns for m in transfers),
        transfer_bytes=sum(int(m.nbytes or 0) for m in transfers),
        spans=len(mine),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="renacer-tui demo gpu", description="A WGSL matmul checked against numpy.")
    parser.add_argument("--size", type=int, default=None, help=f"matrix size N (default {DEFAULT_SIZE}; "
                        f"{TRANSFER_HEAVY_SIZE} with --transfer-heavy)")
    parser.add_argument("--transfer-heavy", action="store_true", help="large uploads and read-backs, small compute")
    parser.add_argument("--batch-mib", type=int, default=DEFAULT_BATCH_MIB,
                        help=f"with --transfer-heavy: MiB uploaded per input (default {DEFAULT_BATCH_MIB})")
    parser.add_argument("--no-timestamps", action="store_true", help="time on the host only")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    size = args.size if args.size is not None else (TRANSFER_HEAVY_SIZE if args.transfer_heavy else DEFAULT_SIZE)
    if not 1 <= size <= 4096:
        print(f"matmul: --size must be between 1 and 4096, not {size}", file=sys.stderr)
        return 2
    if args.batch_mib < 1:
        print("matmul: --batch-mib must be at least 1", file=sys.stderr)
        return 2
    batch = max(1, args.batch_mib * 2**20 // (size * size * 4)) if args.transfer_heavy else 1

    from renacer_tui.gpu import otel
    from renacer_tui.gpu.profiler import GpuProfiler, NoAdapterError

    otel.install_provider_from_environment(service_name="renacer-gpu-demo")
    variant = "transfer-heavy" if args.transfer_heavy else "compute-heavy"
    with otel.tracer().start_as_current_span(f"demo:matmul {variant}", context=otel.environment_context()):
        try:
            gpu = GpuProfiler.open(timestamps=not args.no_timestamps)
        except NoAdapterError as exc:
            print(f"matmul: {exc}", file=sys.stderr)
            return 3
        with gpu:
            result = run_matmul(gpu, size, batch)
    print(
        f"matmul {size}x{size} ({variant}, batch {batch}) on {gpu.adapter_name} ({gpu.backend}, "
        f"timing {'timestamps' if gpu.timestamps else 'host'}, clock {gpu.clock.source}): "
        f"{'correct' if result.correct else 'WRONG'} (max rel. error {result.max_error:.1e}); "
        f"compute {result.compute_ns / 1e6:.2f} ms, transfers {result.transfer_ns / 1e6:.2f} ms for "
        f"{result.transfer_bytes / 2**20:.1f} MiB; {gpu.spans_emitted} gpu spans"
    )
    return 0 if result.correct else 1


if __name__ == "__main__":
    sys.exit(main())
