"""A timer thread that flushes the span builder while the traced program sits in a long call.

Batches (and RLE runs held back) normally leave the builder when some syscall exits; a program
blocked in `sleep 5` or a read on a quiet pipe makes no stop, so the live view would not see its
latest spans until the call returns.  The flusher wakes every `period_s`, takes the capture's
lock — held by the loop only while it handles a stop, never across its blocking waitpid — and
asks the builder to send whatever has waited a batch interval.
"""

from __future__ import annotations

import threading
from typing import Callable


class IdleFlusher:
    """Calls `flush()` every `period_s` seconds with `lock` held, until `stop()`."""

    def __init__(self, lock: threading.Lock, flush: Callable[[], None], period_s: float = 0.05) -> None:
        self._lock = lock
        self._flush = flush
        self._period_s = period_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="idle-flush", daemon=True)

    def start(self) -> "IdleFlusher":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.wait(self._period_s):
            with self._lock:
                if self._stopped.is_set():
                    return
                self._flush()

    def stop(self) -> None:
        """Stop the timer and wait for a flush in progress to end (idempotent)."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> "IdleFlusher":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
