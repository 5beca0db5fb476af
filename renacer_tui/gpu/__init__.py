"""GPU work as `gpu:<label>` spans: a wgpu profiler that runs inside the traced program."""
