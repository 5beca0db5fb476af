"""What a stored span keeps of the bytes a data syscall moved: nothing, unless asked.

The decoder renders the first `-s` bytes of every read/write buffer into `syscall.args`, as
strace does, for the text output and the live screen.  A store keeps spans for its retention
period and an OTLP collector for longer, so `cat secret.txt` must not leave the secret there:
their sinks replace the buffer argument with `<not stored>` unless the run was started with
`--store-payloads` (or `[database] store_payloads = true`), and drop the -e read=/write= hex
dump (`syscall.dump`) with it.  Paths, fds, counts and results are
kept; `--capture-payloads` hashes (`io.*` attributes) are digests, not contents, and stay.

The buffer is the one quoted string at a fixed argument position (for readv/writev, each
`iov_base` string), and the renderer escapes every `"` and `\\` inside a quoted string, so a
regular expression finds it exactly.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from renacer_tui.model.attributes import ATTR_SYSCALL_ARGS, ATTR_SYSCALL_DUMP

if TYPE_CHECKING:
    import pyarrow as pa

#: What the buffer argument reads as once its contents are left out.
NOT_STORED = "<not stored>"

_QUOTED = r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?'
#: A buffer with at least one byte in it (an empty read, `""`, shows nothing and stays).
_PAYLOAD = r'"(?:[^"\\]|\\.)+"(?:\.\.\.)?'
#: The buffer's argument position per data syscall (read(fd, buf, count) → 1, getrandom(buf, …) → 0).
_BUFFER_ARG = {
    "read": 1, "pread64": 1, "recv": 1, "recvfrom": 1,
    "write": 1, "pwrite64": 1, "send": 1, "sendto": 1,
    "getrandom": 0,
}
_PATTERNS = {
    0: re.compile(rf"^()({_PAYLOAD})"),
    # the first argument: anything but a comma, quoted strings taken whole
    1: re.compile(rf'^((?:[^,"]|{_QUOTED})*?, )({_PAYLOAD})'),
}
#: Calls whose payload is in an iovec array: every `iov_base="…"` of it.
_IOVEC_CALLS = frozenset({"readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2", "sendmsg", "recvmsg"})
_IOV_BASE = re.compile(rf"(iov_base=)({_PAYLOAD})")
#: Span names whose arguments carry a payload.
PAYLOAD_SPANS = frozenset(f"syscall:{name}" for name in (*_BUFFER_ARG, *_IOVEC_CALLS))

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def redact_args(call: str, args: str) -> str:
    """`args` of `call` with its buffer argument's contents replaced by `NOT_STORED`."""
    if call in _IOVEC_CALLS:
        return _IOV_BASE.sub(lambda found: found[1] + NOT_STORED, args)
    position = _BUFFER_ARG.get(call)
    if position is None:
        return args
    found = _PATTERNS[position].match(args)
    if found is None:  # a failed call's buffer is an address: nothing was read or written
        return args
    return found[1] + NOT_STORED + args[found.end() :]


def redact_attributes(call: str, attributes: str) -> str:
    """An attributes JSON object with `syscall.args` redacted (unchanged if nothing to hide)."""
    try:
        decoded = json.loads(attributes)
    except ValueError:
        return attributes
    if not isinstance(decoded, dict):
        return attributes
    dumped = decoded.pop(ATTR_SYSCALL_DUMP, None) is not None  # -e read=/write=: all of the bytes
    args = decoded.get(ATTR_SYSCALL_ARGS)
    redacted = redact_args(call, args) if isinstance(args, str) else args
    if redacted == args and not dumped:
        return attributes
    decoded[ATTR_SYSCALL_ARGS] = redacted
    return _encode(decoded)


def redact_batch(batch: "pa.RecordBatch") -> "pa.RecordBatch":
    """`batch` with the payload of every data syscall's span left out (one vectorised test
    finds the rows; only those are rewritten)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = batch.column("span_name")
    rows = pc.is_in(names, value_set=pa.array(sorted(PAYLOAD_SPANS)))
    if not pc.any(rows).as_py():
        return batch
    index = batch.schema.get_field_index("attributes")
    attributes = batch.column(index).to_pylist()
    for i in pc.indices_nonzero(rows).to_pylist():
        attributes[i] = redact_attributes(names[i].as_py().removeprefix("syscall:"), attributes[i])
    return batch.set_column(index, batch.schema.field(index), pa.array(attributes, pa.string()))
