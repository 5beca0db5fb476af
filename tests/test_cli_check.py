"""`renacer-tui check` as CI runs it: real traced programs, real store, real exit codes and reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import pytest

SMALL_WRITES = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (int i = 0; i < 400; i++) write(fd, "x", 1);
    close(fd);
    char *big = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(big, 1, 64 << 20);
    usleep(atoi(argv[2]) * 1000);
    return big[12345] != 1 ? 99 : argc > 3 ? atoi(argv[3]) : 0;  /* reading it keeps the allocation */
}
"""


def check(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "renacer_tui", "check", *args],
        cwd=cwd, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture()
def project(tmp_path: Path, db_path: Path) -> Path:
    folder = tmp_path / "project"
    (folder / "sub").mkdir(parents=True)
    (folder / "input.txt").write_text("hello\n" * 100)
    return folder


@pytest.fixture()
def writer(cbuild: Callable[..., Path]) -> Path:
    return cbuild("small_writes", SMALL_WRITES)


def write_config(folder: Path, text: str) -> Path:
    path = folder / "renacer.toml"
    path.write_text(text)
    return path


def test_cat_passes_and_the_config_is_found_from_a_subdirectory(project: Path) -> None:
    write_config(project, '[[trace_assertions]]\nname = "reads its input"\n'
                          'condition = "spans[\\"syscall:read\\"].count >= 1 and process.exit_code == 0 and io.bytes_read >= 600"\n')
    result = check("--", "cat", str(project / "input.txt"), cwd=project / "sub")
    no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello" in result.stdout  # the program's own output is left alone
    assert "PASS  reads its input - Actual: " in result.stdout
    assert "1 passed, 0 failed, 0 warnings, 0 skipped" in result.stdout


def test_ls_failing_an_error_assertion_exits_1_with_the_actual_value(project: Path) -> None:
    write_config(project, '[[trace_assertions]]\nname = "Syscall count bounded"\ncondition = "spans.syscall.count < 5"\n')
    result = check("--", "ls", str(project), cwd=project)
    no_traceback(result)
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("FAIL"))
    assert line.startswith("FAIL  Syscall count bounded - Actual: ") and "% over limit)" in line


def test_warnings_alone_exit_0(project: Path) -> None:
    write_config(project, '[[trace_assertions]]\ncondition = "spans.syscall.count < 5"\nseverity = "warning"\n'
                          '[[trace_assertions]]\ncondition = "gpu.compute_time_ms < 1"\nseverity = "warning"\n')
    result = check("--", "true", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("WARN  ") == 2
    assert "cannot evaluate: the trace has no GPU spans" in result.stdout


def test_a_gpu_metric_on_a_trace_without_gpu_spans_fails_an_error_assertion(project: Path) -> None:
    write_config(project, '[[trace_assertions]]\ncondition = "gpu.transfer_time_ms / gpu.compute_time_ms < 5.0"\n')
    result = check("--", "true", cwd=project)
    no_traceback(result)
    assert result.returncode == 1
    assert "FAIL  gpu.transfer_time_ms / gpu.compute_time_ms < 5.0 - cannot evaluate" in result.stdout
    assert check("--skip-undecided", "--", "true", cwd=project).returncode == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[[trace_assertions]]\ncondition = "duration_ms < 1"\nseverty = "error"\n', "renacer.toml:3: [[trace_assertions]] unknown key 'severty' (did you mean 'severity'?)"),
        ('[[trace_assertions]]\ncondition = "duraton_ms < 1"\n', "unknown metric 'duraton_ms' (did you mean 'duration_ms'?) (column 1)"),
        ('[[assertions]]\ntype = "custom"\n', "renacer.toml:1: unknown table or key 'assertions' (did you mean 'assertion'?)"),
        ("", "no [[trace_assertions]] or [[assertion]] tables"),
    ],
)
def test_a_bad_config_exits_2_with_one_line_before_tracing(project: Path, config: str, message: str) -> None:
    write_config(project, config)
    result = check("--", "touch", str(project / "ran"), cwd=project)
    no_traceback(result)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (project / "ran").exists()


def test_usage_mistakes_exit_2(project: Path, tmp_path: Path) -> None:
    write_config(project, '[[trace_assertions]]\ncondition = "duration_ms < 1s"\n')
    for args, words in [
        (["--format", "xml"], "unknown format 'xml'"),
        (["--trace-id", "nothex"], "bad trace id"),
        (["--max-regression", "lots"], "bad --max-regression"),
        (["--trace-id", "4bf92f3577b34da6a3ce929d0e0e4736", "--", "true"], "not both"),
        (["--config", str(tmp_path / "missing.toml")], "cannot read"),
    ]:
        result = check(*args, cwd=project)
        no_traceback(result)
        assert result.returncode == 2, args
        assert words in result.stderr
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    result = check(cwd=empty)
    assert result.returncode == 2 and "no renacer.toml in" in result.stderr


def test_a_stored_trace_is_checked_by_id_or_as_the_newest(project: Path) -> None:
    write_config(project, '[[trace_assertions]]\ncondition = "process.count == 1"\n')
    traced = check("--", "ls", "/", cwd=project)
    assert traced.returncode == 0, traced.stdout + traced.stderr
    trace_id = traced.stdout.splitlines()[[i for i, x in enumerate(traced.stdout.splitlines()) if x.startswith("renacer-tui check: trace")][0]].split()[-1]
    by_id = check("--trace-id", trace_id, cwd=project)
    newest = check(cwd=project)
    assert by_id.returncode == newest.returncode == 0
    assert f"renacer-tui check: trace {trace_id}" in by_id.stdout and f"trace {trace_id}" in newest.stdout
    missing = check("--trace-id", "4bf92f3577b34da6a3ce929d0e0e4736", cwd=project)
    assert missing.returncode == 1 and "no trace 4bf92f3577b34da6a3ce929d0e0e4736" in missing.stderr


def test_an_empty_store_is_one_line_exit_1(project: Path) -> None:
    write_config(project, '[[trace_assertions]]\ncondition = "duration_ms < 1s"\n')
    result = check(cwd=project)
    assert result.returncode == 1 and "no traces in" in result.stderr


def test_junit_json_and_github_annotations_on_a_c_program(project: Path, writer: Path) -> None:
    config = write_config(
        project,
        '[[trace_assertions]]\nname = "No small writes"\ncondition = "antipatterns.small_writes.count == 0"\n\n'
        '[[assertion]]\nname = "heap bounded"\ntype = "memory_usage"\nmax_bytes = 1048576\nfail_on_violation = false\n\n'
        '[[trace_assertions]]\nname = "used the memory"\ncondition = "memory.peak_bytes >= 64MiB and io.bytes_written == 400"\n\n'
        '[[trace_assertions]]\nname = "off"\ncondition = "duration_ms < 1ns"\nenabled = false\n',
    )
    out = project / "out.bin"
    report = project / "junit.xml"
    result = check("--format", "junit", "-o", str(report), "--", str(writer), str(out), "0",
                   cwd=project, env={"GITHUB_ACTIONS": "true"})
    no_traceback(result)
    assert result.returncode == 1, result.stdout + result.stderr
    root = ET.parse(report).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "4" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["No small writes"].find("failure") is not None
    assert "Small" not in cases["No small writes"].find("failure").get("message")  # the headline, not the finding
    assert cases["No small writes"].get("line") == "1" and cases["No small writes"].get("file") == str(config)
    assert cases["heap bounded"].find("failure") is None and "warning: heap bounded" in cases["heap bounded"].findtext("system-out")
    assert cases["used the memory"].find("failure") is None and cases["used the memory"].find("skipped") is None
    assert cases["off"].find("skipped") is not None
    assert "FAIL  No small writes - Actual: 1 (expected == 0)" in result.stdout  # the text summary still in the log
    annotations = [x for x in result.stdout.splitlines() if x.startswith("::")]
    assert annotations[0].startswith(f"::error file={config},line=1,title=No small writes::No small writes - Actual: 1")
    assert annotations[1].startswith(f"::warning file={config},line=5,title=heap bounded::")

    as_json = check("--format", "json", cwd=project)
    doc = json.loads(as_json.stdout)
    assert as_json.returncode == doc["exit_code"] == 1
    assert [a["status"] for a in doc["assertions"]] == ["fail", "fail", "pass", "skip"]
    assert doc["assertions"][2]["values"]["memory.peak_bytes"] >= 64 * 1024 * 1024


def test_a_failing_program_fails_the_check(project: Path, writer: Path) -> None:
    write_config(project, '[[trace_assertions]]\ncondition = "duration_ms < 1min"\n')
    result = check("--", str(writer), str(project / "o"), "0", "3", cwd=project)
    assert result.returncode == 1
    assert "exited with status 3" in result.stderr
    assert "PASS" in result.stdout


def test_regression_against_a_baseline(project: Path, writer: Path) -> None:
    write_config(project, '[[trace_assertions]]\ncondition = "duration_ms < 1min"\n')
    env = {"GITHUB_HEAD_REF": "feature-x"}
    fast = check("--", str(writer), str(project / "o"), "0", cwd=project, env=env)
    assert fast.returncode == 0, fast.stdout + fast.stderr
    fast_id = next(x.split()[-1] for x in fast.stdout.splitlines() if x.startswith("renacer-tui check: trace"))
    slow = check("--baseline", "latest-on-branch", "--max-regression", "10%", "--",
                 str(writer), str(project / "o"), "400", cwd=project, env=env)
    no_traceback(slow)
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "FAIL  No regression: duration_ms - regressed +" in slow.stdout
    assert f"(limit 10%, baseline {fast_id})" in slow.stdout
    # the same program again, against the newest earlier trace of that command, with room to spare
    again = check("--baseline", "latest", "--max-regression", "100000%", "--",
                  str(writer), str(project / "o"), "400", cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "PASS  No regression: duration_ms" in again.stdout
    other_branch = check("--baseline", "latest-on-branch", cwd=project, env={"GITHUB_HEAD_REF": "never-ran"})
    assert other_branch.returncode == 1 and "no passing traced check recorded on branch never-ran" in other_branch.stderr


def test_a_machine_report_on_stdout_keeps_the_programs_output_out_of_it(project: Path) -> None:
    write_config(project, '[[trace_assertions]]\ncondition = "process.exit_code == 0"\n')
    as_json = check("--format", "json", "--", "echo", "from the program", cwd=project)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["assertions"][0]["status"] == "pass"
    assert "from the program" in as_json.stderr
    as_junit = check("--format", "junit", "--", "echo", "again", cwd=project)
    assert ET.fromstring(as_junit.stdout).find("testsuite").get("failures") == "0"
    assert "again" in as_junit.stderr
