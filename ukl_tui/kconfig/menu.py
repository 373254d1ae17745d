"""How kconfiglib's menu nodes are shown: which children a menu has and how a value reads.

Kept free of Textual so the rules of display (the same ones ``make menuconfig`` follows:
``[*]``/``<M>``/``(X)``/``(value)``, ``-*-`` for a value pinned by a ``select``, invisible
symbols shown only when they carry visible children) can be tested on their own, and so the
tree widget only has to ask "what are the children of this node" one menu at a time: the
17,000 nodes of a real tree are never walked at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from kconfiglib import (
    BOOL,
    COMMENT,
    HEX,
    INT,
    MENU,
    STRING,
    TRISTATE,
    Choice,
    MenuNode,
    Symbol,
    expr_value,
)

NodeKind = Literal["menu", "comment", "choice", "bool", "tristate", "int", "hex", "string", "other"]


def kind_of(node: MenuNode) -> NodeKind:
    """What kind of entry a node is, for key handling and styling."""
    item = node.item
    if item is MENU:
        return "menu"
    if item is COMMENT:
        return "comment"
    if isinstance(item, Choice):
        return "choice"
    kinds = {BOOL: "bool", TRISTATE: "tristate", INT: "int", HEX: "hex", STRING: "string"}
    return kinds.get(item.orig_type, "other")  # type: ignore[return-value]


def is_visible(node: MenuNode) -> bool:
    """True when ``make menuconfig`` would list the node outside show-all mode."""
    if not node.prompt or not expr_value(node.prompt[1]):
        return False
    return not (node.item is MENU and not expr_value(node.visibility))


def _iter_list(node: MenuNode) -> Iterator[MenuNode]:
    child = node.list
    while child is not None:
        yield child
        child = child.next


def shown_children(
    node: MenuNode, show_all: bool, pinned: frozenset[MenuNode] | set[MenuNode] = frozenset()
) -> list[MenuNode]:
    """The direct children of ``node`` as the tree shows them.

    Unlike menuconfig, which flattens "implicit" submenus (symbols that depend on the symbol
    just above them) into indented lines, the tree keeps them as children of that symbol, so
    kconfiglib's own parent links are the tree's: a symbol's path is its chain of parents.
    An invisible symbol is still shown when one of its children is (menuconfig does the same:
    an optional prompt that is off must not hide the options below it). ``pinned`` nodes are
    shown even when hidden: the path to a symbol the user jumped to.
    """
    out = []
    for child in _iter_list(node):
        if (
            show_all
            or child in pinned
            or is_visible(child)
            or (child.list is not None and has_children(child, False))
        ):
            out.append(child)
    return out


def has_children(node: MenuNode, show_all: bool) -> bool:
    """True when ``shown_children`` would not be empty; stops at the first one found."""
    for child in _iter_list(node):
        if show_all or is_visible(child):
            return True
        if child.list is not None and has_children(child, False):
            return True
    return False


def changeable(node: MenuNode) -> bool:
    """True when the user can give this entry another value right now."""
    item = node.item
    if not isinstance(item, (Symbol, Choice)) or not node.prompt:
        return False
    if not expr_value(node.prompt[1]):
        return False
    if item.orig_type in (STRING, INT, HEX):
        return bool(item.visibility)
    return len(item.assignable) > 1 or (
        isinstance(item, Symbol) and item.choice is not None and item.visibility == 2
    )


def is_choice_option(item: object) -> bool:
    """A symbol inside a choice in y mode: shown as a radio button ``(X)``/``( )``."""
    return isinstance(item, Symbol) and item.choice is not None and item.visibility == 2


def value_str(node: MenuNode) -> str:
    """The value column, menuconfig style: ``[*]``, ``< >``, ``{M}``, ``-*-``, ``(X)``, ``(64)``."""
    item = node.item
    if item is MENU or item is COMMENT or not getattr(item, "orig_type", 0):
        return ""
    if item.orig_type in (STRING, INT, HEX):
        return f"({item.str_value})"
    if is_choice_option(item):
        return "(X)" if item.choice.selection is item else "( )"
    mark = (" ", "M", "*")[item.tri_value]
    if len(item.assignable) <= 1:
        return "" if isinstance(item, Choice) else f"-{mark}-"
    if item.type is BOOL:
        return f"[{mark}]"
    if item.assignable == (1, 2):
        return f"{{{mark}}}"
    return f"<{mark}>"


def prompt_of(node: MenuNode) -> str:
    """The text of the entry: its prompt, or for a promptless symbol its name."""
    if node.prompt:
        text = node.prompt[0]
        return f"*** {text} ***" if node.item is COMMENT else text
    item = node.item
    if isinstance(item, Symbol):
        return item.name
    if isinstance(item, Choice):
        return f"<choice {item.name}>" if item.name else "<choice>"
    return ""


def name_of(node: MenuNode) -> str | None:
    """The symbol (or named choice) behind a node, if any."""
    item = node.item
    if isinstance(item, (Symbol, Choice)):
        return item.name
    return None


def choice_selection_prompt(node: MenuNode) -> str | None:
    """For a choice in y mode: the prompt of the selected option, shown after the choice."""
    item = node.item
    if not isinstance(item, Choice) or item.tri_value != 2 or item.selection is None:
        return None
    sel = item.selection
    for sym_node in sel.nodes:
        if sym_node.parent is node and sym_node.prompt:
            return sym_node.prompt[0]
    for sym_node in sel.nodes:
        if sym_node.prompt:
            return sym_node.prompt[0]
    return sel.name


@dataclass(frozen=True)
class EntryText:
    """The parts of one line of the tree, for the widget to style."""

    value: str
    prompt: str
    name: str | None
    selection: str | None
    visible: bool
    changeable: bool
    is_menu: bool


def entry_text(node: MenuNode) -> EntryText:
    """Everything a tree line shows about ``node``, computed from the live values."""
    name = name_of(node)
    prompt = prompt_of(node)
    return EntryText(
        value=value_str(node),
        prompt=prompt,
        name=name if name and name != prompt else None,
        selection=choice_selection_prompt(node),
        visible=is_visible(node),
        changeable=changeable(node),
        is_menu=node.is_menuconfig,
    )


def path_to(node: MenuNode) -> list[MenuNode]:
    """The chain of parents from the top menu (excluded) down to ``node`` (included)."""
    chain = []
    top = node.kconfig.top_node
    while node is not None and node is not top:
        chain.append(node)
        node = node.parent
    chain.reverse()
    return chain


def best_node(sym: Symbol | Choice) -> MenuNode | None:
    """The definition to jump to: the first visible one with a prompt, else the first one."""
    nodes = list(sym.nodes)
    for node in nodes:
        if is_visible(node):
            return node
    for node in nodes:
        if node.prompt:
            return node
    return nodes[0] if nodes else None


def reachable(node: MenuNode) -> bool:
    """True when ``node`` is shown without show-all: it and every parent are shown."""
    for step in path_to(node):
        if not (is_visible(step) or (step.list is not None and has_children(step, False))):
            return False
    return True


def next_value(node: MenuNode) -> str | None:
    """What space does to a bool/tristate, as menuconfig does: the next assignable value.

    A choice option is selected (set to y); anything else that cannot change gives None.
    """
    item = node.item
    if not isinstance(item, Symbol) or item.orig_type not in (BOOL, TRISTATE):
        return None
    if is_choice_option(item):
        return "y" if item.choice.selection is not item else None
    assignable = item.assignable
    if len(assignable) <= 1:
        return None
    current = item.tri_value
    if current in assignable:
        index = assignable.index(current)
        nxt = assignable[(index + 1) % len(assignable)]
    else:
        nxt = assignable[0]
    return ("n", "m", "y")[nxt]
