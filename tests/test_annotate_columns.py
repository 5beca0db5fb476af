"""The annotator applies each distinct stack's symbolised results to its rows column-wise; this
checks it against the row-by-row rule it replaced (append the new keys to the row's object text,
merge by parsing where the text is not a plain object, fill the source columns), on real frames
of a real `gcc -g` binary and any mix of rows and attribute texts (hypothesis)."""

from __future__ import annotations

import subprocess
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renacer_tui.model.attributes import parse_attributes
from renacer_tui.model.schema import SOURCE_COLUMNS
from renacer_tui.tracer.rows import STACKS_METADATA, encode_stacks
from renacer_tui.tracer.symbols.annotate import SourceAnnotator
from renacer_tui.tracer.symbols.symbolise import format_frame
from tests.test_store_basic import make_batch, trace_hex

PROGRAM = r"""#include <unistd.h>
int helper(void) { return (int)getppid(); }
int main(void) { return helper() + (int)getpid() > 0 ? 0 : 1; }
"""


@pytest.fixture(scope="module")
def frames(cbuild) -> list[list[str]]:
    exe = cbuild("annotated", PROGRAM, flags=("-g", "-O0", "-fno-omit-frame-pointer"))
    symbols = {line.split()[2]: int(line.split()[0], 16) for line in
               subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
               if len(line.split()) == 3}
    helper, main = symbols["helper"], symbols["main"]
    return [[format_frame(str(exe), helper + 8), format_frame(str(exe), main + 8)],
            [format_frame(str(exe), main + 12)],
            ["/nonexistent/lib.so+0x10"]]  # symbolises to nothing


def _row_by_row(annotator: SourceAnnotator, batch: pa.RecordBatch, stacks: list[Any]) -> pa.RecordBatch:
    """The rule as it was applied before: one row at a time."""
    texts = batch.column("attributes").to_pylist()
    columns = {name: batch.column(name).to_pylist() for name in SOURCE_COLUMNS}
    for i, stack in enumerate(stacks):
        found = annotator._source(stack) if stack else None
        if found is None:
            continue
        added, cells = found
        body = texts[i].rstrip()
        if body.endswith("}") and body != "{}":
            texts[i] = f"{body[:-1]},{added}"
        else:
            merged = parse_attributes(texts[i])
            merged.update(parse_attributes("{" + added))
            texts[i] = merged
        for name, value in cells:
            columns[name][i] = value
    return batch.schema, texts, columns


ATTRIBUTE_TEXTS = ['{"syscall.name":"read"}', "{}", "", "not json", '{"a":[1,2],"b":{"c":null}}', "[1]"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(-1, 2), st.sampled_from(ATTRIBUTE_TEXTS)), min_size=1, max_size=40))
def test_column_wise_annotation_equals_the_row_by_row_rule(frames: list[list[str]], rows: list[tuple[int, str]]) -> None:
    annotator = SourceAnnotator()
    base = make_batch(trace_hex(1), len(rows))
    batch = base.set_column(base.schema.get_field_index("attributes"), "attributes",
                            pa.array([text for _, text in rows], pa.string()))
    stacks = [frames[k] if k >= 0 else None for k, _ in rows]
    carried = batch.replace_schema_metadata({STACKS_METADATA: encode_stacks(stacks)})
    got = annotator.annotate(carried)
    _, texts, columns = _row_by_row(annotator, batch, stacks)
    for i, (want, have) in enumerate(zip(texts, got.column("attributes").to_pylist())):
        if isinstance(want, dict):  # merged by parsing: compare as objects
            assert parse_attributes(have) == want, i
        else:
            assert have == want, i
    for name in SOURCE_COLUMNS:
        assert got.column(name).to_pylist() == columns[name], name
    assert got.schema.metadata in (None, {}) or STACKS_METADATA not in got.schema.metadata
    assert any(value for value in columns["c_source"]) or all(k != 0 for k, _ in rows)
