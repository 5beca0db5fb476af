"""The live span pane: a Line-API scroll view over the model's bounded ring of spans.

Only the visible rows are formatted and rendered (toolong's LogLines idea), so the pane costs
the same at a million spans as at fifty.  It follows the tail until the user scrolls up; End
(or G) resumes following.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.reactive import Reactive, reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from renacer_tui.live.model import LiveModel, SpanLine


class SteadyScrollView(ScrollView):
    """A scroll view whose own size is fixed by CSS while its scroll range changes all the time.

    `Widget.virtual_size` is a layout reactive: every change reflows and repaints the whole
    screen (20-100 ms with the live screen's tables), and the live feed changes it with every
    batch.  Here it only repaints this widget and updates its scrollbars, as `ScrollView` does
    after a layout; a scrollbar that has to appear or go still asks for a layout itself
    (`show_vertical_scrollbar` is a layout reactive).  Only for widgets whose height and width
    do not depend on their content (no `auto` size).
    """

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), repaint=True)

    def watch_virtual_size(self, size: Size) -> None:
        self._scroll_update(size)


class SpanLog(SteadyScrollView, can_focus=True):
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
        self._visible: tuple[int, list[Text | None]] = (0, [])  # rows formatted for the frame being drawn
        self._line_style = Style()

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

    def render_lines(self, crop: Region) -> list[Strip]:
        """Format the rows about to be drawn in one go, then let Textual draw them line by line."""
        self._line_style = self.rich_style
        top = int(self.scroll_y)
        self._visible = (top, self.model.lines(top, self.scrollable_content_region.height))
        try:
            return super().render_lines(crop)
        finally:
            self._visible = (0, [])

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = int(self.scroll_y) + y
        top, texts = self._visible
        text = texts[index - top] if 0 <= index - top < len(texts) else self.model.line(index)
        style = self._line_style if texts else self.rich_style
        if text is None:
            return Strip.blank(width, style)
        if isinstance(text, SpanLine) and not self.scroll_x:  # the result and duration stay in view
            text = text.fitted(width)
        segments = list(text.render(self.app.console, end=""))
        strip = Strip(segments).apply_style(style)
        return strip.crop(int(self.scroll_x), int(self.scroll_x) + width).extend_cell_length(width, style)

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        """The pane changed size (an alert appeared, the output pane toggled): stay on the tail
        in the very frame that shows the new size, not one `Resize` message later."""
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        if self.follow and self.scroll_y != self.max_scroll_y:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        return changed

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

    def _on_mouse_scroll_up(self, event) -> None:
        self.follow = False
        super()._on_mouse_scroll_up(event)


