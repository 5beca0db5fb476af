"""Crash-safety of the store with real processes: concurrent writers, kill -9, corrupt files,
orphans, a full disk (RLIMIT_FSIZE)."""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import time
from pathlib import Path

import pyarrow as pa
import pytest
from test_store_basic import T0, make_batch, trace_hex, write_run

from renacer_tui.store import Store, StoreWriteError
from renacer_tui.store.config import Config, DatabaseConfig
from renacer_tui.store.writer import write_segment

FAST = Config(database=DatabaseConfig(flush_rows=400, flush_interval_s=0.2))
#: Children start fresh ("spawn"): a fork of the test process copies grpc's and other threads'
#: state, and a child once died of it in garbage collection (SIGSEGV) before writing anything.
CTX = multiprocessing.get_context("spawn")


def _writer(db: str, worker: int, runs: int, per_run: int) -> None:
    store = Store.open(db, config=FAST)
    for r in range(runs):
        tid = trace_hex(1000 * worker + r)
        store.begin_run(f"w{worker}-r{r}", tid, f"worker {worker}")
        sink = store.segment_sink(f"w{worker}-r{r}")
        for chunk in range(0, per_run, 250):
            sink.write(make_batch(tid, 250, t0=T0 + chunk * 1000, pid=worker + 1, clock0=chunk))
        sink.close()
        store.end_run(f"w{worker}-r{r}", 0)
    store.close()


def test_concurrent_writers_lose_nothing(db_path: Path) -> None:
    workers, runs, per_run = 4, 3, 1000
    procs = [CTX.Process(target=_writer, args=(str(db_path), w, runs, per_run)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = Store.open()
    total = workers * runs * per_run
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": total}]
    assert store.query("SELECT COUNT(DISTINCT trace_id || span_id) AS n FROM spans").to_pylist() == [{"n": total}]
    per = store.query("SELECT spans_stored AS s, status FROM runs").to_pylist()
    assert len(per) == workers * runs and all(r == {"s": per_run, "status": "ok"} for r in per)
    seg = store.catalog.rows("SELECT COUNT(*) AS n, SUM(rows) AS r FROM segments")[0]
    assert seg["r"] == total and seg["n"] >= workers * runs * 2  # several flushes per run
    assert store.warnings == []
    store.close()


def _endless_writer(db: str, progress: str) -> None:
    store = Store.open(db, config=FAST)
    tid = trace_hex(77)
    store.begin_run("victim", tid, "endless")
    sink = store.segment_sink("victim")
    i = 0
    while True:
        sink.write(make_batch(tid, 100, t0=T0 + i * 100_000, clock0=i * 100))
        i += 1
        with open(progress, "a") as fh:
            fh.write(f"{sink.rows_written} {i * 100}\n")
        time.sleep(0.01)


def test_kill_9_keeps_everything_flushed(db_path: Path, tmp_path: Path) -> None:
    progress = tmp_path / "progress"
    proc = CTX.Process(target=_endless_writer, args=(str(db_path), str(progress)))
    proc.start()
    deadline = time.monotonic() + 30
    flushed = 0
    while time.monotonic() < deadline and flushed < 3000:
        time.sleep(0.05)
        if progress.exists():
            lines = progress.read_text().split()
            flushed = int(lines[-2]) if len(lines) >= 2 else 0
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL and flushed >= 3000
    produced = int(progress.read_text().split()[-1])
    store = Store.open()
    got = store.query("SELECT COUNT(*) AS n, COUNT(DISTINCT span_id) AS u FROM spans").to_pylist()[0]
    assert flushed <= got["n"] <= produced + 100 and got["u"] == got["n"]
    # The clock sequence is a gap-free prefix: a segment is all-or-nothing.
    clocks = store.query("SELECT MIN(logical_clock) AS lo, MAX(logical_clock) AS hi FROM spans").to_pylist()[0]
    assert clocks == {"lo": 1, "hi": got["n"]}
    run = store.query("SELECT status FROM runs WHERE run_id = 'victim'").to_pylist()
    assert run == [{"status": "running"}]
    # The next run works.
    write_run(store, "after", trace_hex(78), [make_batch(trace_hex(78), 10)])
    assert store.query(f"SELECT COUNT(*) AS n FROM spans WHERE trace_id = '{trace_hex(78)}'").to_pylist() == [{"n": 10}]
    store.close()


def _three_traces(store: Store) -> list[str]:
    tids = [trace_hex(30 + i) for i in range(3)]
    for i, tid in enumerate(tids):
        write_run(store, f"c{i}", tid, [make_batch(tid, 100, pid=10 + i)])
    return tids


def test_truncated_segment_is_skipped_with_warning(db_path: Path) -> None:
    store = Store.open()
    tids = _three_traces(store)
    bad = store.root / store.catalog.segment_paths_for([tids[1]])[0]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    store.close()
    store = Store.open()
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": 200}]
    assert store.trace_spans(tids[1]).num_rows == 0 and store.trace_spans(tids[0]).num_rows == 100
    assert len(store.warnings) == 1 and str(bad) in store.warnings[0]
    store.close()


def test_corrupt_segment_same_size_is_skipped(db_path: Path) -> None:
    store = Store.open()
    tids = _three_traces(store)
    bad = store.root / store.catalog.segment_paths_for([tids[2]])[0]
    data = bytearray(bad.read_bytes())
    data[-200:-8] = b"\xff" * 192  # smash the footer, keep the size and the magic
    bad.write_bytes(bytes(data))
    store.close()
    store = Store.open()
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": 200}]
    assert any(str(bad) in w for w in store.warnings)
    assert store.query(f"SELECT COUNT(*) AS n FROM spans WHERE trace_id = '{tids[0]}'").to_pylist() == [{"n": 100}]
    store.close()


def test_orphan_segment_is_recovered_and_tombstones_finished(db_path: Path) -> None:
    store = Store.open()
    tid = trace_hex(40)
    store.begin_run("orph", tid, "crashy")
    # Crash between rename and catalog insert: the file exists, the catalog has no row.
    table = pa.Table.from_batches([make_batch(tid, 60)])
    write_segment(store.root, table, "orph-00001", store.config.database, "orph")
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": 0}]
    store.close()
    store = Store.open()
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": 60}]
    assert store.query("SELECT spans_stored FROM runs").to_pylist() == [{"spans_stored": 60}]
    # Reopening does not recatalog it twice.
    store.close()
    store = Store.open()
    assert store.catalog.rows("SELECT COUNT(*) AS n FROM segments") == [{"n": 1}]
    # A tombstoned file (crash after the catalog dropped it, before unlink) is finished off.
    path = store.catalog.segment_paths_for([tid])[0]
    store.catalog.replace_segments([path])
    store.close()
    store = Store.open()
    assert not (store.root / path).exists()
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": 0}]
    store.close()


def _fill_disk(db: str, result: str) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    store = Store.open(db, config=Config(database=DatabaseConfig(flush_interval_s=0)))
    tid = trace_hex(50)
    store.begin_run("full", tid, "filler")
    sink = store.segment_sink("full")
    sink.write(make_batch(tid, 100))
    sink.flush()
    limit = 3 << 20
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    noise = pa.array([os.urandom(48).hex() for _ in range(100_000)])
    big = make_batch(tid, 100_000, t0=T0 + 10**9, clock0=1000)
    big = big.set_column(big.schema.get_field_index("attributes"), "attributes", noise)
    try:
        sink.write(big)
        sink.flush()
        outcome = "no error"
    except StoreWriteError as exc:
        outcome = f"error: {exc}"
    with open(result, "w") as fh:
        fh.write(outcome)


def test_full_disk_is_a_clear_error_and_loses_nothing_earlier(db_path: Path, tmp_path: Path) -> None:
    result = tmp_path / "result"
    proc = CTX.Process(target=_fill_disk, args=(str(db_path), str(result)))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    outcome = result.read_text()
    assert outcome.startswith("error: cannot write segment") and "too large" in outcome.lower()
    assert "\n" not in outcome
    store = Store.open()
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": 100}]
    assert not list(db_path.rglob("*.tmp"))
    assert store.warnings == []
    store.close()


def test_sink_flushes_on_its_own_while_quiet(db_path: Path) -> None:
    store = Store.open(config=FAST)
    tid = trace_hex(60)
    store.begin_run("quiet", tid, "sleep")
    sink = store.segment_sink("quiet")
    sink.write(make_batch(tid, 5))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sink.segments_written == 0:
        time.sleep(0.05)
    assert sink.segments_written == 1  # nothing else was written: the timer flushed it
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist() == [{"n": 5}]
    sink.close()
    with pytest.raises(StoreWriteError):
        sink.write(make_batch(tid, 1))
    store.close()


def test_wrong_batch_schema_is_rejected(db_path: Path) -> None:
    store = Store.open()
    sink = store.segment_sink("bad")
    with pytest.raises(StoreWriteError, match="span schema"):
        sink.write(pa.record_batch({"x": [1]}))
    sink.close()
    store.close()
