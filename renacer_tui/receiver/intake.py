"""What every OTLP listener shares: the token check, the size limit, conversion, counters.

A listener (HTTP or gRPC) decodes a request and hands it here (protobuf and the converter load
with the first request: a run whose program sends nothing never pays for them); `Intake` turns it into one
`SPAN_SCHEMA` batch, works out the sender where it can, and passes the batch to `on_batch`
(the run's fan-out, or the daemon's store).  A request that cannot be used is answered with an
error by its listener and counted here by reason: a receiver never crashes on its input.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable

import pyarrow as pa

from renacer_tui.receiver.errors import PayloadError

if TYPE_CHECKING:
    from renacer_tui.receiver.placement import Placement

#: Largest request accepted (bytes on the wire, and again after decompression).
DEFAULT_MAX_BYTES = 16 << 20

#: Reasons a request is rejected (the keys of `Intake.rejected`).
REJECT_MALFORMED = "malformed"
REJECT_TOO_LARGE = "too_large"
REJECT_CONTENT_TYPE = "content_type"
REJECT_UNAUTHORIZED = "unauthorized"
REJECT_NOT_FOUND = "not_found"
REJECT_DISCONNECTED = "disconnected"
REJECT_BUSY = "busy"  # more connections at once than the listener serves


class Intake:
    """Converts received requests into batches for `on_batch`; thread-safe.

    `traced_pids()`: the pids a sender may be (a run's traced processes); None: never look
    (the standalone daemon, whose senders are not traced here).
    """

    def __init__(
        self,
        on_batch: Callable[[pa.RecordBatch], None],
        *,
        placement: Placement | None = None,
        traced_pids: Callable[[], Iterable[int]] | None = None,
        token: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_request: Callable[[str, int], None] | None = None,
    ) -> None:
        self._on_batch = on_batch
        self._placement = placement
        self._traced_pids = traced_pids
        self._token = token.encode() if token else None
        self.max_bytes = max_bytes
        self._on_request = on_request
        self._lock = threading.Lock()
        self._senders: dict[tuple[str, int], int | None] = {}
        self.requests = 0
        self.spans = 0
        self.rejected: dict[str, int] = {}

    @property
    def rejected_total(self) -> int:
        with self._lock:
            return sum(self.rejected.values())

    def authorized(self, authorization: str | None) -> bool:
        """True when no token is required, or `authorization` is `Bearer <token>`."""
        if self._token is None:
            return True
        import hmac  # only with a token: it loads OpenSSL's hashlib, start-up a run does not need

        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self._token)

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def sender(self, peer: tuple[str, int] | None, ours: tuple[str, int] | None) -> int | None:
        """The traced pid behind a loopback connection (looked up once per connection)."""
        if self._traced_pids is None or peer is None or ours is None:
            return None
        with self._lock:
            if peer in self._senders:
                return self._senders[peer]
        from renacer_tui.receiver.peer import sender_pid

        pid = sender_pid(peer, ours, list(self._traced_pids()))
        with self._lock:
            if len(self._senders) > 4096:  # connections come and go; ports get reused
                self._senders.clear()
            self._senders[peer] = pid
        return pid

    def forget(self, peer: tuple[str, int] | None) -> None:
        """The connection from `peer` ended: its port may next belong to another process."""
        if peer is not None:
            with self._lock:
                self._senders.pop(peer, None)

    def ingest(self, request: Any, via: str, peer: tuple[str, int] | None = None,
               ours: tuple[str, int] | None = None) -> int:
        """Convert and deliver one request; returns its span count. Raises PayloadError (counted)."""
        from renacer_tui.receiver.convert import request_rows, rows_batch

        pid = self.sender(peer, ours)
        try:
            rows = request_rows(request, via=via, sender_pid=pid, placement=self._placement)
            batch = rows_batch(rows) if rows else None
        except PayloadError:
            self.reject(REJECT_MALFORMED)
            raise
        except (pa.ArrowException, OverflowError, ValueError, TypeError) as exc:  # e.g. a time past int64
            self.reject(REJECT_MALFORMED)
            raise PayloadError(f"unusable span values ({type(exc).__name__})") from None
        with self._lock:
            self.requests += 1
            self.spans += len(rows)
        if batch is not None:
            self._on_batch(batch)
        if self._on_request is not None:
            self._on_request(via, len(rows))
        return len(rows)
