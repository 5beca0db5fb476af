"""Metrics of a stored trace and the outcome of assertions on it: known answers, spec messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from synthetic import MS, span

from renacer_tui.check.config import parse_config
from renacer_tui.check.evaluate import FAIL, PASS, SKIP, UNDECIDED, check_all, exit_code, parse_ratio, regressions
from renacer_tui.check.metrics import FIXED_METRICS, MissingMetric, TraceMetrics, problem_with
from renacer_tui.check.report import github_annotations, to_text
from renacer_tui.model.schema import batch_from_rows
from renacer_tui.store.store import Store

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER = "0af7651916cd43dd8448eb211c80319c"
ANON = "MAP_PRIVATE|MAP_ANONYMOUS"


def simulation(read_ms: int = 143, total_ms: int = 347) -> list[dict[str, Any]]:
    """The spec's example: a 347 ms run whose critical path's biggest step is a 143 ms read."""
    read = span(4, 2, 100, 100 + read_ms, "syscall:read", syscall__result=4096, syscall__fd=3)
    read["rust_source"] = "simulation.rs:127"
    return [
        span(1, None, 0, total_ms, "renacer:run ./simulation --fast", pid=1, process__exit_code=0),
        span(2, 1, 0, total_ms, "process:simulation"),
        span(3, 2, 1, 2, "syscall:openat", syscall__pathname="/data/in", syscall__result=3),
        read,
        span(5, 2, 250, 260, "syscall:read", rle=99, syscall__result=10, renacer__rle__total_duration_ns=5 * MS),
        span(6, 2, 261, 262, "syscall:write", syscall__result=7),
        span(7, 2, 263, 264, "syscall:openat", syscall__pathname="/nope", syscall__result=-2),
        span(8, 2, 3, 4, "syscall:brk", syscall__args="NULL", syscall__result=1_000_000),
        span(9, 2, 5, 6, "syscall:brk", syscall__args="0xf4240", syscall__result=1_300_000),
        span(10, 2, 7, 8, "syscall:mmap", syscall__args=f"NULL, 200000, PROT_READ|PROT_WRITE, {ANON}, -1, 0",
             syscall__flags=ANON, syscall__result=0x7000_0000),
        span(11, 2, 9, 10, "syscall:munmap", syscall__args="0x70000000, 200000", syscall__result=0),
        span(12, 2, 11, 12, "syscall:mmap", syscall__args=f"NULL, 50000, PROT_READ|PROT_WRITE, {ANON}, -1, 0",
             syscall__flags=ANON, syscall__result=0x7100_0000),
        span(13, 2, 13, 14, "syscall:mmap", syscall__args="NULL, 9999999, PROT_READ, MAP_PRIVATE, 3, 0",
             syscall__flags="MAP_PRIVATE", syscall__result=0x7200_0000),
    ]


def with_errors(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        if row["attributes"].get("syscall.result") == -2:
            row["status"], row["status_message"] = "ERROR", "ENOENT"
    return rows


def gpu_rows() -> list[dict[str, Any]]:
    return [
        span(1, None, 0, 100, "renacer:run ./train", pid=1),
        span(2, 1, 0, 100, "process:train"),
        span(3, 2, 10, 60, "gpu:matmul", gpu__transfer_time_nanos=40 * MS, gpu__compute_time_nanos=5 * MS),
    ]


def store_trace(trace: str, rows: list[dict[str, Any]], started: int = 1_000) -> None:
    for row in rows:
        row["trace_id"] = trace
    with Store.open() as store:
        store.begin_run(f"run-{trace[:8]}", trace, "./x", started_ns=started)
        sink = store.segment_sink(f"run-{trace[:8]}")
        sink.write(batch_from_rows(rows))
        sink.close()
        store.end_run(f"run-{trace[:8]}", 0, ended_ns=started + 100 * MS)


def metrics_of(trace: str) -> TraceMetrics:
    with Store.open() as store:
        return TraceMetrics.from_store(store, trace)


@pytest.fixture()
def simulated(db_path: Path) -> TraceMetrics:
    store_trace(TRACE, with_errors(simulation()))
    return metrics_of(TRACE)


def test_known_answers(simulated: TraceMetrics) -> None:
    m = simulated
    assert m.value(("duration_ms",)) == 347
    assert m.value(("critical_path", "duration_ms")) == 347
    assert m.value(("spans", "count")) == 2 + 11 + 98
    assert m.value(("spans", "syscall", "count")) == 11 + 98
    assert m.value(("spans", "syscall:read", "count")) == 100
    assert m.value(("spans", "syscall:read", "rows")) == 2
    assert m.value(("spans", "syscall:read", "rle_compressed_ratio")) == pytest.approx(1 - 2 / 100)
    assert m.value(("spans", "syscall:read", "duration_ms")) == pytest.approx(143 + 5)
    assert m.value(("spans", "%file", "count")) == 2  # the two openat
    assert m.value(("spans", "syscall:open*", "count")) == 2
    assert m.value(("spans", "process", "count")) == 1
    assert m.value(("errors", "count")) == 1
    assert m.value(("spans", "%file", "errors")) == 1
    assert m.value(("process", "count")) == 1
    assert m.value(("process", "exit_code")) == 0
    assert m.value(("io", "bytes_read")) == 4096 + 99 * 10
    assert m.value(("io", "bytes_written")) == 7
    # brk grew 300 000; 200 000 mapped then unmapped; 50 000 mapped after; the file mapping is not anonymous
    assert m.value(("memory", "peak_bytes")) == 500_000
    assert m.value(("memory", "allocated_bytes")) == 550_000
    assert m.value(("antipatterns", "count")) >= 1  # the 143 ms read blocks the critical path
    assert m.value(("antipatterns", "blocking_io", "count")) == 1
    assert m.command == "./simulation --fast"


def test_every_fixed_metric_is_known_and_computes_or_says_why_not(simulated: TraceMetrics) -> None:
    for name in FIXED_METRICS:
        path = tuple(name.split("."))
        assert problem_with(path) is None
        try:
            assert simulated.value(path) >= 0 or name == "process.exit_code"
        except MissingMetric as exc:
            assert name.startswith("gpu.") and "no GPU spans" in str(exc)


def test_the_spec_failure_message_with_the_bottleneck_and_its_source(simulated: TraceMetrics) -> None:
    config = parse_config('[[trace_assertions]]\nname = "Critical path under 200ms"\ncondition = "critical_path.duration_ms < 200"\n', Path("renacer.toml"))
    (outcome,) = check_all(config, simulated)
    assert outcome.status == FAIL
    assert f"{outcome.name} - {outcome.message}" == "Critical path under 200ms - Actual: 347ms (73% over limit)"
    assert outcome.details == ["Bottleneck: syscall:read at simulation.rs:127 (143ms)"]
    assert exit_code([outcome]) == 1
    text = to_text([outcome], TRACE)
    assert "FAIL  Critical path under 200ms - Actual: 347ms (73% over limit)\n      Bottleneck: syscall:read at simulation.rs:127 (143ms)" in text


def test_a_trace_without_gpu_spans_fails_gpu_assertions_with_a_reason_or_skips_them(simulated: TraceMetrics) -> None:
    config = parse_config(
        '[[trace_assertions]]\ncondition = "gpu.transfer_time_ms / gpu.compute_time_ms < 5.0"\nseverity = "warning"\n'
        '[[trace_assertions]]\ncondition = "gpu.compute_time_ms < 10"\n',
        Path("renacer.toml"),
    )
    warning, error = check_all(config, simulated)
    assert warning.status == error.status == UNDECIDED
    assert "no GPU spans" in warning.message
    assert exit_code([warning]) == 0 and exit_code([warning, error]) == 1
    assert {o.status for o in check_all(config, simulated, skip_undecided=True)} == {SKIP}


def test_gpu_metrics_division_and_the_pcie_detector(db_path: Path) -> None:
    store_trace(OTHER, gpu_rows())
    m = metrics_of(OTHER)
    assert m.value(("gpu", "transfer_time_ms")) == 40
    assert m.value(("gpu", "compute_time_ms")) == 5
    config = parse_config(
        '[[trace_assertions]]\ncondition = "gpu.transfer_time_ms / gpu.compute_time_ms < 5.0"\n'
        '[[trace_assertions]]\ncondition = "antipatterns.pcie_bottleneck.count == 0"\n'
        '[[trace_assertions]]\ncondition = "gpu.transfer_time_ms / (gpu.compute_time_ms - 5) < 1"\n',
        Path("renacer.toml"),
    )
    ratio, pcie, zero = check_all(config, m)
    assert ratio.status == FAIL and "gpu.transfer_time_ms = 40.0ms, gpu.compute_time_ms = 5.0ms" in ratio.message
    assert pcie.status == FAIL
    assert zero.status == UNDECIDED and "division by zero" in zero.message


def test_scoped_typed_assertions(simulated: TraceMetrics) -> None:
    config = parse_config(
        '[[assertion]]\ntype = "critical_path"\nmax_duration_ms = 1\ntrace_name_pattern = "^make"\n'
        '[[assertion]]\ntype = "anti_pattern"\npattern = "BlockingIo"\nprocess_name_pattern = "^simulation$"\n'
        '[[assertion]]\ntype = "anti_pattern"\npattern = "blocking-io"\nprocess_name_pattern = "^other$"\n'
        '[[assertion]]\ntype = "memory_usage"\nmax_bytes = 400000\n'
        '[[assertion]]\ntype = "span_count"\nmax_spans = 100\nspan_name_pattern = "syscall:read"\n'
        '[[assertion]]\ntype = "custom"\nexpression = "errors.count == 0"\nenabled = false\n',
        Path("renacer.toml"),
    )
    statuses = [o.status for o in check_all(config, simulated)]
    assert statuses == [SKIP, FAIL, PASS, FAIL, PASS, SKIP]


def test_regressions_name_each_metric_that_got_worse(db_path: Path) -> None:
    store_trace(OTHER, simulation(read_ms=100, total_ms=300), started=1_000)
    store_trace(TRACE, simulation(read_ms=143, total_ms=347), started=2_000)
    config = parse_config('[[trace_assertions]]\ncondition = "spans.syscall:read.rle_compressed_ratio > 0.5"\n', Path("r.toml"))
    outcomes = regressions(metrics_of(TRACE), metrics_of(OTHER), config, parse_ratio("10%"))
    by_name = {o.name: o for o in outcomes}
    failed = by_name["No regression: duration_ms"]
    assert failed.status == FAIL
    assert failed.message == f"regressed +16%: 300ms → 347ms (limit 10%, baseline {OTHER})"
    assert by_name["No regression: spans.syscall.count"].status == PASS
    assert by_name['No regression: spans["syscall:read"].rle_compressed_ratio'].status == PASS
    assert all(o.status == PASS for o in regressions(metrics_of(TRACE), metrics_of(OTHER), config, parse_ratio("20%")))
    assert exit_code(outcomes) == 1


@pytest.mark.parametrize(("text", "value"), [("10%", 0.1), ("0.25", 0.25), (" 5 % ".replace(" ", ""), 0.05)])
def test_parse_ratio(text: str, value: float) -> None:
    assert parse_ratio(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["ten", "-5%", "nan", "inf%", ""])
def test_parse_ratio_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ratio(text)


def test_github_annotations_escape_and_point_at_the_config_line(simulated: TraceMetrics) -> None:
    config = parse_config('\n[[trace_assertions]]\nname = "a, b: c"\ncondition = "critical_path.duration_ms < 200"\n', Path("ci/renacer.toml"))
    (outcome,) = check_all(config, simulated)
    line = github_annotations([outcome]).splitlines()[0]
    assert line.startswith("::error file=ci/renacer.toml,line=2,title=a%2C b%3A c::a, b: c - Actual: 347ms (73%25 over limit)%0ABottleneck")
    assert outcome.status != PASS


def test_or_decides_without_the_metric_the_trace_lacks(simulated: TraceMetrics) -> None:
    config = parse_config('[[trace_assertions]]\ncondition = "spans.syscall.count > 0 or gpu.compute_time_ms < 1"\n'
                          '[[trace_assertions]]\ncondition = "gpu.compute_time_ms < 1 or spans.syscall.count > 0"\n', Path("r.toml"))
    first, second = check_all(config, simulated)
    assert first.status == PASS and list(first.values) == ["spans.syscall.count"]
    assert second.status == UNDECIDED and "no GPU spans" in second.message
