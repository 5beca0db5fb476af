"""What the tracer and the hooks inside the traced program agree on (importable without wgpu)."""

THRESHOLD_VARIABLE = "RENACER_TRACE_COMPUTE_THRESHOLD_US"
DEFAULT_THRESHOLD_US = 100
