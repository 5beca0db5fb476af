"""DWARF line tables and function names of one object, cached on disk per build-id.

Why the cache: building the line table of a std-linked Rust binary takes ~1.4 s in pure Python
(pyelftools), and the same binary is traced again and again.  The table is a sorted address
array with file/line/language per row, looked up with `bisect` the way binutils `addr2line`
does (the last row at or below the address, within its sequence); function names come from
`.symtab`, which exists even where DWARF does not.
"""

from __future__ import annotations

import bisect
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elftools.common.exceptions import DWARFError, ELFError
from elftools.elf.elffile import ELFFile

_CACHE_VERSION = 1

#: DW_AT_language values (DWARF 5, table 7.17) by the source column they fill.
_RUST = frozenset({0x1C})
_C_FAMILY = frozenset({0x01, 0x02, 0x04, 0x0C, 0x1A, 0x1D, 0x21, 0x2B, 0x2C})
LANG_C, LANG_RUST, LANG_OTHER = "c", "rust", ""


def language_of(dw_lang: int | None) -> str:
    """"c" (C and C++), "rust", or "" for a DW_AT_language value."""
    if dw_lang in _RUST:
        return LANG_RUST
    if dw_lang in _C_FAMILY:
        return LANG_C
    return LANG_OTHER


@dataclass(frozen=True)
class LineInfo:
    """Where an address came from: file path as DWARF names it, line, the CU's language."""

    file: str
    line: int
    language: str


class LineTable:
    """Address → (file, line, language) and address → function name for one object."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.files: list[str] = data["files"]
        self.langs: list[str] = data["langs"]
        self.addresses: list[int] = data["addresses"]
        self.rows_file: list[int] = data["file"]
        self.rows_line: list[int] = data["line"]
        self.rows_cu: list[int] = data["cu"]
        funcs = data["funcs"]
        self.func_starts: list[int] = [f[0] for f in funcs]
        self.func_ends: list[int] = [f[0] + max(f[1], 1) for f in funcs]
        self.func_names: list[str] = [f[2] for f in funcs]
        self.data = data

    def line(self, vaddr: int) -> LineInfo | None:
        """The row covering `vaddr` (None: no line information there)."""
        i = bisect.bisect_right(self.addresses, vaddr) - 1
        if i < 0:
            return None
        line = self.rows_line[i]
        if line <= 0:  # an end_sequence row: the address is past the sequence
            return None
        return LineInfo(self.files[self.rows_file[i]], line, self.langs[self.rows_cu[i]])

    def function(self, vaddr: int) -> str | None:
        """The function symbol containing `vaddr` (None: none)."""
        i = bisect.bisect_right(self.func_starts, vaddr) - 1
        if i < 0 or vaddr >= self.func_ends[i]:
            return None
        return self.func_names[i]


def _file_names(lineprog: Any) -> list[str]:
    """Full paths of a line program's file table, indexed as its rows index them."""
    header = lineprog.header
    version = header["version"]
    dirs = [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in header["include_directory"]]
    names: list[str] = []
    for entry in header["file_entry"]:
        name = entry.name.decode("utf-8", "replace") if isinstance(entry.name, bytes) else str(entry.name)
        index = entry.dir_index
        if version < 5:
            directory = dirs[index - 1] if 0 < index <= len(dirs) else ""
        else:
            directory = dirs[index] if 0 <= index < len(dirs) else ""
        names.append(name if os.path.isabs(name) or not directory else os.path.join(directory, name))
    if version < 5:
        names.insert(0, "")  # DWARF 2-4 number files from 1
    return names


def build_table(path: str) -> dict[str, Any] | None:
    """Read `path`'s DWARF line programs and symbol table (None: not a readable ELF file)."""
    try:
        with open(path, "rb") as stream:
            elf = ELFFile(stream)
            funcs = _functions(elf)
            rows: list[tuple[int, int, int, int, int]] = []  # (address, order, file, line, CU)
            files: list[str] = []
            file_index: dict[str, int] = {}
            langs: list[str] = []
            if elf.has_dwarf_info():
                dwarf = elf.get_dwarf_info()
                if dwarf.has_debug_info:
                    _line_rows(dwarf, rows, files, file_index, langs)
    except (ELFError, DWARFError, OSError, ValueError, KeyError, AssertionError):
        return None
    rows.sort(key=lambda r: (r[0], r[1]))
    return {
        "version": _CACHE_VERSION,
        "files": files,
        "langs": langs,
        "addresses": [r[0] for r in rows],
        "file": [r[2] for r in rows],
        "line": [r[3] for r in rows],
        "cu": [r[4] for r in rows],
        "funcs": funcs,
    }


def _line_rows(dwarf: Any, rows: list[tuple[int, int, int, int, int]], files: list[str], file_index: dict[str, int], langs: list[str]) -> None:
    """Append every CU's line rows: (address, tie-break order, file index, line, CU index).

    Rows at one address keep their order (the last one is the address's line, as in
    addr2line); an end_sequence row has order -1 and line 0."""
    order = 0
    for cu in dwarf.iter_CUs():
        top = cu.get_top_DIE()
        lang_attr = top.attributes.get("DW_AT_language")
        langs.append(language_of(lang_attr.value if lang_attr is not None else None))
        cu_index = len(langs) - 1
        lineprog = dwarf.line_program_for_CU(cu)
        if lineprog is None:
            continue
        names = _file_names(lineprog)
        local: dict[int, int] = {}
        for entry in lineprog.get_entries():
            state = entry.state
            if state is None:
                continue
            order += 1
            if state.end_sequence:
                # sorts before a sequence that starts at the same address: that one wins
                rows.append((state.address, -1, 0, 0, cu_index))
                continue
            fi = local.get(state.file)
            if fi is None:
                name = names[state.file] if 0 <= state.file < len(names) else "?"
                fi = file_index.get(name)
                if fi is None:
                    fi = file_index[name] = len(files)
                    files.append(name)
                local[state.file] = fi
            rows.append((state.address, order, fi, state.line, cu_index))


def _functions(elf: ELFFile) -> list[list[Any]]:
    """[start, size, name] of every function symbol, sorted by start."""
    out: dict[int, list[Any]] = {}
    for name in (".symtab", ".dynsym"):
        section = elf.get_section_by_name(name)
        if section is None or not hasattr(section, "iter_symbols"):
            continue
        for sym in section.iter_symbols():
            if sym["st_info"]["type"] != "STT_FUNC" or not sym["st_value"] or not sym.name:
                continue
            start = sym["st_value"]
            if start not in out or (out[start][1] == 0 and sym["st_size"]):
                out[start] = [start, sym["st_size"], sym.name]
    return [out[k] for k in sorted(out)]


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/renacer/symbols (default ~/.cache/renacer/symbols)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "renacer" / "symbols"


def load_table(path: str, build_id: str | None, directory: Path | None = None) -> LineTable | None:
    """The line table of `path`, from the on-disk cache when its build-id is known there."""
    directory = directory if directory is not None else cache_dir()
    cached = directory / f"{build_id}.json" if build_id else None
    if cached is not None:
        try:
            data = json.loads(cached.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("version") == _CACHE_VERSION:
                return LineTable(data)
        except (OSError, ValueError, KeyError):
            pass
    data = build_table(path)
    if data is None:
        return None
    if cached is not None:
        _store(cached, data)
    return LineTable(data)


def _store(target: Path, data: dict[str, Any]) -> None:
    """Write the cache file atomically; a cache that cannot be written is only slower."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        pass
