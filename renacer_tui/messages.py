"""Messages shared by the screens: small dataclasses, one place (toolong's `messages.py` idea).

The live feed is a flood; `FeedUpdated` defines `can_replace` so Textual drops stale copies
and the UI handles at most one per refresh no matter how fast spans arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message


@dataclass
class FeedUpdated(Message):
    """The live model absorbed new batches; `version` only grows. Coalesced."""

    version: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FeedUpdated)


@dataclass
class FeedClosed(Message):
    """The capture closed the feed (trace finished, or the capture died): `error` says which."""

    error: str | None = None


@dataclass
class ProgramExited(Message):
    """The capture child (whose exit code is the traced program's) ended."""

    returncode: int


@dataclass
class JumpToSpans(Message):
    """Ask the span tree to reveal these spans (posted by the analysis screens)."""

    span_ids: list[str] = field(default_factory=list)
    trace_id: str | None = None


@dataclass
class QueryFinished(Message):
    """A SQL console query ended: a table, or an error message, and the time it took."""

    sql: str
    seconds: float
    table: object | None = None
    error: str | None = None
