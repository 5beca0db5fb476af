"""The traced program's environment under `--trace-compute` (no wgpu import: the run path is on the clock).

PYTHONPATH gains `autoload/` (whose sitecustomize arms `hooks`), and the threshold travels as
RENACER_TRACE_COMPUTE_THRESHOLD_US.  Python only; a program in another language opts in with
its own profiler, as the README says.
"""

from __future__ import annotations

import os
from typing import MutableMapping

from renacer_tui.gpu import autoload
from renacer_tui.gpu.hooks_settings import THRESHOLD_VARIABLE


def autoload_folder() -> str:
    return os.path.dirname(os.path.abspath(autoload.__file__))


def add_trace_compute(env: MutableMapping[str, str], threshold_us: float) -> MutableMapping[str, str]:
    """`env` with the hooks armed for every Python program started under it."""
    folder = autoload_folder()
    existing = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != folder]
    env["PYTHONPATH"] = os.pathsep.join([folder, *existing])
    env[THRESHOLD_VARIABLE] = repr(float(threshold_us))
    return env
