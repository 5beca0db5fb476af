"""The stage between the span builder and the sinks that turns recorded stacks into source.

Why a stage with its own thread: symbolising can take a second on a new object (a line table
to build), and the builder hands batches out from inside the stop loop; here they wait in a
queue instead while the program runs on.  Batches leave in the order they came, each with
`c_source`/`rust_source` (by the program frame's language), `python_source` (through the
transpiler maps) and the `code.*` attributes filled in.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

from renacer_tui.model.attributes import (
    ATTR_CODE_FILEPATH,
    ATTR_CODE_FUNCTION,
    ATTR_CODE_LINENO,
    ATTR_CODE_STACKTRACE,
    ATTR_PYTHON_FUNCTION,
    ATTR_STACK,
    parse_attributes,
)
from renacer_tui.model.schema import SOURCE_COLUMNS
from renacer_tui.tracer.formats import escape_text
from renacer_tui.tracer.rows import STACKS_METADATA, WATERMARK_METADATA
from renacer_tui.tracer.symbols.symbolise import Symboliser, program_frame, source_column
from renacer_tui.tracer.symbols.transpiler_map import TranspilerMaps

_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_STACK_CACHE = 65536  # distinct stacks remembered; a program with more starts the cache over


class SourceAnnotator:
    """Fills the source columns and code.* attributes of the rows that carry a stack."""

    def __init__(self, symboliser: Symboliser | None = None, maps: TranspilerMaps | None = None) -> None:
        self.symboliser = symboliser if symboliser is not None else Symboliser()
        self.maps = maps
        self._by_stack: dict[tuple[Any, ...], tuple[str, list[tuple[str, str]]]] = {}

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with its source columns and code.* attributes filled in (and the builder's
        stack metadata dropped: the stored schema is the span schema; the watermark stays for
        the text output).

        Each distinct stack is symbolised once; the rows get their stack's results by index,
        column-wise (Arrow take/concatenate), so a row costs no Python work of its own."""
        metadata = batch.schema.metadata or {}
        carried = metadata.get(STACKS_METADATA)
        if metadata:
            watermark = metadata.get(WATERMARK_METADATA)
            batch = batch.replace_schema_metadata(None if watermark is None else {WATERMARK_METADATA: watermark})
        if carried is not None:
            table, index = _carried_stacks(carried, batch.num_rows)
        else:  # a batch from elsewhere: the stacks are in the rows' attributes
            table = [parse_attributes(text).get(ATTR_STACK) for text in batch.column("attributes").to_pylist()]
            index = pa.array(range(len(table)), pa.int64())
        found = [self._source(stack) if stack and isinstance(stack, list) else None for stack in table]
        if not any(found):
            return batch
        # (pyarrow compute, not numpy: the capture process never loads numpy, see cli_run)
        none = len(table)  # the row index of "no stack": the last entry of every table below
        inside = pc.and_(pc.greater_equal(index, 0), pc.less(index, none))
        rows = pc.if_else(inside, index, none)
        known = pa.array([f is not None for f in found] + [False], pa.bool_())
        rows = pc.if_else(pc.take(known, rows), rows, none)
        added = pa.array(["," + f[0] if f is not None else None for f in found] + [None], pa.string())
        texts = batch.column("attributes")
        appended = pc.take(added, rows)
        # the row's object text with the new keys appended: they are keys the builder never
        # writes, so nothing is duplicated and the row is not parsed or encoded again
        closed = pc.and_(pc.ends_with(texts, "}"), pc.not_equal(texts, "{}"))
        joined = pc.binary_join_element_wise(pc.utf8_slice_codeunits(texts, 0, -1), appended, "")
        attributes = pc.if_else(pc.and_(closed, pc.is_valid(appended)), joined, texts)
        odd = pc.and_(pc.is_valid(appended), pc.invert(pc.fill_null(closed, False)))
        if pc.any(odd).as_py():  # an empty or malformed object: merged the slow way
            values = attributes.to_pylist()
            extra = appended.to_pylist()
            for i, slow in enumerate(odd.to_pylist()):
                if slow:
                    merged = parse_attributes(values[i])
                    merged.update(parse_attributes("{" + extra[i][1:]))
                    values[i] = _encode_json(merged)
            attributes = pa.array(values, pa.string())
        cells: dict[str, list[str | None]] = {name: [None] * (len(table) + 1) for name in SOURCE_COLUMNS}
        for k, f in enumerate(found):
            for name, value in f[1] if f is not None else ():
                cells[name][k] = value
        arrays = []
        for field in batch.schema:
            if field.name == "attributes":
                arrays.append(attributes.cast(field.type))
            elif field.name in cells and any(v is not None for v in cells[field.name]):
                taken = pc.take(pa.array(cells[field.name], field.type), rows)
                arrays.append(pc.coalesce(taken, batch.column(field.name)))
            else:
                arrays.append(batch.column(field.name))
        return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)

    def _source(self, stack: list[Any]) -> tuple[str, list[tuple[str, str]]] | None:
        """(encoded attributes to add, without the opening brace; (column, value) cells) for one
        stored stack, cached by the stack: a loop makes the same few stacks over and over."""
        try:
            key: tuple[Any, ...] | None = tuple(stack)
            found = self._by_stack.get(key)  # type: ignore[arg-type]
        except TypeError:  # a frame that is not text (a foreign writer): not cached
            key, found = None, None
        if found is not None:
            return found
        computed = self._compute(stack)
        found = None if computed is None else (_encode_json(computed[0])[1:], computed[1])
        if key is not None and found is not None:
            if len(self._by_stack) >= _STACK_CACHE:
                self._by_stack.clear()
            self._by_stack[key] = found
        return found

    def _compute(self, stack: list[Any]) -> tuple[dict[str, Any], list[tuple[str, str]]] | None:
        frames = self.symboliser.stack(stack)
        if not frames:
            return None
        added: dict[str, Any] = {ATTR_CODE_STACKTRACE: "\n".join(frame.describe() for frame in frames)}
        cells: list[tuple[str, str]] = []
        frame = program_frame(frames)
        if frame is not None and frame.file is not None and frame.line is not None:
            added[ATTR_CODE_FILEPATH] = frame.file
            added[ATTR_CODE_LINENO] = frame.line
            if frame.function:
                added[ATTR_CODE_FUNCTION] = frame.function
            column = source_column(frame)
            location = frame.location
            if column is not None and location is not None:
                cells.append((column, location))
            if self.maps is not None:
                hit = self.maps.lookup(frame.file, frame.line)
                if hit is not None:
                    cells.append(("python_source", hit[0]))
                    if hit[1].python_function:
                        added[ATTR_PYTHON_FUNCTION] = hit[1].python_function
        return added, cells


class SymbolisingStage:
    """A thread that annotates batches in order and hands them on (`offer` never blocks); the
    snapshots of calls in flight (`offer_inflight`) pass through in their place, unannotated."""

    def __init__(self, annotator: SourceAnnotator, downstream: Callable[[pa.RecordBatch], None],
                 inflight: Callable[[pa.RecordBatch], None] | None = None) -> None:
        self.annotator = annotator
        self.downstream = downstream
        self.inflight = inflight
        self.error: str | None = None
        # a batch, a snapshot of calls in flight as a 1-tuple, or None: the end
        self._queue: queue.SimpleQueue[pa.RecordBatch | tuple[pa.RecordBatch] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="renacer-symbols", daemon=True)
        self._thread.start()

    def offer(self, batch: pa.RecordBatch) -> None:
        self._queue.put(batch)

    def offer_inflight(self, batch: pa.RecordBatch) -> None:
        self._queue.put((batch,))

    def close(self) -> None:
        """Drain what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if isinstance(batch, tuple):
                if self.inflight is not None:
                    self.inflight(batch[0])
                continue
            if self.error is None:
                try:
                    batch = self.annotator.annotate(batch)
                except Exception as exc:  # a broken object file must not lose the spans
                    self.error = f"{type(exc).__name__}: {exc}"
            self.downstream(batch)


def _carried_stacks(carried: bytes, n: int) -> tuple[list[Any], pa.Array]:
    """(distinct stacks, each row's index into them or -1) from the builder's batch metadata
    (`tracer.rows.encode_stacks`); no stacks when the document is not one."""
    try:
        data = json.loads(carried)
        table, index = data["stacks"], data["rows"]
        if isinstance(table, list) and len(index) == n:
            return table, pa.array(index, pa.int64())
    except (ValueError, KeyError, TypeError, OverflowError, pa.ArrowException):
        pass
    return [], pa.nulls(n, pa.int64())


def stack_lines(attributes: dict[str, Any]) -> list[str]:
    """The ` > frame` lines -k prints under a call (strace's layout), from code.stacktrace."""
    text = attributes.get(ATTR_CODE_STACKTRACE)
    if not isinstance(text, str) or not text:
        return []
    return [f" > {escape_text(line)}" for line in text.split("\n")]


def start_source_stage(
    map_paths: list[str], downstream: Callable[[pa.RecordBatch], None],
    inflight: Callable[[pa.RecordBatch], None] | None = None,
) -> SymbolisingStage:
    """The stage `--source` puts between the span builder and its outputs (the stacks come from
    `StackSampler.for_source` at the stop). Raises TranspilerMapError for a bad map (before
    anything starts)."""
    maps = TranspilerMaps.load(map_paths) if map_paths else None
    return SymbolisingStage(SourceAnnotator(maps=maps), downstream, inflight)
