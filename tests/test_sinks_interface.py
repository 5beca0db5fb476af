"""Every sink the fan-out feeds implements the whole `SpanSink` interface; nothing probes for hooks."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pyarrow as pa
import pytest

from renacer_tui.model.sink import SpanSink
from renacer_tui.sinks.child import ForkedSink
from renacer_tui.sinks.fanout import Fanout
from renacer_tui.sinks.feed import FeedSink
from renacer_tui.sinks.headless import JsonlSink, SummarySink, TextSink
from renacer_tui.sinks.otlp import OtlpSink
from renacer_tui.store.writer import SegmentSink

ROOT = Path(__file__).resolve().parent.parent
SINKS = (TextSink, JsonlSink, SummarySink, SegmentSink, ForkedSink, OtlpSink, FeedSink)


@pytest.mark.parametrize("cls", SINKS, ids=lambda cls: cls.__name__)
def test_every_sink_implements_the_interface(cls: type) -> None:
    assert issubclass(cls, SpanSink) and not inspect.isabstract(cls)


def test_a_sink_leaving_a_method_out_fails_when_it_is_made() -> None:
    class NoClose(SpanSink):
        name = "no-close"

        def write(self, batch: pa.RecordBatch) -> None:
            pass

    class NoName(SpanSink):
        def write(self, batch: pa.RecordBatch) -> None:
            pass

        def close(self) -> None:
            pass

    for cls in (NoClose, NoName):
        with pytest.raises(TypeError, match="abstract"):
            cls()


def test_the_fanout_reads_the_sink_name_it_is_given() -> None:
    class Named(SpanSink):
        name = "named"

        def write(self, batch: pa.RecordBatch) -> None:
            pass

        def close(self) -> None:
            pass

    fanout = Fanout([Named()])
    assert fanout.close() and fanout.dropped_per_sink == {"named": 0}


def test_nothing_probes_a_sink_for_optional_methods() -> None:
    probe = re.compile(r"\b(hasattr|getattr)\(\s*sink\b")
    for folder in ("renacer_tui", "tracer", "store"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                assert not probe.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
