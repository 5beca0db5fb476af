"""The live span pane: a Line-API scroll view over the model's bounded ring of spans.

Only the visible rows are formatted and rendered (toolong's LogLines idea), so the pane costs
the same at a million spans as at fifty.  It follows the tail until the user scrolls up; End
(or G) resumes following.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from renacer_tui.live_model import LiveModel


class SpanLog(ScrollView, can_focus=True):
    """Strace-like lines of the spans the live feed delivered, newest at the bottom."""

    BINDINGS = [
        Binding("end,G", "follow", "Follow tail", show=True),
        Binding("home,g", "scroll_home", "Top", show=False),
        Binding("up,k", "scroll_up", "Up", show=False),
        Binding("down,j", "scroll_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]

    follow: reactive[bool] = reactive(True)

    def __init__(self, model: LiveModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self._first_seen = 0

    def sync(self) -> None:
        """Pick up new rows from the model: grow, keep the view steady, follow the tail."""
        first = self.model.first_index
        shifted = first - self._first_seen
        self._first_seen = first
        self.virtual_size = Size(self.size.width, self.model.line_count)
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        elif shifted:
            self.scroll_to(y=max(0, self.scroll_y - shifted), animate=False, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        text = self.model.line(int(self.scroll_y) + y)
        style = self.rich_style
        if text is None:
            return Strip.blank(width, style)
        segments = list(text.render(self.app.console, end=""))
        strip = Strip(segments).apply_style(style)
        return strip.crop(int(self.scroll_x), int(self.scroll_x) + width).extend_cell_length(width, style)

    def watch_follow(self, follow: bool) -> None:
        self.set_class(not follow, "-paused")
        self.border_subtitle = "" if follow else "paused · End follows"
        if follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def action_follow(self) -> None:
        """Resume following the newest spans."""
        self.follow = True

    def action_scroll_home(self) -> None:
        self.follow = False
        super().action_scroll_home()

    def action_scroll_up(self) -> None:
        self.follow = False
        super().action_scroll_up()

    def action_scroll_down(self) -> None:
        super().action_scroll_down()

    def action_page_up(self) -> None:
        self.follow = False
        super().action_page_up()

    def action_page_down(self) -> None:
        super().action_page_down()

    def _on_mouse_scroll_up(self, event) -> None:  # type: ignore[no-untyped-def]
        self.follow = False
        super()._on_mouse_scroll_up(event)


