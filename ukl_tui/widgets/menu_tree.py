"""The Kconfig menu as a Textual tree, built one menu at a time as the user opens it.

A real Linux tree has about 17,000 menu nodes; building them all would take seconds and
most are never looked at. Each tree node holds an ``Entry`` for one kconfiglib menu node;
its children are made the first time it is expanded (implicit submenus, which menuconfig
shows inline, start expanded so nothing is hidden from a newcomer). After every change the
already-built part is brought up to date: labels re-read their values and the children of
every built menu are re-synchronised with what is visible now, keeping expansion state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from kconfiglib import MenuNode
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ukl_tui.kconfig import menu as mm


@dataclass(eq=False)
class Entry:
    """What a tree node stands for, and the key its label was last drawn from."""

    node: MenuNode
    loaded: bool = False
    drawn: tuple = field(default=())


class MenuTree(Tree[Entry]):
    """A lazily built, live Kconfig menu tree (see module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Space changes the value (the screen's action), as in menuconfig; Tree would only
        # open or close the node.
        Binding("space", "screen.toggle", "Toggle", show=False),
        Binding("right", "open_node", "Open", show=False),
        Binding("left", "close_node", "Close", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "Bottom", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "menutree--value",
        "menutree--fixed",
        "menutree--hidden",
        "menutree--name",
        "menutree--changed",
        "menutree--menu",
        "menutree--comment",
        "menutree--selection",
    }

    DEFAULT_CSS = """
    MenuTree > .menutree--value { text-style: bold; color: $accent; }
    MenuTree > .menutree--fixed { color: $text-muted; }
    MenuTree > .menutree--hidden { color: $text-disabled; text-style: italic; }
    MenuTree > .menutree--name { color: $text-muted; }
    MenuTree > .menutree--changed { color: $warning; text-style: bold; }
    MenuTree > .menutree--menu { text-style: bold; }
    MenuTree > .menutree--comment { color: $text-muted; }
    MenuTree > .menutree--selection { color: $success; }
    """

    def __init__(self, top: MenuNode, **kwargs: object) -> None:
        super().__init__("Configuration", Entry(top, loaded=False), **kwargs)  # type: ignore[arg-type]
        self.show_root = False
        self.auto_expand = False
        self.guide_depth = 2
        self.show_all = False
        #: Hidden nodes shown anyway: the path to the last symbol jumped to.
        self.pinned: set[MenuNode] = set()
        #: Names of symbols whose value differs from the saved .config (drawn with a mark).
        self.changed: frozenset[str] = frozenset()
        self._styles: dict[str, Style] = {}
        #: The node a jump will centre once the layout has caught up (see _move_and_center).
        self._centering: TreeNode[Entry] | None = None

    # ----- building -------------------------------------------------------------------

    def on_mount(self) -> None:
        """Build the top level only."""
        self._load_children(self.root)
        self.root.expand()
        if self.root.children:
            self.move_cursor(self.root.children[0])

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    def notify_style_update(self) -> None:
        """Theme changed: component styles and every label must be recomputed."""
        self._styles = {}
        super().notify_style_update()
        for tnode in list(self._all_built()):
            if tnode.data is not None:
                tnode.data.drawn = ()
        if self.is_mounted:
            self.refresh_labels()

    def _key(self, entry: Entry) -> tuple:
        text = mm.entry_text(entry.node)
        name = mm.name_of(entry.node)
        return (text, name in self.changed if name else False)

    def label_for(self, entry: Entry) -> Text:
        """The styled line for one entry, drawn from the live values."""
        text: mm.EntryText
        text, changed = self._key(entry)
        entry.drawn = (text, changed)
        return self._render_entry(text, changed, entry.node)

    def _render_entry(self, text: mm.EntryText, changed: bool, node: MenuNode) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("● " if changed else "  ", self._style("menutree--changed"))
        value_style = (
            self._style("menutree--value") if text.changeable else self._style("menutree--fixed")
        )
        line.append(text.value.ljust(3), value_style)  # prompts line up, as in menuconfig
        line.append(" ")
        prompt_style = Style()
        if not text.visible:
            prompt_style = self._style("menutree--hidden")
        elif mm.kind_of(node) == "comment":
            prompt_style = self._style("menutree--comment")
        elif text.is_menu and not text.value:
            prompt_style = self._style("menutree--menu")
        line.append(text.prompt, prompt_style)
        if text.selection:
            line.append(f" ({text.selection})", self._style("menutree--selection"))
        if text.name:
            line.append(f"  {text.name}", self._style("menutree--name"))
        return line

    def render_label(self, node: TreeNode[Entry], base_style: Style, style: Style) -> Text:
        """Leaves get the width of the open/close icon as padding, so values line up."""
        text = super().render_label(node, base_style, style)
        if not node.allow_expand:
            text = Text.assemble("  ", text)
        return text

    def _add_child(self, parent: TreeNode[Entry], node: MenuNode, before: int | None) -> TreeNode:
        entry = Entry(node)
        expandable = node.list is not None and (
            mm.has_children(node, self.show_all) or any(c in self.pinned for c in _children(node))
        )
        implicit = expandable and not node.is_menuconfig
        tnode = parent.add(
            self.label_for(entry), entry, before=before, expand=False, allow_expand=expandable
        )
        if implicit:
            self._load_children(tnode)
            tnode.expand()
        return tnode

    def _load_children(self, tnode: TreeNode[Entry]) -> None:
        entry = tnode.data
        assert entry is not None
        entry.loaded = True
        for child in mm.shown_children(entry.node, self.show_all, self.pinned):
            self._add_child(tnode, child, None)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Entry]) -> None:
        """Build a menu's children the first time it is opened."""
        entry = event.node.data
        if entry is not None and not entry.loaded:
            self._load_children(event.node)

    # ----- keeping the built part live ------------------------------------------------

    def _all_built(self) -> Iterator[TreeNode[Entry]]:
        stack = list(reversed(self.root.children))
        while stack:
            tnode = stack.pop()
            yield tnode
            stack.extend(reversed(tnode.children))

    def built_count(self) -> int:
        """How many tree nodes exist (the lazy-loading tests and the benchmark read it)."""
        return sum(1 for _ in self._all_built())

    def refresh_labels(self) -> None:
        """Redraw every built line whose value, visibility or change mark moved."""
        for tnode in self._all_built():
            entry = tnode.data
            if entry is None:
                continue
            key = self._key(entry)
            if key != entry.drawn:
                tnode.set_label(self.label_for(entry))

    def sync(self) -> None:
        """Bring the built part of the tree up to date after values or show-all changed."""
        self._sync_children(self.root)
        self.refresh_labels()

    def _sync_children(self, tnode: TreeNode[Entry]) -> None:
        entry = tnode.data
        assert entry is not None
        if entry.loaded:
            wanted = mm.shown_children(entry.node, self.show_all, self.pinned)
            current = list(tnode.children)
            if [c.data.node for c in current if c.data is not None] != wanted:
                self._reconcile(tnode, current, wanted)
        for child in tnode.children:
            cent = child.data
            if cent is None:
                continue
            expandable = cent.node.list is not None and (
                mm.has_children(cent.node, self.show_all)
                or any(c in self.pinned for c in _children(cent.node))
            )
            if child.allow_expand != expandable:
                child.allow_expand = expandable
                if not expandable:
                    child.collapse()
                    child.remove_children()
                    cent.loaded = False
            self._sync_children(child)

    def _reconcile(
        self, tnode: TreeNode[Entry], current: list[TreeNode[Entry]], wanted: list[MenuNode]
    ) -> None:
        """Remove children no longer shown and insert new ones, keeping existing subtrees."""
        wanted_set = set(map(id, wanted))
        cursor = self.cursor_node
        for child in current:
            if child.data is not None and id(child.data.node) not in wanted_set:
                if cursor is not None and _is_within(cursor, child):
                    self.move_cursor(tnode if not tnode.is_root else None)
                child.remove()
        have = {id(c.data.node): c for c in tnode.children if c.data is not None}
        for index, node in enumerate(wanted):
            if id(node) not in have:
                self._add_child(tnode, node, before=index)

    def set_show_all(self, show_all: bool) -> None:
        """Switch show-all mode and re-synchronise the built part."""
        self.show_all = show_all
        self.pinned = set()
        self.sync()

    def pin_path(self, target: MenuNode) -> None:
        """Show the path to ``target`` even where it is hidden (greyed, like show-all)."""
        self.pinned = set(mm.path_to(target))
        self.sync()

    # ----- navigation -----------------------------------------------------------------

    def find_path(self, target: MenuNode) -> TreeNode[Entry] | None:
        """Open every menu on the way to ``target`` and return its tree node (or None)."""
        tnode: TreeNode[Entry] = self.root
        for step in mm.path_to(target):
            entry = tnode.data
            if entry is not None and not entry.loaded:
                self._load_children(tnode)
            if not tnode.is_root:
                tnode.expand()
            found = next(
                (c for c in tnode.children if c.data is not None and c.data.node is step), None
            )
            if found is None:
                return None
            tnode = found
        return tnode

    def focus_node(self, target: MenuNode) -> bool:
        """Open the path to ``target`` and put the cursor on it; False when it is not shown."""
        tnode = self.find_path(target)
        if tnode is None:
            return False
        self.call_after_refresh(self._move_and_center, tnode)
        return True

    def _move_and_center(self, tnode: TreeNode[Entry]) -> None:
        _ = self.last_line  # rebuild the line table so the new node has its line number
        self.move_cursor(tnode)
        # The rebuilt table changes the virtual size; scroll limits and scrollbars follow at
        # the next layout, so the centring waits for it (done now, it was clamped to the
        # old size and landed a line or a screen off, depending on the machine's load).
        self._centering = tnode
        self.call_after_refresh(self._center, tnode)

    def _center(self, tnode: TreeNode[Entry]) -> None:
        """Put ``tnode`` a third of the way down the view, if the cursor is still on it."""
        if self._centering is tnode:
            self._centering = None
        if self.cursor_node is not tnode:
            return  # the user moved on meanwhile
        height = self.scrollable_content_region.height
        self.scroll_to(y=max(0, tnode.line - height // 3), animate=False, immediate=True)

    @property
    def settled(self) -> bool:
        """False while a jump's centring waits for the layout (tests wait for it)."""
        return self._centering is None

    def action_open_node(self) -> None:
        """Right arrow: open a closed menu, or step into an open one."""
        tnode = self.cursor_node
        if tnode is None:
            return
        if tnode.allow_expand and not tnode.is_expanded:
            tnode.expand()
        elif tnode.is_expanded and tnode.children:
            self.move_cursor(tnode.children[0])

    def action_close_node(self) -> None:
        """Left arrow: close an open menu, or go up to the parent."""
        tnode = self.cursor_node
        if tnode is None:
            return
        if tnode.is_expanded:
            tnode.collapse()
        elif tnode.parent is not None and not tnode.parent.is_root:
            self.move_cursor(tnode.parent)

    @property
    def current(self) -> MenuNode | None:
        """The kconfiglib menu node under the cursor."""
        tnode = self.cursor_node
        return tnode.data.node if tnode is not None and tnode.data is not None else None

    def visible_lines(self) -> Iterable[str]:
        """The plain text of the lines on screen (tests read what a user would see)."""
        for tnode in self._all_built():
            if tnode.data is not None and _is_shown(tnode):
                yield tnode.label.plain if isinstance(tnode.label, Text) else str(tnode.label)


def _children(node: MenuNode) -> Iterator[MenuNode]:
    child = node.list
    while child is not None:
        yield child
        child = child.next


def _is_within(node: TreeNode, ancestor: TreeNode) -> bool:
    while node is not None:
        if node is ancestor:
            return True
        node = node.parent
    return False


def _is_shown(tnode: TreeNode) -> bool:
    parent = tnode.parent
    while parent is not None and not parent.is_root:
        if not parent.is_expanded:
            return False
        parent = parent.parent
    return True
