"""One trace as a file other tools open: JSON Lines, OTLP/JSON, or Perfetto (Chrome Trace Events).

Pure functions, table → text: the CLI reads the table from the store and writes the text; tests
build tables with `renacer_tui.model.schema.batch_from_rows`.

Perfetto / Chrome Trace Event format (what ui.perfetto.dev and chrome://tracing open): one
complete event (`"ph": "X"`, `ts`/`dur` in µs) per span on its process/thread track, process and
thread names as metadata events (`"ph": "M"`), and a flow arrow (`"ph": "s"` → `"ph": "f"`,
binding to the enclosing slices) for every happens-before link recorded in `renacer.links`
(fork, pipe, wait, signal) — plus the fork edge implied by a process span whose parent is a
syscall of another process.  Span events are instant events (`"ph": "i"`) on the span's thread.  `ts` is relative to the trace's first span (µs with ns decimals,
so a double keeps full precision); the absolute epoch start is in `otherData`.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import pyarrow as pa

from renacer_tui.model.attributes import ATTR_LINKS, parse_attributes_keeping_raw
from renacer_tui.sinks.headless import json_line

FORMATS = ("jsonl", "otlp-json", "perfetto")


def _rows(table: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    return table.to_pylist()


def to_jsonl(table: pa.Table | pa.RecordBatch) -> str:
    """One JSON object per stored row, every column, `attributes` decoded into an object."""
    return "".join(json_line(row) + "\n" for row in _rows(table))


def to_otlp_json(table: pa.Table | pa.RecordBatch, service_name: str | None = None, indent: int | None = None) -> str:
    """The OTLP/JSON encoding of the trace (an `ExportTraceServiceRequest`, hex ids)."""
    from renacer_tui.sinks.otlp_convert import (
        SpanConverter,
        request_to_otlp_json,
        to_request,
    )

    spans = SpanConverter(service_name=service_name).convert(table)
    return request_to_otlp_json(to_request(spans), indent=indent)


def _us(ns: int) -> float:
    """Nanoseconds → microseconds, keeping the nanosecond digits."""
    return round(ns / 1000.0, 3)


def _category(name: str) -> str:
    return name.split(":", 1)[0] if ":" in name else "span"


def _links(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    raw = attrs.get(ATTR_LINKS)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    return [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []


def perfetto_events(table: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    """The Chrome Trace Event list for one trace (metadata, complete events, flow pairs)."""
    rows = _rows(table)
    if not rows:
        return []
    t0 = min(r["start_time_nanos"] for r in rows)
    events: list[dict[str, Any]] = []
    processes: dict[int, tuple[str, str]] = {}
    threads: dict[tuple[int, int], str] = {}
    by_span: dict[str, dict[str, Any]] = {}
    decoded: list[dict[str, Any]] = []

    for row in rows:
        pid, tid = int(row["process_pid"]), int(row["thread_id"])
        name = row["process_name"] or "?"
        if pid not in processes or row["span_name"].startswith("process:"):
            processes[pid] = (name, row.get("process_cmdline") or "")
        threads.setdefault((pid, tid), name if tid == pid else f"{name} [{tid}]")
        attrs = parse_attributes_keeping_raw(row.get("attributes"))
        decoded.append(attrs)
        by_span[row["span_id"]] = row

    for pid, (name, cmdline) in sorted(processes.items()):
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": pid,
                       "args": {"name": f"{name} {pid}"}})
        if cmdline:
            events.append({"ph": "M", "name": "process_labels", "pid": pid, "tid": pid,
                           "args": {"labels": cmdline}})
    for (pid, tid), name in sorted(threads.items()):
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}})
        events.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid,
                       "args": {"sort_index": 0 if tid == pid else tid}})

    for row, attrs in zip(rows, decoded):
        count = int(row.get("rle_count") or 1)
        args: dict[str, Any] = {
            "span_id": row["span_id"],
            "parent_span_id": row.get("parent_span_id"),
            "status": row.get("status"),
            "logical_clock": row.get("logical_clock"),
        }
        if row.get("status_message"):
            args["status_message"] = row["status_message"]
        if count != 1:
            args["rle_count"] = count
        args.update({k: v for k, v in attrs.items() if k != ATTR_LINKS})
        name = row["span_name"] if count == 1 else f"{row['span_name']} ×{count}"
        events.append({
            "ph": "X",
            "name": name,
            "cat": _category(row["span_name"]),
            "pid": int(row["process_pid"]),
            "tid": int(row["thread_id"]),
            "ts": _us(row["start_time_nanos"] - t0),
            "dur": _us(max(0, row["end_time_nanos"] - row["start_time_nanos"])),
            "args": args,
        })
        for event in row.get("events") or ():  # span events: instant marks on the span's thread
            events.append({
                "ph": "i",
                "s": "t",
                "name": event["name"],
                "cat": "event",
                "pid": int(row["process_pid"]),
                "tid": int(row["thread_id"]),
                "ts": _us(int(event["time_unix_nano"]) - t0),
                "args": parse_attributes_keeping_raw(event.get("attributes")),
            })

    flow_id = 0
    for row, attrs in zip(rows, decoded):
        sources = [(str(link.get("type") or "link"), str(link.get("span_id") or "")) for link in _links(attrs)]
        parent = by_span.get(row.get("parent_span_id") or "")
        if (
            row["span_name"].startswith("process:")
            and parent is not None
            and parent["span_name"].startswith("syscall:")
            and not any(kind == "fork" for kind, _ in sources)
        ):
            sources.append(("fork", parent["span_id"]))
        for kind, source_id in sources:
            source = by_span.get(source_id)
            if source is None or source is row:
                continue
            flow_id += 1
            events.extend(_flow(flow_id, kind, source, row, t0))
    return events


def _flow(flow_id: int, kind: str, source: dict[str, Any], dest: dict[str, Any], t0: int) -> Iterable[dict[str, Any]]:
    """A flow arrow from inside `source`'s slice to `dest`'s slice (both bound to enclosing slices)."""
    common = {"name": kind, "cat": f"flow.{kind}", "id": flow_id}
    yield {**common, "ph": "s", "pid": int(source["process_pid"]), "tid": int(source["thread_id"]),
           "ts": _us(source["start_time_nanos"] - t0)}
    yield {**common, "ph": "f", "bp": "e", "pid": int(dest["process_pid"]), "tid": int(dest["thread_id"]),
           "ts": _us(dest["start_time_nanos"] - t0)}


def to_perfetto(table: pa.Table | pa.RecordBatch) -> str:
    """Chrome Trace Event JSON (object form) that ui.perfetto.dev opens."""
    rows = table.num_rows
    t0 = int(min(table.column("start_time_nanos").to_pylist())) if rows else 0
    trace_ids = sorted(set(table.column("trace_id").to_pylist())) if rows else []
    document = {
        "traceEvents": perfetto_events(table),
        "displayTimeUnit": "ns",
        "otherData": {
            "producer": "renacer-tui",
            "trace_id": trace_ids[0] if len(trace_ids) == 1 else ",".join(trace_ids),
            "start_time_unix_nanos": str(t0),
            "rows": str(rows),
        },
    }
    return json.dumps(document, separators=(",", ":"))


def export_trace(table: pa.Table | pa.RecordBatch, fmt: str, service_name: str | None = None) -> str:
    """Dispatch by format name (one of `FORMATS`)."""
    if fmt == "jsonl":
        return to_jsonl(table)
    if fmt == "otlp-json":
        return to_otlp_json(table, service_name=service_name)
    if fmt == "perfetto":
        return to_perfetto(table)
    raise ValueError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")
