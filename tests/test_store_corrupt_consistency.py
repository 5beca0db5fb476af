"""A same-size damaged segment is skipped by every query, `COUNT(*)` included (issue 17, item 7).

Damage inside one column's data page used to fail only the queries that read that column;
`COUNT(*)` answered from the footers and still counted the rows (9000 against 6000 here).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
from test_store_basic import make_batch, trace_hex, write_run

from renacer_tui.store import Store

ROWS = 3000


def _store_with_a_damaged_segment(db_path: Path, *, later: bool) -> tuple[list[str], Path]:
    """Three traces of ROWS rows; the middle one's attribute pages smashed, size unchanged.

    `later`: the file's mtime says it changed after it was catalogued (as damage or an edit
    does); otherwise it keeps its original times (bit rot that no stat can see).
    """
    store = Store.open(db_path)
    tids = [trace_hex(90 + i) for i in range(3)]
    for i, tid in enumerate(tids):
        write_run(store, f"c{i}", tid, [make_batch(tid, ROWS, pid=10 + i)])
    rel = store.catalog.segment_paths_for([tids[1]])[0]
    created = store.catalog.rows("SELECT created_ns FROM segments WHERE path = ?", [rel])[0]["created_ns"]
    store.close()
    bad = db_path / rel
    before = bad.stat()
    meta = pq.read_metadata(bad)
    chunk = next(
        meta.row_group(0).column(c) for c in range(meta.num_columns) if meta.row_group(0).column(c).path_in_schema == "attributes"
    )
    middle = chunk.data_page_offset + chunk.total_compressed_size // 2
    data = bytearray(bad.read_bytes())
    data[middle : middle + 64] = b"\xa5" * 64
    bad.write_bytes(bytes(data))
    assert bad.stat().st_size == before.st_size
    mtime = created + 10 * 10**9 if later else before.st_mtime_ns
    os.utime(bad, ns=(mtime, mtime))
    return tids, bad


def _counts(store: Store) -> dict[str, int]:
    queries = {
        "count_star": "SELECT COUNT(*) AS n FROM spans",
        "count_raw": "SELECT COUNT(*) AS n FROM spans_raw",
        "count_attributes": "SELECT COUNT(attributes) AS n FROM spans",
        "sum_length": "SELECT COALESCE(SUM(length(attributes)) > 0, false)::INT * COUNT(*) AS n FROM spans",
    }
    return {name: store.query(sql).to_pylist()[0]["n"] for name, sql in queries.items()}


def test_every_query_skips_an_altered_segment_from_the_first(db_path: Path) -> None:
    tids, bad = _store_with_a_damaged_segment(db_path, later=True)
    store = Store.open(db_path)
    first = store.query("SELECT COUNT(*) AS n FROM spans").to_pylist()[0]["n"]
    assert first == 2 * ROWS  # the very first query, footers only, already skips it
    assert len(store.warnings) == 1 and str(bad) in store.warnings[0]
    assert set(_counts(store).values()) == {2 * ROWS}
    assert store.trace_spans(tids[1]).num_rows == 0 and store.trace_spans(tids[0]).num_rows == ROWS
    store.close()
    fresh = Store.open(db_path)  # another process's view: the verdict is in the catalog
    assert fresh.query("SELECT COUNT(*) AS n FROM spans").to_pylist()[0]["n"] == 2 * ROWS
    assert len(fresh.warnings) == 1 and str(bad) in fresh.warnings[0]
    fresh.close()


def test_damage_found_by_one_query_is_skipped_by_every_later_reader(db_path: Path) -> None:
    _tids, bad = _store_with_a_damaged_segment(db_path, later=False)
    store = Store.open(db_path)
    assert store.query("SELECT COUNT(attributes) AS n FROM spans").to_pylist()[0]["n"] == 2 * ROWS
    assert any(str(bad) in w for w in store.warnings)
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist()[0]["n"] == 2 * ROWS
    store.close()
    fresh = Store.open(db_path)
    assert set(_counts(fresh).values()) == {2 * ROWS}
    assert len(fresh.warnings) == 1 and str(bad) in fresh.warnings[0]
    fresh.close()


def test_an_intact_copied_store_is_checked_once_and_used(db_path: Path) -> None:
    store = Store.open(db_path)
    tid = trace_hex(99)
    write_run(store, "copy", tid, [make_batch(tid, 500)])
    rel = store.catalog.segment_paths_for([tid])[0]
    created = store.catalog.rows("SELECT created_ns FROM segments WHERE path = ?", [rel])[0]["created_ns"]
    store.close()
    later = created + 60 * 10**9  # `cp -r` without -p: every file looks newer than its catalog row
    os.utime(db_path / rel, ns=(later, later))
    store = Store.open(db_path)
    assert store.query("SELECT COUNT(*) AS n FROM spans").to_pylist()[0]["n"] == 500 and store.warnings == []
    assert store.catalog.rows("SELECT problem FROM segment_checks") == [{"problem": ""}]
    store.close()
