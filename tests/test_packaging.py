"""The installed layout: one `renacer_tui` namespace, every package folder listed, no bench."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_installed_under_the_namespace() -> None:
    config = _setuptools_config()
    package_dir: dict[str, str] = config["package-dir"]
    listed = set(config["packages"])
    found = set()
    for name, folder in package_dir.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *relative)))
    assert found == listed, f"not listed: {sorted(found - listed)}; listed but missing: {sorted(listed - found)}"
    assert all(name == "renacer_tui" or name.startswith("renacer_tui.") for name in listed)


def test_bench_does_not_ship() -> None:
    config = _setuptools_config()
    assert not any(name.split(".")[-1] == "bench" for name in config["packages"])
    assert "bench" not in config["package-dir"].values()
