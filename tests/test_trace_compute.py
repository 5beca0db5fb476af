"""`--trace-compute`: an unmodified wgpu program's GPU work as gpu: spans, under the real tracer.

The program below knows nothing of renacer or OpenTelemetry; its spans reach a loopback OTLP
receiver through the hooks that the tracer's sitecustomize arms.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gpu_helpers import require_adapter
from otlp_receiver import HttpReceiver
from test_cli_run import trace_id_of

from renacer_tui.model.attributes import (
    ATTR_GPU_BYTES,
    ATTR_GPU_DIRECTION,
    ATTR_GPU_KIND,
    ATTR_GPU_TIME,
    ATTR_GPU_TIMING,
    ATTR_GPU_WORKGROUPS,
)

pytestmark = pytest.mark.timeout(240)

PLAIN = '''
import numpy as np
import wgpu

adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
device = adapter.request_device_sync()
shader = """@group(0) @binding(0) var<storage, read_write> data: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) { data[id.x] = data[id.x] * 2.0; }"""
data = np.arange(4096, dtype=np.float32)
usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC
buf = device.create_buffer(size=data.nbytes, usage=usage, label="data")
device.queue.write_buffer(buf, 0, data)
module = device.create_shader_module(code=shader)
pipeline = device.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"})
group = device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[{"binding": 0, "resource": {"buffer": buf}}])
encoder = device.create_command_encoder()
compute = encoder.begin_compute_pass(label="double")
compute.set_pipeline(pipeline)
compute.set_bind_group(0, group)
compute.dispatch_workgroups(64)
compute.end()
device.queue.submit([encoder.finish()])
out = np.frombuffer(device.queue.read_buffer(buf), dtype=np.float32)
assert np.array_equal(out, data * 2)
print("timestamps", "timestamp-query" in device.features)
'''


def traced(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess, list]:
    program = tmp_path / "plain.py"
    program.write_text(PLAIN)
    receiver = HttpReceiver()
    try:
        env = dict(os.environ, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
        result = subprocess.run(
            [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-o", "/dev/null", *options, "--",
             sys.executable, str(program)],
            capture_output=True, text=True, env=env, timeout=200, stdin=subprocess.DEVNULL,
        )
        # the program flushes its spans at exit, before the tracer returns
        return result, receiver.spans()
    finally:
        receiver.stop()


def test_trace_compute_all_profiles_an_unmodified_program(tmp_path: Path) -> None:
    require_adapter()
    result, spans = traced(tmp_path, "--trace-compute", "--trace-compute-all")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "timestamps True" in result.stdout  # the hooks asked for the timestamp feature
    trace_id = trace_id_of(result)
    by_name = {s.name: s for s in spans}
    assert {"gpu:double", "gpu:write data", "gpu:read data"} <= set(by_name), sorted(by_name)
    kernel = by_name["gpu:double"].attributes
    assert kernel[ATTR_GPU_KIND] == "compute" and kernel[ATTR_GPU_TIMING] == "timestamp"
    assert kernel[ATTR_GPU_WORKGROUPS] == [64, 1, 1] and kernel[ATTR_GPU_TIME] > 0
    write = by_name["gpu:write data"].attributes
    assert write[ATTR_GPU_DIRECTION] == "host_to_device" and write[ATTR_GPU_BYTES] == 4096 * 4
    assert write[ATTR_GPU_TIMING] == "host"
    assert by_name["gpu:read data"].attributes[ATTR_GPU_DIRECTION] == "device_to_host"
    # joined to the run's trace through the TRACEPARENT the tracer handed the program
    assert {s.trace_id for s in spans} == {trace_id} and all(s.parent_span_id for s in spans)


def test_the_threshold_drops_short_work_and_no_flag_changes_nothing(tmp_path: Path) -> None:
    require_adapter()
    result, spans = traced(tmp_path, "--trace-compute", "--trace-compute-threshold", "100000000")
    assert result.returncode == 0, result.stderr[-2000:]
    assert spans == [] and "timestamps True" in result.stdout
    result, spans = traced(tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert spans == [] and "timestamps False" in result.stdout  # not armed: the device is the program's


def test_threshold_options_need_trace_compute(tmp_path: Path) -> None:
    for options in (["--trace-compute-all"], ["--trace-compute-threshold", "5"]):
        result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", *options, "--", "true"],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert result.returncode == 2 and "need --trace-compute" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--trace-compute-threshold", "-1", "--", "true"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "non-negative number" in result.stderr


def test_autoload_costs_nothing_without_wgpu_and_chains_the_programs_sitecustomize(tmp_path: Path) -> None:
    from renacer_tui.gpu.environment import add_trace_compute

    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import os\nos.environ['OWN_SITECUSTOMIZE'] = 'ran'\n")
    env = add_trace_compute(dict(os.environ, PYTHONPATH=str(own)), 100.0)
    assert env["PYTHONPATH"].split(os.pathsep)[1] == str(own)
    probe = "import os, sys; print('wgpu' in sys.modules, os.environ.get('OWN_SITECUSTOMIZE'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "ran"]
