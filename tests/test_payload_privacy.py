"""Buffer contents are shown, not kept: the store and OTLP get `<not stored>` unless asked.

Real runs of `dd` over a file holding a secret, into a real store, a real OTLP receiver on
loopback and the JSONL output; the redaction itself property-tested over arbitrary bytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renacer_tui.model.payload_privacy import NOT_STORED, redact_args, redact_attributes
from renacer_tui.store import Store
from renacer_tui.tracer import formats as F
from tests.otlp_receiver import HttpReceiver, otlp_http_receiver, wait_for  # noqa: F401 (fixture)

SECRET = "hunter2-" + "s3cr3t"


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    return subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", *args, "--", "dd", "if=secret.txt", "status=none"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=tmp_path, env=env,
    )


def _stored(db: Path) -> list[dict]:
    store = Store.open(db)
    try:
        table = store.query("SELECT span_name, attributes FROM spans").to_pylist()
    finally:
        store.close()
    return [{"name": row["span_name"], **json.loads(row["attributes"])} for row in table]


def test_the_store_keeps_no_buffer_contents_and_the_output_shows_them(tmp_path: Path) -> None:
    result = _run(tmp_path, "--db", str(tmp_path / "db"), "--format", "jsonl", "-o", str(tmp_path / "out.jsonl"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == SECRET + "\n"
    shown = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert any(SECRET in s["attributes"].get("syscall.args", "") for s in shown)  # -o is the user's own output
    stored = _stored(tmp_path / "db")
    assert stored and not any(SECRET in json.dumps(s) for s in stored)
    (write,) = [s for s in stored if s["name"] == "syscall:write"]
    # fd, count and result stay; only the bytes are left out
    assert write["syscall.args"] == f"1, {NOT_STORED}, {len(SECRET) + 1}" and write["syscall.result"] == len(SECRET) + 1
    # an empty read (EOF) had no bytes to hide
    assert any(s["name"] == "syscall:read" and s["syscall.args"].startswith('0, "", ') for s in stored)
    # paths are arguments, not payloads
    assert any(s.get("syscall.pathname") == "secret.txt" or "secret.txt" in s.get("syscall.args", "") for s in stored)


def test_store_payloads_flag_and_config_key_keep_them(tmp_path: Path) -> None:
    flagged = _run(tmp_path, "--db", str(tmp_path / "a"), "-o", "/dev/null", "--store-payloads")
    assert flagged.returncode == 0, flagged.stderr
    assert any(SECRET in s["syscall.args"] for s in _stored(tmp_path / "a") if s["name"] == "syscall:write")
    config = tmp_path / "config.toml"
    config.write_text("[database]\nstore_payloads = true\n")
    import os

    env = {**os.environ, "RENACER_CONFIG": str(config)}
    configured = _run(tmp_path, "--db", str(tmp_path / "b"), "-o", "/dev/null", env=env)
    assert configured.returncode == 0, configured.stderr
    assert any(SECRET in s["syscall.args"] for s in _stored(tmp_path / "b") if s["name"] == "syscall:write")


def test_otlp_export_sends_no_buffer_contents(tmp_path: Path, otlp_http_receiver: HttpReceiver) -> None:  # noqa: F811
    result = _run(tmp_path, "--no-store", "-o", "/dev/null", "--otlp-endpoint", otlp_http_receiver.endpoint,
                  "--otlp-protocol", "http/protobuf")
    assert result.returncode == 0, result.stderr
    spans = wait_for(otlp_http_receiver, 10)
    writes = [s for s in spans if s.name == "syscall:write"]
    assert writes and all(s.attributes["syscall.args"].startswith(f"1, {NOT_STORED}") for s in writes)
    assert not any(SECRET in str(s.attributes) for s in spans)


@given(st.binary(max_size=80), st.booleans(), st.integers(0, 1 << 20), st.sampled_from(["read", "write", "pread64", "sendto"]))
def test_redaction_leaves_out_exactly_the_buffer(data: bytes, truncated: bool, count: int, call: str) -> None:
    buffer = F.quote(data, truncated)
    tail = f", {count}" + (", 0" if call == "pread64" else "")
    args = f"3, {buffer}{tail}"
    expected = args if not data else f"3, {NOT_STORED}{tail}"  # no bytes shown: nothing to leave out
    assert redact_args(call, args) == expected
    attributes = json.dumps({"syscall.args": args, "syscall.fd": 3})
    assert json.loads(redact_attributes(call, attributes)) == {"syscall.args": expected, "syscall.fd": 3}


@given(st.binary(min_size=1, max_size=40))
def test_redaction_of_getrandom_and_of_calls_without_payloads(data: bytes) -> None:
    buffer = F.quote(data)
    assert redact_args("getrandom", f"{buffer}, 16, GRND_NONBLOCK") == f"{NOT_STORED}, 16, GRND_NONBLOCK"
    path_call = f"AT_FDCWD, {buffer}, O_RDONLY"
    assert redact_args("openat", path_call) == path_call  # a path is an argument, not a payload
    assert redact_args("write", "3, 0x7ffd1000, 12") == "3, 0x7ffd1000, 12"  # a failed call's address


@pytest.mark.parametrize("attributes", ["not json", "[]", '{"syscall.args": 7}', "{}"])
def test_redaction_leaves_odd_attributes_alone(attributes: str) -> None:
    assert redact_attributes("write", attributes) == attributes


@given(st.lists(st.tuples(st.binary(max_size=30), st.booleans()), min_size=1, max_size=4),
       st.sampled_from(["writev", "readv", "pwritev", "preadv2", "sendmsg", "recvmsg"]))
def test_redaction_leaves_out_every_iovec_buffer(buffers: list[tuple[bytes, bool]], call: str) -> None:
    shown = [f"{{iov_base={F.quote(data, cut)}, iov_len={len(data) + 7}}}" for data, cut in buffers]
    args = f"3, [{', '.join(shown)}], {len(buffers)}"
    expected = [f"{{iov_base={NOT_STORED if data else F.quote(data, cut)}, iov_len={len(data) + 7}}}" for data, cut in buffers]
    assert redact_args(call, args) == f"3, [{', '.join(expected)}], {len(buffers)}"


WRITEV_SECRET = r"""
#include <string.h>
#include <sys/uio.h>
int main(int argc, char **argv) {
    struct iovec v[2] = {{argv[1], strlen(argv[1])}, {"\n", 1}};
    return writev(1, v, 2) == (long)strlen(argv[1]) + 1 ? 0 : 1;
}
"""


def test_the_store_keeps_no_iovec_contents(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("writev-secret", WRITEV_SECRET))
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--db", str(tmp_path / "db"), "--", exe, SECRET],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout == SECRET + "\n"
    assert f'[{{iov_base="{SECRET}", iov_len={len(SECRET)}}}, {{iov_base="\\n", iov_len=1}}]' in result.stderr  # shown
    (writev,) = [s for s in _stored(tmp_path / "db") if s["name"] == "syscall:writev"]
    assert writev["syscall.args"] == (f"1, [{{iov_base={NOT_STORED}, iov_len={len(SECRET)}}}, "
                                      f"{{iov_base={NOT_STORED}, iov_len=1}}], 2")
