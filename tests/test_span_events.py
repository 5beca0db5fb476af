"""Span events and OTLP links as first-class columns: stored, queried, exported, and readable
beside segments written before the columns existed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from renacer_tui.exporters.trace_files import perfetto_events, to_jsonl
from renacer_tui.model.schema import SPAN_SCHEMA, batch_from_rows, conform
from renacer_tui.sinks.otlp_convert import SpanConverter, to_request
from renacer_tui.store import Store

T0 = 1_764_000_000_000_000_000
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER = "0af7651916cd43dd8448eb211c80319c"


def _row(span: int, **extra: object) -> dict[str, object]:
    return {
        "trace_id": TRACE, "span_id": f"{span:016x}", "start_time_nanos": T0 + span * 1000,
        "end_time_nanos": T0 + span * 1000 + 500, "span_name": "app:transpile", "process_pid": 7,
        "process_name": "tool", "thread_id": 7, "logical_clock": span, **extra,
    }


EVENTS = [{"name": "decision:inline", "time_unix_nano": T0 + 1200, "attributes": {"decision.input": "{\"f\":1}"}}]
LINKS = [{"trace_id": OTHER, "span_id": "b7ad6b7169203331", "trace_state": "k=v", "attributes": {"link.why": "http"}}]


def _old_segment_batch() -> pa.Table:
    """A table as an older version wrote it: no events, no links columns."""
    old_schema = pa.schema([f for f in SPAN_SCHEMA if f.name not in ("events", "links")])
    return pa.Table.from_batches([batch_from_rows([_row(9)])]).select(old_schema.names).cast(old_schema)


def test_events_and_links_round_trip_through_the_store(db_path: Path) -> None:
    store = Store.open()
    store.begin_run("run-e", TRACE, "tool", started_ns=T0)
    sink = store.segment_sink("run-e")
    sink.write(batch_from_rows([_row(1, events=EVENTS, links=LINKS), _row(2)]))
    sink.close()
    store.end_run("run-e", 0, dropped_spans=0)

    spans = store.trace_spans(TRACE).sort_by("logical_clock").to_pylist()
    assert spans[0]["events"] == [{**EVENTS[0], "attributes": '{"decision.input":"{\\"f\\":1}"}'}]
    assert spans[0]["links"][0]["trace_id"] == OTHER and spans[0]["links"][0]["trace_state"] == "k=v"
    assert spans[1]["events"] is None and spans[1]["links"] is None

    found = store.query("SELECT span_id, event_name, time_unix_nano, event_attributes FROM span_events").to_pylist()
    assert found == [{"span_id": f"{1:016x}", "event_name": "decision:inline", "time_unix_nano": T0 + 1200,
                      "event_attributes": '{"decision.input":"{\\"f\\":1}"}'}]
    linked = store.query("SELECT l.trace_id AS t FROM spans_raw, UNNEST(links) AS u(l)").to_pylist()
    assert linked == [{"t": OTHER}]


def test_segments_without_the_new_columns_still_read(db_path: Path) -> None:
    store = Store.open()
    store.begin_run("run-new", TRACE, "tool", started_ns=T0)
    sink = store.segment_sink("run-new")
    sink.write(batch_from_rows([_row(1, events=EVENTS)]))
    sink.close()
    store.end_run("run-new", 0, dropped_spans=0)
    # An older version's segment beside it, registered in the catalog through maintenance's rebuild.
    new_file = next((db_path / "spans").rglob("*.parquet"))
    pq.write_table(_old_segment_batch(), new_file.parent / "old-0001.parquet")
    from renacer_tui.store.maintenance import recover_orphans

    assert recover_orphans(store)
    rows = store.query("SELECT span_id, events IS NULL AS none FROM spans_raw ORDER BY span_id").to_pylist()
    assert rows == [{"span_id": f"{1:016x}", "none": False}, {"span_id": f"{9:016x}", "none": True}]
    assert store.query("SELECT COUNT(*) AS n FROM span_events").to_pylist() == [{"n": 1}]
    assert store.trace_spans(TRACE).num_rows == 2


def test_only_old_segments_still_read(db_path: Path) -> None:
    store = Store.open()
    folder = db_path / "spans" / "date=2025-11-24"
    folder.mkdir(parents=True)
    pq.write_table(_old_segment_batch(), folder / "old-0001.parquet")
    from renacer_tui.store.maintenance import recover_orphans

    assert recover_orphans(store)
    assert store.query("SELECT COUNT(*) AS n, COUNT(events) AS e FROM spans").to_pylist() == [{"n": 1, "e": 0}]


def test_conform_fills_missing_nullable_columns_and_rejects_missing_required() -> None:
    table = conform(_old_segment_batch())
    assert table.schema.equals(SPAN_SCHEMA) and table.column("events").null_count == 1
    with pytest.raises(ValueError, match="span_id"):
        conform(_old_segment_batch().drop_columns(["span_id"]))


def test_otlp_and_perfetto_carry_events_and_links() -> None:
    batch = batch_from_rows([_row(1, events=EVENTS, links=LINKS)])
    request = to_request(SpanConverter().convert(batch))
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert [e.name for e in span.events] == ["decision:inline"]
    assert span.events[0].time_unix_nano == T0 + 1200
    assert span.events[0].attributes[0].key == "decision.input"
    assert [link.trace_id.hex() for link in span.links] == [OTHER]
    assert span.links[0].attributes[0].key == "link.why"  # (the SDK's encoder drops a link's trace_state)

    instants = [e for e in perfetto_events(batch) if e["ph"] == "i"]
    assert instants == [{"ph": "i", "s": "t", "name": "decision:inline", "cat": "event", "pid": 7, "tid": 7,
                         "ts": 0.2, "args": {"decision.input": "{\"f\":1}"}}]
    line = json.loads(to_jsonl(batch))
    assert line["events"][0]["attributes"] == {"decision.input": "{\"f\":1}"}
    assert line["links"][0]["attributes"] == {"link.why": "http"}
