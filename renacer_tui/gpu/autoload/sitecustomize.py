"""Run by Python at start-up when `renacer-tui --trace-compute` puts this folder on PYTHONPATH.

It arms renacer's wgpu hooks (`renacer_tui.gpu.hooks.arm`): nothing is imported until the
program imports wgpu.  A sitecustomize of the program's own further down sys.path still runs.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys


def _arm() -> None:
    try:
        from renacer_tui.gpu import hooks
    except ImportError as exc:  # another interpreter, without renacer-tui or wgpu
        print(f"renacer-tui --trace-compute: not profiling {sys.executable} ({exc})", file=sys.stderr)
        return
    hooks.arm()


def _chain() -> None:
    """Run the next `sitecustomize` on sys.path, which this module shadows."""
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None and spec.origin != os.path.abspath(__file__):
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_arm()
_chain()
