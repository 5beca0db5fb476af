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
import struct
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
        order = _unit_rows(dwarf, cu, rows, files, file_index, langs, order)


def _unit_rows(
    dwarf: Any,
    cu: Any,
    rows: list[tuple[int, int, int, int, int]],
    files: list[str],
    file_index: dict[str, int],
    langs: list[str],
    order: int,
) -> int:
    """Append one compile unit's rows (see `_line_rows`); returns the tie-break counter."""
    top = cu.get_top_DIE()
    lang_attr = top.attributes.get("DW_AT_language")
    langs.append(language_of(lang_attr.value if lang_attr is not None else None))
    cu_index = len(langs) - 1
    lineprog = dwarf.line_program_for_CU(cu)
    if lineprog is None:
        return order
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
    return order


_SYM64 = struct.Struct("<IBBHQQ")  # Elf64_Sym: name, info, other, shndx, value, size
_STT_FUNC = 2


def _functions(elf: ELFFile) -> list[list[Any]]:
    """[start, size, name] of every function symbol, sorted by start.

    The symbol tables are read with `struct` (pyelftools builds an object per symbol: 0.25 s for
    libc's); a 32-bit object falls back to pyelftools."""
    out: dict[int, list[Any]] = {}
    for name in (".symtab", ".dynsym"):
        section = elf.get_section_by_name(name)
        if section is None or not hasattr(section, "iter_symbols"):
            continue
        if elf.elfclass != 64 or not elf.little_endian or section["sh_entsize"] != _SYM64.size:
            symbols = (
                (sym.name, sym["st_info"]["type"] == "STT_FUNC", sym["st_value"], sym["st_size"])
                for sym in section.iter_symbols()
            )
        else:
            strtab = elf.get_section(section["sh_link"]).data()
            symbols = _raw_symbols(section.data(), strtab)
        for sym_name, is_func, start, size in symbols:
            if not is_func or not start or not sym_name:
                continue
            if start not in out or (out[start][1] == 0 and size):
                out[start] = [start, size, sym_name]
    return [out[k] for k in sorted(out)]


def _raw_symbols(data: bytes, strtab: bytes) -> Any:
    """(name, is a function, value, size) of each Elf64_Sym in `data`."""
    for st_name, st_info, _other, _shndx, value, size in _SYM64.iter_unpack(data[: len(data) - len(data) % _SYM64.size]):
        if st_info & 0xF != _STT_FUNC or not value:
            continue
        end = strtab.find(b"\0", st_name)
        yield strtab[st_name:end if end >= 0 else len(strtab)].decode("utf-8", "replace"), True, value, size


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/renacer/symbols (default ~/.cache/renacer/symbols)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "renacer" / "symbols"


class LazyLineTable:
    """The line table of an object with `.debug_aranges`, one compile unit at a time.

    Why: a std-linked Rust binary or a debug build of libpython has hundreds of thousands of line
    rows, but a trace touches a few compile units; aranges say which unit holds an address, so
    only those units' line programs are decoded (and cached on disk per build-id and unit).
    """

    def __init__(self, path: str, stream: Any, elf: ELFFile, dwarf: Any, aranges: Any, cache: Path | None) -> None:
        self.path = path
        self._stream = stream
        self._dwarf = dwarf
        self._aranges = aranges
        self._cache = cache
        self._units: dict[int, tuple[list[int], list[str], list[int], str] | None] = {}
        funcs = self._cached("funcs")
        if not isinstance(funcs, list):
            funcs = _functions(elf)
            self._save("funcs", funcs)
        self.func_starts = [f[0] for f in funcs]
        self.func_ends = [f[0] + max(f[1], 1) for f in funcs]
        self.func_names = [f[2] for f in funcs]

    def _cached(self, name: str) -> Any:
        if self._cache is None:
            return None
        try:
            return json.loads((self._cache / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _save(self, name: str, data: Any) -> None:
        if self._cache is not None:
            _store(self._cache / f"{name}.json", data)

    def _unit(self, offset: int) -> tuple[list[int], list[str], list[int], str] | None:
        """(addresses, file per row, line per row, language) of the unit at `offset`."""
        if offset in self._units:
            return self._units[offset]
        data = self._cached(f"cu-{offset}")
        if not (isinstance(data, dict) and data.get("version") == _CACHE_VERSION):
            data = self._decode(offset)
            if data is not None:
                self._save(f"cu-{offset}", data)
        unit = None
        if data is not None:
            files = data["files"]
            unit = (data["addresses"], [files[i] for i in data["file"]], data["line"], data["lang"])
        self._units[offset] = unit
        return unit

    def _decode(self, offset: int) -> dict[str, Any] | None:
        try:
            cu = self._dwarf.get_CU_at(offset)
            rows: list[tuple[int, int, int, int, int]] = []
            files: list[str] = []
            langs: list[str] = []
            _unit_rows(self._dwarf, cu, rows, files, {}, langs, 0)
        except (ELFError, DWARFError, OSError, ValueError, KeyError, AssertionError):
            return None
        rows.sort(key=lambda r: (r[0], r[1]))
        return {
            "version": _CACHE_VERSION,
            "lang": langs[0] if langs else LANG_OTHER,
            "files": files,
            "addresses": [r[0] for r in rows],
            "file": [r[2] for r in rows],
            "line": [r[3] for r in rows],
        }

    def line(self, vaddr: int) -> LineInfo | None:
        try:
            offset = self._aranges.cu_offset_at_addr(vaddr)
        except IndexError:
            return None
        if offset is None:
            return None
        unit = self._unit(offset)
        if unit is None:
            return None
        addresses, files, lines, lang = unit
        i = bisect.bisect_right(addresses, vaddr) - 1
        if i < 0 or lines[i] <= 0:
            return None
        return LineInfo(files[i], lines[i], lang)

    def function(self, vaddr: int) -> str | None:
        i = bisect.bisect_right(self.func_starts, vaddr) - 1
        if i < 0 or vaddr >= self.func_ends[i]:
            return None
        return self.func_names[i]


def _lazy(path: str, build_id: str | None, directory: Path) -> LazyLineTable | None:
    """A LazyLineTable when `path` has DWARF with aranges (None: read it whole)."""
    try:
        stream = open(path, "rb")
    except OSError:
        return None
    try:
        elf = ELFFile(stream)
        if elf.get_section_by_name(".debug_aranges") is None or not elf.has_dwarf_info():
            stream.close()
            return None
        dwarf = elf.get_dwarf_info()
        aranges = dwarf.get_aranges()
        if aranges is None or not aranges.entries:
            stream.close()
            return None
        cache = directory / build_id if build_id else None
        return LazyLineTable(path, stream, elf, dwarf, aranges, cache)
    except (ELFError, DWARFError, OSError, ValueError, KeyError, AssertionError):
        stream.close()
        return None


Lines = LineTable | LazyLineTable


def load_table(path: str, build_id: str | None, directory: Path | None = None) -> Lines | None:
    """The line table of `path`: per compile unit where `.debug_aranges` allows, else whole;
    from the on-disk cache when its build-id is known there."""
    directory = directory if directory is not None else cache_dir()
    lazy = _lazy(path, build_id, directory)
    if lazy is not None:
        return lazy
    return load_whole_table(path, build_id, directory)


def load_whole_table(path: str, build_id: str | None, directory: Path | None = None) -> LineTable | None:
    """The whole line table of `path` (every unit), cached on disk per build-id."""
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
