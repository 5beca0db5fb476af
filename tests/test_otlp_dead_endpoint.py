"""A dead or silent OTLP collector: told once, and the run still ends within the stated bound."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from renacer_tui import cli_run
from renacer_tui.sinks import otlp


def _run(tmp_path: Path, endpoint: str) -> tuple[float, list[str]]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "run", "--no-tui", "--db", str(tmp_path / "db"),
         "-o", "/dev/null", "--otlp-endpoint", endpoint, "--", "/bin/true"],
        capture_output=True, text=True, timeout=60,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    return elapsed, [line for line in proc.stderr.splitlines() if "OTLP" in line]


def test_help_states_the_bound_the_sink_keeps() -> None:
    assert cli_run._OTLP_END_BOUND_S == otlp.END_BOUND_S
    out = subprocess.run([sys.executable, "-m", "renacer_tui", "run", "-h"], capture_output=True, text=True).stdout
    assert f"at most {otlp.END_BOUND_S:g} s" in " ".join(out.split())


@pytest.mark.parametrize("attempt", range(3))
def test_refused_endpoint_is_reported_exactly_once(tmp_path: Path, attempt: int) -> None:
    _, lines = _run(tmp_path, "http://127.0.0.1:9")
    assert len(lines) == 1, lines


def test_silent_collector_cannot_stall_the_end_of_a_run(tmp_path: Path) -> None:
    """A collector that accepts and never answers: the run ends by the bound, and says why once."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        port = hole.getsockname()[1]
        elapsed, lines = _run(tmp_path, f"http://127.0.0.1:{port}")
    assert len(lines) == 1, lines
    # interpreter start-up and the 10 ms program fit in the second of slack; before, 5 s of waiting
    assert elapsed < otlp.END_BOUND_S + 1.0
