"""The pytest plugin through pytester: an installed entry point, the `renacer` fixture, real programs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

INNER_TESTS = '''
import pytest

def test_plugin_comes_from_the_entry_point(request):
    assert request.config.pluginmanager.has_plugin("renacer")

def test_cat_is_fast_and_reads(renacer, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("hello\\n" * 50)
    trace = renacer.run(["cat", str(data)])
    assert trace.exit_code == 0 and trace.stdout == "hello\\n" * 50
    outcomes = trace.check("duration_ms < 1min", 'spans["syscall:read"].count >= 1')
    assert [o.status for o in outcomes] == ["pass", "pass"]
    rows = trace.sql("SELECT count(*) AS n FROM spans WHERE span_name = 'syscall:read'")
    assert rows[0]["n"] >= 1
    assert trace.sql("SELECT DISTINCT trace_id FROM spans_raw")[0]["trace_id"] == trace.trace_id
    assert 0 < trace.critical_path.total_ns <= trace.critical_path.wall_ns

def test_ls_breaks_its_budget(renacer):
    trace = renacer.run(["ls", "/"])
    trace.check("spans.syscall.count < 3")

def test_renacer_toml_from_the_option(renacer):
    trace = renacer.run(["true"])
    trace.check()

def test_a_warning_does_not_fail(renacer):
    trace = renacer.run(["true"])
    with pytest.warns(UserWarning, match="gpu.compute_time_ms"):
        trace.check("gpu.compute_time_ms < 1", severity="warning")

def test_a_typo_fails_with_the_suggestion(renacer):
    renacer.run(["true"]).check("duraton_ms < 1")

def test_the_store_is_per_session_under_the_basetemp(renacer):
    assert "renacer-db" in str(renacer.db)
'''

CONFIG = '''
[[trace_assertions]]
name = "Critical path under 1ns"
condition = "critical_path.duration_ms < 1ns"

[[trace_assertions]]
name = "ran"
condition = "process.exit_code == 0"
'''


@pytest.fixture()
def inner(pytester: pytest.Pytester, db_path: Path) -> pytest.Pytester:
    if shutil.which("ls") is None:
        pytest.skip("no ls")
    pytester.makepyfile(test_inner=INNER_TESTS)
    (pytester.path / "ci.toml").write_text(CONFIG)
    return pytester


def test_the_fixture_traces_real_programs_and_failures_read_like_the_spec(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "--renacer-config", "ci.toml", timeout=600)
    result.assert_outcomes(passed=4, failed=3)
    out = result.stdout.str()
    assert "Traceback" not in out
    result.stdout.fnmatch_lines([
        "*test_ls_breaks_its_budget*",
        "*Trace assertion failed:",
        "*  spans.syscall.count < 3 - Actual: * over limit)",
    ])
    result.stdout.fnmatch_lines([
        "*Trace assertion failed:",
        "*  Critical path under 1ns - Actual: *% over limit)",
        "*  Bottleneck: *",
    ])
    result.stdout.fnmatch_lines(["*bad trace condition: <inline>:2:*unknown metric 'duraton_ms' (did you mean 'duration_ms'?)*"])


def test_the_options_are_in_pytest_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--renacer-config=FILE*", "*--renacer-db=DIR*"])


def test_renacer_db_puts_the_traces_where_asked(pytester: pytest.Pytester, db_path: Path, tmp_path: Path) -> None:
    pytester.makepyfile(test_where='''
def test_run(renacer):
    trace = renacer.run(["true"])
    print("TRACE", trace.trace_id)
''')
    store = tmp_path / "kept"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "--renacer-db", str(store), timeout=300)
    result.assert_outcomes(passed=1)
    trace_id = next(line.split("TRACE ")[1].split()[0] for line in result.stdout.lines if "TRACE " in line)
    from renacer_tui.store.store import Store

    with Store.open(store) as opened:
        assert trace_id in opened.list_traces(10).column("trace_id").to_pylist()
