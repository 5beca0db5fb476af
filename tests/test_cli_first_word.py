"""What a bare `renacer-tui` and a mistyped sub-command say (issue 17, item 10).

Chosen behaviour (documented in README.md and cli.py): a first word close to a sub-command
name is refused with "did you mean" when no program of that name is on PATH, and is traced
with a one-line note when one is; after `--` a word is always a program, with no note.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renacer_tui.cli import SUBCOMMANDS, near_miss


def renacer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "renacer_tui", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env,
    )


def stderr_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_no_arguments_says_what_to_do(db_path: Path) -> None:
    result = renacer()
    lines = stderr_lines(result)
    assert result.returncode == 2 and len(lines) == 1
    assert "nothing to do" in lines[0] and "-- CMD" in lines[0] and "db" in lines[0]
    assert "renacer-tui:  (" not in result.stderr


@pytest.mark.parametrize(("group", "one_of_them"), [("db", "query"), ("graph", "critical-path")])
def test_group_without_sub_command_names_them(db_path: Path, group: str, one_of_them: str) -> None:
    result = renacer(group)
    lines = stderr_lines(result)
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "missing a sub-command" in lines[0] and one_of_them in lines[0]


@pytest.mark.parametrize(("typo", "meant"), [("chek", "check"), ("exprot", "export"), ("veiw", "view"), ("dbb", "db")])
def test_typo_of_a_sub_command_is_refused_with_did_you_mean(db_path: Path, typo: str, meant: str) -> None:
    result = renacer(typo, "x")
    lines = stderr_lines(result)
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert f"did you mean {meant!r}" in lines[0] and f"renacer-tui -- {typo}" in lines[0]
    assert "trace_id=" not in result.stderr  # nothing was traced


def test_a_real_program_with_such_a_name_is_traced_with_a_note(db_path: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "chek"
    program.write_text("#!/bin/sh\nexit 7\n")
    program.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    result = renacer("chek", env=env)
    assert result.returncode == 7, result.stderr
    assert "note: 'chek' is not a sub-command (did you mean 'check'?); tracing the program 'chek'" in result.stderr
    quiet = renacer("--no-store", "--", "chek", env=env)
    assert quiet.returncode == 7 and "note:" not in quiet.stderr


def test_ordinary_program_names_are_not_typos() -> None:
    for name in ("ls", "cat", "true", "make", "grep", "dd", "du", "sh", "python3", "runner", "vim", "./db", "/usr/bin/run"):
        assert near_miss(name) is None, name


@given(st.text(max_size=20))
def test_near_miss_is_a_sub_command_or_none(word: str) -> None:
    found = near_miss(word)
    assert found is None or (found in SUBCOMMANDS and found != word)
