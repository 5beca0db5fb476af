"""The wgpu adapter the GPU tests run on, or the reason they skip (one place for both)."""

from __future__ import annotations

import functools
import os
import tempfile

import pytest


@functools.cache
def adapter_problem() -> str | None:
    """None when wgpu finds an adapter with `timestamp-query`; else why the GPU tests skip."""
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="renacer-xdg-"))  # lavapipe warns without it
    try:
        import wgpu
    except ImportError as exc:
        return f"wgpu is not importable: {exc}"
    try:
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except RuntimeError as exc:
        return f"no wgpu adapter on this machine: {exc}"
    if adapter is None:
        return "no wgpu adapter on this machine"
    if "timestamp-query" not in adapter.features:
        return f"the wgpu adapter {adapter.info.get('device')!r} has no timestamp-query feature"
    return None


def require_adapter() -> None:
    problem = adapter_problem()
    if problem:
        pytest.skip(problem)


@functools.cache
def shared_device() -> tuple[object, object]:
    """(adapter, device with the timestamp features), one per test process.

    wgpu 0.32 polls every device from a background thread; a device dropped while that thread
    polls it can abort the interpreter, so the tests share one instead of making one each.
    """
    require_adapter()
    import wgpu

    from renacer_tui.gpu.profiler import timestamp_features

    adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    return adapter, adapter.request_device_sync(required_features=timestamp_features(adapter))


def profiler(**options: object) -> object:
    """A GpuProfiler over the shared device (`options` as GpuProfiler takes them)."""
    from renacer_tui.gpu.profiler import GpuProfiler

    adapter, device = shared_device()
    return GpuProfiler(device, adapter, **options)  # type: ignore[arg-type]
