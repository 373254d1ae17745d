"""Two configurations compared the way a person asks: what was chosen, and what followed.

``scripts/diffconfig`` lists every line that differs; after one ``NET_VENDOR_INTEL=n`` that is
a dozen lines with no hint that eleven of them are consequences. Here each difference is
either a *choice* (the second configuration's own user value holds it: ``kconfig.minimal``'s
criterion, taken against the first configuration) or a *consequence* that follows from other
differences, with the reason: selected (or no longer selected) by, implied by, a default, a
dependency turned off or on, another option of a choice selected. Consequences hang under
their cause; the top level is grouped by menu, with prompts.

Values are compared as the kernel writes them after ``make olddefconfig`` (both files are
read through the model), so a minimal file and a full one compare by meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kconfiglib import (
    AND,
    BOOL,
    MENU,
    OR,
    TRISTATE,
    TYPE_TO_STR,
    Choice,
    Symbol,
    expr_items,
    expr_value,
    split_expr,
)

from ukl_tui.kconfig.arch import check_arch
from ukl_tui.kconfig.minimal import config_values, held_with_alternatives

if TYPE_CHECKING:
    from ukl_tui.kconfig.model import Tree

Kind = Literal["choice", "consequence"]


@dataclass
class Difference:
    """One symbol that differs (or a choice that keeps a value the other changes would move)."""

    name: str
    prompt: str
    menu: str
    old: str | None  # as written in A's .config; None: not written
    new: str | None
    kind: Kind
    reason: str
    causes: tuple[str, ...] = ()
    children: list[Difference] = field(default_factory=list)
    order: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` (children by name, under ``caused``)."""
        return {
            "name": self.name,
            "prompt": self.prompt,
            "menu": self.menu,
            "old": self.old,
            "new": self.new,
            "kind": self.kind,
            "reason": self.reason,
            "causes": list(self.causes),
            "caused": [c.name for c in self.children],
        }


def _show(value: str | None) -> str:
    return "not set" if value is None else value if value else '""'


@dataclass
class Comparison:
    """The differences from A to B, the choices as assignments, and the tree of causes."""

    a: str
    b: str
    differences: list[Difference]
    roots: list[Difference]
    choices: dict[str, str]
    types: dict[str, str] = field(default_factory=dict)  # Kconfig type of each choice

    @property
    def consequences(self) -> list[Difference]:
        """The differences that follow from others."""
        return [d for d in self.differences if d.kind == "consequence"]

    def groups(self) -> list[tuple[str, list[Difference]]]:
        """Top-level differences by menu, in menu order."""
        out: dict[str, list[Difference]] = {}
        for diff in sorted(self.roots, key=lambda d: d.order):
            out.setdefault(diff.menu, []).append(diff)
        return list(out.items())

    def lines(self) -> list[str]:
        """The text report: menus, then choices with their consequences indented beneath."""
        width = max((len(d.name) for d in self.differences), default=10) + 2
        width = min(width, 40)
        out: list[str] = []

        def emit(diff: Difference, depth: int, seen: set[str]) -> None:
            pad = "  " * depth
            values = f"{_show(diff.old)} -> {_show(diff.new)}"
            tag = "choice     " if diff.kind == "choice" else "consequence"
            text = f"{pad}  {tag} {diff.name:<{width}} {values:<18} {diff.reason}"
            if diff.prompt and diff.kind == "choice":
                text += f"  ({diff.prompt})"
            out.append(text.rstrip())
            seen.add(diff.name)
            for child in sorted(diff.children, key=lambda d: d.order):
                if child.name not in seen:
                    emit(child, depth + 1, seen)

        for menu, diffs in self.groups():
            out.append(menu)
            for diff in diffs:
                emit(diff, 0, set())
        changed = [d for d in self.differences if d.old != d.new]
        chosen = sum(d.kind == "choice" for d in self.differences)
        out.append(
            f"{len(changed)} difference(s): {chosen} choice(s), "
            f"{len(self.consequences)} consequence(s)"
        )
        return out

    def fragment(self) -> str:
        """The choices as a ``merge_config.sh`` fragment: A plus this fragment gives B."""
        from ukl_tui.presets import fragment_line

        out = [f"# ukl-tui diff: what turns {self.a} into {self.b}"]
        out += [fragment_line(n, v, self.types.get(n)) for n, v in self.choices.items()]
        return "\n".join(out) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "a": self.a,
            "b": self.b,
            "differences": [d.to_dict() for d in sorted(self.differences, key=lambda d: d.order)],
            "choices": self.choices,
        }


# ----- reading the model in one state ---------------------------------------------------------


@dataclass(frozen=True)
class _State:
    """What the reasons need of one symbol in one configuration."""

    tri: int
    dep: int
    vis: int
    selected_by: tuple[tuple[str, tuple[str, ...]], ...]  # active selects: selector, symbols
    implied_by: tuple[tuple[str, tuple[str, ...]], ...]
    selection: str | None  # for a choice option: the choice's selection


def _active(expr: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each OR-term of a select/imply expression that is active now: (selector, its symbols)."""
    terms = []
    for part in split_expr(expr, OR):
        if isinstance(part, Symbol) and part.is_constant:
            continue
        if expr_value(part):
            head = split_expr(part, AND)[0]
            if isinstance(head, Symbol):
                terms.append((head.name, tuple(_items([part]))))
    return tuple(terms)


def _state(sym: Symbol) -> _State:
    selection = None
    if sym.choice is not None and sym.choice.selection is not None:
        selection = sym.choice.selection.name
    tri = sym.tri_value if sym.orig_type in (BOOL, TRISTATE) else 0
    return _State(
        tri=tri,
        dep=expr_value(sym.direct_dep),
        vis=sym.visibility,
        selected_by=_active(sym.rev_dep),
        implied_by=_active(sym.weak_rev_dep),
        selection=selection,
    )


def _items(exprs: Iterable[object]) -> list[str]:
    names: list[str] = []
    for expr in exprs:
        for item in expr_items(expr):
            if isinstance(item, Symbol) and not item.is_constant and item.name not in names:
                names.append(item.name)
    return names


def _menu_path(sym: Symbol | Choice) -> str:
    node = sym.nodes[0] if sym.nodes else None
    parts: list[str] = []
    parent = node.parent if node is not None else None
    top = sym.kconfig.top_node
    while parent is not None and parent is not top:
        if parent.prompt and (parent.item is MENU or isinstance(parent.item, Symbol | Choice)):
            parts.append(" ".join(parent.prompt[0].split()))
        parent = parent.parent
    return " > ".join(reversed(parts)) or "(top level)"


def _prompt(sym: Symbol) -> str:
    return next((" ".join(n.prompt[0].split()) for n in sym.nodes if n.prompt), "")


Terms = tuple[tuple[str, tuple[str, ...]], ...]


def _reverse(
    verb: str, before: Terms, after: Terms, among: Callable[[Iterable[str]], tuple[str, ...]]
) -> tuple[str, tuple[str, ...]]:
    """``selected by X`` / ``no longer implied by X (COND)``: the terms that changed."""
    gained = [t for t in after if t not in before]
    changed = gained or [t for t in before if t not in after]
    causes = among(n for _, items in changed for n in items)
    heads = ", ".join(head for head, _ in changed)
    others = [c for c in causes if c not in heads.split(", ")]
    text = f"{verb} by {heads}" if gained else f"no longer {verb} by {heads}"
    return text + (f" ({', '.join(others)})" if others else ""), causes


def _reason(sym: Symbol, a: _State, b: _State, differing: set[str]) -> tuple[str, tuple[str, ...]]:
    """Why ``sym`` changed, from the two states; causes are other differing symbols."""

    def among(names: Iterable[str]) -> tuple[str, ...]:
        return tuple(n for n in names if n in differing and n != sym.name)

    if sym.choice is not None and a.selection != b.selection:
        picked = b.selection or "none"
        return f"choice: {picked} selected instead", among([b.selection or ""]) or among(
            _items([sym.choice.direct_dep])
        )
    if b.selected_by != a.selected_by:
        return _reverse("selected", a.selected_by, b.selected_by, among)
    if bool(a.dep) != bool(b.dep) or bool(a.vis) != bool(b.vis):
        deps = among(_items([sym.direct_dep, *(n.prompt[1] for n in sym.nodes if n.prompt)]))
        named = f" ({', '.join(deps)})" if deps else ""
        if not b.dep or not b.vis:
            return f"dependency turned off{named}", deps
        return f"dependency turned on{named}, then its default", deps
    if b.implied_by != a.implied_by:
        return _reverse("implied", a.implied_by, b.implied_by, among)
    defaults = among(_items([e for d in sym.defaults for e in d]))
    return (f"default (follows {', '.join(defaults)})" if defaults else "default"), defaults


def compare(tree: Tree, a: Path, b: Path | None = None, *, keep_values: bool = True) -> Comparison:
    """Compare configuration file ``a`` with file ``b`` (see the module docstring), or with
    the tree's current values when ``b`` is None (the wizard's diff against any file).

    B is read first, then A (the differences are known once both texts are, so A's side of
    each is read while A is loaded), then B again for what B holds against A. With
    ``keep_values`` the tree ends with the values it had (the wizard keeps its session;
    comparing with the current values then costs one load of A and one restore).
    """
    check_arch([a] if b is None else [b, a])
    kconf = tree.kconf
    saved = tree.snapshot()
    try:
        if b is not None:
            tree.load_values(b)
        snap_b = tree.snapshot() if b is not None else saved
        new = config_values(tree.config_text())
        tree.load_values(a)
        snap_a = tree.snapshot()
        old = config_values(tree.config_text())
        names = [n for n in dict.fromkeys([*new, *old]) if old.get(n) != new.get(n)]
        symbols = [kconf.syms[n] for n in names if n in kconf.syms]
        before = {s.name: _state(s) for s in symbols}
        tree.restore(snap_b)
        held = held_with_alternatives(tree, snap_a)
        after = {s.name: _state(s) for s in symbols}
    finally:
        if keep_values and (b is not None or tree.snapshot() != saved):
            tree.restore(saved)
    differing = set(names)
    order = {sym.name: i for i, sym in enumerate(kconf.unique_defined_syms)}
    diffs: dict[str, Difference] = {}
    for name in [*names, *(n for n in held if n not in differing)]:
        sym = kconf.syms[name]
        if name in held:
            now, other = held[name]
            kept = old.get(name) == new.get(name)
            if other == now:  # see minimal._out_of_range
                reason = "restated (A's value is out of its range)"
            else:
                reason = f"kept (would become {_show(other)})" if kept else "set directly"
            kind: Kind = "choice"
            causes: tuple[str, ...] = ()
        else:
            kind = "consequence"
            reason, causes = _reason(sym, before[name], after[name], differing)
        diffs[name] = Difference(
            name=name,
            prompt=_prompt(sym),
            menu=_menu_path(sym),
            old=old.get(name),
            new=new.get(name),
            kind=kind,
            reason=reason,
            causes=causes,
            order=order.get(name, len(order)),
        )
    roots = _hang(diffs)
    choices = {name: now for name, (now, _) in held.items()}
    types = {name: TYPE_TO_STR[kconf.syms[name].orig_type] for name in choices}
    label = "the current values" if b is None else str(b)
    return Comparison(str(a), label, list(diffs.values()), roots, choices, types)


def _hang(diffs: dict[str, Difference]) -> list[Difference]:
    """Put each consequence under its first cause; what has none (or would loop) is a root."""
    parent: dict[str, str] = {}
    for diff in diffs.values():
        if diff.kind == "consequence":
            cause = next((c for c in diff.causes if c in diffs), None)
            if cause is not None:
                parent[diff.name] = cause
    roots = []
    for diff in diffs.values():
        seen = {diff.name}
        up = parent.get(diff.name)
        while up is not None and up not in seen:
            seen.add(up)
            up = parent.get(up)
        if up is not None:  # a loop through this node: keep it at the top
            parent.pop(diff.name, None)
        if diff.name in parent:
            diffs[parent[diff.name]].children.append(diff)
        else:
            roots.append(diff)
    return roots


__all__ = ["Comparison", "Difference", "compare"]
