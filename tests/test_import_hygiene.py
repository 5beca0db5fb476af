"""What a run loads, and the import contracts' coverage (the contracts themselves run in .ci/lint).

A headless run (`--no-tui`) is the traced program's companion for its whole life: it must not
pay for the CLI framework, the TUI, the SQL engine, Parquet, the OpenTelemetry SDK or gRPC —
sinks that need those load them in their own forked children.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"model", "tracer", "store", "sinks", "analysis"}
NOT_IN_A_HEADLESS_RUN = ("typer", "click", "textual", "duckdb", "pyarrow.parquet", "opentelemetry.sdk", "grpc")

# Runs renacer-tui in this interpreter and writes the modules the *main* process loaded when it
# ends (forked sink children exit through os._exit too, so only our pid writes).
HARNESS = textwrap.dedent(
    """
    import atexit, os, runpy, sys
    me, out, real_exit = os.getpid(), sys.argv[1], os._exit
    def dump():
        if os.getpid() == me:
            with open(out, "w") as fh:
                fh.write("\\n".join(sorted(sys.modules)))
    def exit_(code):
        dump()
        real_exit(code)
    os._exit = exit_
    atexit.register(dump)
    sys.argv = ["renacer-tui", *sys.argv[2:]]
    runpy.run_module("renacer_tui", run_name="__main__")
    """
)


def _loaded(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.txt"
    done = subprocess.run([sys.executable, "-c", HARNESS, str(out), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(out.read_text().split())


def test_a_headless_run_loads_no_ui_sql_parquet_sdk_or_grpc(tmp_path: Path, db_path: Path) -> None:
    # The first run into a new store creates its catalog with sqlite-utils (which loads click);
    # every later run finds the tables and does not.
    _loaded(tmp_path, "--no-tui", "-o", str(tmp_path / "first.txt"), "--", "true")
    modules = _loaded(tmp_path, "--no-tui", "-o", str(tmp_path / "trace.txt"), "--", "true")
    assert "renacer_tui.tracer.capture" in modules  # the harness saw the run itself
    heavy = sorted(m for m in modules if any(m == name or m.startswith(name + ".") for name in NOT_IN_A_HEADLESS_RUN))
    assert heavy == []


def test_every_ui_module_is_behind_the_layers_contract() -> None:
    """A new module of the UI layer must be listed in the forbidden contract, or the layers could
    import it unnoticed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    forbidden = next(c for c in contracts if c["type"] == "forbidden")
    listed = {name.removeprefix("renacer_tui.") for name in forbidden["forbidden_modules"]}
    folder = ROOT / "renacer_tui"
    present = {p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "__main__")}
    present |= {p.name for p in folder.iterdir() if (p / "__init__.py").exists() and p.name not in LAYERS}
    assert sorted(present - listed) == [] and sorted(listed - present) == []
