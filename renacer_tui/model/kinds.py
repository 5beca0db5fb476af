"""What a span is (run, process, syscall, GPU work, the program's own) and how spans link.

A span's category is carried by its name's prefix (`renacer:run ls`, `process:ls`,
`syscall:read`, `gpu:matmul`); any other name is the traced program's own (application) span,
received over OTLP.  `category_of` and the vectorised `categories` are the only place that
reads those prefixes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the capture process imports this module; pyarrow.compute alone costs it ~45 ms
    import pyarrow as pa


class SpanCategory(StrEnum):
    """The kinds of span a trace holds; the value is the name prefix."""

    RUN = "renacer:run"
    PROCESS = "process:"
    SYSCALL = "syscall:"
    GPU = "gpu:"
    #: `io:stream <object>`: one direction of one object's bytes, summarised (--capture-payloads)
    IO = "io:"
    APPLICATION = ""

    @property
    def prefix(self) -> str:
        return self.value


_PREFIXED = (SpanCategory.RUN, SpanCategory.PROCESS, SpanCategory.SYSCALL, SpanCategory.GPU, SpanCategory.IO)
RUN_PREFIX = SpanCategory.RUN.value
PROCESS_PREFIX = SpanCategory.PROCESS.value
SYSCALL_PREFIX = SpanCategory.SYSCALL.value
GPU_PREFIX = SpanCategory.GPU.value
IO_PREFIX = SpanCategory.IO.value


def category_of(span_name: str) -> SpanCategory:
    """The category a span name says."""
    for category in _PREFIXED:
        if span_name.startswith(category.value):
            return category
    return SpanCategory.APPLICATION


def is_syscall(span_name: str) -> bool:
    return span_name.startswith(SYSCALL_PREFIX)


def is_process(span_name: str) -> bool:
    return span_name.startswith(PROCESS_PREFIX)


def is_run(span_name: str) -> bool:
    return span_name.startswith(RUN_PREFIX)


def is_io_stream(span_name: str) -> bool:
    return span_name.startswith(IO_PREFIX)


def is_container(span_name: str) -> bool:
    """Run and process spans: they hold other spans and are not work themselves."""
    return span_name.startswith(PROCESS_PREFIX) or span_name.startswith(RUN_PREFIX)


def is_gpu(span_name: str) -> bool:
    return span_name.startswith(GPU_PREFIX)


def syscall_of(span_name: str) -> str:
    """`read` for `syscall:read`; the name unchanged when it is not a syscall span."""
    return span_name.removeprefix(SYSCALL_PREFIX)


def span_name(category: SpanCategory, detail: str) -> str:
    """The span name of `category` with `detail` (`span_name(SYSCALL, "read")` → `syscall:read`)."""
    if category is SpanCategory.RUN:
        return f"{RUN_PREFIX} {detail}" if detail else RUN_PREFIX
    return category.value + detail


def categories(names: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Each name's category value (the prefix text, "" for application spans), vectorised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = pa.array([""] * len(names), type=pa.string())
    for category in reversed(_PREFIXED):
        out = pc.if_else(pc.starts_with(names, category.value), category.value, out)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def syscall_mask(names: pa.Array | pa.ChunkedArray) -> pa.Array:
    """True where the span is a syscall span, vectorised."""
    import pyarrow.compute as pc

    return pc.starts_with(names, SYSCALL_PREFIX)


class LinkKind(StrEnum):
    """Why one span happened after another (stored as the value in `renacer.links`)."""

    FORK = "fork"
    WAIT = "wait"
    PIPE = "pipe"
    SIGNAL = "signal"
    HTTP = "http"  # an HTTP request carrying traceparent
    OTLP = "otlp"  # a link received in an OTLP span
    PROCESS = "process"  # a received span → the process span of the program that sent it


class GpuWorkKind(StrEnum):
    """What a `gpu:` span measured (stored as `gpu.kind`)."""

    COMPUTE = "compute"  # a compute pass: its dispatches between two timestamps
    TRANSFER = "transfer"  # a buffer upload, copy or read-back


class TransferDirection(StrEnum):
    """Which way a transfer span's bytes went (stored as `gpu.transfer.direction`)."""

    HOST_TO_DEVICE = "host_to_device"
    DEVICE_TO_HOST = "device_to_host"
    DEVICE_TO_DEVICE = "device_to_device"
