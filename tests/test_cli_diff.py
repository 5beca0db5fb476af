"""`renacer-tui diff` on traces of real programs: the spec's §6.3 example and its exits.

A Python program writing a file one byte per write() and a C program writing the same bytes in
one write() are semantically equivalent and the C one is an improvement; a program that writes
one different byte is not equivalent, and the report names the file and the chunk offset.
Traces are recorded once per module into one store; runs in different working directories
write `out.bin` relative to their cwd, which the diff normalises.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cprograms import ONE_WRITE, PY_ONE_BYTE_WRITES, pattern

from renacer_tui.cli import main


def record(store: Path, cwd: Path, *command: str, payloads: bool = True) -> str:
    cwd.mkdir(parents=True, exist_ok=True)
    flags = ["--capture-payloads"] if payloads else []
    result = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", *flags, "-o", os.devnull, "--", *command],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=cwd,
        env=dict(os.environ, RENACER_DB=str(store)),
    )
    assert result.returncode == 0, result.stderr
    found = re.search(r"^trace_id=([0-9a-f]{32})$", result.stderr, re.M)
    assert found, result.stderr
    return found.group(1)


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory, cbuild) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("diff")
    store = base / "db"
    exe = str(cbuild("one_write", ONE_WRITE))
    py = [sys.executable, "-B", "-c", PY_ONE_BYTE_WRITES]
    (base / "elsewhere").mkdir()
    (base / "other").mkdir()
    out = {
        "store": store,
        "base": base,
        "python": record(store, base / "py", *py, "out.bin", "3001"),
        "c": record(store, base / "c", exe, "out.bin", "3001"),
        "python_10k": record(store, base / "py10k", *py, "out.bin", "10000"),
        "c_flipped_10k": record(store, base / "cflip", exe, "out.bin", "10000", "9000"),
        "plain_1": record(store, base / "plain", exe, "out.bin", "3001", payloads=False),
        "plain_2": record(store, base / "plain", exe, "out.bin", "3001", payloads=False),
        "abs_a": record(store, base / "abs", exe, str(base / "elsewhere" / "out.bin"), "100"),
        "abs_b": record(store, base / "abs", exe, str(base / "other" / "out.bin"), "100"),
    }
    return out


def diff(traces: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         a: str, b: str, *extra: str) -> tuple[int, str, str]:
    monkeypatch.setenv("RENACER_DB", str(traces["store"]))
    code = main(["diff", "--trace-a", traces.get(a, a), "--trace-b", traces.get(b, b), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_one_byte_writes_and_one_write_are_equivalent_and_an_improvement(traces, capsys, monkeypatch) -> None:
    code, out, err = diff(traces, capsys, monkeypatch, "python", "c")
    assert code == 0, err
    assert "  ./out.bin:\n    ✓ Writes: SHA256 match (3001 bytes total)" in out
    assert re.search(r"python\S*:\s+3001 write\(\) syscalls \(unbuffered\)", out)
    assert re.search(r"one_write\S*:\s+1 write\(\) syscalls \(buffered\) ← 3001\.0× more efficient", out)
    assert "Verdict: ✅ SEMANTICALLY EQUIVALENT (state-based)" in out
    assert "✅ PERFORMANCE IMPROVEMENT (operation-based)" in out
    assert "reduces write() syscalls by 99.97%" in out


def test_one_different_byte_names_the_file_and_the_offset(traces, capsys, monkeypatch) -> None:
    code, out, _ = diff(traces, capsys, monkeypatch, "python_10k", "c_flipped_10k", "--method", "state")
    assert code == 1
    assert "  ./out.bin:\n    ✗ Writes: SHA256 mismatch (A 10000 bytes, B 10000 bytes);" in out
    assert "first difference in the 4096-byte chunk at offset 8192" in out
    assert "❌ NOT SEMANTICALLY EQUIVALENT (state-based)" in out
    assert "Operation-Based Comparison" not in out  # --method state: no sequence section


def test_json_report_carries_the_hashes_and_the_verdicts(traces, capsys, monkeypatch) -> None:
    code, out, _ = diff(traces, capsys, monkeypatch, "python", "c", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["equivalent"] is True and report["performance"] == "improvement"
    stream = next(s for s in report["state"]["streams"] if s["key"] == "./out.bin")
    expected = hashlib.sha256(pattern(3001)).hexdigest()
    assert stream["status"] == "match" and stream["a"]["sha256"] == stream["b"]["sha256"] == expected
    assert (stream["a"]["calls"], stream["b"]["calls"]) == (3001, 1)
    write = next(e for e in report["efficiency"] if e["family"] == "write")
    assert (write["calls_a"], write["calls_b"], write["ratio"]) == (3001, 1, 3001.0)
    steps = report["operation"]["steps"]
    # the 3001 writes and the one write are the same step of the two sequences
    assert any(s["tag"] == "equal" and s["a"]["name"] == "write" and (s["a"]["calls"], s["b"]["calls"]) == (3001, 1)
               for s in steps)
    assert report["operation"]["first_divergence"] is not None  # the interpreter's start-up differs


def test_operation_method_needs_no_payloads(traces, capsys, monkeypatch) -> None:
    code, out, _ = diff(traces, capsys, monkeypatch, "plain_1", "plain_2", "--method", "operation")
    assert code == 0
    assert "Sequences: same steps in the same order" in out
    assert "✅ OPERATIONALLY EQUIVALENT (operation-based)" in out
    code, out, _ = diff(traces, capsys, monkeypatch, "python", "c", "--method", "operation")
    assert code == 1 and "First divergence at step" in out


def test_map_path_matches_files_written_in_different_places(traces, capsys, monkeypatch) -> None:
    base = traces["base"]
    code, out, _ = diff(traces, capsys, monkeypatch, "abs_a", "abs_b", "--method", "state")
    assert code == 1
    assert f"  {base}/elsewhere/out.bin:\n    < Writes: only in A (100 bytes)" in out
    code, out, _ = diff(traces, capsys, monkeypatch, "abs_a", "abs_b", "--method", "state",
                        "--map-path", f"{base}/elsewhere={base}/other")
    assert code == 0
    assert f"  {base}/other/out.bin:\n    ✓ Writes: SHA256 match (100 bytes total)" in out


@pytest.mark.parametrize(
    ("a", "b", "extra", "words"),
    [
        ("plain_1", "plain_2", (), "has no payload hashes: record it with `renacer-tui --capture-payloads -- CMD`"),
        ("python", "ab" * 16, (), "no trace abababababababababababababababab (trace B)"),
        ("python", "xyz", (), "bad trace id 'xyz'"),
        ("python", "c", ("--method", "fuzzy"), "unknown --method 'fuzzy'"),
        ("python", "c", ("--tolerance", "1.5"), "--tolerance 1.5 is out of range"),
        ("python", "c", ("--map-path", "nothing"), "bad --map-path 'nothing': expected OLD=NEW"),
        ("python", "c", ("--format", "xml"), "unknown format 'xml'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(traces, capsys, monkeypatch, a, b, extra, words) -> None:
    code, out, err = diff(traces, capsys, monkeypatch, a, b, *extra)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err, err


def test_a_missing_option_is_a_usage_error(traces, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RENACER_DB", str(traces["store"]))
    assert main(["diff", "--trace-a", traces["python"]]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--trace-b" in err


TCP_ROUND_TRIP = """
import socket, sys
port, parts = int(sys.argv[1]), sys.argv[2].split(",")
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(1)
client = socket.create_connection(("127.0.0.1", port))
conn, _ = server.accept()
for part in parts:
    client.sendall(part.encode())
client.close()
while conn.recv(100):
    pass
"""


def test_sockets_are_matched_by_address_not_inode(tmp_path: Path, capsys, monkeypatch) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = tmp_path / "db"
    script = [sys.executable, "-B", "-c", TCP_ROUND_TRIP, str(port)]
    traces = {"split": record(store, tmp_path / "a", *script, "hello,world"),
              "whole": record(store, tmp_path / "b", *script, "helloworld"),
              "other": record(store, tmp_path / "c", *script, "hellowörld"), "store": store}
    code, out, _ = diff(traces, capsys, monkeypatch, "split", "whole", "--method", "state")
    assert code == 0, out
    assert f"  tcp to 127.0.0.1:{port}:\n    ✓ Writes: SHA256 match (10 bytes total)" in out
    assert f"  tcp at 127.0.0.1:{port}:\n    ✓ Reads: SHA256 match (10 bytes total)" in out
    code, out, _ = diff(traces, capsys, monkeypatch, "split", "other", "--method", "state")
    assert code == 1
    assert f"  tcp to 127.0.0.1:{port}:\n    ✗ Writes: SHA256 mismatch (A 10 bytes, B 11 bytes)" in out
