"""`renacer-tui db …` end to end: real traced runs and real segments, checked against what DuckDB,
pyarrow and SQLite read from the db folder directly (not through the store's own code)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pty
import re
import select
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from renacer_tui.model.schema import batch_from_rows
from renacer_tui.store import Store

HOSTILE = "\x1b[31m[bold]x[/bold]"
HOSTILE_SHOWN = "\\x1b[31m[bold]x[/bold]"
HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS
#: Rich honours these even on a pipe; the tests compare plain text, so a CI's settings must not leak in.
_TERMINAL_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS")


def plain_env(env: dict[str, str] | None = None) -> dict[str, str]:
    return {k: v for k, v in (os.environ if env is None else env).items() if k not in _TERMINAL_ENV}


def db(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`renacer-tui db ARGS` as a user's shell runs it."""
    return subprocess.run(
        [sys.executable, "-m", "renacer_tui", "db", *args],
        capture_output=True,
        text=True,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        env=plain_env(env),
        timeout=60,
    )


def db_here(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess:
    """The same command line through `renacer_tui.cli.main` in this process (no interpreter start-up)."""
    from renacer_tui.cli import main

    capsys.readouterr()
    code = main(["db", *args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["db", *args], code, out, err)


def one_error_line(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def segment_files(root: Path) -> list[Path]:
    return sorted((root / "spans").rglob("*.parquet"))


def direct(root: Path, sql: str) -> list[tuple[Any, ...]]:
    """DuckDB straight on the segment files: `raw` is every stored row."""
    files = [str(f) for f in segment_files(root)]
    con = duckdb.connect()
    con.execute(f"CREATE VIEW raw AS SELECT * FROM read_parquet({files!r})")
    return con.execute(sql).fetchall()


def catalog_rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"file:{root / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def snapshot(root: Path) -> dict[str, Any]:
    """Everything a write could change: segment bytes and every catalog table's rows."""
    files = {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in segment_files(root)}
    tables = [r[0] for r in catalog_rows(root, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {"files": files, **{t: sorted(map(repr, catalog_rows(root, f"SELECT * FROM [{t}]"))) for t in tables}}


def write_trace(
    store: Store, trace_id: str, n: int, t0: int, *, pid: int = 100, command: str = "prog",
    process_name: str = "prog", extra: dict[str, Any] | None = None, errors: int = 0,
) -> None:
    """One run of `n` syscall spans through the store's real segment writer."""
    rows = []
    for i in range(n):
        rows.append(
            {
                "trace_id": trace_id,
                "span_id": f"{pid:08x}{i + 1:08x}",
                "parent_span_id": f"{pid:08x}00000000",
                "start_time_nanos": t0 + i * 1000,
                "end_time_nanos": t0 + i * 1000 + 400,
                "span_name": "syscall:read",
                "status": "ERROR" if i < errors else "OK",
                "attributes": {"syscall.result": i, **(extra or {})},
                "process_pid": pid,
                "process_name": process_name,
                "process_cmdline": command,
                "thread_id": pid,
                "logical_clock": i + 1,
                "rle_count": 1,
            }
        )
    run_id = f"run-{trace_id[-6:]}"
    store.begin_run(run_id, trace_id, command, started_ns=t0)
    sink = store.segment_sink(run_id)
    sink.write(batch_from_rows(rows))
    sink.close()
    store.end_run(run_id, 0, ended_ns=t0 + n * 1000)


@pytest.fixture(scope="module")
def traced_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A store filled by really tracing two shell commands (done once, copied per test)."""
    base = tmp_path_factory.mktemp("traced")
    env = dict(os.environ, RENACER_DB=str(base / "db"), HOME=str(base / "home"))
    ids = []
    for script in ("cat /etc/hostname >/dev/null", "ls / >/dev/null; cat /no/such/file 2>/dev/null; true"):
        result = subprocess.run(
            [sys.executable, "-m", "renacer_tui", "--no-tui", "--", "sh", "-c", script],
            capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        ids.append(result.stderr.rsplit("trace_id=", 1)[1].split()[0])
    return base / "db", ids


@pytest.fixture()
def traced(db_path: Path, traced_template: tuple[Path, list[str]]) -> list[str]:
    shutil.copytree(traced_template[0], db_path)
    return traced_template[1]


def test_query_formats_match_duckdb_on_the_folder(db_path: Path, traced: list[str]) -> None:
    sql = "SELECT span_name, COUNT(*) AS n, SUM(rle_count) AS calls FROM spans_raw GROUP BY span_name ORDER BY span_name"
    expected = direct(db_path, sql.replace("spans_raw", "raw"))
    assert len(expected) > 10

    as_json = db("query", "--format", "json", "--sql", sql)
    assert as_json.returncode == 0, as_json.stderr
    assert [(r["span_name"], r["n"], r["calls"]) for r in json.loads(as_json.stdout)] == expected

    as_csv = db("query", "--format", "csv", "--sql", sql)
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["span_name", "n", "calls"]
    assert rows[1:] == [[name, str(n), str(c)] for name, n, c in expected]

    as_table = db("query", sql)  # positional SQL, table is the default format
    assert as_table.returncode == 0, as_table.stderr
    lines = as_table.stdout.splitlines()
    assert lines[0].split() == ["span_name", "n", "calls"]
    body = [re.split(r"\s{2,}", line.strip()) for line in lines[2:-1] if line.strip()]  # columns: ≥ 3 spaces
    assert body == [[name, str(n), str(c)] for name, n, c in expected]
    assert lines[-1] == f"({len(expected)} rows)"
    clipped = db("query", "--max-rows", "3", sql).stdout.splitlines()
    assert [re.split(r"\s{2,}", line.strip())[0] for line in clipped[2:-1]] == [name for name, _n, _c in expected[:3]]
    assert clipped[-1].startswith(f"({len(expected)} rows, {len(expected) - 3} not shown")

    # `spans` expands RLE rows: one row per call, as many as the stored rows represent.
    total = db("query", "-f", "json", "SELECT COUNT(*) AS n FROM spans")
    assert json.loads(total.stdout) == [{"n": direct(db_path, "SELECT SUM(rle_count) FROM raw")[0][0]}]


def test_spec_queries_run_as_written(db_path: Path, traced: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """The spec's §6.1 `db query --sql` examples, unchanged, on really traced runs."""
    last_day = db_here(
        capsys, "query", "-f", "json", "--sql",
        "SELECT COUNT(*), span_name FROM spans "
        "WHERE start_time_nanos > (EXTRACT(EPOCH FROM NOW()) - 86400) * 1000000000 GROUP BY span_name",
    )
    assert last_day.returncode == 0, last_day.stderr
    got = {r["span_name"]: r["count_star()"] for r in json.loads(last_day.stdout)}
    assert got == dict((n, c) for n, c in direct(db_path, "SELECT span_name, SUM(rle_count) FROM raw GROUP BY 1"))

    slowest = db_here(
        capsys, "query", "-f", "csv", "--sql",
        "SELECT span_name, AVG(end_time_nanos - start_time_nanos) / 1000000.0 AS avg_ms FROM spans "
        "WHERE span_name LIKE 'syscall:%' GROUP BY span_name ORDER BY avg_ms DESC LIMIT 10",
    )
    assert slowest.returncode == 0, slowest.stderr
    rows = list(csv.reader(io.StringIO(slowest.stdout)))
    assert rows[0] == ["span_name", "avg_ms"] and len(rows) == 11
    assert [float(r[1]) for r in rows[1:]] == sorted((float(r[1]) for r in rows[1:]), reverse=True)

    by_trace = db_here(
        capsys, "query", "--sql",
        f"SELECT span_name, rust_source, duration_ms FROM spans WHERE trace_id = '{traced[0]}' "
        "ORDER BY start_time_nanos",
    )
    assert by_trace.returncode == 0, by_trace.stderr
    want = direct(db_path, f"SELECT SUM(rle_count) FROM raw WHERE trace_id = '{traced[0]}'")[0][0]
    assert by_trace.stdout.splitlines()[-1].startswith(f"({want} rows")

    source = db_here(
        capsys, "query", "-f", "json", "--sql",
        "SELECT span_name, attributes->>'syscall.result', rust_source, python_source FROM spans "
        "WHERE python_source LIKE 'simulation.py:42%'",
    )
    assert (source.returncode, source.stdout) == (0, "[]\n")


def test_sql_from_option_argument_or_stdin(db_path: Path, traced: list[str]) -> None:
    sql = f"SELECT COUNT(*) AS n, MIN(start_time_nanos) AS t FROM spans_raw WHERE trace_id = '{traced[0]}'"
    want = direct(db_path, sql.replace("spans_raw", "raw"))
    outputs = [
        db("query", "-f", "json", "--sql", sql),
        db("query", "-f", "json", sql),
        db("query", "-f", "json", "-", stdin=sql),
        db("query", "-f", "json", "--sql", "-", stdin=sql),
    ]
    for result in outputs:
        assert result.returncode == 0, result.stderr
        assert [(r["n"], r["t"]) for r in json.loads(result.stdout)] == want
    one_error_line(db("query", "--sql", sql, sql), 2)  # SQL twice
    one_error_line(db("query"), 2)  # no SQL at all
    one_error_line(db("query", "-", stdin="   \n"), 2)  # empty stdin
    one_error_line(db("query", "--format", "xml", sql), 2)


def test_sql_types_render_in_every_format(db_path: Path) -> None:
    sql = (
        "SELECT NULL AS nothing, [1, 2] AS list, {'a': 'b'} AS struct, 1.50::DECIMAL(10, 2) AS dec, "
        "SUM(x) AS huge, 'nan'::DOUBLE AS nan, INTERVAL 90 MINUTE AS span, DATE '2020-01-02' AS day "
        "FROM (VALUES (9223372036854775807), (1)) v(x)"
    )
    row = json.loads(db("query", "-f", "json", sql).stdout)
    assert row == [
        {"nothing": None, "list": [1, 2], "struct": {"a": "b"}, "dec": 1.5, "huge": 2**63, "nan": None,
         "span": {"months": 0, "days": 0, "nanoseconds": 90 * 60 * 10**9}, "day": "2020-01-02"}
    ]
    fields = list(csv.reader(io.StringIO(db("query", "-f", "csv", sql).stdout)))[1]
    assert fields[:6] == ["", "[1, 2]", '{"a": "b"}', "1.50", str(2**63), "nan"]
    table = db("query", sql).stdout.splitlines()[2]
    assert table.split()[0] == "NULL" and str(2**63) in table and "2020-01-02" in table


def test_a_closed_pipe_stops_quietly(db_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "renacer_tui", "db", "query", "-f", "csv", "SELECT * FROM range(300000)"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"range\n"
    proc.stdout.close()  # like `| head -1`
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 141 and err == b""


@pytest.mark.parametrize(
    "sql",
    ["SELEC 1", "SELECT no_such_column FROM spans", "SELECT * FROM no_such_table", "SELECT 'unterminated"],
)
def test_bad_sql_is_one_line_exit_2(db_path: Path, traced: list[str], sql: str) -> None:
    result = db("query", "--sql", sql)
    line = one_error_line(result, 2)
    assert line.startswith("renacer-tui db: ")
    assert result.stdout == ""


def test_writes_are_refused_and_nothing_changes(
    db_path: Path, traced: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(db_path)
    target = tmp_path / "escaped"
    attempts = [
        "INSERT INTO runs (run_id) VALUES ('x')",
        "CREATE TABLE t AS SELECT * FROM spans",
        f"COPY (SELECT * FROM spans_raw) TO '{target}.parquet' (FORMAT parquet)",
        f"COPY spans_raw TO '{db_path}/spans/evil.parquet'",
        f"ATTACH '{db_path}/catalog.sqlite' AS cat (TYPE sqlite)",
        f"ATTACH '{target}.duckdb' AS other",
        "DELETE FROM runs",
        "UPDATE traces SET first_command = 'x'",
        "DROP VIEW spans",
        "SELECT 1; DELETE FROM runs",
        f"EXPORT DATABASE '{target}'",
        "SET enable_external_access = true",
        "INSTALL sqlite",
    ]
    one_error_line(db("query", "--sql", attempts[0]), 2)  # once as a real process
    for sql in attempts:
        result = db_here(capsys, "query", "--sql", sql)
        one_error_line(result, 2)
        assert result.stdout == ""
    assert snapshot(db_path) == before
    assert not list(tmp_path.glob("escaped*"))
    ok = db("query", "-f", "json", "SELECT COUNT(*) AS n FROM runs")
    assert json.loads(ok.stdout) == [{"n": 2}]


def test_stats_match_direct_reads(db_path: Path, traced: list[str]) -> None:
    result = db("stats", "--format", "json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    rows, calls, traces, first, last, errors = direct(
        db_path,
        "SELECT COUNT(*), SUM(rle_count), COUNT(DISTINCT trace_id), MIN(start_time_nanos), MAX(end_time_nanos), "
        "SUM(CASE WHEN status = 'ERROR' THEN rle_count ELSE 0 END) FROM raw",
    )[0]
    seg_bytes = sum(f.stat().st_size for f in segment_files(db_path))
    assert stats["traces"] == traces == 2
    assert stats["runs"] == catalog_rows(db_path, "SELECT COUNT(*) FROM runs")[0][0] == 2
    assert (stats["spans_stored"], stats["spans_represented"], stats["error_spans"]) == (rows, calls, errors)
    assert stats["bytes"] == seg_bytes
    assert stats["bytes_per_span"] == pytest.approx(seg_bytes / rows)
    assert (stats["first_ns"], stats["last_ns"]) == (first, last)

    text = db("stats")
    assert text.returncode == 0, text.stderr
    fields = {line[:18].strip(): line[18:].strip() for line in text.stdout.splitlines()}
    assert fields["traces"] == "2"
    assert fields["spans stored"] == f"{rows} rows"
    assert fields["spans represented"] == f"{calls} calls"
    assert fields["bytes"].startswith(f"{seg_bytes} ")
    assert fields["time range"] == f"{stats['first']} .. {stats['last']}"


def test_path_and_size(db_path: Path, traced: list[str], tmp_path: Path) -> None:
    assert db("path").stdout.strip() == str(db_path)
    other = tmp_path / "elsewhere"
    assert db("path", "--db", str(other)).stdout.strip() == str(other)
    assert not other.exists()  # `path` only tells, it creates nothing

    sizes = json.loads(db("size", "--format", "json").stdout)
    assert sizes["segments"] == sum(f.stat().st_size for f in segment_files(db_path))
    assert sizes["catalog"] >= (db_path / "catalog.sqlite").stat().st_size > 0  # + its WAL while open
    assert sizes["quarantine"] == sizes["other"] == 0
    assert sizes["total"] == sizes["segments"] + sizes["catalog"]
    text = db("size").stdout.splitlines()
    assert text[0].split()[:2] == ["segments", str(sizes["segments"])]
    assert text[-1].split()[:2] == ["total", str(sizes["total"])]


def test_traces_list_real_runs(db_path: Path, traced: list[str]) -> None:
    result = db("traces", "--format", "json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [t["trace_id"] for t in listed] == traced[::-1]  # newest first
    per_trace = {
        tid: (spans, errors, procs, start, end)
        for tid, spans, errors, procs, start, end in direct(
            db_path,
            "SELECT trace_id, SUM(rle_count), SUM(CASE WHEN status = 'ERROR' THEN rle_count ELSE 0 END), "
            "COUNT(DISTINCT process_pid), MIN(start_time_nanos), MAX(end_time_nanos) FROM raw GROUP BY trace_id",
        )
    }
    for entry in listed:
        spans, errors, procs, start, end = per_trace[entry["trace_id"]]
        assert (entry["spans"], entry["errors"], entry["processes"]) == (spans, errors, procs)
        assert entry["started_ns"] <= start and entry["started_ns"] + entry["duration_ns"] >= end
        assert entry["command"].startswith("sh -c ")
    assert json.loads(db("traces", "--limit", "1", "-f", "json").stdout)[0]["trace_id"] == traced[1]

    table = db("traces")
    assert table.returncode == 0, table.stderr
    for entry in listed:
        line = next(line for line in table.stdout.splitlines() if line.startswith(entry["trace_id"]))
        assert entry["command"] in line
        assert line.split()[-3:] == [str(entry["processes"]), str(entry["spans"]), str(entry["errors"])]


def test_hostile_values_are_printed_literally(db_path: Path) -> None:
    store = Store.open()
    tid = "ab" * 16
    write_trace(store, tid, 3, time.time_ns() - HOUR_NS, command=HOSTILE, process_name=HOSTILE, extra={"evil": HOSTILE})
    store.close()
    sql = f"SELECT process_name AS \"{HOSTILE.replace(chr(27), '')}\", attributes->>'evil' AS evil FROM spans_raw"
    table = db("query", sql)
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout
    assert table.stdout.count(HOSTILE_SHOWN) == 6  # 3 rows × 2 columns, markup and escape shown as text
    assert "[31m[bold]x[/bold]" in table.stdout.splitlines()[0]  # a hostile column name too

    traces = db("traces")
    assert "\x1b" not in traces.stdout and HOSTILE_SHOWN in traces.stdout

    # Machine formats carry the value exactly.
    exact = json.loads(db("query", "-f", "json", sql).stdout)
    assert [r["evil"] for r in exact] == [HOSTILE] * 3
    piped_csv = list(csv.reader(io.StringIO(db("query", "-f", "csv", sql).stdout)))
    assert [r[1] for r in piped_csv[1:]] == [HOSTILE] * 3


def three_traces(store: Store) -> list[str]:
    tids = [f"{30 + i:032x}" for i in range(3)]
    t0 = time.time_ns() - HOUR_NS
    for i, tid in enumerate(tids):
        write_trace(store, tid, 100, t0 + i * 10**6, pid=10 + i)
    return tids


def test_corrupt_segment_is_named_and_the_rest_stays_queryable(db_path: Path) -> None:
    store = Store.open()
    tids = three_traces(store)
    bad = store.root / store.catalog.segment_paths_for([tids[1]])[0]
    store.close()
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])

    result = db("query", "-f", "json", "SELECT trace_id, COUNT(*) AS n FROM spans GROUP BY trace_id ORDER BY 1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"trace_id": tids[0], "n": 100}, {"trace_id": tids[2], "n": 100}]
    line = one_error_line(result, 0)
    assert "warning" in line and str(bad) in line


def test_doctor_finds_and_quarantines_a_bad_segment(db_path: Path) -> None:
    store = Store.open()
    tids = three_traces(store)
    rel = store.catalog.segment_paths_for([tids[2]])[0]
    store.close()
    healthy = db("doctor")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "no problems" in healthy.stdout

    bad = db_path / rel
    data = bytearray(bad.read_bytes())
    data[-200:-8] = b"\xff" * 192  # same size, smashed footer
    bad.write_bytes(bytes(data))
    found = db("doctor")
    assert found.returncode == 1 and "Traceback" not in found.stderr
    problem = [line for line in found.stdout.splitlines() if rel in line]
    assert len(problem) == 1 and problem[0].startswith("corrupt") and "[fixed]" not in problem[0]
    assert bad.exists()  # listing changes nothing

    fixed = db("doctor", "--quarantine")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert any(rel in line and "[fixed]" in line for line in fixed.stdout.splitlines())
    assert not bad.exists() and (db_path / "quarantine" / rel).read_bytes() == bytes(data)
    assert db("doctor").returncode == 0
    assert catalog_rows(db_path, "SELECT COUNT(*) FROM segments")[0][0] == 2
    assert pq.read_table([str(f) for f in segment_files(db_path)]).num_rows == 200
    again = db("query", "-f", "json", "SELECT COUNT(*) AS n FROM spans")
    assert json.loads(again.stdout) == [{"n": 200}] and again.stderr == ""


def test_vacuum_by_age_and_by_configured_retention(db_path: Path, tmp_path: Path) -> None:
    store = Store.open()
    old, new = "0e" * 16, "1e" * 16
    now = time.time_ns()
    write_trace(store, old, 40, now - 100 * DAY_NS)
    write_trace(store, new, 25, now - HOUR_NS, pid=200)
    store.close()
    config = tmp_path / "home" / ".renacer" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)

    config.write_text("[database]\nretention_days = 200\n")
    kept = db("vacuum")
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.startswith("removed 0 segments") and "200d" in kept.stdout
    assert len(segment_files(db_path)) == 2

    config.write_text("[database]\nretention_days = 50\n")
    removed = db("vacuum")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("removed 1 segments") and "1 runs and 1 traces" in removed.stdout
    assert direct(db_path, "SELECT trace_id, COUNT(*) FROM raw GROUP BY trace_id") == [(new, 25)]
    assert catalog_rows(db_path, "SELECT trace_id FROM traces") == [(new,)]
    assert [t["trace_id"] for t in json.loads(db("traces", "-f", "json").stdout)] == [new]

    assert db("vacuum", "--older-than", "90d").stdout.startswith("removed 0 segments")
    assert db("vacuum", "--older-than", "30m").stdout.startswith("removed 1 segments")
    assert segment_files(db_path) == []
    one_error_line(db("vacuum", "--older-than", "soon"), 2)


def _small_runs(store: Store, count: int) -> dict[str, int]:
    t0 = time.time_ns() - 2 * HOUR_NS
    sizes = {}
    for i in range(count):
        tid = f"{0xC0 + i:032x}"
        write_trace(store, tid, 50 + i, t0 + i * 10**7, pid=300 + i, errors=i)
        sizes[tid] = 50 + i
    return sizes


def test_compact_merges_and_keeps_every_span(db_path: Path) -> None:
    store = Store.open()
    sizes = _small_runs(store, 6)
    store.close()
    before = direct(db_path, "SELECT trace_id, COUNT(*), SUM(rle_count), MIN(start_time_nanos) FROM raw GROUP BY 1 ORDER BY 1")
    assert len(segment_files(db_path)) == 6

    result = db("compact")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("merged 6 segments into 1")
    assert result.stderr == ""  # quiet when not on a terminal
    assert len(segment_files(db_path)) == 1
    after = direct(db_path, "SELECT trace_id, COUNT(*), SUM(rle_count), MIN(start_time_nanos) FROM raw GROUP BY 1 ORDER BY 1")
    assert after == before and {t: n for t, n, _c, _s in after} == sizes
    stats = json.loads(db("stats", "-f", "json").stdout)
    assert (stats["segments"], stats["spans_stored"], stats["traces"]) == (1, sum(sizes.values()), 6)
    assert db("compact").stdout.strip() == "nothing to compact"


def test_compact_shows_a_progress_bar_on_a_terminal(db_path: Path) -> None:
    store = Store.open()
    _small_runs(store, 4)
    store.close()
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "renacer_tui", "db", "compact"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, env=dict(plain_env(), TERM="xterm"),
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, seen
    assert out.decode().startswith("merged 4 segments into 1")
    text = seen.decode(errors="replace")
    assert "compacting" in text and "4/4" in text


def test_unusable_store_is_one_line_exit_1(db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    one_error_line(db("query", "SELECT 1", "--db", str(a_file)), 1)  # once as a real process
    for args in (["query", "SELECT 1"], ["stats"], ["size"], ["traces"], ["vacuum"], ["compact"], ["doctor"]):
        line = one_error_line(db_here(capsys, *args, "--db", str(a_file)), 1)
        assert str(a_file) in line
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "catalog.sqlite").write_bytes(b"this is not a database" * 100)
    # a damaged catalog is read around (issue 17): the reader answers from the segments' own
    # metadata, says so once and how to repair it; writes are refused with one line
    read = db("stats", "--db", str(garbage))
    assert read.returncode == 0 and "Traceback" not in read.stderr, read.stderr
    assert [line for line in read.stderr.splitlines() if "is damaged" in line and "db doctor --quarantine" in line]
    one_error_line(db("vacuum", "--db", str(garbage)), 1)
    bad_config = tmp_path / "home" / ".renacer" / "config.toml"
    bad_config.parent.mkdir(parents=True, exist_ok=True)
    bad_config.write_text("[database\nretention_days = 'x'")
    env = {k: v for k, v in os.environ.items() if k != "RENACER_DB"}
    one_error_line(db("traces", env=env), 1)
    one_error_line(db("path", env=env), 1)
