"""What a screen may ask of the application: open a trace's views, reach the store.

Screens get `self.app` typed as a plain Textual `App`; `navigator(self.app)` gives them these
calls typed, without importing `renacer_tui.app` (which imports every screen).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from textual.app import App

    from renacer_tui.store import Store


class Navigator(Protocol):
    """The navigation half of `RenacerApp`."""

    def get_store(self) -> Store | None: ...

    def open_span_tree(self, trace_id: str, span_ids: list[str] | None = None) -> None: ...

    def open_analysis(self, kind: str, trace_id: str | None = None) -> None: ...


def navigator(app: App[Any]) -> Navigator:
    """`app` as the Navigator it is (every screen runs inside RenacerApp)."""
    return cast(Navigator, app)
