"""Every config.toml key this build reads has its effect, and the others say so (issue 17, item 8).

`tight_loop_threshold` (the spec's key) used to be parsed and ignored while the analysis read
another name; `enable_antipattern_detection` changed nothing; `retention_days` applied only to
an explicit `db vacuum`; an unknown key was silently dropped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_store_basic import make_batch, trace_hex, write_run

from renacer_tui.live.alerts import LiveAlerts
from renacer_tui.store import Store
from renacer_tui.store.config import key_lines, load_config, parse_config
from renacer_tui.store.store import RETENTION_MARKER
from renacer_tui.thresholds import configured_thresholds, graph_key_warnings

CONFIG = """\
# renacer
[database]
retention_days = 30
retension_days = 7

[graph]
tight_loop_threshold = 50
enable_antipattern_detection = false
not_a_threshold = 3

[colours]
x = 1
"""


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    monkeypatch.setenv("RENACER_CONFIG", str(path))
    return path


def renacer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "renacer_tui", *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def test_unknown_keys_warn_with_file_and_line(db_path: Path, config_path: Path) -> None:
    config = load_config()
    assert f"{config_path}:4: unknown key database.retension_days (ignored)" in config.warnings
    assert f"{config_path}:11: unknown section [colours] (ignored)" in config.warnings
    assert graph_key_warnings(config) == [f"{config_path}:9: unknown key graph.not_a_threshold (ignored)"]
    store = Store.open(db_path)
    assert any("retension_days" in w and ":4:" in w for w in store.warnings)
    store.close()
    result = renacer("db", "traces")
    assert result.returncode == 0 and f"{config_path}:4: unknown key database.retension_days" in result.stderr


def test_tight_loop_threshold_is_the_spec_key(config_path: Path) -> None:
    assert configured_thresholds().tight_loop_min_calls == 50
    assert parse_config({}).graph.threshold("tight_loop_min_calls", 1000) == 1000  # unset: the analysis default
    assert parse_config({"graph": {"tight_loop_threshold": 7}}).graph.threshold("tight_loop_min_calls", 1000) == 7


def test_antipattern_detection_can_be_turned_off(db_path: Path, config_path: Path) -> None:
    storm = make_batch(trace_hex(5), 3000, errors=set(range(3000)))
    assert LiveAlerts(enabled=True).absorb(storm)  # the batch does raise alerts when on
    assert LiveAlerts().absorb(storm) == []  # the config turned them off
    store = Store.open(db_path)
    write_run(store, "ap", trace_hex(5), [storm])
    store.close()
    result = renacer("graph", "antipatterns", "--trace-id", trace_hex(5))
    assert result.returncode == 0, result.stderr
    assert "anti-pattern detection is off" in result.stdout and "failed" not in result.stdout.lower()


def test_retention_days_is_applied_at_open_at_most_once_a_day(db_path: Path, config_path: Path) -> None:
    store = Store.open(db_path)  # a new store: nothing to expire, the day's check is done
    old = trace_hex(6)
    write_run(store, "old", old, [make_batch(old, 20)])  # T0 is 2025-11-24: far beyond 30 days
    store.close()
    store = Store.open(db_path)
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": 20}]  # checked today already
    store.close()
    yesterday = time.time() - 2 * 86400
    os.utime(db_path / RETENTION_MARKER, (yesterday, yesterday))
    store = Store.open(db_path)
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": 0}]
    assert any("retention: removed 1 segment" in w and "30 days" in w for w in store.warnings)
    store.close()
    assert time.time() - (db_path / RETENTION_MARKER).stat().st_mtime < 3600


def test_config_command_prints_values_and_origins(db_path: Path, config_path: Path) -> None:
    result = renacer("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    values = {(v["section"], v["key"]): (v["value"], v["origin"]) for v in doc["values"]}
    assert values[("database", "retention_days")] == (30, f"{config_path}:3")
    assert values[("database", "compression")] == ("zstd", "default")
    assert values[("database", "path")] == (str(db_path), "RENACER_DB")
    assert values[("graph", "tight_loop_threshold")] == (50, f"{config_path}:7")
    assert values[("graph", "enable_antipattern_detection")] == (False, f"{config_path}:8")
    assert any("retension_days" in w for w in doc["warnings"])
    text = renacer("config")
    assert text.returncode == 0
    assert "tight_loop_threshold = 50" in text.stdout and f"# {config_path}:7" in text.stdout
    assert ":4: unknown key database.retension_days" in text.stderr


def test_config_command_on_a_broken_file_is_one_line(db_path: Path, config_path: Path) -> None:
    config_path.write_text("[database\n")
    result = renacer("config")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "invalid TOML" in lines[0]


keys = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
values = st.one_of(st.integers(-5, 5), st.booleans(), st.text("abc", max_size=4))


@given(st.dictionaries(st.sampled_from(["database", "graph", "sampling", "other"]), st.dictionaries(keys, values, max_size=4), max_size=4))
def test_key_lines_finds_every_key_tomllib_reads(doc: dict) -> None:
    import tomllib

    lines = []
    for section, table in doc.items():
        lines.append(f"[{section}]")
        for key, value in table.items():
            lines.append(f"{key} = {json.dumps(value)}")
    text = "\n".join(lines)
    parsed = tomllib.loads(text)
    found = key_lines(text)
    for section, table in parsed.items():
        for key in table:
            number = found[f"{section}.{key}"]
            assert text.splitlines()[number - 1].startswith(f"{key} =")
