"""End-to-end: `renacer-tui --no-tui -- CMD` on real programs, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from renacer_tui.model.schema import COLUMN_NAMES

TRACE_ID_LINE = re.compile(r"^trace_id=([0-9a-f]{32})$", re.M)


def renacer(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real command line (a subprocess, like a user's shell would)."""
    return subprocess.run(
        [sys.executable, "-m", "renacer_tui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def query_json(sql: str) -> list[dict]:
    """`renacer-tui db query --format json` on the store RENACER_DB names, as rows."""
    result = renacer("db", "query", "--format", "json", "--sql", sql)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def trace_id_of(result: subprocess.CompletedProcess) -> str:
    match = TRACE_ID_LINE.search(result.stderr)
    assert match, f"no trace_id line in stderr: {result.stderr[-500:]}"
    return match.group(1)


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize(("script", "expected"), [("exit 0", 0), ("exit 3", 3), ("kill -9 $$", 137), ("kill -TERM $$", 143)])
def test_exit_code_is_the_programs(db_path: Path, script: str, expected: int) -> None:
    result = renacer("--no-tui", "--no-store", "-c", "--", "sh", "-c", script)
    assert result.returncode == expected, result.stderr
    assert_no_traceback(result)
    trace_id_of(result)


def test_missing_program_is_127_with_one_line(db_path: Path) -> None:
    result = renacer("--no-tui", "--", "definitely-not-a-program-xyz")
    assert result.returncode == 127
    assert_no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "definitely-not-a-program-xyz" in lines[0]


def test_not_executable_is_126(db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "not-exec.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    result = renacer("--no-tui", "--", str(script))
    assert result.returncode == 126
    assert_no_traceback(result)


def test_bad_filter_is_usage_error(db_path: Path) -> None:
    result = renacer("--no-tui", "-e", "trace=notasyscall_xyz", "--", "true")
    assert result.returncode == 2
    assert_no_traceback(result)
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1


def test_child_sees_traceparent_of_the_run(db_path: Path) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    result = renacer("--no-tui", "--no-store", "-c", "--trace-id", trace, "--", "sh", "-c", 'echo "TP=$TRACEPARENT"')
    assert result.returncode == 0, result.stderr
    match = re.search(r"TP=00-([0-9a-f]{32})-([0-9a-f]{16})-01", result.stdout)
    assert match, result.stdout
    assert match.group(1) == trace
    assert match.group(2) != "0" * 16
    assert trace_id_of(result) == trace


def test_traceparent_env_is_joined_and_invalid_one_warns(db_path: Path) -> None:
    env = dict(os.environ, TRACEPARENT="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    joined = renacer("--no-tui", "--no-store", "-c", "--", "true", env=env)
    assert trace_id_of(joined) == "0af7651916cd43dd8448eb211c80319c"

    env["TRACEPARENT"] = "00-00000000000000000000000000000000-b7ad6b7169203331-01"
    fresh = renacer("--no-tui", "--no-store", "-c", "--", "true", env=env)
    assert fresh.returncode == 0
    assert_no_traceback(fresh)
    assert trace_id_of(fresh) != "0" * 32
    assert "TRACEPARENT" in fresh.stderr  # the one-line warning names what was ignored


def test_jsonl_output_has_every_column_and_a_connected_tree(db_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    result = renacer("--no-tui", "--no-store", "--format", "jsonl", "-o", str(out), "--", "sh", "-c", "ls / >/dev/null")
    assert result.returncode == 0, result.stderr
    spans = [json.loads(line) for line in out.read_text().splitlines()]
    assert spans
    assert all(set(COLUMN_NAMES) <= set(span) for span in spans)
    ids = {span["span_id"] for span in spans}
    roots = [span for span in spans if span["parent_span_id"] is None]
    assert len(roots) == 1 and roots[0]["span_name"].startswith("renacer:run")
    assert all(span["parent_span_id"] in ids for span in spans if span["parent_span_id"] is not None)
    names = {span["process_name"] for span in spans if span["span_name"].startswith("syscall:")}
    assert {"sh", "ls"} <= names


def test_summary_counts_match_strace(db_path: Path, tmp_path: Path) -> None:
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    program = ["sh", "-c", "for i in 1 2 3; do cat /etc/hostname >/dev/null; done"]
    strace_out = tmp_path / "strace.txt"
    subprocess.run(["strace", "-f", "-c", "-o", str(strace_out), *program], check=True)
    strace_calls = {}
    for line in strace_out.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1] != "total" and parts[0][0].isdigit():
            strace_calls[parts[-1]] = int(parts[3])
    out = tmp_path / "ours.jsonl"
    result = renacer("--no-tui", "--no-store", "--format", "jsonl", "-o", str(out), "--", *program)
    assert result.returncode == 0, result.stderr
    ours: dict[str, int] = {}
    for line in out.read_text().splitlines():
        span = json.loads(line)
        if span["span_name"].startswith("syscall:") and not span["attributes"].get("syscall.unfinished"):
            name = span["span_name"].split(":", 1)[1]
            ours[name] = ours.get(name, 0) + span["rle_count"]
    assert ours == strace_calls


def test_run_is_stored_and_queryable(db_path: Path) -> None:
    result = renacer("--no-tui", "-c", "--", "sh", "-c", "cat /etc/hostname >/dev/null")
    assert result.returncode == 0, result.stderr
    trace_id = trace_id_of(result)
    query = renacer(
        "db", "query", "--format", "json", "--sql",
        f"SELECT span_name, COUNT(*) AS n FROM spans WHERE trace_id = '{trace_id}' GROUP BY span_name",
    )
    assert query.returncode == 0, query.stderr
    rows = {row["span_name"]: row["n"] for row in json.loads(query.stdout)}
    assert rows.get("syscall:execve", 0) >= 2  # sh, then cat
    assert sum(1 for name in rows if name.startswith("renacer:run")) == 1
