"""Fault suite (issue 17): hostile names and arguments through every output.

One real program, compiled with gcc, is traced once for the module.  Its binary has a hostile
file name (so its comm, argv[0] and the execve path carry Rich markup, a CSI, a C1 control and a
byte that is not UTF-8), its argv[1] is hostile, it opens files whose names carry ANSI CSI and
OSC sequences (OSC 52 clipboard, OSC 8 hyperlink), Rich markup, a bare CR, a C1 CSI (U+009B) and
bytes that are not UTF-8, writes a buffer holding a NUL and an escape, writes 1 MiB whose head
and tail are hostile (captured whole: `-s 1048576`), and makes enough failed opens and small
writes that the anti-pattern report names the hostile paths.

Then every output gets the stored trace: the text output (`-o`), `export` (JSONL, OTLP/JSON,
Perfetto), `db query` (table, CSV, JSON), OTLP to a loopback receiver, the `graph` commands and
the TUI.  Each output must show every hostile marker (an output that dropped the row fails),
a terminal-bound one must hold no raw ESC, C1 control, CR or byte that is not UTF-8, and a
machine format must parse and give back the original string (the strace-escaped text the
tracer stores; process.command_args keeps the argv itself, bytes that are not UTF-8 as \\xNN).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.otlp_receiver import HttpReceiver, ReceivedSpan, wait_for

# (raw bytes of a file name under MISSING, the same name as strace prints it and the store keeps it)
NAMES = [
    (b"csi-\x1b[31mred\x1b[2Jclear", r"csi-\33[31mred\33[2Jclear"),
    (b"osc52-\x1b]52;c;aGk=\x07end", r"osc52-\33]52;c;aGk=\7end"),
    (b"osc8-\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\", r"osc8-\33]8;;http://evil.example/\33\\link\33]8;;\33\\"),
    (b"rich-[bold red]x[/]-[link=http://evil.example/]y[/link]", "rich-[bold red]x[/]-[link=http://evil.example/]y[/link]"),
    (b"cr-abc\rXYZ", r"cr-abc\rXYZ"),
    (b"c1-\xc2\x9b31mc1", r"c1-\302\23331mc1"),
    (b"raw-\xff\xfe-bytes", r"raw-\377\376-bytes"),
]
MISSING = "/nonexistent-renacer-hostile/"
PATHS = [MISSING + shown for _, shown in NAMES]

#: the binary's own name: its first 15 bytes are the comm, `[bold]\33[31mp\302\233\377`
EXE = b"[bold]\x1b[31mp\xc2\x9b\xff-\x1b]0;pwned\x07-[blink]"
EXE_SHOWN = r"[bold]\33[31mp\302\233\377-\33]0;pwned\7-[blink]"
COMM_SHOWN = r"[bold]\33[31mp\302\233\377"
ARG = b"arg-\x1b[2J[red]a[/]\xc2\x9b31m|\xff\xfe|\r|"
ARG_SHOWN = r"arg-\33[2J[red]a[/]\302\23331m|\377\376|\r|"
#: process.command_args: the argv as text (U+009B is a character, \xff not UTF-8 so `\xff` text)
ARGV_TEXT = [arg.decode("utf-8", "backslashreplace") for arg in (b"./" + EXE, ARG)]

#: the small writes go to this file (in the run's folder): the small-writes finding names it
SMALL = b"w-\x1b]8;;http:evil\x07[red]w[reverse]\xc2\x9b"
SMALL_SHOWN = r"w-\33]8;;http:evil\7[red]w[reverse]\302\233"
NUL_SHOWN = r"nul\0\33[31mafter-nul"
BIG = 1 << 20
BIG_HEAD, BIG_TAIL = b"\x1b]52;c;big\x07[bold]big-head", b"[/bold]\x1b[2Jbig-tail"
BIG_HEAD_SHOWN, BIG_TAIL_SHOWN = r"\33]52;c;big\7[bold]big-head", r"[/bold]\33[2Jbig-tail"


def c_string(data: bytes) -> str:
    """A C string literal of `data`: octal escapes for everything but plain printable ASCII."""
    return '"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\?' else f"\\{b:03o}" for b in data) + '"'


SOURCE = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static const char *NAMES[] = { %(names)s };
int main(void) {
    int n = sizeof NAMES / sizeof *NAMES;
    for (int i = 0; i < 100; i++) open(NAMES[0], O_RDONLY);      /* redundant lookups of one path */
    for (int r = 0; r < 30; r++)                                   /* a failed-open storm over all */
        for (int i = 0; i < n; i++) open(NAMES[i], O_RDONLY);
    int null = open("/dev/null", O_WRONLY);
    static const char nul[] = "nul\0\033[31mafter-nul";
    write(null, nul, sizeof nul - 1);
    char *big = malloc(%(big)d);
    memset(big, 'A', %(big)d);
    memcpy(big, %(head)s, %(head_len)d);
    memcpy(big + %(big)d - %(tail_len)d, %(tail)s, %(tail_len)d);
    if (write(null, big, %(big)d) != %(big)d) return 1;
    int small = open(%(small)s, O_WRONLY | O_CREAT | O_TRUNC, 0600);  /* small writes to one file */
    for (int i = 0; i < 300; i++) write(small, "x", 1);
    return close(small) || close(null);
}
""" % {
    "names": ", ".join(c_string(MISSING.encode() + raw) for raw, _ in NAMES),
    "big": BIG, "head": c_string(BIG_HEAD), "head_len": len(BIG_HEAD),
    "tail": c_string(BIG_TAIL), "tail_len": len(BIG_TAIL), "small": c_string(SMALL),
}


@dataclass
class Trace:
    folder: Path
    db: Path
    trace_id: str
    text: bytes  # the -o output
    jsonl: bytes  # the -o output of a second run, --format jsonl
    received: list[ReceivedSpan]
    stored: int

    def cli(self, *args: str) -> bytes:
        """stdout of `renacer-tui ARGS` on this store (exit 0 required)."""
        result = subprocess.run([sys.executable, "-m", "renacer_tui", *args], capture_output=True, timeout=120,
                                env={**os.environ, "RENACER_DB": str(self.db), "HOME": str(self.folder / "home")})
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout


@pytest.fixture(scope="module")
def trace(cbuild: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trace]:
    folder = tmp_path_factory.mktemp("hostile")
    exe = os.path.join(os.fsencode(folder), EXE)
    with open(exe, "wb") as copy:
        copy.write(cbuild("hostile", SOURCE).read_bytes())
    os.chmod(exe, 0o755)
    receiver = HttpReceiver()
    db, out = folder / "db", folder / "out.txt"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "renacer_tui", "--no-tui", "--db", str(db), "-o", str(out), "-s", str(BIG),
             "--store-payloads", "--otlp-endpoint", receiver.endpoint, "--otlp-protocol", "http/protobuf",
             "--", b"./" + EXE, ARG],
            cwd=folder, capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(folder / "home")},
        )
        assert result.returncode == 0, result.stderr[-2000:]
        match = re.search(rb"^trace_id=([0-9a-f]{32})$", result.stderr, re.M)
        assert match, result.stderr[-2000:]
        rows = re.search(rb"\d+ spans \((\d+) rows\)", result.stderr)  # an RLE row is one OTLP span
        assert rows, result.stderr[-2000:]
        stored = int(rows.group(1))
        received = wait_for(receiver, stored, timeout=20)
        jsonl = folder / "out.jsonl"
        again = subprocess.run(
            [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--no-receiver", "--format", "jsonl",
             "-o", str(jsonl), "-s", str(BIG), "--", b"./" + EXE, ARG],
            cwd=folder, capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(folder / "home")},
        )
        assert again.returncode == 0, again.stderr[-2000:]
        yield Trace(folder, db, match.group(1).decode(), out.read_bytes(), jsonl.read_bytes(), received, stored)
    finally:
        receiver.stop()


# -- what every output is checked for --------------------------------------------------------

#: what a terminal must never receive from traced data: ESC, C1 controls (as characters), CR,
#: the other C0 controls but tab and newline, and DEL
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

#: the escaped forms every output shows (the syscall args, the pathnames, the buffers, the names)
SHOWN = [*PATHS, NUL_SHOWN, BIG_HEAD_SHOWN, EXE_SHOWN, COMM_SHOWN, ARG_SHOWN]


def terminal_safe(data: bytes, where: str) -> str:
    """`data` decoded; fails when it holds bytes that are not UTF-8 or a raw control character."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AssertionError(f"{where}: bytes that are not UTF-8 reach the terminal: {exc}") from None
    bad = _RAW_CONTROL.search(text)
    assert bad is None, f"{where}: raw {bad.group(0)!r} at {bad.start()}: {text[max(0, bad.start() - 60):bad.start() + 60]!r}"
    return text


def assert_shows(text: str, where: str, wanted: list[str] = SHOWN) -> None:
    missing = [w for w in wanted if w not in text]
    assert not missing, f"{where}: missing {missing}"


def strings(value: Any) -> Iterator[str]:
    """Every string inside a parsed JSON value (keys too), attributes JSON text parsed as well."""
    if isinstance(value, str):
        yield value
        if value[:1] in ("{", "["):  # attributes as JSON text, OTLP's lists as JSON text
            try:
                inner = json.loads(value)
            except ValueError:
                return
            yield from strings(inner)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def assert_round_trip(values: list[Any], where: str, *, argv: bool = True) -> None:
    """The original strings are among the parsed values: each stored text whole (the escaped
    pathnames as their own values, the argv as process.command_args' items)."""
    found = set()
    joined: list[str] = []
    for value in values:
        for s in strings(value):
            found.add(s)
            joined.append(s)
    missing = [p for p in PATHS if p not in found]
    assert not missing, f"{where}: pathnames not found whole: {missing}"
    if argv:
        assert [a for a in ARGV_TEXT if a not in found] == [], f"{where}: argv not found whole"
    text = "\n".join(joined)
    assert_shows(text, where)
    assert BIG_TAIL_SHOWN in text, f"{where}: the 1 MiB write lost its tail"


# -- the text output, export, db query, graph --------------------------------------------------


def test_text_output(trace: Trace) -> None:
    text = terminal_safe(trace.text, "-o text")
    assert_shows(text, "-o text")
    assert f'execve("./{EXE_SHOWN}", ["./{EXE_SHOWN}", "{ARG_SHOWN}"]' in text
    assert f'write(3, "{NUL_SHOWN}", 18) = 18' in text
    assert f'write(3, "{BIG_HEAD_SHOWN}' in text and f'{BIG_TAIL_SHOWN}", {BIG}) = {BIG}' in text


def test_jsonl_output(trace: Trace) -> None:
    text = terminal_safe(trace.jsonl, "-o --format jsonl")  # -o - writes it to a terminal
    assert_round_trip([json.loads(line) for line in text.splitlines()], "-o --format jsonl")


@pytest.mark.parametrize("fmt", ["jsonl", "otlp-json", "perfetto"])
def test_export(trace: Trace, fmt: str) -> None:
    out = trace.cli("export", "--trace-id", trace.trace_id, "-f", fmt)  # to stdout: it may be a terminal
    text = terminal_safe(out, f"export {fmt}")
    values = [json.loads(line) for line in text.splitlines()] if fmt == "jsonl" else [json.loads(text)]
    assert_round_trip(values, f"export {fmt}")


QUERY = "SELECT span_name, process_name, process_cmdline, attributes FROM spans ORDER BY start_time_nanos"
ARGV_QUERY = ("SELECT json_extract_string(attributes, '$.\"process.command_args\"[0]') AS a0, "
              "json_extract_string(attributes, '$.\"process.command_args\"[1]') AS a1 FROM spans WHERE span_name LIKE 'renacer:run%'")


def test_db_query_table(trace: Trace) -> None:
    text = terminal_safe(trace.cli("db", "query", "--max-rows", "0", QUERY), "db query table")
    assert_shows(text.replace("\\\\", "\\"), "db query table")  # the attributes column is JSON text
    argv = terminal_safe(trace.cli("db", "query", ARGV_QUERY), "db query table (argv)")
    assert "[bold]" in argv and "[red]a[/]" in argv and "\\x1b[31m" in argv  # the raw argv, made visible


def test_db_query_csv(trace: Trace) -> None:
    csv.field_size_limit(4 * BIG)  # the 1 MiB write's args
    out = trace.cli("db", "query", "-f", "csv", QUERY)  # piped: exact data
    rows = list(csv.reader(io.StringIO(out.decode("utf-8"), newline="")))
    assert rows[0] == ["span_name", "process_name", "process_cmdline", "attributes"]
    assert_round_trip([json.loads(r[3]) for r in rows[1:]] + [r[:3] for r in rows[1:]], "db query csv")
    argv = list(csv.reader(io.StringIO(trace.cli("db", "query", "-f", "csv", ARGV_QUERY).decode("utf-8"), newline="")))
    assert argv[1] == ARGV_TEXT


def test_db_query_json(trace: Trace) -> None:
    text = terminal_safe(trace.cli("db", "query", "-f", "json", QUERY), "db query json")
    assert_round_trip([json.loads(text)], "db query json")
    argv = json.loads(terminal_safe(trace.cli("db", "query", "-f", "json", ARGV_QUERY), "db query json (argv)"))
    assert [argv[0]["a0"], argv[0]["a1"]] == ARGV_TEXT


def test_otlp_export(trace: Trace) -> None:
    assert len(trace.received) == trace.stored
    values: list[Any] = []
    for span in trace.received:
        values += [span.name, span.status_message, span.attributes, span.resource]
    assert_round_trip(values, "OTLP")
    run = next(s for s in trace.received if s.name.startswith("renacer:run "))
    assert run.name == f"renacer:run ./{EXE_SHOWN} {ARG_SHOWN}"
    assert json.loads(run.attributes["process.command_args"]) == ARGV_TEXT  # a list travels as JSON text


GRAPH = [
    ("critical-path", "text", ["--limit", "0"]),
    ("critical-path", "json", ["--limit", "0"]),
    ("antipatterns", "text", []),
    ("antipatterns", "json", []),
    ("pagerank", "text", ["--by", "name", "-n", "1000"]),
    ("pagerank", "json", ["--by", "name", "-n", "1000"]),
]


@pytest.mark.parametrize(("command", "fmt", "extra"), GRAPH, ids=[f"{c}-{f}" for c, f, _ in GRAPH])
def test_graph(trace: Trace, command: str, fmt: str, extra: list[str]) -> None:
    text = terminal_safe(trace.cli("graph", command, "--trace-id", trace.trace_id, "-f", fmt, *extra), f"graph {command}")
    if fmt == "json":
        text = "\n".join(strings(json.loads(text)))
    if command == "antipatterns":  # a failed-open storm, redundant lookups of the CSI path, small writes
        assert PATHS[0] in text and "Redundant lookups" in text and "storm" in text, text
        assert SMALL_SHOWN in text and "Small writes" in text, text
    else:
        assert COMM_SHOWN in text and EXE_SHOWN in text, text[:3000]


@pytest.mark.parametrize("fmt", ["dot", "svg"])
def test_graph_export(trace: Trace, fmt: str) -> None:
    text = terminal_safe(trace.cli("graph", "export", "--trace-id", trace.trace_id, "-f", fmt), f"graph export {fmt}")
    if fmt == "svg":
        import xml.etree.ElementTree as ET

        text = "\n".join(t for t in ET.fromstring(text).itertext())
    else:
        text = text.replace("\\\\", "\\")  # DOT writes a backslash in a label as two
    assert COMM_SHOWN in text and EXE_SHOWN in text, text[:3000]


# -- the TUI ----------------------------------------------------------------------------------

SIZE = (220, 50)


def cells(table: Any) -> list[Any]:
    """Every cell of a DataTable (the Rich Text objects the widget draws)."""
    return [cell for i in range(table.row_count) for cell in table.get_row_at(i)]


def assert_literal(cell: Any, where: str) -> str:
    """A cell is literal text: a Text without markup spans and no raw control characters."""
    from rich.text import Text

    assert isinstance(cell, Text), f"{where}: {type(cell).__name__} cell (a str would be parsed as markup)"
    assert not cell.spans, f"{where}: styled spans {cell.spans} (markup interpreted?)"
    assert _RAW_CONTROL.search(cell.plain) is None, f"{where}: raw control in {cell.plain[:200]!r}"
    return cell.plain


def assert_screen_safe(app: Any, where: str) -> str:
    from tui_helpers import screen_text

    return terminal_safe(screen_text(app).encode("utf-8"), where)


async def screen_shows(pilot: Any, app: Any, wanted: list[str], where: str, timeout: float = 20.0) -> str:
    """The terminal's text once it shows one of `wanted` (the widgets draw after a refresh),
    checked for raw control characters each time."""
    deadline = time.monotonic() + timeout
    while True:
        visible = assert_screen_safe(app, where)
        if any(w in visible for w in wanted):
            return visible
        assert time.monotonic() < deadline, f"{where}: none of {wanted} on the screen:\n{visible}"
        await pilot.pause(0.05)


@pytest.mark.asyncio
async def test_tui_traces_list_span_tree_and_detail(trace: Trace) -> None:
    from textual.widgets import DataTable
    from tui_helpers import wait_until

    from renacer_tui.app import RenacerApp
    from renacer_tui.screens.span_tree import SpanTreeScreen
    from renacer_tui.store import Store

    store = Store.open(trace.db)
    app = RenacerApp(store=store)
    app.start_traces()
    try:
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one("#traces", DataTable)
            await wait_until(pilot, lambda: table.row_count == 1)
            command = next(assert_literal(c, "traces list") for c in cells(table) if "[bold]" in str(c))
            assert command.endswith("…") and f"./{EXE_SHOWN} {ARG_SHOWN}".startswith(command[:-1])  # clipped
            await screen_shows(pilot, app, [command], "traces list")

            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.tree_view is not None)
            screen = app.screen
            index, tree = screen.index, screen.tree_view
            detail = screen.query_one("#detail", DataTable)
            # the spans to look at: what each one's detail pane must show
            wanted: dict[int, list[str]] = {}
            for row in range(index.size):
                attrs = index.row_dict(row)["attributes"] or {}
                name = index.names[row]
                if name.startswith("renacer:run"):
                    wanted[row] = [f"renacer:run ./{EXE_SHOWN} {ARG_SHOWN}", "\\u001b[31mp\\x9b\\\\xff"]  # argv as JSON text
                elif name.startswith("process:"):
                    wanted[row] = [f"process:{COMM_SHOWN}", COMM_SHOWN]
                elif attrs.get("syscall.pathname") in PATHS and attrs["syscall.pathname"] not in sum(wanted.values(), []):
                    wanted[row] = [attrs["syscall.pathname"]]
                elif name == "syscall:write" and attrs.get("syscall.result") in (18, BIG):
                    wanted[row] = [NUL_SHOWN] if attrs["syscall.result"] == 18 else [BIG_HEAD_SHOWN, BIG_TAIL_SHOWN]
            assert len(wanted) == 2 + len(PATHS) + 2, {index.names[r]: w for r, w in wanted.items()}
            for row, shown in wanted.items():
                assert tree.reveal(row)
                await pilot.pause()
                label = tree.nodes[row].label
                assert _RAW_CONTROL.search(label.plain) is None, label.plain
                if index.names[row].startswith(("renacer:run", "process:")):  # the name, clipped to the column
                    assert label.plain.startswith(shown[0][:18]) and "[bold]" in label.plain, label.plain
                await wait_until(pilot, lambda: detail.row_count > 0 and any(
                    str(c) == index.names[row] for c in cells(detail)))
                values = [assert_literal(c, f"detail of {index.names[row]}") for c in cells(detail)]
                for text in shown:
                    assert any(text in v for v in values), (text, [v[:300] for v in values])
                await screen_shows(pilot, app, [shown[-1][:30], shown[0][:30]], f"span tree at {index.names[row]}")
    finally:
        store.close()


@pytest.mark.asyncio
async def test_tui_analysis_screens_and_sql_console(trace: Trace) -> None:
    from textual.widgets import DataTable
    from tui_helpers import wait_until

    from renacer_tui.app import RenacerApp
    from renacer_tui.screens.antipatterns import AntipatternsScreen
    from renacer_tui.screens.critical_path import CriticalPathScreen
    from renacer_tui.screens.span_tree import SpanTreeScreen
    from renacer_tui.screens.sql_console import SqlConsoleScreen
    from renacer_tui.store import Store
    from renacer_tui.widgets.analysis_tables import FindingsTable

    store = Store.open(trace.db)
    app = RenacerApp(store=store)
    app.start_trace(trace.trace_id)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.tree_view is not None)
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, AntipatternsScreen) and app.screen.findings is not None, 60)
            findings = app.screen.query_one(FindingsTable)
            texts = [assert_literal(c, "anti-patterns") for c in cells(findings) if not isinstance(c, (int, float))]
            assert any(PATHS[0][-20:] in t for t in texts) and any(SMALL_SHOWN[-20:] in t for t in texts), "\n".join(texts)
            await screen_shows(pilot, app, ["[red]w[reverse]"], "anti-patterns")
            await pilot.press("escape")

            await wait_until(pilot, lambda: isinstance(app.screen, SpanTreeScreen))
            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(app.screen, CriticalPathScreen) and app.screen.path is not None, 60)
            visible = await screen_shows(pilot, app, [SMALL_SHOWN], "critical path")  # paths whole, names clipped
            assert "process:[bold]\\33[31m" in visible, visible
            await pilot.press("escape")

            await wait_until(pilot, lambda: isinstance(app.screen, SpanTreeScreen))
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(app.screen, SqlConsoleScreen))
            sql = app.screen
            sql.query_one("#editor").load_text(ARGV_QUERY)
            await pilot.press("f5")
            results = sql.query_one("#results", DataTable)
            await wait_until(pilot, lambda: not sql.running and results.row_count > 0)
            argv = [assert_literal(c, "SQL console") for c in cells(results)]
            assert argv == ["./[bold]\\x1b[31mp\\x9b\\xff-\\x1b]0;pwned\\x07-[blink]",
                            "arg-\\x1b[2J[red]a[/]\\x9b31m|\\xff\\xfe|\\r|"]  # the raw argv, escapes visible
            await screen_shows(pilot, app, ["[red]a[/]"], "SQL console")
    finally:
        store.close()
