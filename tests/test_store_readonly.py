"""Reads of a read-only or full store, and an honest run summary when the store fell short
(issue 17, item 3).

Read-only media are made with a read-only bind mount in a private mount namespace
(`unshare -m`, as root), since root ignores permission bits; where that is not possible
(no root, no namespaces) the tests that need it skip.  A full disk is a 2 MiB tmpfs there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from test_store_basic import make_batch, trace_hex, write_run

from renacer_tui.store import Store, StoreWriteError
from renacer_tui.store.catalog import Catalog, CatalogError
from renacer_tui.store.config import Config, DatabaseConfig
from renacer_tui.store.writer import SegmentSink, write_segment

PY = sys.executable


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(not _namespaces_work(), reason="needs root and unshare -m (mount namespaces)")


def in_namespace(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a bash script in a private mount namespace (mounts vanish with it)."""
    return subprocess.run(
        ["unshare", "-m", "bash", "-c", "set -e\n" + script], capture_output=True, text=True, timeout=300, env=env
    )


def renacer_line(*args: str) -> str:
    return " ".join([PY, "-m", "renacer_tui", *args])


def _stored_trace(db_path: Path) -> str:
    store = Store.open(db_path)
    tid = trace_hex(71)
    write_run(store, "ro-run", tid, [make_batch(tid, 120)])
    store.close()
    return tid


@needs_mounts
def test_db_query_and_traces_work_on_a_read_only_mount(db_path: Path, tmp_path: Path) -> None:
    tid = _stored_trace(db_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = dict(os.environ, RENACER_DB=str(mnt))
    script = f"""
mount --bind {db_path} {mnt}
mount -o remount,ro,bind {mnt}
if touch {mnt}/probe 2>/dev/null; then echo "mount is writable"; exit 3; fi
{renacer_line("db", "query", "--format", "csv", "'SELECT COUNT(*) AS n FROM spans'")}
{renacer_line("db", "traces")}
{renacer_line("db", "doctor")}
"""
    result = in_namespace(script, env)
    assert result.returncode == 0, result.stderr
    assert "n\n120" in result.stdout and tid in result.stdout
    assert "Traceback" not in result.stderr and "cannot open" not in result.stderr


@needs_mounts
def test_a_run_into_a_read_only_store_traces_without_it(db_path: Path, tmp_path: Path) -> None:
    _stored_trace(db_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = dict(os.environ, RENACER_DB=str(mnt))
    script = f"""
mount --bind {db_path} {mnt}
mount -o remount,ro,bind {mnt}
{renacer_line("--no-tui", "-o", "/dev/null", "--", "true")}
"""
    result = in_namespace(script, env)
    assert result.returncode == 0, result.stderr
    assert "store unavailable" in result.stderr and "read-only" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


@needs_mounts
def test_reads_work_on_a_full_disk(tmp_path: Path) -> None:
    mnt = tmp_path / "full"
    mnt.mkdir()
    db = mnt / "db"
    env = dict(os.environ, RENACER_DB=str(db), HOME=str(tmp_path))
    script = f"""
mount -t tmpfs -o size=2m tmpfs {mnt}
{renacer_line("--no-tui", "-o", "/dev/null", "--", "ls", "/")} 2>{tmp_path}/run.err
dd if=/dev/zero of={mnt}/fill bs=4k 2>/dev/null || true
{renacer_line("db", "query", "--format", "csv", "'SELECT COUNT(*) > 0 AS ok FROM spans'")}
{renacer_line("db", "traces")}
"""
    result = in_namespace(script, env)
    assert result.returncode == 0, result.stderr
    assert "ok\ntrue" in result.stdout and "ls /" in result.stdout
    assert "read-only" in result.stderr and "Traceback" not in result.stderr  # says why it only reads


@needs_mounts
def test_summary_says_what_the_store_did_not_get(db_path: Path, tmp_path: Path) -> None:
    """Segments cannot be written (spans/ read-only): the summary must not say "into the store"."""
    _stored_trace(db_path)
    spans = db_path / "spans"
    env = dict(os.environ, RENACER_DB=str(db_path))
    script = f"""
mount --bind {spans} {spans}
mount -o remount,ro,bind {spans}
{renacer_line("--no-tui", "-o", "/dev/null", "--", "sh", "-c", "'ls / >/dev/null'")}
"""
    result = in_namespace(script, env)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if re.search(r"\d+ spans \(\d+ rows\)", line))
    rows = int(re.search(r"\((\d+) rows\)", line).group(1))
    assert f"holds 0 of these rows, {rows} not stored" in line, line
    assert f"into {db_path}" not in line


def test_a_read_only_catalog_refuses_writes_in_one_line(db_path: Path) -> None:
    _stored_trace(db_path)
    catalog = Catalog(db_path, read_only=True)
    assert catalog.read_only and catalog.rows("SELECT COUNT(*) AS n FROM segments") == [{"n": 1}]
    with pytest.raises(CatalogError, match="read-only"):
        catalog.set_run_status("ro-run", "x")
    catalog.close()


def test_segment_written_but_not_catalogued_is_counted_as_not_stored(db_path: Path) -> None:
    """The disk filled between the Parquet file and its catalog row: the run's summary says so."""
    store = Store.open(db_path, config=Config(database=DatabaseConfig(flush_interval_s=0)))
    tid = trace_hex(72)
    store.begin_run("half", tid, "prog")
    ok = store.segment_sink("half")
    ok.write(make_batch(tid, 40))
    ok.close()
    full_catalog = Catalog(db_path, read_only=True)  # every catalog write fails, as on a full disk
    sink = SegmentSink(db_path, full_catalog, "half", store.config.database)
    with pytest.raises(StoreWriteError, match="written but not catalogued"):
        sink.write(make_batch(tid, 60, clock0=40))  # flush_interval_s=0: written at once
    full_catalog.close()
    storage = store.run_storage("half", 100 + 5)  # 5 rows never reached the sink (dropped)
    assert (storage.catalogued, storage.uncatalogued, storage.missing) == (40, 60, 5)
    text = storage.summary()
    assert "holds 40 of these rows" in text and "60 more in segments written but not catalogued" in text
    assert "5 not stored" in text
    assert store.run_storage("half", 40).summary() == f" into {db_path}"
    store.close()
    reopened = Store.open(db_path)  # the next writable open recovers the file
    assert reopened.run_storage("half", 100).summary() == f" into {db_path}"
    reopened.close()


def test_another_runs_file_is_not_counted(db_path: Path) -> None:
    store = Store.open(db_path)
    tid = trace_hex(73)
    store.begin_run("mine", tid, "prog")
    table = make_batch(tid, 30)
    write_segment(db_path, pa.Table.from_batches([table]), "mine-00001", store.config.database, "someone-else")
    assert store.run_storage("mine", 30).uncatalogued == 0
    store.close()
