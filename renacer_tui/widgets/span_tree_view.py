"""A lazily built Tree of spans with a waterfall bar per row.

Children are added when a node expands, one page at a time (a `… N more` row loads the next
page), so a trace of 100 k spans costs a few hundred tree nodes.  `reveal(row)` loads and
expands exactly the path to a span, for error navigation, find and analysis jumps.

`by_source` switches every process node between its children in time order and one node per
source line (`SourceGroups`), each holding that line's spans; the groups of a process are
computed when its node opens in that mode.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from renacer_tui.gpu_label import GPU_BAR_STYLE, GPU_MARK, GPU_STYLE, gpu_detail
from renacer_tui.model.kinds import is_gpu, is_process
from renacer_tui.model.readable import format_duration
from renacer_tui.span_groups import GroupKey, SourceGroup, SourceGroups
from renacer_tui.span_index import ROOT, SpanIndex
from renacer_tui.text import clip, escape

PAGE = 500
NAME_WIDTH = 26
BAR_WIDTH = 12


#: What has children in the tree: a span's row or a source-line group.
Key = int | GroupKey


class More:
    """The `… N more` placeholder: which parent, and which page of its children it loads."""

    def __init__(self, parent: Key, page: int) -> None:
        self.parent = parent
        self.page = page


NodeData = int | GroupKey | More


def waterfall(start: int, end: int, t_min: int, t_max: int, width: int = BAR_WIDTH) -> str:
    """A bar of `width` cells: where [start, end] falls within [t_min, t_max]."""
    total = max(1, t_max - t_min)
    first = min(width - 1, max(0, (start - t_min) * width // total))
    last = min(width, max(first + 1, -(-(end - t_min) * width // total)))
    return " " * first + "█" * (last - first) + " " * (width - last)


class SpanTreeView(Tree[NodeData]):
    """trace → run → processes → syscalls, built on demand from a SpanIndex."""

    BINDINGS = [
        Binding("right,l", "expand_node", "Expand", show=False),
        Binding("left,h", "collapse_node", "Collapse", show=False),
        Binding("plus,equals_sign", "expand_all", "Expand all"),
        Binding("minus", "collapse_all", "Collapse all"),
    ]

    #: Process nodes show one child per source line instead of their calls in time order.
    by_source: reactive[bool] = reactive(False, init=False)

    def __init__(self, index: SpanIndex, *, id: str | None = None) -> None:
        super().__init__(self._trace_label(index), data=ROOT, id=id)
        self.index = index
        self.groups = SourceGroups(index)
        self.nodes: dict[Key, TreeNode[NodeData]] = {ROOT: self.root}
        self._loaded: dict[Key, set[int]] = {}  # parent → pages of children added
        self._more: dict[Key, list[TreeNode[NodeData]]] = {}
        self.guide_depth = 2

    @staticmethod
    def _trace_label(index: SpanIndex) -> Text:
        label = Text(no_wrap=True)
        label.append("trace ", style="bold")
        label.append(index.trace_id or "(empty)", style="cyan")
        label.append(f"  {index.size:,} spans  {format_duration(index.t_max - index.t_min)}", style="dim")
        return label

    def on_mount(self) -> None:
        self.show_root = True
        self.root.expand()
        self._load_page(ROOT)
        for row in self.index.child_rows(ROOT)[:20]:  # open the run and its processes
            node = self.nodes.get(row)
            if node is not None and node.allow_expand:
                self._open(row)
                for child in self.index.child_rows(row)[:50]:
                    if not self.index.names[child].startswith("syscall:") and child in self.nodes:
                        self._open(child)

    def label_for(self, row: int) -> Text:
        """name (×RLE), a waterfall bar aligned across depths, and the duration."""
        info = self.index.summary(row)
        gpu = is_gpu(info.name)  # GPU work: its own marker and colour, and what it did
        name = (GPU_MARK if gpu else "") + escape(info.name)
        if info.rle_count > 1:
            name += f" ×{info.rle_count}"
        expandable = bool(self.index.child_rows(row))
        width = max(8, NAME_WIDTH - self.guide_depth * self._depth(row) - (2 if expandable else 0))
        label = Text(no_wrap=True)
        label.append(clip(name, width).ljust(width), style="bold red" if info.is_error else (GPU_STYLE if gpu else ""))
        label.append(" ")
        bar_style = "red" if info.is_error else (GPU_BAR_STYLE if gpu else "blue")
        label.append(waterfall(info.start, info.end, self.index.t_min, self.index.t_max), style=bar_style)
        label.append(" " + format_duration(max(0, info.end - info.start)).rjust(8), style="dim")
        if gpu:
            label.append("  " + gpu_detail(self.index.row_dict(row)["attributes"]), style="green")
        return label

    def group_label(self, group: SourceGroup) -> Text:
        """`file:line function` (names from the trace, shown literally) over the name and bar
        columns (a line's calls spread over the run: no bar), the calls' summed duration in the
        duration column, and their number."""
        width = max(8, NAME_WIDTH - self.guide_depth * (self._depth(group.key.process) + 1) - 2) + 1 + BAR_WIDTH
        label = Text(no_wrap=True)
        label.append(clip(escape(group.title), width).ljust(width), style="italic dim" if group.source is None else "green")
        label.append(" " + format_duration(group.duration).rjust(8), style="dim")
        label.append(f"  {group.calls:,} call{'s' if group.calls != 1 else ''}", style="cyan")
        return label

    def _depth(self, row: int) -> int:
        """Levels above `row` as shown: its ancestors, plus a group level under each process."""
        ancestors = self.index.ancestors(row)
        extra = sum(1 for a in ancestors if is_process(self.index.names[a])) if self.by_source else 0
        return len(ancestors) + 1 + extra

    def _grouped(self, key: Key) -> bool:
        return self.by_source and isinstance(key, int) and key != ROOT and is_process(self.index.names[key])

    def children_of(self, key: Key) -> Sequence[Key]:
        """What a node's children are in the current mode (rows ascend; groups by duration)."""
        if isinstance(key, GroupKey):
            return self.groups.group(key).rows
        if self._grouped(key):
            return [group.key for group in self.groups.of(key)]
        return self.index.child_rows(key)

    def _expandable(self, key: Key) -> bool:
        return isinstance(key, GroupKey) or bool(self.index.child_rows(key))

    def _label(self, key: Key) -> Text:
        return self.group_label(self.groups.group(key)) if isinstance(key, GroupKey) else self.label_for(key)

    def _pages(self, parent: Key) -> int:
        return -(-len(self.children_of(parent)) // PAGE)

    def _load_page(self, parent: Key, page: int | None = None) -> None:
        """Add one page of `parent`'s children in order (default: the first not yet loaded).

        Pages may load out of order (a jump far into 100 k syscalls loads just that page);
        each run of unloaded pages shows as one `… N more` row that loads the page next to
        what is already shown.
        """
        loaded = self._loaded.setdefault(parent, set())
        if page is None:
            page = next((p for p in range(self._pages(parent)) if p not in loaded), None)
            if page is None:
                return
        if page in loaded:
            return
        node = self.nodes[parent]
        children = self.children_of(parent)
        later = [p for p in loaded if p > page]
        anchor = self.nodes.get(children[min(later) * PAGE]) if later else None
        for key in children[page * PAGE : (page + 1) * PAGE]:
            label = self._label(key)
            expandable = self._expandable(key)
            if anchor is not None:
                self.nodes[key] = node.add(label, data=key, before=anchor, allow_expand=expandable)
            else:
                self.nodes[key] = node.add(label, data=key, allow_expand=expandable)
        loaded.add(page)
        self._place_more_rows(parent)

    def _place_more_rows(self, parent: Key) -> None:
        """One placeholder per gap of unloaded pages, placed where the gap is."""
        for more in self._more.pop(parent, []):
            more.remove()
        loaded = self._loaded[parent]
        children = self.children_of(parent)
        node = self.nodes[parent]
        placeholders: list[TreeNode[NodeData]] = []
        page, pages = 0, self._pages(parent)
        while page < pages:
            if page in loaded:
                page += 1
                continue
            gap_start = page
            while page < pages and page not in loaded:
                page += 1
            hidden = min(len(children), page * PAGE) - gap_start * PAGE
            # load the gap's page next to what is shown above it (or its first page at the top)
            target = gap_start if gap_start == 0 or (gap_start - 1) in loaded else page - 1
            label = Text(f"… {hidden:,} more (enter loads {min(PAGE, hidden):,})", style="italic dim")
            anchor = self.nodes.get(children[page * PAGE]) if page < pages else None
            if anchor is not None:
                placeholders.append(node.add_leaf(label, data=More(parent, target), before=anchor))
            else:
                placeholders.append(node.add_leaf(label, data=More(parent, target)))
        self._more[parent] = placeholders

    def _open(self, key: Key) -> None:
        if key not in self._loaded:
            self._load_page(key)
        self.nodes[key].expand()

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeData]) -> None:
        data = event.node.data
        if isinstance(data, (int, GroupKey)) and data not in self._loaded:
            self._load_page(data)

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeData]) -> None:
        data = event.node.data
        if isinstance(data, More):
            event.stop()
            self._load_page(data.parent, data.page)

    def _path(self, row: int) -> list[Key]:
        """The keys from the top down to `row`, through a process's group in `by_source` mode."""
        path: list[Key] = []
        for item in [*self.index.ancestors(row), row]:
            last = path[-1] if path else None
            if isinstance(last, int) and self._grouped(last):
                group = self.groups.group_of(last, item)
                if group is not None:
                    path.append(group.key)
            path.append(item)
        return path

    def reveal(self, row: int) -> bool:
        """Load and expand the path to `row` (only the pages on it), then put the cursor on it."""
        parent: Key = ROOT
        for item in self._path(row):
            if parent not in self._loaded:
                self._load_page(parent)
            if item not in self.nodes:
                if isinstance(item, GroupKey):
                    position = item.position
                else:  # rows ascend, under a span and under a group alike
                    rows = self.groups.group(parent).rows if isinstance(parent, GroupKey) else self.index.child_rows(parent)
                    position = bisect.bisect_left(rows, item)
                self._load_page(parent, position // PAGE)
            self.nodes[parent].expand()
            parent = item
        node = self.nodes.get(row)
        if node is None:
            return False
        self._cursor_to(node)
        return True

    def _cursor_to(self, node: TreeNode[NodeData]) -> None:
        """Put the cursor on `node` now.  Tree lays its lines out lazily and `move_cursor` reads
        the node's line before that: a node added since the last layout has none yet (the
        cursor landed on the root), and one below added nodes has a stale one.  Reading the
        line list lays them out first."""
        self._tree_lines  # noqa: B018 - the property builds the lines
        self.move_cursor(node)
        self.scroll_to_node(node, animate=False)

    def watch_by_source(self) -> None:
        """Rebuild every process node's children in the new mode; the cursor stays on its span
        (or, from a group, goes to the group's process)."""
        here = self.cursor_node.data if self.cursor_node is not None else None
        for key in [k for k in self._loaded if isinstance(k, int) and k != ROOT and is_process(self.index.names[k])]:
            if key in self.nodes:  # not under a process rebuilt before it
                self._reload(key)
        if isinstance(here, GroupKey):
            here = here.process
        if isinstance(here, int):
            node = self.nodes.get(here)
            if node is not None:
                self._cursor_to(node)
            else:
                self.reveal(here)

    def _reload(self, key: Key) -> None:
        """Forget the nodes below `key`; load them again now if it is open, else when it opens."""
        node = self.nodes[key]
        pending = list(node.children)
        while pending:
            child = pending.pop()
            pending.extend(child.children)
            if isinstance(child.data, (int, GroupKey)):
                self.nodes.pop(child.data, None)
                self._loaded.pop(child.data, None)
                self._more.pop(child.data, None)
        self._loaded.pop(key, None)
        self._more.pop(key, None)
        node.remove_children()
        if node.is_expanded:
            self._load_page(key)

    def action_expand_node(self) -> None:
        node = self.cursor_node
        if node is not None and isinstance(node.data, (int, GroupKey)):
            if node.data not in self._loaded and node.allow_expand:
                self._load_page(node.data)
            node.expand()

    def action_collapse_node(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None:
            self.move_cursor(node.parent)

    def action_expand_all(self) -> None:
        """Expand every span down to syscalls (first page of each; `… more` rows stay)."""
        pending: list[Key] = [ROOT]
        budget = 20 * PAGE
        while pending and budget > 0:
            key = pending.pop()
            if key not in self._loaded:
                self._load_page(key)
            self.nodes[key].expand()
            for child in self.children_of(key):
                if child in self.nodes and self._expandable(child):
                    pending.append(child)
                    budget -= 1

    def action_collapse_all(self) -> None:
        self.root.collapse_all()
        self.root.expand()
        self.move_cursor(self.root)
