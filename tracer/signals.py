"""SIGINT/SIGTERM handling for the tracer process while a capture runs.

Python handlers run on the main thread between bytecodes — also while `os.waitpid` is
interrupted (PEP 475 retries it afterwards) — which is the tracer thread, so a handler may
issue ptrace requests (PTRACE_INTERRUPT for a -p detach).

A Ctrl-C typed at the terminal is sent by the kernel to the whole foreground process group:
the launched program (which shares our group, as under strace) already has it.  Forwarding it
again would deliver it twice, so the relay tells its callback whether the signal could have
come from the terminal: SIGINT/SIGQUIT while our group is the terminal's foreground group and
the terminal generates signals (ISIG; a Textual app in raw mode does not).
"""

from __future__ import annotations

import os
import signal
import termios
import threading
from collections.abc import Callable
from types import FrameType

RELAYED = (signal.SIGINT, signal.SIGTERM)
_TERMINAL_SIGNALS = (signal.SIGINT, signal.SIGQUIT)


def terminal_may_have_sent(signum: int) -> bool:
    """True when `signum` could be a keyboard signal our whole foreground group received."""
    if signum not in _TERMINAL_SIGNALS:
        return False
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False  # no controlling terminal: someone sent it to us alone
    try:
        if os.tcgetpgrp(fd) != os.getpgrp():
            return False
        return bool(termios.tcgetattr(fd)[3] & termios.ISIG)
    except (OSError, termios.error):
        return False
    finally:
        os.close(fd)


class SignalRelay:
    """Installs handlers for SIGINT/SIGTERM that call `callback(signum, from_terminal)`."""

    def __init__(self, callback: Callable[[int, bool], None]) -> None:
        self._callback = callback
        self._previous: dict[int, object] = {}
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for signum in RELAYED:
            self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self._callback(signum, terminal_may_have_sent(signum))

    def restore(self) -> None:
        """Put the previous handlers back."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()
