"""renacer.toml: both assertion forms, found in the directory or a parent, and strict about typos."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renacer_tui.check.config import ConfigError, find_config, load, parse_config
from renacer_tui.check.expression import to_text
from renacer_tui.check.metrics import problem_with

#: The spec's example file (Sprint 44), verbatim.
SPEC_FILE = '''\
# Trace assertions checked during cargo test
[[trace_assertions]]
name = "Critical path under 200ms"
condition = "critical_path.duration_ms < 200"
severity = "error"  # Fail build

[[trace_assertions]]
name = "No God Process anti-pattern"
condition = "antipatterns.god_process.count == 0"
severity = "error"

[[trace_assertions]]
name = "GPU utilization acceptable"
condition = "gpu.transfer_time_ms / gpu.compute_time_ms < 5.0"
severity = "warning"  # Log but don't fail

[[trace_assertions]]
name = "Syscall count bounded"
condition = "spans.syscall.count < 10000"
severity = "error"

[[trace_assertions]]
name = "No PCIe bottleneck"
condition = "antipatterns.pcie_bottleneck.count == 0"
severity = "error"

[[trace_assertions]]
name = "File operations efficient"
condition = "spans.syscall:read.rle_compressed_ratio > 0.9"  # 90%+ collapsed
severity = "warning"
'''

TYPED_FILE = '''\
[[assertion]]
name = "fast enough"
type = "critical_path"
max_duration_ms = 250
trace_name_pattern = "^make"

[[assertion]]
type = "anti_pattern"
pattern = "GodProcess"
threshold = 1
process_name_pattern = "worker"
fail_on_violation = false

[[assertion]]
type = "span_count"
max_spans = 5000
span_name_pattern = "syscall:*"

[[assertion]]
type = "memory_usage"
max_bytes = 104857600
tracking_mode = "total"
enabled = false

[[assertion]]
type = "custom"
expression = "errors.count == 0 and io.bytes_written < 10MiB"
'''


def test_the_spec_example_loads_with_lines_and_severities() -> None:
    assertions = parse_config(SPEC_FILE, Path("renacer.toml"))
    assert [a.name for a in assertions][:2] == ["Critical path under 200ms", "No God Process anti-pattern"]
    assert [a.line for a in assertions] == [2, 7, 12, 17, 22, 27]
    assert [a.severity for a in assertions] == ["error", "error", "warning", "error", "error", "warning"]
    assert all(a.enabled and a.form == "trace_assertions" for a in assertions)
    assert to_text(assertions[5].condition) == 'spans["syscall:read"].rle_compressed_ratio > 0.9'


def test_a_condition_without_a_name_is_named_by_its_condition() -> None:
    (only,) = parse_config('[[trace_assertions]]\ncondition = "critical_path.duration_ms < 200"\n', Path("r.toml"))
    assert only.name == "critical_path.duration_ms < 200"
    assert only.severity == "error"


def test_typed_forms_become_conditions_of_the_same_language() -> None:
    a = parse_config(TYPED_FILE, Path("renacer.toml"))
    assert [x.condition_text for x in a] == [
        "critical_path.duration_ms <= 250",
        "antipatterns.god_process.count <= 1",
        'spans["syscall:*"].count <= 5000',
        "memory.allocated_bytes <= 104857600",
        "errors.count == 0 and io.bytes_written < 10MiB",
    ]
    assert [x.form for x in a] == ["critical_path", "anti_pattern", "span_count", "memory_usage", "custom"]
    assert a[0].name == "fast enough" and a[0].trace_name_pattern == "^make"
    assert a[1].severity == "warning" and a[1].process_name_pattern == "worker"
    assert a[3].enabled is False
    assert [x.line for x in a] == [1, 7, 14, 19, 25]


@pytest.mark.parametrize("spelling", ["GodProcess", "god_process", "god-process"])
def test_anti_pattern_names_are_accepted_in_renacer_and_detector_spellings(spelling: str) -> None:
    (a,) = parse_config(f'[[assertion]]\ntype = "anti_pattern"\npattern = "{spelling}"\n', Path("r.toml"))
    assert a.condition_text == "antipatterns.god_process.count <= 0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[trace_assertion]]\ncondition = "duration_ms < 1"\n', "r.toml:1: unknown table or key 'trace_assertion' (did you mean 'trace_assertions'?)"),
        ('title = "x"\n', "r.toml:1: unknown table or key 'title'"),
        ('[[trace_assertions]]\ncondition = "duration_ms < 1"\nseverty = "error"\n', "r.toml:3: [[trace_assertions]] unknown key 'severty' (did you mean 'severity'?)"),
        ('[[trace_assertions]]\ncondition = "duration_ms < 1"\nseverity = "fatal"\n', "r.toml:3: [[trace_assertions]] severity = 'fatal' is not one of error, warning"),
        ('[[trace_assertions]]\nname = "x"\n', "r.toml:1: [[trace_assertions]] needs 'condition'"),
        ('[[trace_assertions]]\ncondition = "duration_ms < 1"\nenabled = "yes"\n', "r.toml:3: [[trace_assertions]] enabled must be true or false, not 'yes'"),
        ('[[trace_assertions]]\n\ncondition = "critical_path.duraton_ms < 1"\n', "r.toml:3: [[trace_assertions]] condition 'critical_path.duraton_ms < 1': unknown metric 'critical_path.duraton_ms' (did you mean 'critical_path.duration_ms'?) (column 1)"),
        ('[[trace_assertions]]\ncondition = "spans[\'syscall:raed\'].count < 1"\n', "did you mean 'read'?) (column 1)"),
        ('[[trace_assertions]]\ncondition = "antipatterns.god_proces.count == 0"\n', "did you mean 'god_process'?"),
        ('[[trace_assertions]]\ncondition = "duration_ms <"\n', "r.toml:2: [[trace_assertions]] condition 'duration_ms <': unexpected end of condition"),
        ('[[assertion]]\ntype = "critical_path"\nmax_duration = 200\n', "r.toml:3: [[assertion]] unknown key 'max_duration' (did you mean 'max_duration_ms'?)"),
        ('[[assertion]]\ntype = "critcal_path"\n', "r.toml:2: [[assertion]] type = 'critcal_path' is not one of critical_path, anti_pattern, span_count, memory_usage, custom (did you mean 'critical_path'?)"),
        ('[[assertion]]\ntype = "critical_path"\n', "r.toml:1: [[assertion]] needs 'max_duration_ms'"),
        ('[[assertion]]\ntype = "anti_pattern"\npattern = "GodProces"\n', "r.toml:3: [[assertion]] pattern = 'GodProces' is not an anti-pattern the detector has"),
        ('[[assertion]]\ntype = "memory_usage"\nmax_bytes = 1\ntracking_mode = "rss"\n', "r.toml:4: [[assertion]] tracking_mode = 'rss' is not one of peak, total"),
        ('[[assertion]]\ntype = "span_count"\nmax_spans = -1\n', "r.toml:3: [[assertion]] max_spans must be 0 or more"),
        ('[[assertion]]\ntype = "critical_path"\nmax_duration_ms = 1\ntrace_name_pattern = "("\n', "r.toml:4: [[assertion]] trace_name_pattern is not a regular expression"),
        ('[[assertion]]\nname = "x"\n', "r.toml:1: [[assertion]] needs 'type'"),
        ('[[assertion]]\ntype = "custom"\nexpression = "duration_ms"\n', "r.toml:3: [[assertion]] expression 'duration_ms': a condition must compare something"),
        ('[trace_assertions]\ncondition = "duration_ms < 1"\n', "r.toml:1: trace_assertions must be an array of tables ([[trace_assertions]])"),
        ("[[trace_assertions]\n", "r.toml:1: not valid TOML"),
    ],
)
def test_every_mistake_names_file_line_and_the_closest_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("r.toml"))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_find_config_looks_in_the_directory_then_its_parents(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) is None or not str(find_config(deep)).startswith(str(tmp_path))
    (tmp_path / "renacer.toml").write_text(SPEC_FILE)
    assert find_config(deep) == (tmp_path / "renacer.toml").resolve()
    (deep / "renacer.toml").write_text(TYPED_FILE)
    assert find_config(deep) == (deep / "renacer.toml").resolve()


def test_load_reads_a_file_and_reports_one_that_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "renacer.toml"
    path.write_text(SPEC_FILE)
    assert len(load(path)) == 6
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.toml")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="cannot read"):
        load(path)


def test_the_two_forms_keep_file_order_when_mixed() -> None:
    text = ('[[assertion]]\nname = "one"\ntype = "custom"\nexpression = "duration_ms < 1s"\n'
            '[[trace_assertions]]\nname = "two"\ncondition = "duration_ms < 2s"\n'
            '[[assertion]]\nname = "three"\ntype = "custom"\nexpression = "duration_ms < 3s"\n')
    assert [a.name for a in parse_config(text, Path("r.toml"))] == ["one", "two", "three"]


keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(keys, min_size=1, max_size=4, unique=True), st.integers(0, 3))
def test_any_key_is_accepted_only_when_it_is_a_known_one_and_errors_say_where(names: list[str], blank: int) -> None:
    lines = ["[[trace_assertions]]", *[""] * blank, 'condition = "duration_ms < 1"', *(f'{k} = "x"' for k in names)]
    text = "\n".join(lines) + "\n"
    unknown = [k for k in names if k not in ("name", "condition", "severity", "enabled")]
    try:
        parse_config(text, Path("r.toml"))
    except ConfigError as exc:
        where = int(str(exc).split(":")[1])
        assert lines[where - 1].split(" = ")[0] in names or "condition" in lines[where - 1]
        assert unknown or {"severity", "enabled", "condition"} & set(names)
    else:
        assert not unknown and not {"severity", "enabled", "condition"} & set(names)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=4))
def test_the_metric_vocabulary_check_never_crashes(path: list[str]) -> None:
    problem = problem_with(tuple(path))
    assert problem is None or problem.strip()
