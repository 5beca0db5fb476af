"""A wgpu profiler: compute passes and transfers as `gpu:<label>` spans timed by the GPU itself.

    from renacer_tui.gpu.profiler import GpuProfiler

    with GpuProfiler.open() as gpu:
        a = gpu.buffer("upload a", matrix_a, wgpu.BufferUsage.STORAGE)
        gpu.dispatch("matmul", pipeline, [bind_group], (16, 16, 1))
        c = gpu.download("read c", out_buffer)

Each compute pass gets `timestampWrites` from the profiler's query set; uploads, copies and
read-backs are a buffer copy between two encoder timestamps (where the adapter has
`timestamp-query-inside-encoders`; else they are timed on the host and say so in
`gpu.timing`).  Results are resolved into a buffer and read back after the submit, mapped onto
the wall clock with one offset per profiler (`clock.py`), and become spans through the
OpenTelemetry API: under the program's current span, else under the environment's TRACEPARENT,
to whatever tracer provider the program has (none: the spans go nowhere and nothing fails).
The same machinery serves `hooks.py`, which profiles an unmodified program's device.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import wgpu
from opentelemetry import context as otel_context
from opentelemetry import trace
from wgpu.backends.wgpu_native.extras import write_timestamp

from renacer_tui.gpu import otel
from renacer_tui.gpu.clock import ClockMap, clock_map, wall_minus_monotonic
from renacer_tui.model.attributes import (
    ATTR_GPU_ADAPTER,
    ATTR_GPU_ADAPTER_TYPE,
    ATTR_GPU_BACKEND,
    ATTR_GPU_BYTES,
    ATTR_GPU_COMPUTE_TIME,
    ATTR_GPU_DIRECTION,
    ATTR_GPU_DISPATCHES,
    ATTR_GPU_HOST_TIME,
    ATTR_GPU_KIND,
    ATTR_GPU_TIME,
    ATTR_GPU_TIMING,
    ATTR_GPU_TRANSFER_TIME,
    ATTR_GPU_WORKGROUPS,
)
from renacer_tui.model.kinds import GPU_PREFIX, GpuWorkKind, TransferDirection

TIMESTAMP_QUERY = "timestamp-query"
TIMESTAMP_INSIDE_ENCODERS = "timestamp-query-inside-encoders"
_PAIRS = 128  # timestamp pairs in flight between two collects
_RESOLVE_STRIDE = 256  # resolve_query_set's destination offset must be a multiple of 256


class NoAdapterError(RuntimeError):
    """No wgpu adapter could be found (no GPU, no software rasteriser)."""


@dataclass
class Measurement:
    """One piece of GPU work, measured: what the span carries and the caller can read."""

    label: str
    kind: GpuWorkKind
    gpu_ns: int = 0
    host_ns: int = 0
    start_ns: int = 0  # wall clock, Unix epoch nanoseconds
    end_ns: int = 0
    timing: str = "host"
    nbytes: int | None = None
    direction: TransferDirection | None = None
    workgroups: list[int] = field(default_factory=lambda: [0, 0, 0])
    dispatches: int = 0
    pair: int | None = None  # the query pair, while pending
    parent: Any = None  # the OpenTelemetry context current when the work was recorded
    host_t0: int = 0  # monotonic, when recorded
    wall_t0: int = 0
    host_t1: int | None = None  # monotonic, when host-timed work ended


def timestamp_features(adapter: Any) -> list[str]:
    """The timestamp features `adapter` offers, in the order the profiler wants them."""
    return [f for f in (TIMESTAMP_QUERY, TIMESTAMP_INSIDE_ENCODERS) if f in adapter.features]


def request_adapter(power_preference: str = "high-performance") -> Any:
    """The adapter wgpu picks (WGPU_BACKEND_TYPE / WGPU_ADAPTER_NAME steer it), or NoAdapterError."""
    try:
        adapter = wgpu.gpu.request_adapter_sync(power_preference=power_preference)
    except RuntimeError as exc:
        raise NoAdapterError(f"no wgpu adapter: {exc}") from exc
    if adapter is None:
        raise NoAdapterError("no wgpu adapter")
    return adapter


class GpuProfiler:
    """Times the GPU work of one device and turns it into spans; see the module docstring."""

    def __init__(self, device: Any, adapter: Any = None, *, timestamps: bool = True, threshold_ns: int = 0,
                 tracer_provider: Any = None) -> None:
        """`tracer_provider`: where spans go; None means the global one at the time each span is made."""
        self.device = device
        self._provider = tracer_provider
        self.queue = device.queue
        info = (adapter if adapter is not None else device.adapter).info
        self.adapter_name = str(info.get("device") or info.get("description") or "?")
        self.backend = str(info.get("backend_type") or "?")
        self.adapter_type = str(info.get("adapter_type") or "?")
        features = set(device.features)
        self.timestamps = timestamps and TIMESTAMP_QUERY in features
        self.encoder_timestamps = self.timestamps and TIMESTAMP_INSIDE_ENCODERS in features
        self.threshold_ns = int(threshold_ns)
        self.measurements: list[Measurement] = []
        self.spans_emitted = 0
        self.below_threshold = 0
        self.unmeasured = 0  # passes recorded while every query pair was in use
        self._lock = threading.RLock()
        self._pending: list[Measurement] = []
        self._free = list(range(_PAIRS - 1, -1, -1))
        self._resolved: set[int] = set()
        if self.timestamps:
            self._query_set = device.create_query_set(label="renacer timestamps", type="timestamp", count=2 * _PAIRS)
            self._resolve = device.create_buffer(
                label="renacer timestamp resolve",
                size=_PAIRS * _RESOLVE_STRIDE,
                usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC,
            )
            self.clock = self._calibrate()
        else:
            self.clock = ClockMap(wall_minus_monotonic(), "host")

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, *, power_preference: str = "high-performance", timestamps: bool = True, threshold_ns: int = 0,
             tracer_provider: Any = None) -> "GpuProfiler":
        """A device with the adapter's timestamp features and a profiler over it."""
        adapter = request_adapter(power_preference)
        device = adapter.request_device_sync(required_features=timestamp_features(adapter) if timestamps else [])
        return cls(device, adapter, timestamps=timestamps, threshold_ns=threshold_ns, tracer_provider=tracer_provider)

    def __enter__(self) -> "GpuProfiler":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Collect whatever is still pending (its spans are made now)."""
        self.collect()

    # --- the explicit API -------------------------------------------------------------------------

    def buffer(self, label: str, data: Any, usage: int) -> Any:
        """A new buffer holding `data` (usage gains COPY_DST), the upload a transfer span."""
        nbytes = memoryview(data).nbytes
        buffer = self.device.create_buffer(label=label, size=_aligned(nbytes), usage=usage | wgpu.BufferUsage.COPY_DST)
        self.upload(label, buffer, data)
        return buffer

    def upload(self, label: str, buffer: Any, data: Any, offset: int = 0) -> None:
        """Host → device: a mapped staging buffer copied into `buffer` between two timestamps."""
        nbytes = memoryview(data).nbytes
        if not self.encoder_timestamps:
            with self.host_timed(label, GpuWorkKind.TRANSFER, nbytes, TransferDirection.HOST_TO_DEVICE):
                self.queue.write_buffer(buffer, offset, data)
                self.queue.submit([])
                self._wait()
            return
        staging = self.device.create_buffer(
            label=f"{label} staging", size=_aligned(nbytes), usage=wgpu.BufferUsage.MAP_WRITE | wgpu.BufferUsage.COPY_SRC,
            mapped_at_creation=True,
        )
        try:
            m = self._record(label, GpuWorkKind.TRANSFER, nbytes, TransferDirection.HOST_TO_DEVICE)
            staging.write_mapped(data)
            staging.unmap()
            self._timed_copy(m, staging, 0, buffer, offset, _aligned(nbytes))
        finally:
            staging.destroy()

    def download(self, label: str, buffer: Any, size: int | None = None, offset: int = 0) -> memoryview:
        """Device → host: `buffer` copied into a mappable buffer between two timestamps, then mapped."""
        nbytes = int(size if size is not None else buffer.size - offset)
        staging = self.device.create_buffer(
            label=f"{label} staging", size=_aligned(nbytes), usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST
        )
        try:
            m = self._record(label, GpuWorkKind.TRANSFER, nbytes, TransferDirection.DEVICE_TO_HOST, self.encoder_timestamps)
            self._timed_copy(m, buffer, offset, staging, 0, _aligned(nbytes), collect=False)
            staging.map_sync(wgpu.MapMode.READ)
            data = staging.read_mapped(0, nbytes)
            staging.unmap()
            m.host_t1 = time.monotonic_ns()
            self.collect()
            return memoryview(data).cast("B")
        finally:
            staging.destroy()

    def copy(self, label: str, source: Any, destination: Any, size: int | None = None, source_offset: int = 0,
             destination_offset: int = 0) -> None:
        """Device → device copy, timed."""
        nbytes = int(size if size is not None else source.size - source_offset)
        m = self._record(label, GpuWorkKind.TRANSFER, nbytes, TransferDirection.DEVICE_TO_DEVICE, self.encoder_timestamps)
        self._timed_copy(m, source, source_offset, destination, destination_offset, nbytes)

    def dispatch(self, label: str, pipeline: Any, bind_groups: Sequence[Any], workgroups: Sequence[int]) -> None:
        """One compute pass of one dispatch, submitted and waited for; a compute span."""
        x, y, z = (list(workgroups) + [1, 1])[:3]
        encoder = self.device.create_command_encoder(label=label)
        compute = self.compute_pass(encoder, label)
        compute.set_pipeline(pipeline)
        for index, group in enumerate(bind_groups):
            compute.set_bind_group(index, group)
        compute.dispatch_workgroups(x, y, z)
        self.note_dispatch(compute, (x, y, z))
        compute.end()
        resolved = self.finish(encoder)
        self.queue.submit([encoder.finish()])
        self.submitted(resolved)
        if not self.timestamps:
            self._wait()
            compute._renacer_measurement.host_t1 = time.monotonic_ns()
        self.collect()

    # --- the machinery (also used by hooks.py) ---------------------------------------------------

    def compute_pass(self, encoder: Any, label: str) -> Any:
        """`encoder.begin_compute_pass` with this profiler's timestamp writes; a pending measurement."""
        m = self._record(label, GpuWorkKind.COMPUTE)
        writes = None
        if m.pair is not None:
            writes = {"query_set": self._query_set, "beginning_of_pass_write_index": 2 * m.pair,
                      "end_of_pass_write_index": 2 * m.pair + 1}
        compute = encoder.begin_compute_pass(label=label, timestamp_writes=writes)
        compute._renacer_measurement = m
        _pending_of(encoder).append(m)
        return compute

    def note_dispatch(self, compute: Any, workgroups: Sequence[int]) -> None:
        """Add one dispatch's workgroup counts to the pass's measurement."""
        note_dispatch(compute, workgroups)

    def finish(self, encoder: Any) -> list[Measurement]:
        """Resolve the timestamp pairs `encoder` wrote; call before `encoder.finish()`.

        Returns the measurements to hand to `submitted` once the command buffer is submitted:
        until then the resolve buffer does not hold their timestamps.
        """
        out = []
        for m in getattr(encoder, "_renacer_pending", ()):
            if m.pair is None:  # every pair was in use: the host's time to the submit stands in
                m.host_t1 = time.monotonic_ns()
            else:
                encoder.resolve_query_set(self._query_set, 2 * m.pair, 2, self._resolve, m.pair * _RESOLVE_STRIDE)
                out.append(m)
        encoder._renacer_pending = []
        return out

    def submitted(self, measurements: Sequence[Measurement]) -> None:
        """The command buffers resolving `measurements` were submitted: they can be collected."""
        with self._lock:
            self._resolved.update(m.pair for m in measurements if m.pair is not None)

    def collect(self) -> list[Measurement]:
        """Read back every resolved pair, make the spans, free the pairs; the new measurements."""
        with self._lock:
            ready = [m for m in self._pending if m.pair in self._resolved or (m.pair is None and m.host_t1 is not None)]
            if not ready:
                return []
            stamps = None
            timed = [m.pair for m in ready if m.pair is not None]
            if timed:
                raw = self.queue.read_buffer(self._resolve, 0, (max(timed) + 1) * _RESOLVE_STRIDE)
                stamps = memoryview(raw).cast("Q")
            host_end = time.monotonic_ns()
            for m in ready:
                self._pending.remove(m)
                m.host_ns = (m.host_t1 or host_end) - m.host_t0
                if m.pair is not None and stamps is not None:
                    begin = int(stamps[m.pair * _RESOLVE_STRIDE // 8])
                    end = int(stamps[m.pair * _RESOLVE_STRIDE // 8 + 1])
                    self._resolved.discard(m.pair)
                    self._free.append(m.pair)
                    m.pair = None
                    m.timing = "timestamp"
                    m.gpu_ns = max(0, end - begin)
                    m.start_ns = self.clock.to_wall(begin)
                    m.end_ns = m.start_ns + m.gpu_ns
                else:
                    m.gpu_ns = m.host_ns
                    m.start_ns = m.wall_t0
                    m.end_ns = m.wall_t0 + m.host_ns
                self._emit(m)
            return ready

    @contextmanager
    def host_timed(self, label: str, kind: GpuWorkKind, nbytes: int | None = None,
                    direction: TransferDirection | None = None) -> Iterator[Measurement]:
        """Work the GPU cannot timestamp, timed by the host around the block."""
        m = self._record(label, kind, nbytes, direction, timed=False)
        yield m
        m.host_t1 = time.monotonic_ns()
        self.collect()

    def _record(self, label: str, kind: GpuWorkKind, nbytes: int | None = None,
                direction: TransferDirection | None = None, timed: bool = True) -> Measurement:
        current = otel_context.get_current()
        parent = current if trace.get_current_span(current).get_span_context().is_valid else otel.environment_context()
        m = Measurement(label, kind, nbytes=nbytes, direction=direction, parent=parent,
                        host_t0=time.monotonic_ns(), wall_t0=time.time_ns())
        with self._lock:
            if timed and self.timestamps:
                if self._free:
                    m.pair = self._free.pop()
                else:
                    self.unmeasured += 1
            self._pending.append(m)
        return m

    def _timed_copy(self, m: Measurement, source: Any, source_offset: int, destination: Any, destination_offset: int,
                    nbytes: int, collect: bool = True) -> None:
        encoder = self.device.create_command_encoder(label=m.label)
        if m.pair is not None:
            write_timestamp(encoder, self._query_set, 2 * m.pair)
        encoder.copy_buffer_to_buffer(source, source_offset, destination, destination_offset, nbytes)
        if m.pair is not None:
            write_timestamp(encoder, self._query_set, 2 * m.pair + 1)
            _pending_of(encoder).append(m)
        resolved = self.finish(encoder)
        self.queue.submit([encoder.finish()])
        self.submitted(resolved)
        if collect:
            if m.pair is None:
                self._wait()
                m.host_t1 = time.monotonic_ns()
            self.collect()

    def _wait(self) -> None:
        """Block until the queue's work is done: reading a 4-byte buffer back waits for it.

        (wgpu 0.32's `on_submitted_work_done_sync` fails in its cffi binding.)
        """
        fence = getattr(self, "_fence", None)
        if fence is None:
            fence = self._fence = self.device.create_buffer(label="renacer fence", size=4, usage=wgpu.BufferUsage.COPY_SRC)
        self.queue.read_buffer(fence)

    def _calibrate(self) -> ClockMap:
        """One empty timestamped pass: is the GPU's clock CLOCK_MONOTONIC, else where is its origin."""
        encoder = self.device.create_command_encoder(label="renacer clock calibration")
        encoder.begin_compute_pass(
            timestamp_writes={"query_set": self._query_set, "beginning_of_pass_write_index": 0, "end_of_pass_write_index": 1}
        ).end()
        encoder.resolve_query_set(self._query_set, 0, 2, self._resolve, 0)
        lo = time.monotonic_ns()
        self.queue.submit([encoder.finish()])
        stamps = memoryview(self.queue.read_buffer(self._resolve, 0, 16)).cast("Q")
        hi = time.monotonic_ns()
        wall = time.time_ns()
        return clock_map(int(stamps[0]), int(stamps[1]), (lo, hi), wall)

    def _emit(self, m: Measurement) -> None:
        self.measurements.append(m)
        if m.gpu_ns < self.threshold_ns:
            self.below_threshold += 1
            return
        attributes: dict[str, Any] = {
            ATTR_GPU_KIND: m.kind.value,
            ATTR_GPU_TIME: m.gpu_ns,
            ATTR_GPU_HOST_TIME: m.host_ns,
            ATTR_GPU_TIMING: m.timing,
            ATTR_GPU_ADAPTER: self.adapter_name,
            ATTR_GPU_BACKEND: self.backend,
            ATTR_GPU_ADAPTER_TYPE: self.adapter_type,
        }
        if m.kind is GpuWorkKind.COMPUTE:
            attributes[ATTR_GPU_COMPUTE_TIME] = m.gpu_ns
            attributes[ATTR_GPU_WORKGROUPS] = list(m.workgroups)
            attributes[ATTR_GPU_DISPATCHES] = m.dispatches
        else:
            attributes[ATTR_GPU_TRANSFER_TIME] = m.gpu_ns
            attributes[ATTR_GPU_BYTES] = int(m.nbytes or 0)
            if m.direction is not None:
                attributes[ATTR_GPU_DIRECTION] = m.direction.value
        tracer = self._provider.get_tracer(otel.TRACER_NAME) if self._provider is not None else otel.tracer()
        span = tracer.start_span(GPU_PREFIX + m.label, context=m.parent, attributes=attributes, start_time=m.start_ns)
        span.end(end_time=max(m.end_ns, m.start_ns))
        self.spans_emitted += 1


def note_dispatch(compute: Any, workgroups: Sequence[int]) -> None:
    """Add one dispatch's workgroup counts to the measurement of the pass `compute` (if profiled)."""
    m = getattr(compute, "_renacer_measurement", None)
    if m is None:
        return
    m.dispatches += 1
    m.workgroups = [a + int(b) for a, b in zip(m.workgroups, (list(workgroups) + [1, 1])[:3])]


def _pending_of(encoder: Any) -> list[Measurement]:
    pending = getattr(encoder, "_renacer_pending", None)
    if pending is None:
        pending = encoder._renacer_pending = []
    return pending


def _aligned(nbytes: int) -> int:
    """Buffer sizes and copies are multiples of 4 bytes in WebGPU."""
    return max(4, (int(nbytes) + 3) // 4 * 4)
