"""The symboliser against binutils: real `gcc -g` binaries at -O0 and -O2, addr2line as the oracle."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from renacer_tui.tracer.symbols.elf import REG_RBP, REG_RSP, load_image
from renacer_tui.tracer.symbols.lines import (
    LANG_C,
    LANG_RUST,
    LazyLineTable,
    build_table,
    cache_dir,
    load_table,
    load_whole_table,
)
from renacer_tui.tracer.symbols.maps import AddressSpace, parse_maps, read_maps
from renacer_tui.tracer.symbols.symbolise import Symboliser, is_runtime_object, parse_frame

PROGRAM = r"""
#include <fcntl.h>
#include <unistd.h>
static int readone(const char *p) {
    char buf[16];
    int fd = open(p, O_RDONLY);
    int n = (int)read(fd, buf, sizeof buf);
    close(fd);
    return n;
}
int helper(void) {
    return readone("/etc/hostname");
}
int main(void) {
    int t = 0;
    for (int i = 0; i < 3; i++)
        t += helper();
    return t > 0 ? 0 : 1;
}
"""

BUILDS = {
    "O0": ("-g", "-O0", "-fno-omit-frame-pointer"),
    "O2": ("-g", "-O2", "-fno-omit-frame-pointer"),
}

needs_binutils = pytest.mark.skipif(shutil.which("addr2line") is None, reason="binutils addr2line is not installed")


def addr2line(exe: Path, addresses: list[int], functions: bool = False) -> list[str]:
    args = ["addr2line", *(["-f"] if functions else []), "-e", str(exe), *(hex(a) for a in addresses)]
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout.splitlines()


def text_range(exe: Path) -> range:
    image = load_image(str(exe))
    assert image is not None
    section = image._elf.get_section_by_name(".text")
    return range(section["sh_addr"], section["sh_addr"] + section["sh_size"])


@needs_binutils
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_every_text_address_maps_to_the_line_addr2line_gives(cbuild, build: str) -> None:
    exe = cbuild(f"sym-{build}", PROGRAM, flags=BUILDS[build])
    data = build_table(str(exe))
    assert data is not None
    from renacer_tui.tracer.symbols.lines import LineTable

    whole = LineTable(data)
    lazy = load_table(str(exe), None, None)
    assert isinstance(lazy, LazyLineTable)  # gcc writes .debug_aranges: one unit at a time
    addresses = list(text_range(exe))
    theirs = addr2line(exe, addresses)
    compared = 0
    for address, line in zip(addresses, theirs):
        where = line.split(" (discriminator")[0]
        if where.endswith(":?") or where.startswith("??"):
            continue  # no line information (crt code): nothing to agree on
        for table in (whole, lazy):
            info = table.line(address)
            assert info is not None, hex(address)
            assert f"{info.file}:{info.line}" == where, hex(address)
            assert info.language == LANG_C
        compared += 1
    assert compared > 20


@needs_binutils
def test_function_names_at_O0_are_addr2line_s(cbuild) -> None:
    exe = cbuild("sym-O0", PROGRAM, flags=BUILDS["O0"])
    symboliser = Symboliser(cache_directory=None)
    table = symboliser.table(str(exe))
    assert table is not None
    addresses = [a for a in text_range(exe) if table.line(a) is not None]
    theirs = addr2line(exe, addresses, functions=True)
    for i, address in enumerate(addresses):
        assert table.function(address) == theirs[2 * i], hex(address)
    assert {table.function(a) for a in addresses} >= {"readone", "helper", "main"}


def test_build_id_is_the_one_readelf_shows(cbuild) -> None:
    if shutil.which("readelf") is None:
        pytest.skip("binutils readelf is not installed")
    exe = cbuild("sym-O0", PROGRAM, flags=BUILDS["O0"])
    shown = subprocess.run(["readelf", "-n", str(exe)], capture_output=True, text=True, check=True).stdout
    expected = next(line.split(":", 1)[1].strip() for line in shown.splitlines() if "Build ID" in line)
    image = load_image(str(exe))
    assert image is not None and image.build_id == expected


def test_line_tables_are_cached_per_build_id(cbuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "renacer" / "symbols"
    exe = cbuild("sym-O2", PROGRAM, flags=BUILDS["O2"])
    image = load_image(str(exe))
    assert image is not None and image.build_id
    first = load_whole_table(str(exe), image.build_id)
    assert first is not None
    cached = cache_dir() / f"{image.build_id}.json"
    assert cached.is_file()
    assert json.loads(cached.read_text())["addresses"] == first.addresses
    # the cache is what a second load reads: mark it and see the mark come back
    data = json.loads(cached.read_text())
    data["funcs"].append([1 << 40, 4, "from_the_cache"])
    cached.write_text(json.dumps(data))
    again = load_whole_table(str(exe), image.build_id)
    assert again is not None and again.function((1 << 40) + 1) == "from_the_cache"
    # per unit: the units a lookup needed are cached under the build-id, and read back
    lazy = load_table(str(exe), image.build_id)
    assert isinstance(lazy, LazyLineTable)
    main = next(s for s, n in zip(lazy.func_starts, lazy.func_names) if n == "main")
    found = lazy.line(main)
    assert found is not None and found.file.endswith(".c")
    units = sorted((cache_dir() / image.build_id).glob("cu-*.json"))
    assert len(units) == 1 and (cache_dir() / image.build_id / "funcs.json").is_file()
    unit = json.loads(units[0].read_text())
    unit["line"] = [n + 1000 if n else 0 for n in unit["line"]]
    units[0].write_text(json.dumps(unit))
    reread = load_table(str(exe), image.build_id)
    assert reread is not None and reread.line(main).line == found.line + 1000  # type: ignore[union-attr]


def test_the_entry_of_a_function_unwinds_by_the_stack_pointer_and_its_body_by_the_frame_pointer(cbuild) -> None:
    exe = cbuild("sym-O0", PROGRAM, flags=BUILDS["O0"])
    image = load_image(str(exe))
    table = load_whole_table(str(exe), None)
    assert image is not None and table is not None
    start = next(s for s, n in zip(table.func_starts, table.func_names) if n == "helper")
    entry = image.cfa_rule(start)
    assert entry is not None and (entry.reg, entry.offset) == (REG_RSP, 8)
    body = image.cfa_rule(start + 8)  # after push %rbp; mov %rsp,%rbp
    assert body is not None and (body.reg, body.offset, body.rbp_offset) == (REG_RBP, 16, -16)


def test_maps_give_executable_file_mappings_of_a_live_process() -> None:
    text = (
        "55d0c0000000-55d0c0001000 r--p 00000000 08:01 42 /usr/bin/prog\n"
        "55d0c0001000-55d0c0002000 r-xp 00001000 08:01 42 /usr/bin/prog\n"
        "7f0000000000-7f0000001000 r-xp 00000000 00:00 0 \n"
        "7f0000002000-7f0000003000 r-xp 00000000 08:01 43 /tmp/gone (deleted)\n"
        "7ffc00000000-7ffc00001000 r-xp 00000000 00:00 0 [vdso]\n"
    )
    maps = parse_maps(text)
    assert [(m.start, m.offset, m.path) for m in maps] == [(0x55D0C0001000, 0x1000, "/usr/bin/prog")]
    space = AddressSpace(maps)
    assert space.find(0x55D0C0001234) == maps[0] and space.find(0x55D0C0002000) is None
    own = read_maps(os.getpid())
    assert own and all(m.path.startswith("/") and m.end > m.start for m in own)


def test_frames_and_runtime_objects() -> None:
    assert parse_frame("/a+b/prog+0x11a9") == ("/a+b/prog", 0x11A9)
    assert parse_frame("nonsense") is None and parse_frame("+0x10") is None
    assert is_runtime_object("/usr/lib/x86_64-linux-gnu/libc.so.6")
    assert is_runtime_object("/lib64/ld-linux-x86-64.so.2")
    assert not is_runtime_object("/tmp/prog")


RUST = """
use std::io::Read;
fn main() {
    let mut s = String::new();
    std::fs::File::open("/etc/hostname").unwrap().read_to_string(&mut s).unwrap();
    println!("{}", s.len());
}
"""


def test_a_rust_binary_is_rust_source(tmp_path: Path) -> None:
    rustc = shutil.which("rustc")
    if rustc is None:
        pytest.skip("rustc is not installed")
    src = tmp_path / "hello.rs"
    src.write_text(RUST)
    exe = tmp_path / "hello"
    subprocess.run([rustc, "-g", "-C", "opt-level=0", "-o", str(exe), str(src)], check=True, timeout=300)
    table = load_whole_table(str(exe), None, tmp_path / "cache")
    assert table is not None
    rows = [i for i, f in enumerate(table.rows_file) if table.files[f].endswith("hello.rs") and table.rows_line[i] == 5]
    assert rows
    info = table.line(table.addresses[rows[0]])
    assert info is not None and info.language == LANG_RUST and info.file.endswith("hello.rs")
    lazy = load_table(str(exe), None, tmp_path / "cache")
    assert lazy is not None
    again = lazy.line(table.addresses[rows[0]])
    assert again == info
