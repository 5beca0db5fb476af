"""A full queue never costs the spans a trace hangs on: run, process and link-carrying spans."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa

from renacer_tui.model.schema import batch_from_rows
from renacer_tui.sinks.fanout import Fanout
from renacer_tui.store import Store


class GatedSink:
    """Blocks its first write until released: the queue is certainly full meanwhile."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.names: list[str] = []

    def write(self, batch: pa.RecordBatch) -> None:
        self.gate.wait(10)
        self.names.extend(batch.column("span_name").to_pylist())

    def close(self) -> None:
        pass


def _batch(names: list[str], start: int) -> pa.RecordBatch:
    return batch_from_rows(
        {
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "span_id": f"{0xABCD0000:08x}{start + i:08x}",
            "start_time_nanos": 1_700_000_000_000_000_000 + i,
            "end_time_nanos": 1_700_000_000_000_000_100 + i,
            "span_name": name,
            "process_pid": 42,
            "process_name": "dd",
            "thread_id": 42,
            "logical_clock": start + i,
        }
        for i, name in enumerate(names)
    )


def test_full_queue_drops_syscalls_but_keeps_run_and_process_spans() -> None:
    sink = GatedSink()
    fanout = Fanout([sink], capacity_batches=1)
    clock = 0
    for i in range(50):
        names = ["syscall:read"] * 20
        if i % 10 == 3:
            names[5] = f"process:dd-{i}"
        clock += len(names)
        fanout.offer(_batch(names, clock))
    fanout.offer(_batch(["renacer:run dd"], clock + 100))
    sink.gate.set()
    assert fanout.close(timeout=10)
    kept = [n for n in sink.names if not n.startswith("syscall:")]
    assert sorted(kept) == sorted([f"process:dd-{i}" for i in range(3, 50, 10)] + ["renacer:run dd"])
    assert fanout.dropped_per_sink["gated"] == fanout.offered - len(sink.names) > 0


def test_heavy_drop_run_keeps_its_root_and_says_which_sink_dropped(tmp_path: Path) -> None:
    db = tmp_path / "db"
    proc = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "run", "--no-tui", "--db", str(db), "-o", "/dev/null",
         "--queue-capacity", "1", "--no-rle", "--otlp-endpoint", "http://127.0.0.1:9",
         "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=100000"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    store = Store.open(db)
    names = store.query("SELECT span_name FROM spans WHERE span_name LIKE 'renacer:run%' "
                        "OR span_name LIKE 'process:%'").column(0).to_pylist()
    assert any(n.startswith("renacer:run") for n in names), names
    assert any(n.startswith("process:") for n in names), names
    run_id = store.query("SELECT run_id, dropped_spans FROM runs").to_pylist()[0]
    per_sink = store.catalog.dropped_by_sink(run_id["run_id"])
    assert sum(per_sink.values()) == run_id["dropped_spans"] > 0, per_sink
