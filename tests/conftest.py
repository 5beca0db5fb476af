"""Shared fixtures: tiny C programs compiled with gcc, an isolated store per test."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture(scope="session")
def cbuild(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Compile a C source string once per session; returns the executable's path.

    Usage: `exe = cbuild("forker", SOURCE)`; add `flags=("-lpthread",)` for threads.
    """
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    build_dir = tmp_path_factory.mktemp("cprogs")

    def build(name: str, source: str, flags: tuple[str, ...] = ()) -> Path:
        digest = hashlib.sha1((source + "\0".join(flags)).encode()).hexdigest()[:10]
        exe = build_dir / f"{name}-{digest}"
        if not exe.exists():
            src = build_dir / f"{name}-{digest}.c"
            src.write_text(source)
            subprocess.run(["gcc", "-O1", "-o", str(exe), str(src), *flags, "-lpthread"], check=True)
        return exe

    return build


@pytest.fixture()
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh store location; RENACER_DB points at it and HOME is isolated."""
    path = tmp_path / "db"
    monkeypatch.setenv("RENACER_DB", str(path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return path
