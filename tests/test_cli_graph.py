"""`renacer-tui graph …` as a user runs it: real store, real argument parsing, real output.

Most tests call the CLI entry point in-process (`renacer_tui.cli.main`) on traces written
through the store's public API; one runs the whole chain as subprocesses on a traced C program.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import synthetic
from synthetic import MS, sid

from renacer_tui.cli import main
from renacer_tui.model.schema import batch_from_rows
from renacer_tui.store.store import Store

OLD = "0af7651916cd43dd8448eb211c80319c"
NEW = "4bf92f3577b34da6a3ce929d0e0e4736"
HOSTILE = "[bold red]evil[/]\x1b[31m"


def span(trace: str, n: int, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """`synthetic.span` in trace `trace` (this file stores several traces)."""
    return synthetic.span(n, *args, trace=trace, **kwargs)


def nested(trace: str) -> list[dict[str, Any]]:
    """Known answer: path run/process gaps + A 10–40 (a1 inside) + B 50–90; B is the bottleneck."""
    return [
        span(trace, 1, None, 0, 100, "renacer:run ./x", pid=1),
        span(trace, 2, 1, 0, 100, "process:x"),
        span(trace, 3, 2, 10, 40, "syscall:A", c_source="main.c:10"),
        span(trace, 4, 3, 20, 30, "syscall:a1", c_source="main.c:11"),
        span(trace, 5, 2, 50, 90, "syscall:B", c_source="main.c:12", syscall__pathname="/data/in"),
    ]


def store_trace(trace: str, rows: list[dict[str, Any]], started: int) -> None:
    with Store.open() as store:
        store.begin_run(f"run-{trace[:8]}", trace, "./x", started_ns=started)
        sink = store.segment_sink(f"run-{trace[:8]}")
        sink.write(batch_from_rows(rows))
        sink.close()
        store.end_run(f"run-{trace[:8]}", 0, ended_ns=started + 100 * MS)


@pytest.fixture()
def stored(db_path: Path) -> Path:
    """Two traces: OLD (fork/wait with a hostile name and a tight loop), NEW (nested, newest)."""
    old = [
        span(OLD, 1, None, 0, 100, "renacer:run ./parent", pid=1),
        span(OLD, 2, 1, 0, 99, "process:parent"),
        span(OLD, 3, 2, 1, 2, "syscall:clone"),
        span(OLD, 4, 3, 2, 90, "process:child", pid=200, links=[("fork", 3)]),
        span(OLD, 5, 4, 3, 80, "syscall:" + HOSTILE, pid=200, links=[("fork", 3)]),
        span(OLD, 6, 4, 80, 89, "syscall:newfstatat", pid=200, rle=2000, syscall__pathname="/tmp/" + HOSTILE),
        span(OLD, 7, 2, 3, 95, "syscall:wait4", links=[("wait", 6)]),
    ]
    store_trace(OLD, old, started=1_000)
    store_trace(NEW, nested(NEW), started=2_000)
    return db_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["graph", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_critical_path_text_lists_steps_and_marks_the_bottleneck(stored: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "critical-path", "--trace-id", NEW)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"Critical path of trace {NEW}: 100ms in 7 steps (100.0% of the 100ms wall time)"
    assert lines[1] == "process:x (10.0ms) → syscall:A (10.0ms) → syscall:a1 (10.0ms) → syscall:A (10.0ms) → " \
                       "process:x (10.0ms) → syscall:B (40.0ms) → process:x (10.0ms)"
    steps = [line for line in lines if re.match(r"^\s+\d+\s", line)]
    assert len(steps) == 7
    hot = [line for line in steps if "◀ bottleneck" in line]
    assert len(hot) == 1 and "syscall:B" in hot[0] and "40.0ms" in hot[0] and "40.0%" in hot[0] and "/data/in" in hot[0]
    assert f"Bottleneck: syscall:B 40.0ms (40.0% of the path), span {sid(5)}" in lines


def test_speedup_prints_the_what_if_sentence(stored: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "critical-path", "--trace-id", NEW, "--speedup", "B=10x")
    assert code == 0, err
    assert out.splitlines()[-1] == "if B were 10× faster the run would take 64.0ms (-36.0 %, was 100ms)"
    code, out, _ = run(capsys, "critical-path", "--trace-id", NEW, "--speedup", f"{sid(3)}=2", "--speedup", "syscall:B=4x")
    assert code == 0
    # A's own 20 ms → 10 ms (a1 inside it keeps its 10 ms), B: 40 ms → 10 ms: 100 − 10 − 30 = 60 ms.
    assert out.splitlines()[-1].endswith("were 4× faster the run would take 60.0ms (-40.0 %, was 100ms)")


def test_critical_path_json_and_limit(stored: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "critical-path", "--trace-id", NEW, "--format", "json", "--speedup", "B=10x")
    assert code == 0
    doc = json.loads(out)
    assert doc["trace_id"] == NEW and doc["total_ns"] == doc["trace_wall_ns"] == 100 * MS
    assert sum(s["self_ns"] for s in doc["segments"]) == doc["total_ns"]
    assert doc["bottleneck"]["name"] == "syscall:B"
    assert doc["what_if"]["after_ns"] == 64 * MS
    code, out, _ = run(capsys, "critical-path", "--trace-id", NEW, "--format", "json", "--limit", "2")
    top2 = json.loads(out)["segments"]
    assert len(top2) == 2 and top2[1]["name"] == "syscall:B" and top2[0]["self_ns"] == 10 * MS
    assert top2[0]["start_ns"] < top2[1]["start_ns"]  # the largest steps, in time order
    code, out, _ = run(capsys, "critical-path", "--trace-id", NEW, "-n", "2")
    assert "showing the 2 longest of 7 steps" in out


def test_critical_path_svg_to_a_file(stored: Path, capsys: Any, tmp_path: Path) -> None:
    target = tmp_path / "path.svg"
    code, out, err = run(capsys, "critical-path", "--trace-id", NEW, "--format", "svg", "-o", str(target))
    assert code == 0 and out == ""
    assert f"wrote the critical path (svg) to {target}" in err
    svg = target.read_text()
    assert svg.startswith("<?xml") and "<svg" in svg and "syscall:B 40.0ms (40%) BOTTLENECK" in svg


def test_trace_id_defaults_to_the_newest_trace(stored: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "critical-path")
    assert code == 0 and out.startswith(f"Critical path of trace {NEW}:")


def test_wait_hands_the_path_to_the_child(stored: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "critical-path", "--trace-id", OLD, "--format", "json", "--limit", "0")
    doc = json.loads(out)
    names = [s["name"] for s in doc["segments"]]
    assert doc["bottleneck"]["name"] == "syscall:" + HOSTILE
    assert names.index("syscall:newfstatat") < names.index("syscall:wait4")
    wait = [s for s in doc["segments"] if s["name"] == "syscall:wait4"]
    assert [s["self_ns"] for s in wait] == [6 * MS]  # only after the child's last call ended
    assert [s["calls"] for s in doc["segments"] if s["name"] == "syscall:newfstatat"] == [2000]
    code, out, _ = run(capsys, "critical-path", "--trace-id", OLD)
    assert re.search(r"  syscall:newfstatat ×2000  /tmp/\[bold red\]evil", out)


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("critical-path", "--trace-id", "0" * 31 + "1"), 1, "no trace 00000000000000000000000000000001"),
        (("critical-path", "--trace-id", "not-hex"), 2, "bad trace id 'not-hex'"),
        (("critical-path", "--speedup", "B=fast"), 2, "bad speedup factor"),
        (("critical-path", "--speedup", "B"), 2, "expected NAME_OR_SPAN_ID=FACTORx"),
        (("critical-path", "--speedup", "nosuch=10x"), 2, "no span id or span name 'nosuch'"),
        (("critical-path", "--format", "pdf"), 2, "unknown format 'pdf'"),
        (("antipatterns", "--format", "svg"), 2, "unknown format 'svg'"),
        (("pagerank", "--by", "colour"), 2, "unknown --by 'colour'"),
        (("pagerank", "--top", "0"), 2, "--top must be at least 1"),
        (("pagerank", "--trace-id", OLD, "--by", "source"), 1, "records no call-site source"),
        (("export", "--format", "png"), 2, "unknown format 'png'"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(stored: Path, capsys: Any, args: tuple[str, ...], code: int, fragment: str) -> None:
    got, out, err = run(capsys, *args)
    assert got == code
    assert out == ""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0] and lines[0].startswith("renacer-tui graph ")


def test_empty_store_says_so(db_path: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "antipatterns")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "no traces in" in err


def test_traced_names_are_shown_literally(stored: Path, capsys: Any, tmp_path: Path) -> None:
    visible = "[bold red]evil[/]\\x1b[31m"
    for args in (
        ("critical-path", "--trace-id", OLD, "--limit", "0"),
        ("antipatterns", "--trace-id", OLD),
        ("pagerank", "--trace-id", OLD),
    ):
        code, out, err = run(capsys, *args)
        assert code == 0, err
        assert visible in out, (args, out)
        assert "\x1b" not in out.replace("\x1b[1;31m", "").replace("\x1b[0m", "")
    code, out, _ = run(capsys, "export", "--trace-id", OLD, "--format", "dot")
    assert '"syscall:[bold red]evil[/]\\\\x1b[31m\\n' in out and "\x1b" not in out
    target = tmp_path / "g.svg"
    code, _, _ = run(capsys, "export", "--trace-id", OLD, "--format", "svg", "-o", str(target))
    svg = target.read_text()
    assert code == 0 and "\x1b" not in svg and "[bold red]evil[/]\\x1b[31m" in svg


def test_antipatterns_text_and_json(stored: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "antipatterns", "--trace-id", OLD)
    assert code == 0
    assert out.splitlines()[0] == f"2 anti-pattern(s) in trace {OLD}:"
    assert "medium Tight loop: syscall:newfstatat called 2000 times" in out
    assert "fix: hoist the newfstatat out of the loop or cache its result" in out
    assert f"evidence: 2000 call(s); path /tmp/[bold red]evil[/]\\x1b[31m; pid 200; spans {sid(6)}" in out
    code, out, _ = run(capsys, "antipatterns", "--trace-id", OLD, "--format", "json")
    doc = json.loads(out)
    assert [(f["kind"], f["severity"], f["count"], f["span_ids"]) for f in doc["findings"]] == [
        ("tight-loop", "medium", 2000, [sid(6)]),
        ("redundant-lookup", "medium", 2000, [sid(6)]),
    ]
    code, out, _ = run(capsys, "antipatterns", "--trace-id", NEW)
    assert code == 0 and out == f"No anti-patterns found in trace {NEW} (5 spans).\n"


def test_pagerank_by_name_and_by_source(stored: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "pagerank", "--trace-id", NEW, "--top", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"PageRank hot spots of trace {NEW} by name (5 spans):"
    ranked = [re.match(r"^\s+(\d)\. (\S+) - PageRank: ([0-9.]+)", line) for line in lines[1:]]
    assert len(ranked) == 3 and all(ranked)
    scores = [float(m.group(3)) for m in ranked if m]
    assert scores == sorted(scores, reverse=True)
    # B is the sink of both the process's tree edges and the thread's program order.
    assert ranked[0] and ranked[0].group(2) == "syscall:B"
    code, out, _ = run(capsys, "pagerank", "--trace-id", NEW, "--by", "source", "--format", "json")
    keys = [h["key"] for h in json.loads(out)["hot_spots"]]
    assert sorted(keys) == ["main.c:10", "main.c:11", "main.c:12"]


def test_build_reports_counts_and_cycle_defects(db_path: Path, capsys: Any) -> None:
    cyc = "c" * 32
    rows = [
        span(cyc, 1, None, 0, 100, "renacer:run x", pid=1),
        span(cyc, 2, 1, 0, 100, "process:a", pid=100),
        span(cyc, 3, 1, 0, 100, "process:b", pid=200),
        span(cyc, 4, 2, 10, 20, "syscall:read", pid=100, links=[("signal", 5)]),
        span(cyc, 5, 3, 10, 20, "syscall:kill", pid=200, links=[("pipe", 4)]),
    ]
    store_trace(cyc, rows, started=5_000)
    code, out, _ = run(capsys, "build", "--trace-id", cyc)
    assert code == 0
    assert out.splitlines()[0] == f"Causal graph of trace {cyc}: 5 spans, 5 edges"
    assert "defect (cycle): causal cycle through 2 span(s)" in out
    code, out, err = run(capsys, "critical-path", "--trace-id", cyc)
    assert code == 0 and "trace defect (cycle)" in err  # analyses still run, and say why to doubt them
    code, out, _ = run(capsys, "build", "--trace-id", cyc, "--format", "json")
    doc = json.loads(out)
    assert doc["nodes"] == 5 and doc["by_type"]["data-flow"] == 0 and doc["defects"][0]["kind"] == "cycle"


def test_export_dot_has_typed_edges(stored: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "export", "--trace-id", OLD)
    assert code == 0 and out.startswith(f'digraph "trace_{OLD}" {{')
    assert 'label="program-order"' in out and 'label="wait"' in out and 'label="fork"' in out and 'label="parent"' in out


SLEEPY = r"""
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    char buf[64];
    int fd = open("/etc/hostname", O_RDONLY);
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, 0);
    if (read(fd, buf, sizeof buf) < 0) return 1;
    return close(fd);
}
"""


def test_end_to_end_on_a_traced_program(db_path: Path, cbuild: Any) -> None:
    exe = cbuild("sleepy", SLEEPY)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "renacer_tui", *args], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)

    traced = cli("--no-tui", "-o", os.devnull, "--", str(exe))
    assert traced.returncode == 0, traced.stderr
    doc = json.loads(cli("graph", "critical-path", "--format", "json").stdout)
    sleep = doc["bottleneck"]["name"]
    assert sleep in ("syscall:nanosleep", "syscall:clock_nanosleep") and doc["bottleneck"]["self_ns"] >= 195 * MS
    assert doc["total_ns"] <= doc["trace_wall_ns"]
    text = cli("graph", "critical-path", "--speedup", f"{sleep}=10x")
    assert text.returncode == 0 and "Traceback" not in text.stderr
    sentence = text.stdout.splitlines()[-1]
    match = re.match(rf"^if {sleep} were 10× faster the run would take .+ \((-[0-9.]+) %, was .+\)$", sentence)
    assert match and -95 < float(match.group(1)) < -60, sentence
    assert cli("graph", "antipatterns").stdout.startswith("No anti-patterns found")
    bad = cli("graph", "critical-path", "--speedup", "read=zero")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot (.ci/run installs it)")
def test_svg_export_is_graphvizs_drawing_with_the_path_in_red(stored: Path, capsys: Any, tmp_path: Path) -> None:
    target = tmp_path / "g.svg"
    code, _, err = run(capsys, "export", "--trace-id", NEW, "--format", "svg", "-o", str(target))
    svg = target.read_text()
    assert code == 0, err
    assert "Generated by graphviz" in svg and svg.rstrip().endswith("</svg>")
    # every span of the nested trace is a node; B (the bottleneck) is on the path, drawn red
    for name in ("renacer:run ./x", "process:x", "syscall:A", "syscall:a1", "syscall:B"):
        assert f">{name}</text>" in svg, name
    nodes = re.findall(r'<g id="node\d+" class="node">(.*?)</g>', svg, re.S)
    red = {re.findall(r">([^<]+)</text>", node)[0] for node in nodes if 'stroke="red"' in node}
    assert "syscall:B" in red and "syscall:A" in red
    assert len(red) < len(nodes)  # not everything: the drawing tells path from off-path
    assert svg.count("<g id=\"edge") >= 4  # parent and program-order edges
