"""The GPU figures of a trace, as metrics a trace assertion can name.

`gpu.transfer_time_ms` and `gpu.compute_time_ms` are the sums the PCIe detector compares
(`gpu.transfer_time_nanos` / `gpu.compute_time_nanos` of the `gpu:` spans, in milliseconds);
`gpu.spans` and `gpu.transfer_bytes` say how much GPU work the trace holds.  A trace with no
GPU work has them all at 0, so "gpu.transfer_time_ms < 50" holds for it.
"""

from __future__ import annotations

from typing import Any

from renacer_tui.analysis.graph import CausalGraph
from renacer_tui.model.attributes import ATTR_GPU_BYTES, ATTR_GPU_COMPUTE_TIME, ATTR_GPU_TRANSFER_TIME
from renacer_tui.model.kinds import is_gpu

METRIC_TRANSFER_MS = "gpu.transfer_time_ms"
METRIC_COMPUTE_MS = "gpu.compute_time_ms"
METRIC_SPANS = "gpu.spans"
METRIC_TRANSFER_BYTES = "gpu.transfer_bytes"
METRICS = (METRIC_TRANSFER_MS, METRIC_COMPUTE_MS, METRIC_SPANS, METRIC_TRANSFER_BYTES)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def gpu_metrics(cg: CausalGraph) -> dict[str, float]:
    """Every metric of METRICS for the trace of `cg`."""
    cols = cg.cols
    rows = cols.rows_named(is_gpu).tolist()
    transfer = compute = nbytes = 0.0
    for i in rows:
        attrs = cols.attrs(i)
        transfer += _number(attrs.get(ATTR_GPU_TRANSFER_TIME))
        compute += _number(attrs.get(ATTR_GPU_COMPUTE_TIME))
        nbytes += _number(attrs.get(ATTR_GPU_BYTES))
    return {
        METRIC_TRANSFER_MS: transfer / 1e6,
        METRIC_COMPUTE_MS: compute / 1e6,
        METRIC_SPANS: float(len(rows)),
        METRIC_TRANSFER_BYTES: nbytes,
    }
