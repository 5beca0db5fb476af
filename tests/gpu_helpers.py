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
