"""Profile an unmodified wgpu program: the profiler wired into wgpu-native's own classes.

`renacer-tui --trace-compute -- python prog.py` puts `autoload/` on the program's PYTHONPATH;
its `sitecustomize` calls `arm()`, which waits for wgpu's native backend to be imported and
then `install()`s these hooks (a program that never imports wgpu pays nothing but that check):

- device requests also ask for the adapter's timestamp features;
- `begin_compute_pass` without `timestamp_writes` gets the profiler's (a pass with its own
  timestamp writes is the program's business and is left alone);
- `dispatch_workgroups` adds its counts to the pass's measurement;
- `CommandEncoder.finish` resolves the pass timestamps, `Queue.submit` makes them collectable and
  collects them: this waits for the submitted work, which is the profiler's cost on the program;
- `Queue.write_buffer` / `Queue.read_buffer` become host-timed transfer spans (wgpu stages
  them, so there is no GPU timestamp pair around the copy itself).

Spans below the threshold (`RENACER_TRACE_COMPUTE_THRESHOLD_US`, 100 µs unless
`--trace-compute-all`, which sets 0) are counted and dropped.  They go to the program's current
span, else the environment's TRACEPARENT, through a tracer provider of the hooks' own (so a
program that sets up OpenTelemetry later is not refused), exporting to
OTEL_EXPORTER_OTLP_ENDPOINT.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from contextlib import contextmanager
from typing import Any, Iterator

from renacer_tui.gpu.hooks_settings import DEFAULT_THRESHOLD_US, THRESHOLD_VARIABLE

TARGET_MODULE = "wgpu.backends.wgpu_native"  # the package: _api and extras are both loaded then

_state = threading.local()
_profilers: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_settings: dict[str, Any] = {"threshold_ns": DEFAULT_THRESHOLD_US * 1000, "provider": None}
_installed = False


@contextmanager
def _inside() -> Iterator[None]:
    """While the profiler itself calls wgpu, the hooks pass everything through."""
    previous = getattr(_state, "inside", False)
    _state.inside = True
    try:
        yield
    finally:
        _state.inside = previous


def _bypass() -> bool:
    return bool(getattr(_state, "inside", False))


def threshold_from_environment(environ: Any = None) -> int:
    """The threshold in ns from RENACER_TRACE_COMPUTE_THRESHOLD_US (bad or absent: the default)."""
    text = (os.environ if environ is None else environ).get(THRESHOLD_VARIABLE, "")
    try:
        value = float(text) if text.strip() else DEFAULT_THRESHOLD_US
    except ValueError:
        value = DEFAULT_THRESHOLD_US
    return max(0, int(value * 1000))


def _profiler(device: Any) -> Any:
    """The profiler of `device`, made on its first use (its calibration runs then)."""
    from renacer_tui.gpu import otel
    from renacer_tui.gpu.profiler import GpuProfiler

    with _lock:
        profiler = _profilers.get(device)
        if profiler is None:
            if _settings["provider"] is None:
                _settings["provider"] = otel.provider_from_environment() or False
                atexit.register(flush)  # after the provider's shutdown was registered: runs before it
            with _inside():
                profiler = GpuProfiler(device, threshold_ns=_settings["threshold_ns"],
                                       tracer_provider=_settings["provider"] or None)
            _profilers[device] = profiler
        return profiler


def install(threshold_ns: int | None = None) -> None:
    """Wrap wgpu-native's classes (once per process)."""
    global _installed
    if threshold_ns is not None:
        _settings["threshold_ns"] = int(threshold_ns)
    if _installed:
        return
    _installed = True
    from wgpu.backends.wgpu_native import _api

    from renacer_tui.gpu.profiler import note_dispatch, timestamp_features
    from renacer_tui.model.kinds import GpuWorkKind, TransferDirection

    request_device = _api.GPUAdapter._request_device_async

    def _request_device_async(self, label, required_features, *args, **kwargs):  # noqa: ANN001, ANN202
        wanted = list(required_features) + [f for f in timestamp_features(self) if f not in required_features]
        return request_device(self, label, wanted, *args, **kwargs)

    begin_compute_pass = _api.GPUCommandEncoder.begin_compute_pass

    def _begin_compute_pass(self, *, label: str = "", timestamp_writes: Any = None) -> Any:
        if _bypass() or timestamp_writes is not None:
            return begin_compute_pass(self, label=label, timestamp_writes=timestamp_writes)
        profiler = _profiler(self._device)
        with _inside():
            return profiler.compute_pass(self, label or "compute")

    dispatch = _api.GPUComputePassEncoder.dispatch_workgroups

    def _dispatch_workgroups(self, x: int, y: int = 1, z: int = 1) -> None:
        dispatch(self, x, y, z)
        note_dispatch(self, (x, y, z))

    finish = _api.GPUCommandEncoder.finish

    def _finish(self, *, label: str = "") -> Any:
        if _bypass() or not getattr(self, "_renacer_pending", None):
            return finish(self, label=label)
        profiler = _profiler(self._device)
        with _inside():
            resolved = profiler.finish(self)
        buffer = finish(self, label=label)
        buffer._renacer_resolved = resolved
        return buffer

    submit = _api.GPUQueue.submit

    def _submit(self, command_buffers: Any) -> None:
        command_buffers = list(command_buffers)
        submit(self, command_buffers)
        if _bypass():
            return
        resolved = [m for cb in command_buffers for m in getattr(cb, "_renacer_resolved", ())]
        if resolved:
            profiler = _profiler(self._device)
            with _inside():
                profiler.submitted(resolved)
                profiler.collect()

    write_buffer = _api.GPUQueue.write_buffer

    def _write_buffer(self, buffer: Any, buffer_offset: int, data: Any, data_offset: int = 0, size: int | None = None) -> None:
        if _bypass():
            return write_buffer(self, buffer, buffer_offset, data, data_offset, size)
        nbytes = int(size) if size else memoryview(data).nbytes - int(data_offset)
        profiler = _profiler(self._device)
        with _inside(), profiler.host_timed(f"write {buffer.label or 'buffer'}", GpuWorkKind.TRANSFER, nbytes,
                                             TransferDirection.HOST_TO_DEVICE):
            write_buffer(self, buffer, buffer_offset, data, data_offset, size)

    read_buffer = _api.GPUQueue.read_buffer

    def _read_buffer(self, buffer: Any, buffer_offset: int = 0, size: int | None = None) -> Any:
        if _bypass():
            return read_buffer(self, buffer, buffer_offset, size)
        nbytes = int(size) if size else buffer.size - int(buffer_offset)
        profiler = _profiler(self._device)
        with _inside(), profiler.host_timed(f"read {buffer.label or 'buffer'}", GpuWorkKind.TRANSFER, nbytes,
                                             TransferDirection.DEVICE_TO_HOST):
            return read_buffer(self, buffer, buffer_offset, size)

    _api.GPUAdapter._request_device_async = _request_device_async
    _api.GPUCommandEncoder.begin_compute_pass = _begin_compute_pass
    _api.GPUComputePassEncoder.dispatch_workgroups = _dispatch_workgroups
    _api.GPUCommandEncoder.finish = _finish
    _api.GPUQueue.submit = _submit
    _api.GPUQueue.write_buffer = _write_buffer
    _api.GPUQueue.read_buffer = _read_buffer


def flush() -> None:
    """Collect what every profiler still holds (at exit: spans of work never waited for)."""
    for profiler in list(_profilers.values()):
        try:
            with _inside():
                profiler.collect()
        except Exception:  # the device may already be gone at exit
            pass


class _PatchOnImport:
    """A meta-path finder that installs the hooks right after the wgpu-native backend package is executed."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != TARGET_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader: Any = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return None  # not a module we know how to wrap: the import goes on unprofiled
        exec_module = loader.exec_module

        def exec_then_install(module: Any) -> None:
            exec_module(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            install()

        loader.exec_module = exec_then_install  # this spec's own loader instance
        return spec


def arm(environ: Any = None) -> None:
    """Install the hooks when wgpu's native backend is imported (now, if it already is)."""
    _settings["threshold_ns"] = threshold_from_environment(environ)
    if TARGET_MODULE in sys.modules:
        install()
    else:
        sys.meta_path.insert(0, _PatchOnImport())
