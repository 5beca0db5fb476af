"""One mapped ELF object: its build-id, load segments and `.eh_frame` unwind rules.

Why a module of its own: the stack sampler (at the stop) needs file offset → ELF address and
the CFA rule of one address, fast and without parsing all of an object's CFI (libc's 3700
entries take 0.6 s in pyelftools); the symboliser (after capture) needs the build-id to key its
cache.  So `.eh_frame_hdr`'s sorted search table is read once with `struct`, and only the one
FDE that covers an address is parsed, on first need, then its rules are kept.
"""

from __future__ import annotations

import bisect
import os
import struct
from dataclasses import dataclass, field
from typing import IO, Any

from elftools.common.exceptions import ELFError
from elftools.dwarf.dwarf_expr import DWARFExprParser
from elftools.elf.elffile import ELFFile

from renacer_tui.tracer.symbols.cfi_expr import Expr, compile_expr

#: DWARF register numbers of x86-64 (System V psABI): rbp, rsp, return address column (rip).
REG_RBP, REG_RSP, REG_RA = 6, 7, 16
#: The registers the stack walk knows at every frame, so the ones an expression may read.
WALK_REGISTERS = frozenset({REG_RBP, REG_RSP, REG_RA})
_DW_EH_PE_DATAREL_SDATA4 = 0x3B  # the table encoding every GNU linker writes


@dataclass(frozen=True)
class CfaRule:
    """How to leave a frame at one address: CFA = reg + offset; rbp saved at CFA + rbp_offset;
    the return address at CFA - 8.  Where `.eh_frame` says it with DWARF expressions instead,
    `cfa_expr` is the CFA, `ra_expr` / `rbp_expr` the addresses the return address and rbp were
    saved at; `signal`: a signal frame (its "return address" is the interrupted pc itself)."""

    reg: int
    offset: int
    rbp_offset: int | None
    cfa_expr: Expr | None = None
    ra_expr: Expr | None = None
    rbp_expr: Expr | None = None
    signal: bool = False
    #: any of the above: the walk takes its slower, general step for this frame
    by_expression: bool = False


#: The rule of an outermost frame (its return address is undefined): the walk ends there.
OUTERMOST = CfaRule(-1, 0, None)


@dataclass
class ElfImage:
    """What the sampler and symboliser need of one object file, read once per file."""

    path: str
    build_id: str | None
    #: PT_LOAD segments as (p_offset, p_filesz, p_vaddr), by offset.
    segments: list[tuple[int, int, int]]
    _file: IO[bytes] | None = None
    _elf: Any = None
    _cfi: Any = None
    _eh_addr: int = 0
    _table_locs: list[int] = field(default_factory=list)
    _table_fdes: list[int] = field(default_factory=list)
    _rules: dict[int, CfaRule | None] = field(default_factory=dict)
    _fdes: dict[int, list[tuple[int, CfaRule | None]]] = field(default_factory=dict)

    def vaddr_of_offset(self, file_offset: int) -> int | None:
        """The ELF virtual address of a file offset inside a load segment (None: outside)."""
        for p_offset, p_filesz, p_vaddr in self.segments:
            if p_offset <= file_offset < p_offset + p_filesz:
                return file_offset - p_offset + p_vaddr
        return None

    def cfa_rule(self, vaddr: int) -> CfaRule | None:
        """The unwind rule at `vaddr` from `.eh_frame` (None: no FDE covers it, or its rule
        is a DWARF expression this unwinder does not evaluate)."""
        rules = self._rules
        if vaddr in rules:
            return rules[vaddr]
        rule = self._lookup_rule(vaddr)
        rules[vaddr] = rule
        return rule

    def _lookup_rule(self, vaddr: int) -> CfaRule | None:
        locs = self._table_locs
        if not locs or self._cfi is None:
            return None
        i = bisect.bisect_right(locs, vaddr) - 1
        if i < 0:
            return None
        fde_addr = self._table_fdes[i]
        rows = self._fdes.get(fde_addr)
        if rows is None:
            rows = self._decode_fde(fde_addr, vaddr)
            if rows is None:
                return None
            self._fdes[fde_addr] = rows
        if not rows or vaddr < rows[0][0]:
            return None
        j = bisect.bisect_right([pc for pc, _ in rows], vaddr) - 1
        return rows[j][1]

    def _decode_fde(self, fde_addr: int, vaddr: int) -> list[tuple[int, CfaRule | None]] | None:
        """Parse the one FDE at `fde_addr`: its rows as (pc, rule); None when it does not cover `vaddr`."""
        try:
            entry = self._cfi._parse_entry_at(fde_addr - self._eh_addr)
            header = entry.header
            start = header["initial_location"]
            if not start <= vaddr < start + header["address_range"]:
                return None
            table = entry.get_decoded().table
        except (ELFError, KeyError, AttributeError, ValueError, struct.error, TypeError):
            return None
        signal = b"S" in (entry.cie.header.get("augmentation") or b"")
        rows = [(line["pc"], self._row_rule(line, signal)) for line in table]
        rows.append((start + header["address_range"], None))
        return rows

    def _row_rule(self, line: dict[Any, Any], signal: bool) -> CfaRule | None:
        """One row of an FDE's table as a rule (None: it needs more than the walk knows)."""
        cfa, ra, saved = line["cfa"], line.get(REG_RA), line.get(REG_RBP)
        if ra is not None and ra.type == "UNDEFINED":
            return OUTERMOST  # _start, clone's child: the stack ends here
        plain = cfa.expr is None and cfa.reg in (REG_RSP, REG_RBP)
        cfa_expr = self._expr(cfa.expr) if cfa.expr is not None else None
        ra_expr = self._expr(ra.arg) if ra is not None and ra.type == "EXPRESSION" else None
        if not (plain or cfa_expr) or not (ra is None or (ra.type == "OFFSET" and ra.arg == -8) or ra_expr):
            return None
        rbp_offset = saved.arg if saved is not None and saved.type == "OFFSET" else None
        rbp_expr = self._expr(saved.arg) if saved is not None and saved.type == "EXPRESSION" else None
        if plain and not (ra_expr or rbp_expr or signal):
            return CfaRule(cfa.reg, cfa.offset, rbp_offset)
        return CfaRule(cfa.reg if plain else -1, cfa.offset if plain else 0, rbp_offset, cfa_expr, ra_expr,
                       rbp_expr, signal, by_expression=True)

    def _expr(self, raw: list[int]) -> Expr | None:
        """A rule's DWARF expression, decoded (None: not one the walk can evaluate)."""
        try:
            return compile_expr(DWARFExprParser(self._cfi.base_structs).parse_expr(raw), WALK_REGISTERS)
        except (ELFError, KeyError, ValueError, struct.error, TypeError, IndexError):
            return None


def _build_id(elf: ELFFile) -> str | None:
    from elftools.elf.sections import NoteSection

    for section in elf.iter_sections():
        if not isinstance(section, NoteSection):
            continue
        for note in section.iter_notes():
            if note["n_type"] == "NT_GNU_BUILD_ID":
                return str(note["n_desc"])
    return None


def _search_table(elf: ELFFile) -> tuple[int, list[int], list[int]]:
    """(.eh_frame address, sorted initial locations, FDE addresses) from `.eh_frame_hdr`."""
    hdr = elf.get_section_by_name(".eh_frame_hdr")
    eh = elf.get_section_by_name(".eh_frame")
    if hdr is None or eh is None:
        return 0, [], []
    data = hdr.data()
    if len(data) < 12 or data[0] != 1 or data[3] != _DW_EH_PE_DATAREL_SDATA4 or data[2] != 0x03:
        return 0, [], []
    base = hdr["sh_addr"]
    # eh_frame_ptr is encoded with data[1] (4 bytes whatever the encoding the GNU tools use)
    (count,) = struct.unpack_from("<I", data, 8)
    if len(data) < 12 + 8 * count:
        return 0, [], []
    values = struct.unpack_from(f"<{2 * count}i", data, 12)
    locs = [base + v for v in values[0::2]]
    fdes = [base + v for v in values[1::2]]
    return eh["sh_addr"], locs, fdes


def load_image(path: str) -> ElfImage | None:
    """Read `path`'s headers (None: not a readable ELF file). The file stays open for CFI."""
    try:
        stream = open(path, "rb")
    except OSError:
        return None
    try:
        elf = ELFFile(stream)
        segments = sorted(
            (seg["p_offset"], seg["p_filesz"], seg["p_vaddr"]) for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"
        )
        build_id = _build_id(elf)
        eh_addr, locs, fdes = _search_table(elf)
        cfi = None
        if locs:
            dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
            cfi = _eh_cfi(dwarf)
    except (ELFError, OSError, ValueError, struct.error, KeyError):
        stream.close()
        return None
    image = ElfImage(path, build_id, segments, stream, elf, cfi, eh_addr, locs, fdes)
    return image


def _eh_cfi(dwarf: Any) -> Any:
    """pyelftools' CallFrameInfo over `.eh_frame`, without parsing its entries."""
    from elftools.dwarf.callframe import CallFrameInfo

    sec = dwarf.eh_frame_sec
    if sec is None:
        return None
    return CallFrameInfo(
        stream=sec.stream, size=sec.size, address=sec.address, base_structs=dwarf.structs, for_eh_frame=True
    )


class ImageCache:
    """Images by path, reopened when the file at that path changes (inode or mtime)."""

    def __init__(self) -> None:
        self._images: dict[str, tuple[tuple[int, int, int], ElfImage | None]] = {}

    def get(self, path: str) -> ElfImage | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (st.st_dev, st.st_ino, st.st_mtime_ns)
        cached = self._images.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        image = load_image(path)
        self._images[path] = (key, image)
        return image
