"""Captured frames ("<object>+0x<vaddr>") → file:line:function, after capture.

Why after capture: a line table can take a second to build; the stop loop records addresses
only, and this runs on the batches on their way to the sinks.  Results are cached per
(object, address) in memory and per build-id on disk (`tracer.symbols.lines`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from renacer_tui.tracer.symbols.elf import ImageCache
from renacer_tui.tracer.symbols.lines import LANG_C, LANG_RUST, Lines, load_table

#: Objects that are the runtime, not the program: their frames never name "the line that made
#: the call" (the C library, the dynamic loader and the compiler runtimes).
_RUNTIME_PREFIXES = (
    "libc.so", "libc-", "ld-linux", "ld-musl", "ld64.so", "libpthread", "libdl.so", "libdl-", "libm.so",
    "libm-", "librt.so", "librt-", "libgcc_s", "libstdc++", "libc++", "libunwind", "libresolv", "libutil",
)


def is_runtime_object(path: str) -> bool:
    """Whether `path` is the C runtime or the loader (not "the program's own objects")."""
    return os.path.basename(path).startswith(_RUNTIME_PREFIXES)


@dataclass(frozen=True)
class SourceFrame:
    """One symbolised frame. `file`/`line` are None where the object has no line info there."""

    object: str
    vaddr: int
    function: str | None
    file: str | None
    line: int | None
    language: str

    @property
    def location(self) -> str | None:
        """`file:line` with the file's base name, as the *_source columns hold it."""
        if self.file is None or self.line is None:
            return None
        return f"{os.path.basename(self.file)}:{self.line}"

    def describe(self) -> str:
        """One line of a -k stack: ` > object(function+0x..) file:line` like strace -k."""
        where = f" {self.file}:{self.line}" if self.file is not None else ""
        func = self.function or "?"
        return f"{self.object}({func}) [0x{self.vaddr:x}]{where}"


def parse_frame(text: str) -> tuple[str, int] | None:
    """("<object>", vaddr) of a stored frame "<object>+0x<hex>" (None: not one)."""
    path, sep, hex_part = text.rpartition("+0x")
    if not sep or not path:
        return None
    try:
        return path, int(hex_part, 16)
    except ValueError:
        return None


def format_frame(path: str, vaddr: int) -> str:
    return f"{path}+0x{vaddr:x}"


class Symboliser:
    """Frames to source, with every object's table loaded once."""

    def __init__(self, cache_directory: Path | None = None) -> None:
        self._images = ImageCache()
        self._tables: dict[str, Lines | None] = {}
        self._frames: dict[tuple[str, int, bool], SourceFrame] = {}
        self._cache_directory = cache_directory

    def table(self, path: str) -> Lines | None:
        if path in self._tables:
            return self._tables[path]
        image = self._images.get(path)
        table = load_table(path, image.build_id if image is not None else None, self._cache_directory)
        self._tables[path] = table
        return table

    def frame(self, path: str, vaddr: int, is_return: bool) -> SourceFrame:
        """Symbolise one frame; `is_return`: `vaddr` is a return address (looked up at -1, the
        call instruction, as addr2line users do)."""
        key = (path, vaddr, is_return)
        done = self._frames.get(key)
        if done is not None:
            return done
        table = self.table(path)
        lookup = vaddr - 1 if is_return else vaddr
        info = table.line(lookup) if table is not None else None
        function = table.function(lookup) if table is not None else None
        if info is None:
            done = SourceFrame(path, vaddr, function, None, None, "")
        else:
            done = SourceFrame(path, vaddr, function, info.file, info.line, info.language)
        self._frames[key] = done
        return done

    def stack(self, frames: list[str]) -> list[SourceFrame]:
        """Symbolise a stored stack (innermost first); unreadable entries are skipped."""
        out: list[SourceFrame] = []
        for i, text in enumerate(frames):
            parsed = parse_frame(text) if isinstance(text, str) else None
            if parsed is not None:
                out.append(self.frame(parsed[0], parsed[1], i > 0))
        return out


def program_frame(frames: list[SourceFrame]) -> SourceFrame | None:
    """The first frame in the program's own objects that has a source line."""
    for frame in frames:
        if frame.line is not None and not is_runtime_object(frame.object):
            return frame
    return None


def source_column(frame: SourceFrame) -> str | None:
    """Which column the frame's location fills: "c_source", "rust_source" or None."""
    if frame.language == LANG_RUST:
        return "rust_source"
    if frame.language == LANG_C:
        return "c_source"
    return None
