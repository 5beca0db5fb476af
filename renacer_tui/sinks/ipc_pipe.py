"""Span batches as an Arrow IPC stream on a pipe: what every out-of-process sink is fed.

The live feed (to the TUI), the exec'd OTLP worker and the forked sink children all read
`SPAN_SCHEMA` batches as one Arrow IPC stream from a pipe.  The stream is encoded into memory
(C++, releases the GIL) and the bytes leave with plain `os.write`, so a reader that went away
surfaces as one BrokenPipeError (or ConnectionResetError) that each sink turns into its own
error, never as a half-flushed Python file buffer.
"""

from __future__ import annotations

import io
import os

import pyarrow as pa

from renacer_tui.model.schema import SPAN_SCHEMA

#: What a write raises when the reading end is gone.
PIPE_GONE = (BrokenPipeError, ConnectionResetError)


class IpcPipeWriter:
    """Writes each batch to `fd` at once (the schema goes out with the first one)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = io.BytesIO()
        self._writer = pa.ipc.new_stream(self._buffer, SPAN_SCHEMA)  # the schema bytes wait in the buffer

    def write(self, batch: pa.RecordBatch, metadata: dict[str, str] | None = None) -> None:
        """Encode one batch (with optional custom metadata) and write it out; raises PIPE_GONE."""
        self._writer.write_batch(batch, custom_metadata=metadata)
        self._send()

    def end(self) -> None:
        """Write the end-of-stream marker, so the reader sees a clean end; raises PIPE_GONE."""
        self._writer.close()
        self._send()

    def _send(self) -> None:
        data = memoryview(self._buffer.getvalue())
        self._buffer.seek(0)
        self._buffer.truncate()
        sent = 0
        while sent < len(data):  # a pipe takes at most its buffer per write
            sent += os.write(self.fd, data[sent:])
