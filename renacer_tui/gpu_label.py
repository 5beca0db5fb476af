"""How a `gpu:` span reads on screen: its own marker and colour, what it did, GPU vs host time.

The span tree, the live span pane and the critical-path table all show GPU work through this
module, so a kernel looks the same everywhere: `◆ gpu:matmul` in green, then
`compute 16×16×1 wg · gpu 52.1ms / host 55.0ms` (a transfer: direction and size).  The span's
duration is the GPU's own time (timestamp queries); the host time is what the program waited.
"""

from __future__ import annotations

from typing import Any, Mapping

from renacer_tui.model.attributes import (
    ATTR_GPU_BYTES,
    ATTR_GPU_DIRECTION,
    ATTR_GPU_HOST_TIME,
    ATTR_GPU_KIND,
    ATTR_GPU_TIME,
    ATTR_GPU_TIMING,
    ATTR_GPU_WORKGROUPS,
)
from renacer_tui.model.kinds import GpuWorkKind, TransferDirection
from renacer_tui.model.readable import format_duration
from renacer_tui.text import escape

GPU_MARK = "◆ "
GPU_STYLE = "bold green"
GPU_BAR_STYLE = "green"
_ARROWS = {
    TransferDirection.HOST_TO_DEVICE.value: "host→gpu",
    TransferDirection.DEVICE_TO_HOST.value: "gpu→host",
    TransferDirection.DEVICE_TO_DEVICE.value: "gpu→gpu",
}

def _size(nbytes: Any) -> str:
    if not isinstance(nbytes, int):
        return "?"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} B"


def gpu_detail(attrs: Mapping[str, Any]) -> str:
    """`compute 16×16×1 wg · gpu 52.1ms / host 55.0ms` for a gpu: span's attributes (escaped)."""
    parts: list[str] = []
    kind = attrs.get(ATTR_GPU_KIND)
    if kind == GpuWorkKind.COMPUTE.value:
        groups = attrs.get(ATTR_GPU_WORKGROUPS)
        shape = "×".join(str(g) for g in groups) if isinstance(groups, list) and groups else "?"
        parts.append(f"compute {shape} wg")
    elif kind == GpuWorkKind.TRANSFER.value:
        direction = _ARROWS.get(str(attrs.get(ATTR_GPU_DIRECTION)), "transfer")
        parts.append(f"{direction} {_size(attrs.get(ATTR_GPU_BYTES))}")
    gpu, host = attrs.get(ATTR_GPU_TIME), attrs.get(ATTR_GPU_HOST_TIME)
    timed = "host-timed" if attrs.get(ATTR_GPU_TIMING) == "host" else "gpu"
    if isinstance(gpu, int):
        times = f"{timed} {format_duration(gpu)}"
        if isinstance(host, int):
            times += f" / host {format_duration(host)}"
        parts.append(times)
    return escape(" · ".join(parts))
