"""Nobody else can read a store (issue 17, item 5).

Traces hold commands, working directories, hosts and arguments: the store folder is made
private even when it existed at 0755, a umask of 000 cannot widen what the store creates, and
DuckDB's spill folder (by default `<cwd>/.tmp`, which joins SQL's allowed directories) is kept
inside the store so a query cannot read files from the working directory.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_store_basic import make_batch, trace_hex, write_run

from renacer_tui.store import QueryError, Store
from renacer_tui.store.config import private_mkdir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_existing_world_readable_store_is_made_private_with_a_note(db_path: Path) -> None:
    db_path.mkdir(mode=0o755)
    os.chmod(db_path, 0o755)
    store = Store.open(db_path)
    assert mode(db_path) == 0o700
    assert any("0755" in w and "0700" in w for w in store.warnings)
    store.close()
    again = Store.open(db_path)
    assert again.warnings == []  # said once, when it changed
    again.close()


def test_a_run_says_it_tightened_the_store(db_path: Path) -> None:
    db_path.mkdir(mode=0o755)
    os.chmod(db_path, 0o755)
    result = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "-o", "/dev/null", "--", "true"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "mode 0755" in result.stderr and "now 0700" in result.stderr
    assert mode(db_path) == 0o700


def test_umask_000_cannot_make_the_store_world_writable(db_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "-o", "/dev/null", "--", "ls", "/"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, preexec_fn=lambda: os.umask(0),
    )
    assert result.returncode == 0, result.stderr
    entries = [db_path, *db_path.rglob("*")]
    assert any(p.suffix == ".parquet" for p in entries)
    for path in entries:
        expected = 0o700 if path.is_dir() else 0o600
        assert mode(path) & 0o077 == 0, f"{path} is {mode(path):04o}"
        if path.name == "spans" or path.suffix in (".parquet", ".sqlite"):
            assert mode(path) == expected, f"{path} is {mode(path):04o}"


def test_private_mkdir_makes_every_level_0700(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        private_mkdir(tmp_path / "a" / "b" / "c", tmp_path)
    finally:
        os.umask(old)
    for level in ("a", "a/b", "a/b/c"):
        assert mode(tmp_path / level) == 0o700


def test_files_in_the_working_directorys_tmp_cannot_be_read_through_sql(db_path: Path, tmp_path: Path) -> None:
    store = Store.open(db_path)
    tid = trace_hex(81)
    write_run(store, "perm", tid, [make_batch(tid, 10)])
    store.close()
    cwd = tmp_path / "work"
    (cwd / ".tmp").mkdir(parents=True)
    (cwd / ".tmp" / "secret.csv").write_text("token,42\n")
    for sql in ("SELECT * FROM read_csv('.tmp/secret.csv')", f"SELECT * FROM read_csv('{cwd}/.tmp/secret.csv')"):
        result = subprocess.run(
            [sys.executable, "-m", "renacer_tui", "db", "query", "--format", "csv", sql],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=cwd,
        )
        assert result.returncode != 0 and "token" not in result.stdout, result.stdout
    store = Store.open(db_path)
    spill = store.query("SELECT current_setting('temp_directory') AS t").to_pylist()[0]["t"]
    assert Path(spill).resolve().is_relative_to(db_path.resolve())
    with pytest.raises(QueryError):
        store.query(f"SELECT * FROM read_csv('{cwd}/.tmp/secret.csv')")
    store.close()
