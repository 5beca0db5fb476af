"""Time-range pruning: a start_time_nanos range reads only the segments that can hold such rows,
and always answers exactly what the unpruned query answers (RLE rows straddling a bound too).

Also the segment encodings: small segments stay plain, large ones dictionary-encode their
repeated text, and the run id still reaches the file's key-value metadata.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renacer_tui.model.attributes import ATTR_RUN_ID as RUN_ID_KEY
from renacer_tui.store import Store
from tests.test_store_basic import T0, make_batch, trace_hex, write_run

GAP = 10**9  # segments one second apart
ROWS = 20  # rows per segment, 1 µs apart; row 3 is an RLE row of 40 calls spanning 4 µs


@pytest.fixture()
def store(db_path: Path):
    s = Store.open()
    for k in range(6):
        tid = trace_hex(500 + k)
        write_run(s, f"r{k}", tid, [make_batch(tid, ROWS, t0=T0 + k * GAP, pid=300 + k, rle={3: 40})])
    yield s
    s.close()


def _both(s: Store, where: str, params: list[int] | None) -> tuple[list[dict], list[dict], int]:
    """(pruned answer, unpruned answer, files the pruned query read)."""
    sql = "SELECT trace_id, rle_index, start_time_nanos FROM spans WHERE {} ORDER BY 1, 2, 3"
    pruned = s.query(sql.format(where), params).to_pylist()
    files = len(s.engine.last_files)
    full = s.query(sql.format(f"({where}) OR 1 = 0"), params).to_pylist()
    assert len(s.engine.last_files) == 6  # an OR is never pruned
    return pruned, full, files


def test_one_segment_read_for_a_range_inside_it(store: Store) -> None:
    lo = T0 + 2 * GAP
    pruned, full, files = _both(store, "start_time_nanos >= ? AND start_time_nanos < ?", [lo, lo + 10_000])
    assert files == 1 and pruned == full and len(pruned) == 10 - 1 + 40  # rows 0..9, row 3 = 40 calls
    between, _, files = _both(store, f"start_time_nanos BETWEEN {lo} AND {lo + 9_999}", None)
    assert files == 1 and between == pruned
    flipped, _, files = _both(store, f"{lo + 10_000} > start_time_nanos AND {lo} <= spans.start_time_nanos", None)
    assert files == 1 and flipped == pruned
    nothing, _, files = _both(store, "start_time_nanos > ? AND start_time_nanos < ?", [lo + GAP // 2, lo + GAP // 3])
    assert files == 0 and nothing == []


def test_raw_view_and_aggregates_are_pruned_too(store: Store) -> None:
    lo = T0 + 4 * GAP
    got = store.query(
        "SELECT COUNT(*) AS n, SUM(rle_count) AS calls FROM spans_raw WHERE start_time_nanos >= ?", [lo]
    ).to_pylist()
    assert got == [{"n": 2 * ROWS, "calls": 2 * (ROWS - 1 + 40)}] and len(store.engine.last_files) == 2
    mixed = store.query(
        "SELECT COUNT(*) AS n FROM spans WHERE trace_id = ? AND start_time_nanos < ?", [trace_hex(504), lo + 3500]
    ).to_pylist()
    # rows 0..3 of trace 504: three plain calls, and the RLE row's calls that start before +3500 ns
    assert len(store.engine.last_files) == 1 and mixed[0]["n"] > 3


def test_non_integer_bounds_are_not_pruned(store: Store) -> None:
    store.query("SELECT COUNT(*) FROM spans WHERE start_time_nanos >= 1.5")
    assert len(store.engine.last_files) == 6
    store.query("SELECT COUNT(*) FROM spans WHERE start_time_nanos >= ?", ["2025"])
    assert len(store.engine.last_files) == 6
    huge = store.query("SELECT COUNT(*) AS n FROM spans WHERE start_time_nanos < 99999999999999999999").to_pylist()
    assert huge == [{"n": 6 * (ROWS - 1 + 40)}]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lo=st.integers(-GAP, 7 * GAP),
    width=st.one_of(st.integers(0, 30_000), st.integers(0, 3 * GAP)),
    op=st.sampled_from([(">=", "<"), (">", "<="), (">=", "<=")]),
)
def test_pruned_answer_equals_unpruned(store: Store, lo: int, width: int, op: tuple[str, str]) -> None:
    lo += T0
    where = f"start_time_nanos {op[0]} ? AND start_time_nanos {op[1]} ?"
    pruned, full, _ = _both(store, where, [lo, lo + width])
    assert pruned == full


def test_encodings_follow_segment_size(db_path: Path) -> None:
    s = Store.open()
    small, large = trace_hex(700), trace_hex(701)
    write_run(s, "small", small, [make_batch(small, 50)])
    write_run(s, "large", large, [make_batch(large, 9000, t0=T0 + GAP)])
    by_run = {}
    for f in (db_path / "spans").rglob("*.parquet"):
        meta = pq.read_metadata(f)
        run = meta.metadata[RUN_ID_KEY.encode()].decode()
        by_run[run] = {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i) for i in range(22)}
    assert not by_run["small"]["span_name"].has_dictionary_page
    assert by_run["large"]["span_name"].has_dictionary_page
    assert not by_run["large"]["attributes"].has_dictionary_page  # 9000 distinct results: plain
    assert by_run["large"]["start_time_nanos"].is_stats_set and not by_run["large"]["span_name"].is_stats_set
    assert s.query("SELECT COUNT(*) AS n FROM spans_raw WHERE trace_id = ?", [large]).to_pylist() == [{"n": 9000}]
    s.close()
