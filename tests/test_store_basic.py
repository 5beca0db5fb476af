"""Store round trip on real files: segments written, catalogued, read back through DuckDB."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renacer_tui.model.schema import SPAN_SCHEMA, batch_from_rows
from renacer_tui.store import QueryError, Store
from renacer_tui.store.config import load_config, parse_config

T0 = 1_764_000_000_000_000_000  # 2025-11-24, Unix ns


def trace_hex(n: int) -> str:
    return f"{n:032x}"


def make_batch(
    trace_id: str,
    n: int,
    *,
    t0: int = T0,
    pid: int = 100,
    rle: dict[int, int] | None = None,
    errors: set[int] = frozenset(),  # type: ignore[assignment]
    name: str = "syscall:read",
    python_source: str | None = None,
    clock0: int = 0,
) -> pa.RecordBatch:
    """n syscall spans 1 µs apart, 500 ns long; `rle` maps row index → rle_count."""
    rows: list[dict[str, Any]] = []
    for i in range(n):
        count = (rle or {}).get(i, 1)
        attrs: dict[str, Any] = {"syscall.name": name.split(":")[-1], "syscall.result": i}
        start, end = t0 + i * 1000, t0 + i * 1000 + 500
        if count > 1:
            end = start + count * 100
            attrs.update({"renacer.rle.total_duration_ns": count * 50, "renacer.rle.max_duration_ns": 60})
        rows.append(
            {
                "trace_id": trace_id,
                "span_id": f"{pid:08x}{clock0 + i + 1:08x}",
                "parent_span_id": f"{pid:08x}00000000",
                "start_time_nanos": start,
                "end_time_nanos": end,
                "span_name": name,
                "status": "ERROR" if i in errors else "OK",
                "status_message": "ENOENT" if i in errors else None,
                "attributes": attrs,
                "python_source": python_source,
                "process_pid": pid,
                "process_name": "prog",
                "process_cmdline": "prog --x",
                "thread_id": pid,
                "logical_clock": clock0 + i + 1,
                "rle_count": count,
            }
        )
    return batch_from_rows(rows)


def write_run(store: Store, run_id: str, trace_id: str, batches: list[pa.RecordBatch], command: str = "prog") -> None:
    store.begin_run(run_id, trace_id, command, started_ns=batches[0]["start_time_nanos"][0].as_py())
    sink = store.segment_sink(run_id)
    for b in batches:
        sink.write(b)
    sink.close()
    store.end_run(run_id, 0, dropped_spans=0)


def test_round_trip_and_layout(db_path: Path) -> None:
    store = Store.open()
    assert store.root == db_path
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o700
    tid = trace_hex(1)
    write_run(store, "run-a", tid, [make_batch(tid, 50), make_batch(tid, 30, t0=T0 + 10**6, clock0=50)])
    files = list((db_path / "spans").rglob("*.parquet"))
    assert len(files) == 1 and files[0].parent.name == "date=2025-11-24"
    assert not list((db_path / "spans").rglob("*.tmp"))
    # pyarrow reads the folder without us; rows are sorted by trace id then start time.
    table = pq.read_table(files[0])
    assert table.schema.equals(SPAN_SCHEMA) and table.num_rows == 80
    starts = table["start_time_nanos"].to_pylist()
    assert starts == sorted(starts)
    assert store.query("SELECT COUNT(*) AS n FROM spans_raw").to_pylist() == [{"n": 80}]
    spans = store.trace_spans(tid)
    assert spans.num_rows == 80 and spans.schema.equals(SPAN_SCHEMA)
    assert store.trace_spans(trace_hex(99)).num_rows == 0
    run = store.query("SELECT * FROM runs").to_pylist()[0]
    assert run["status"] == "ok" and run["spans_stored"] == 80 and run["spans_represented"] == 80
    store.close()


def test_rle_expansion_counts_calls(db_path: Path) -> None:
    store = Store.open()
    tid = trace_hex(2)
    write_run(store, "r", tid, [make_batch(tid, 10, rle={0: 262_144, 5: 3})])
    raw = store.query("SELECT COUNT(*) AS rows, SUM(rle_count) AS calls FROM spans_raw").to_pylist()[0]
    assert raw == {"rows": 10, "calls": 262_144 + 3 + 8}
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": raw["calls"]}]
    group = store.query(
        "SELECT start_time_nanos AS s, end_time_nanos AS e, duration_ns AS d, rle_index AS i FROM spans "
        "WHERE rle_group = 3 ORDER BY s"
    ).to_pylist()
    first_start, last_end = T0 + 5000, T0 + 5000 + 300
    assert [g["i"] for g in group] == [0, 1, 2]
    assert group[0]["s"] == first_start and group[-1]["e"] == last_end
    assert all(g["d"] == 150 // 3 for g in group)  # total 150 ns spread over 3 calls
    durations = store.query("SELECT DISTINCT duration_ms FROM spans WHERE rle_group = 1").to_pylist()
    assert durations == [{"duration_ms": 0.0005}]
    store.close()


def test_spec_queries_run_as_written(db_path: Path) -> None:
    store = Store.open()
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    now = time.time_ns()
    batch = make_batch(tid, 20, t0=now - 3600 * 10**9, python_source="simulation.py:42", errors={3})
    old = make_batch(trace_hex(3), 5, t0=now - 3 * 86400 * 10**9, name="syscall:openat")
    write_run(store, "spec", tid, [batch])
    write_run(store, "old", trace_hex(3), [old])
    q1 = store.query(
        f"""
  SELECT span_name, rust_source, duration_ms
  FROM spans
  WHERE trace_id = '{tid}'
  ORDER BY start_time_nanos
"""
    )
    assert q1.num_rows == 20 and q1.column_names == ["span_name", "rust_source", "duration_ms"]
    q2 = store.query(
        """
  SELECT span_name, AVG(end_time_nanos - start_time_nanos) / 1000000.0 AS avg_ms
  FROM spans
  WHERE span_name LIKE 'syscall:%'
  GROUP BY span_name
  ORDER BY avg_ms DESC
  LIMIT 10
"""
    ).to_pylist()
    assert {r["span_name"] for r in q2} == {"syscall:read", "syscall:openat"}
    q3 = store.query(
        """
  SELECT span_name, attributes->>'syscall.result', rust_source, python_source
  FROM spans
  WHERE python_source LIKE 'simulation.py:42%'
"""
    )
    assert q3.num_rows == 20
    assert sorted(int(v) for v in q3.column(1).to_pylist()) == list(range(20))
    q4 = store.query(
        """
  SELECT COUNT(*), span_name
  FROM spans
  WHERE start_time_nanos > (EXTRACT(EPOCH FROM NOW()) - 86400) * 1000000000
  GROUP BY span_name
"""
    ).to_pylist()
    assert q4 == [{"count_star()": 20, "span_name": "syscall:read"}]  # the 3-day-old run is out
    traces = store.query("SELECT trace_id, runs FROM traces ORDER BY started_ns").to_pylist()
    assert [t["trace_id"] for t in traces] == [trace_hex(3), tid]
    store.close()


def test_parameters_and_json_attributes(db_path: Path) -> None:
    store = Store.open()
    tid = trace_hex(4)
    write_run(store, "p", tid, [make_batch(tid, 10)])
    q = "SELECT COUNT(*) AS n FROM spans WHERE trace_id = ? AND span_name LIKE 'syscall:read%'"
    assert store.query(q, [tid]).to_pylist() == [{"n": 10}]
    assert store.query("SELECT COUNT(*) AS n FROM spans WHERE trace_id = $1", [tid]).to_pylist() == [{"n": 10}]
    got = store.query("SELECT max(CAST(attributes->>'syscall.result' AS INT)) AS m FROM spans").to_pylist()
    assert got == [{"m": 9}]
    store.close()


def test_trace_id_query_reads_only_that_traces_segments(db_path: Path) -> None:
    store = Store.open()
    for n in range(5):
        write_run(store, f"run{n}", trace_hex(10 + n), [make_batch(trace_hex(10 + n), 20, pid=200 + n)])
    everything = store.query("SELECT COUNT(*) AS n FROM spans").to_pylist()
    assert everything == [{"n": 100}] and len(store.engine.last_files) == 5
    target = trace_hex(12)
    expected = {(store.root / p).resolve() for p in store.catalog.segment_paths_for([target])}
    assert len(expected) == 1
    for sql, params in [
        (f"SELECT COUNT(*) AS n FROM spans WHERE trace_id = '{target}'", None),
        (f"SELECT COUNT(*) AS n FROM spans_raw WHERE span_name LIKE 'syscall:%' AND trace_id = '{target}'", None),
        ("SELECT COUNT(*) AS n FROM spans WHERE trace_id = ?", [target]),
    ]:
        assert store.query(sql, params).to_pylist() == [{"n": 20}]
        assert set(store.engine.last_files) == expected
    two = store.query(
        f"SELECT COUNT(*) AS n FROM spans WHERE trace_id IN ('{target}', '{trace_hex(13)}')"
    ).to_pylist()
    assert two == [{"n": 40}] and len(store.engine.last_files) == 2
    # An OR (or a second reference to spans) is not provably one trace: every segment is read.
    either = store.query(f"SELECT COUNT(*) AS n FROM spans WHERE trace_id = '{target}' OR process_pid = 200")
    assert either.to_pylist() == [{"n": 40}] and len(store.engine.last_files) == 5
    sub = store.query(
        f"SELECT COUNT(*) AS n FROM spans WHERE trace_id = '{target}' "
        "AND process_pid IN (SELECT process_pid FROM spans)"
    )
    assert sub.to_pylist() == [{"n": 20}] and len(store.engine.last_files) == 5
    store.close()


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM spans",
        "DROP VIEW spans",
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO runs SELECT * FROM runs",
        "UPDATE runs SET status = 'x'",
        "COPY (SELECT 1) TO 'spans/x.csv'",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'",
        "ATTACH 'other.db' AS o",
        "SET threads = 1",
        "PRAGMA threads = 1",
        "INSTALL sqlite",
        "SELECT 1; DELETE FROM runs",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM query('DELETE FROM runs')",
    ],
)
def test_store_is_read_only(db_path: Path, sql: str) -> None:
    store = Store.open()
    tid = trace_hex(5)
    write_run(store, "ro", tid, [make_batch(tid, 3)])
    with pytest.raises(QueryError) as info:
        store.query(sql)
    assert "\n" not in str(info.value)
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": 3}]
    assert store.query("SELECT COUNT(*) AS n FROM runs").to_pylist() == [{"n": 1}]
    assert not (db_path / "spans" / "x.csv").exists()
    store.close()


def test_read_statements_allowed(db_path: Path) -> None:
    store = Store.open()
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": 0}]  # empty store
    assert "duration_ms" in store.query("DESCRIBE spans").column("column_name").to_pylist()
    assert store.query("EXPLAIN SELECT * FROM spans").num_rows >= 1
    assert store.query("PRAGMA table_info('spans_raw')").num_rows == len(SPAN_SCHEMA)
    with pytest.raises(QueryError, match="syntax error"):
        store.query("SELEC 1")
    with pytest.raises(QueryError):
        store.query("SELECT nope FROM spans")
    store.close()


def test_list_traces_summary(db_path: Path) -> None:
    store = Store.open()
    a, b = trace_hex(6), trace_hex(7)
    write_run(store, "a1", a, [make_batch(a, 10, errors={1, 2}, rle={0: 5})], command="make all")
    store.begin_run("a2", a, "cc x.c", started_ns=T0 + 5 * 10**6)
    sink = store.segment_sink("a2")
    sink.write(make_batch(a, 4, t0=T0 + 5 * 10**6, pid=300))
    sink.close()
    store.end_run("a2", 1, dropped_spans=7)
    write_run(store, "b1", b, [make_batch(b, 3, t0=T0 + 10**9)], command="ls")
    listed = store.list_traces(limit=10).to_pylist()
    assert [t["trace_id"] for t in listed] == [b, a]
    row_a = listed[1]
    assert row_a["command"] == "make all" and row_a["runs"] == 2 and row_a["processes"] == 2
    assert row_a["spans"] == 10 + 4 + 4 and row_a["rows"] == 14 and row_a["errors"] == 2
    assert row_a["duration_ns"] > 5 * 10**6
    assert store.list_traces(limit=1).num_rows == 1
    runs = store.query("SELECT run_id, status, dropped_spans FROM runs ORDER BY run_id").to_pylist()
    assert runs[1] == {"run_id": "a2", "status": "error", "dropped_spans": 7}
    store.close()


def test_config_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RENACER_DB", raising=False)
    monkeypatch.delenv("RENACER_CONFIG", raising=False)
    assert Store.open().root == home / ".renacer" / "db"
    (home / ".renacer").mkdir(parents=True, exist_ok=True)
    (home / ".renacer" / "config.toml").write_text(
        '[database]\npath = "~/traces"\nretention_days = 7\ncompression_level = 5\n'
        "[graph]\ngod_process_threshold = 50\nfan_out_threshold = 9\n[otlp]\nenabled = true\n"
    )
    cfg = load_config()
    assert cfg.database.retention_days == 7 and cfg.otlp.enabled and cfg.graph.god_process_threshold == 50
    assert cfg.graph.threshold("fan_out_threshold", 1) == 9 and cfg.graph.threshold("tight_loop_threshold", 0) == 0  # unset: the analysis's default
    assert Store.open().root == home / "traces"
    monkeypatch.setenv("RENACER_DB", str(tmp_path / "env"))
    assert Store.open().root == tmp_path / "env"
    assert Store.open(tmp_path / "explicit").root == tmp_path / "explicit"
    assert os.path.isdir(tmp_path / "explicit")


@pytest.mark.parametrize(
    "text",
    ["[database\npath = 1", "[database]\nretention_days = 'x'", "database = 3", "[graph]\ngod_process_threshold = true",
     "[database]\ncompression = 'lzma'", "[otlp]\nheaders = 3"],
)
def test_malformed_config_is_one_line(tmp_path: Path, text: str) -> None:
    from renacer_tui.store.config import ConfigError

    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["retention_days", "compression_level", "row_group_size", "path"]),
                       st.one_of(st.integers(-5, 10**6), st.text(max_size=8), st.booleans(), st.floats())))
def test_parse_config_never_crashes_unexpectedly(section: dict[str, Any]) -> None:
    """Any [database] table either parses into typed values or raises ConfigError."""
    from renacer_tui.store.config import ConfigError

    try:
        cfg = parse_config({"database": section})
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(cfg.database.retention_days, int) and cfg.database.retention_days >= 1
    assert isinstance(cfg.database.row_group_size, int)


def test_attributes_with_markup_round_trip(db_path: Path) -> None:
    store = Store.open()
    tid = trace_hex(8)
    nasty = '[bold red]x[/] \x1b[31m "quoted" \\ \u2603'
    batch = batch_from_rows(
        [{"trace_id": tid, "span_id": "00000001" * 2, "start_time_nanos": T0, "end_time_nanos": T0 + 1,
          "span_name": "syscall:openat", "attributes": {"syscall.pathname": nasty}, "process_pid": 1,
          "process_name": "p", "thread_id": 1, "logical_clock": 1}]
    )
    write_run(store, "m", tid, [batch])
    got = store.query("SELECT attributes->>'syscall.pathname' AS p FROM spans").to_pylist()
    assert got == [{"p": nasty}]
    assert json.loads(store.trace_spans(tid)["attributes"][0].as_py())["syscall.pathname"] == nasty
    store.close()
