"""`--source`, `-k` and `--transpiler-map` on real traced programs, checked in the store.

The lines a call should be attributed to are found by marker comments in the C source, and the
stored frames are checked against binutils addr2line, so the tests know nothing of the symboliser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from renacer_tui.model.attributes import (
    ATTR_CODE_FILEPATH,
    ATTR_CODE_FUNCTION,
    ATTR_CODE_LINENO,
    ATTR_CODE_STACKTRACE,
    ATTR_PYTHON_FUNCTION,
    ATTR_STACK,
    ATTR_SYSCALL_PATH,
    parse_attributes,
)
from renacer_tui.store import Store

SIM = r"""#include <fcntl.h>
#include <unistd.h>
static char buf[64];
int load(const char *path) {
    int fd = open(path, O_RDONLY);             /* OPEN */
    int n = 0;
    for (int i = 0; i < 3; i++)
        n += (int)pread(fd, buf, 8, i);        /* PREAD */
    close(fd);                                 /* CLOSE */
    return n;
}
int main(void) {
    int n = load("/etc/hostname");             /* LOAD */
    n += (int)write(1, "ok\n", 3);             /* WRITE */
    return n > 0 ? 0 : 1;
}
"""

BUILDS = {
    "frame pointers -O0": ("-g", "-O0", "-fno-omit-frame-pointer"),
    "frame pointers -O2": ("-g", "-O2", "-fno-omit-frame-pointer", "-fno-inline"),
    "no frame pointers (CFI)": ("-g", "-O2", "-fomit-frame-pointer", "-fno-inline"),
    "no unwind tables (frame pointers only)": (
        "-g", "-O0", "-fno-omit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables",
    ),
}


def line_of(marker: str) -> int:
    return next(i for i, text in enumerate(SIM.splitlines(), 1) if f"/* {marker} */" in text)


def trace(*args: str, env_home: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )


def spans(db_path: Path, where: str = "") -> list[dict]:
    store = Store.open(db_path)
    table = store.query(
        "SELECT span_name, c_source, rust_source, python_source, attributes, rle_count FROM spans"
        f" WHERE span_name LIKE 'syscall:%' {where} ORDER BY logical_clock"
    )
    return table.to_pylist()


@pytest.fixture()
def sim_exe(cbuild, request: pytest.FixtureRequest) -> Path:
    return cbuild("sim", SIM, flags=BUILDS[request.param])


@pytest.mark.parametrize("sim_exe", sorted(BUILDS), indirect=True)
def test_each_call_is_attributed_to_the_line_that_made_it(sim_exe: Path, db_path: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    done = trace("--source", "--", str(sim_exe))
    assert done.returncode == 0, done.stderr
    rows = {row["span_name"]: row for row in spans(db_path)}
    expect = {"syscall:openat": ("OPEN", "load"), "syscall:pread64": ("PREAD", "load"),
              "syscall:close": ("CLOSE", "load"), "syscall:write": ("WRITE", "main")}
    src_name = f"{sim_exe.name}.c"
    for name, (marker, function) in expect.items():
        row = rows[name]
        assert row["c_source"] == f"{src_name}:{line_of(marker)}", (name, parse_attributes(row["attributes"]))
        assert row["rust_source"] is None and row["python_source"] is None
        attrs = parse_attributes(row["attributes"])
        assert attrs[ATTR_CODE_LINENO] == line_of(marker)
        assert attrs[ATTR_CODE_FUNCTION] == function
        assert attrs[ATTR_CODE_FILEPATH].endswith(src_name)
        assert attrs[ATTR_STACK] and attrs[ATTR_CODE_STACKTRACE]


@pytest.mark.skipif(shutil.which("addr2line") is None, reason="binutils addr2line is not installed")
def test_stored_frames_are_what_addr2line_reads_at_those_addresses(cbuild, db_path: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exe = cbuild("sim", SIM, flags=BUILDS["frame pointers -O0"])
    assert trace("--source", "--", str(exe)).returncode == 0
    row = next(r for r in spans(db_path) if parse_attributes(r["attributes"]).get(ATTR_SYSCALL_PATH) == "/etc/hostname")
    frames = parse_attributes(row["attributes"])[ATTR_STACK]
    own = [f for f in frames if f.startswith(str(exe) + "+0x")]
    assert len(own) >= 3  # load ← main ← _start: the PIE bias was taken off every one
    addresses = [int(f.rpartition("+0x")[2], 16) - 1 for f in own[:2]]  # return addresses: the call
    lines = subprocess.run(["addr2line", "-e", str(exe), *map(hex, addresses)], capture_output=True, text=True).stdout
    assert [line.split(" (")[0].rpartition(":")[2] for line in lines.splitlines()] == [
        str(line_of("OPEN")), str(line_of("LOAD"))
    ]


def write_map(tmp_path: Path, exe: Path) -> Path:
    mapping = {
        "version": 1,
        "source_language": "python",
        "source_file": "sim.py",
        "generated_file": f"{exe.name}.c",
        "mappings": [
            {"rust_line": line_of("OPEN"), "rust_function": "load", "python_line": 41, "python_function": "load"},
            {"rust_line": line_of("PREAD"), "rust_function": "load", "python_line": 42,
             "python_context": "chunk = f.read(8)"},
            {"rust_line": line_of("WRITE"), "rust_function": "main", "python_line": 50},
        ],
        "function_map": {"load": "load_file", "main": "main"},
    }
    path = tmp_path / "sim.map.json"
    path.write_text(json.dumps(mapping))
    return path


def test_the_spec_query_returns_exactly_the_syscalls_of_the_python_line(cbuild, db_path: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exe = cbuild("sim", SIM, flags=BUILDS["frame pointers -O0"])
    done = trace("--transpiler-map", str(write_map(tmp_path, exe)), "--", str(exe))
    assert done.returncode == 0, done.stderr
    query = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "db", "query", "--format", "json",
         "SELECT span_name, c_source, python_source, attributes->>'python.function' AS fn"
         " FROM spans WHERE python_source LIKE 'sim.py:42%'"],
        capture_output=True, text=True, timeout=60,
    )
    assert query.returncode == 0, query.stderr
    got = json.loads(query.stdout)
    # the three preads of line PREAD, nothing else
    assert [r["span_name"] for r in got] == ["syscall:pread64"] * 3
    assert {r["c_source"] for r in got} == {f"{exe.name}.c:{line_of('PREAD')}"}
    assert {r["fn"] for r in got} == {"load_file"}  # through function_map
    rows = {r["span_name"]: r for r in spans(db_path)}
    assert rows["syscall:openat"]["python_source"] == "sim.py:41"
    assert parse_attributes(rows["syscall:openat"]["attributes"])[ATTR_PYTHON_FUNCTION] == "load"
    assert rows["syscall:write"]["python_source"] == "sim.py:50"
    assert rows["syscall:close"]["python_source"] is None  # its line is not in the map
    # the same rows DuckDB reads from the segments directly
    direct = duckdb.connect().execute(
        f"SELECT sum(rle_count) FROM read_parquet('{db_path}/spans/**/*.parquet') WHERE python_source = 'sim.py:42'"
    ).fetchone()
    assert direct == (3,)


def test_k_prints_the_stack_under_each_line(cbuild, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exe = cbuild("sim", SIM, flags=BUILDS["frame pointers -O0"])
    out = tmp_path / "trace.txt"
    done = trace("--no-store", "-k", "-o", str(out), "--", str(exe))
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.split("] ", 1)[-1].startswith("openat(") and "hostname" in line)
    stack = []
    for line in lines[at + 1:]:
        if not line.startswith(" > "):
            break
        stack.append(line)
    assert any(f"{exe.name}.c:{line_of('OPEN')}" in line and "(load)" in line for line in stack)
    assert any(f"{exe.name}.c:{line_of('LOAD')}" in line and "(main)" in line for line in stack)
    assert all(line.startswith(" > ") for line in stack) and len(stack) >= 3


def test_without_source_nothing_is_recorded(cbuild, db_path: Path) -> None:
    exe = cbuild("sim", SIM, flags=BUILDS["frame pointers -O0"])
    assert trace("--", str(exe)).returncode == 0
    for row in spans(db_path):
        assert row["c_source"] is None
        assert ATTR_STACK not in parse_attributes(row["attributes"])


@pytest.mark.asyncio
async def test_the_span_detail_pane_shows_the_source_line_and_the_stack(cbuild, db_path: Path, tmp_path, monkeypatch) -> None:
    from textual.widgets import DataTable

    from renacer_tui.app import RenacerApp
    from renacer_tui.screens.span_tree import SpanTreeScreen

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    source = tmp_path / "sim.c"
    source.write_text(SIM)
    exe = tmp_path / "sim"
    subprocess.run(["gcc", *BUILDS["frame pointers -O0"], "-o", str(exe), str(source)], check=True)
    done = trace("--source", "-o", "/dev/null", "--", str(exe))
    assert done.returncode == 0, done.stderr
    trace_id = done.stderr.strip().splitlines()[-1].partition("=")[2]
    store = Store.open(db_path)
    app = RenacerApp(store=store)
    app.start_trace(trace_id)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            for _ in range(600):
                if isinstance(app.screen, SpanTreeScreen) and app.screen.tree_view is not None:
                    break
                await pilot.pause(0.05)
            screen = app.screen
            assert isinstance(screen, SpanTreeScreen) and screen.index is not None
            index = screen.index
            row = next(
                r for r in range(len(index.names))
                if index.names[r] == "syscall:write"
            )
            span_id = index.row_dict(row)["span_id"]
            screen.jump_to([span_id])
            table = screen.query_one("#detail", DataTable)

            def shown() -> list[tuple[str, str]]:
                return [(str(table.get_row_at(i)[0]), str(table.get_row_at(i)[1])) for i in range(table.row_count)]

            for _ in range(400):  # the pane follows the cursor a message later
                if dict(shown()).get("span_id") == span_id:
                    break
                await pilot.pause(0.05)
            cells = shown()
            fields = dict(cells)
            assert fields.get("span_id") == span_id, fields
            assert fields["c_source"] == f"sim.c:{line_of('WRITE')}"
            assert fields["code.function"] == "main"
            assert fields["source line"] == f"{line_of('WRITE')}: " + SIM.splitlines()[line_of("WRITE") - 1].strip()
            frames = [value for key, value in cells if key == "frame"]
            assert any(f"sim.c:{line_of('WRITE')}" in frame for frame in frames) and len(frames) >= 3
    finally:
        store.close()


def test_pagerank_by_source_and_the_critical_path_name_source_lines(cbuild, db_path: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exe = cbuild("sim", SIM, flags=BUILDS["frame pointers -O0"])
    done = trace("--transpiler-map", str(write_map(tmp_path, exe)), "-o", "/dev/null", "--", str(exe))
    assert done.returncode == 0, done.stderr

    def graph(*args: str) -> dict:
        out = subprocess.run(
            [sys.executable, "-m", "renacer_tui", "graph", *args, "--format", "json"],
            capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    spots = graph("pagerank", "--by", "source", "--top", "50")["hot_spots"]
    names = json.dumps(spots)
    # the Python line where a map gave one, the C line elsewhere
    assert "sim.py:42" in names and f"{exe.name}.c:{line_of('CLOSE')}" in names
    path = graph("critical-path", "--limit", "0")
    details = [segment["detail"] for segment in path["segments"]]
    assert any(detail.endswith("@ sim.py:41") for detail in details), details


def test_otlp_and_perfetto_exports_carry_the_code_keys(cbuild, db_path: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exe = cbuild("sim", SIM, flags=BUILDS["frame pointers -O0"])
    done = trace("--source", "-o", "/dev/null", "--", str(exe))
    assert done.returncode == 0, done.stderr
    trace_id = done.stderr.strip().splitlines()[-1].partition("=")[2]

    def export(fmt: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "renacer_tui", "export", "--trace-id", trace_id, "--format", fmt],
            capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    otlp = json.loads(export("otlp-json"))
    found = {}
    for resource in otlp["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                keys = {a["key"]: a["value"] for a in span.get("attributes", [])}
                if span["name"] == "syscall:write":
                    found = keys
    assert found[ATTR_CODE_FUNCTION] == {"stringValue": "main"}
    assert int(found[ATTR_CODE_LINENO]["intValue"]) == line_of("WRITE")
    assert found["renacer.source.c"] == {"stringValue": f"{exe.name}.c:{line_of('WRITE')}"}
    perfetto = json.loads(export("perfetto"))
    events = perfetto["traceEvents"] if isinstance(perfetto, dict) else perfetto
    write = next(e for e in events if e.get("name") == "syscall:write")
    assert json.dumps(write.get("args", {})).count(f"{exe.name}.c:{line_of('WRITE')}") >= 1


def test_the_span_tree_finds_the_calls_of_a_source_line(cbuild, db_path: Path, tmp_path, monkeypatch) -> None:
    from renacer_tui.span_index import SpanIndex

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exe = cbuild("sim", SIM, flags=BUILDS["frame pointers -O0"])
    done = trace("--transpiler-map", str(write_map(tmp_path, exe)), "-o", "/dev/null", "--", str(exe))
    assert done.returncode == 0, done.stderr
    trace_id = done.stderr.strip().splitlines()[-1].partition("=")[2]
    store = Store.open(db_path)
    try:
        index = SpanIndex(store.trace_spans(trace_id))
    finally:
        store.close()
    assert [index.names[r] for r in index.find("sim.py:42")] == ["syscall:pread64"] * 3
    assert [index.names[r] for r in index.find(f"{exe.name}.c:{line_of('CLOSE')}")] == ["syscall:close"]


TWO_CALLERS = r"""#include <unistd.h>
static void say(const char *s) {
    write(1, s, 1);                            /* SAY */
}
int main(void) {
    for (int i = 0; i < 5; i++) {
        say("a");                              /* FIRST */
        say("a");                              /* SECOND */
    }
    return 0;
}
"""


def test_the_same_call_from_two_lines_keeps_two_stacks(cbuild, db_path: Path, tmp_path, monkeypatch) -> None:
    """Same registers at the write, different return addresses above it: never confused (the
    walk cache compares the stack bytes it read), and RLE keeps the two call sites apart."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exe = cbuild("two", TWO_CALLERS, flags=BUILDS["frame pointers -O0"])
    out = tmp_path / "trace.txt"
    done = trace("-k", "-o", str(out), "--", str(exe))
    assert done.returncode == 0, done.stderr
    lines = [i for i, text in enumerate(TWO_CALLERS.splitlines(), 1) if "/* FIRST */" in text or "/* SECOND */" in text]
    rows = [r for r in spans(db_path) if r["span_name"] == "syscall:write"]
    assert sum(r["rle_count"] for r in rows) == 10
    callers = []
    for row in rows:
        frames = parse_attributes(row["attributes"])[ATTR_CODE_STACKTRACE].split("\n")
        main = next(frame for frame in frames if "(main)" in frame)  # libc's write ← say ← main
        callers += [int(main.rpartition(":")[2])] * row["rle_count"]
        assert row["c_source"] == f"{exe.name}.c:3"
    assert sorted(callers) == [lines[0]] * 5 + [lines[1]] * 5  # RLE folds the pair as a cycle


def test_the_stage_reads_stacks_from_the_batch_metadata_and_drops_it(cbuild, tmp_path, monkeypatch) -> None:
    """The builder hands the stacks beside the JSON; annotating from them equals annotating from
    the rows' attributes, and what reaches the sinks has the plain span schema."""
    from renacer_tui.model.schema import SPAN_SCHEMA
    from renacer_tui.tracer.capture import CaptureOptions, run_capture
    from renacer_tui.tracer.rows import STACKS_METADATA
    from renacer_tui.tracer.spans import SpanBuilder
    from renacer_tui.tracer.symbols.annotate import SourceAnnotator
    from renacer_tui.tracer.symbols.stacks import StackSampler

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exe = cbuild("sim", SIM, flags=BUILDS["frame pointers -O0"])
    batches: list = []
    builder = SpanBuilder(
        trace_id="1" * 32, parent_span_id=None, run_span_id="2" * 16, command=[str(exe)],
        on_batch=batches.append, stacks=StackSampler(),
    )
    with open(os.devnull, "w") as null:
        run_capture(CaptureOptions(argv=[str(exe)], stdout=null.fileno()), builder)
    builder.finish({})
    carried = [b for b in batches if b.schema.metadata and STACKS_METADATA in b.schema.metadata]
    assert carried
    annotator = SourceAnnotator()
    for batch in carried:
        via_metadata = annotator.annotate(batch)
        via_rows = annotator.annotate(batch.replace_schema_metadata(None))
        assert via_metadata.schema.metadata is None and via_metadata.schema.equals(SPAN_SCHEMA)
        assert via_metadata.to_pylist() == via_rows.to_pylist()
    sources = [v for b in carried for v in annotator.annotate(b).column("c_source").to_pylist() if v]
    assert f"{exe.name}.c:{line_of('WRITE')}" in sources


SIGNAL_HANDLER = r"""#include <signal.h>
#include <unistd.h>
static void on_usr1(int sig) {
    (void)sig;
    getppid();                                 /* HANDLER */
}
int main(void) {
    signal(SIGUSR1, on_usr1);
    kill(getpid(), SIGUSR1);                   /* RAISE */
    return 0;
}
"""


def _k_addresses(text: str, call: str) -> list[str]:
    """The `[0x…]` addresses of the -k stack under the first line of `call` in strace-like text."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split("] ", 1)[-1].startswith(f"{call}("))
    stack = []
    for line in lines[at + 1:]:
        if not line.startswith(" > "):
            break
        stack.append(line.rsplit("[", 1)[1].split("]", 1)[0])
    return stack


@pytest.mark.parametrize("flags", [("-g", "-O0", "-fno-omit-frame-pointer"), ("-g", "-O2", "-fomit-frame-pointer")],
                         ids=["frame pointers", "no frame pointers"])
def test_k_walks_out_of_a_signal_handler_as_strace_does(cbuild, tmp_path: Path, monkeypatch, flags) -> None:
    """glibc's signal trampoline leaves its frame by DWARF expressions (CFA = *(rsp + 160), the
    interrupted rip and rbp from the kernel's ucontext): the stack under the handler's call goes
    on through `kill` to the line of main that raised the signal, frame for frame as strace -k."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exe = cbuild("handler", SIGNAL_HANDLER, flags=flags)
    theirs = subprocess.run(["strace", "-k", "-e", "trace=getppid", "-o", str(tmp_path / "strace.txt"), str(exe)],
                            capture_output=True, text=True, timeout=60)
    assert theirs.returncode == 0, theirs.stderr
    if "\n > " not in (tmp_path / "strace.txt").read_text():
        pytest.skip("this strace was built without -k (libdw)")
    ours = trace("--no-store", "-k", "-e", "trace=getppid", "-o", str(tmp_path / "ours.txt"), "--", str(exe))
    assert ours.returncode == 0, ours.stderr
    text = (tmp_path / "ours.txt").read_text()
    assert _k_addresses(text, "getppid") == _k_addresses((tmp_path / "strace.txt").read_text(), "getppid")
    raise_line = next(i for i, t in enumerate(SIGNAL_HANDLER.splitlines(), 1) if "/* RAISE */" in t)
    assert "(main) [" in text and f"{exe.name}.c:{raise_line}" in text, text


def test_the_decoder_process_gets_the_stacks_the_stop_loop_sampled(cbuild, db_path: Path, tmp_path, monkeypatch) -> None:
    """--source runs split like every run (the capture process samples each stack at the stop,
    the records carry it): the calls get the same lines and stacks as the one-process path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    exe = cbuild("sim", SIM, flags=BUILDS["no frame pointers (CFI)"])
    found = []
    for extra in ((), ("--inline-decode",)):
        done = trace("--source", *extra, "--", str(exe))
        assert done.returncode == 0, done.stderr
        tid = next(line.split("=", 1)[1] for line in done.stderr.splitlines() if line.startswith("trace_id="))
        rows = spans(db_path, f"AND trace_id = '{tid}'")
        found.append([(r["span_name"], r["c_source"], parse_attributes(r["attributes"]).get(ATTR_CODE_STACKTRACE))
                      for r in rows])
    split, inline = found
    assert split == inline
    assert sum(1 for _, source, _ in split if source) >= 4  # open, 3 preads (or their RLE row), close, write
