"""The fewest assignments that turn one configuration (the base) into another (the target).

A user who tunes a kernel changes a handful of options; the ``.config`` then differs from its
base in hundreds of lines, because Kconfig follows each choice with defaults, selects,
implies and dependencies. A preset (or a merge fragment) should hold only the choices.

The criterion is the one ``make savedefconfig`` uses against the defaults, taken against a
base instead: with every other symbol at its target value, a symbol is *held* when putting
its base user value back (or none, if the base has none) would change its own value. Kconfig
computes a symbol from its dependencies and its own user value only, and the dependency graph
has no cycles, so by induction over that graph the held symbols, set on top of the base, give
the target back exactly; and each one is needed, since without it its own value changes.
Choices are held by their selection: the selected option is held when the base's user
selection would select another. One more is kept for the kernel's own tools: an int or hex
value whose base value is out of its range now (see ``_out_of_range``).

``minimal_assignments`` proves the result by re-applying it to the base and comparing
``.config`` texts; anything the proof finds missing is added (it never was on the kernels
tested), and what still differs is returned so that callers can refuse to write a lie.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kconfiglib

from ukl_tui.kconfig.dotconfig import parse_text

if TYPE_CHECKING:
    from ukl_tui.kconfig.model import Tree

#: ``Tree.snapshot()``: the user values of symbols and choices of one configuration.
Snapshot = Mapping[str, Any]


@contextlib.contextmanager
def _quiet(kconf: kconfiglib.Kconfig) -> Iterator[None]:
    """No kconfiglib warnings while values are evaluated under hypothetical user values."""
    saved = kconf.warn
    kconf.warn = False
    try:
        yield
    finally:
        kconf.warn = saved


def _forget(sym: kconfiglib.Symbol) -> None:
    """Drop the symbol's own cached value (not its dependents': they are restored unchanged)."""
    sym._cached_str_val = None
    sym._cached_tri_val = None


def _out_of_range(sym: kconfiglib.Symbol, value: object) -> bool:
    """A base user value the active ``range`` refuses, on a visible int or hex symbol.

    kconfiglib then uses the default; the C tools reset it too, but only after symbols that
    depend on it were computed with it (scripts/kconfig/confdata.c conf_read: "Reset a
    string value if it's out of range", after the sym_calc_value loop): on Linux 6.1,
    ``NR_CPUS=1`` left over from a UP base kept TASKS_TRACE_RCU_READ_MB at y in an SMP
    merge. Setting the value explicitly keeps the stale one out of the kernel's merge.
    """
    if not isinstance(value, str) or sym.orig_type not in (kconfiglib.INT, kconfiglib.HEX):
        return False
    if not sym.visibility:
        return False
    base = 16 if sym.orig_type is kconfiglib.HEX else 10
    for low, high, cond in sym.ranges:
        if kconfiglib.expr_value(cond):
            try:
                return not int(low.str_value, base) <= int(value, base) <= int(high.str_value, base)
            except ValueError:
                return False
    return False


def held_symbols(tree: Tree, base: Snapshot) -> dict[str, str]:
    """Symbol -> current value, for each symbol whose own user value holds it against ``base``."""
    return {name: now for name, (now, _) in held_with_alternatives(tree, base).items()}


def held_with_alternatives(tree: Tree, base: Snapshot) -> dict[str, tuple[str, str]]:
    """Symbol -> (current value, the value it would follow to with the base's user value).

    The tree is in the target state. Each symbol is evaluated once with the base's user value
    in place of its own, every other symbol keeping its cached target value, then put back:
    linear in the number of symbols, with no cascade of invalidations. A choice's option
    follows to "n" when the base's selection would pick another.
    """
    kconf = tree.kconf
    base_syms: Mapping[str, Any] = base["syms"]
    held: dict[str, tuple[str, str]] = {}
    with _quiet(kconf):
        for sym in kconf.unique_defined_syms:
            if not sym.orig_type:
                continue
            mine = sym.user_value
            theirs = base_syms.get(sym.name)
            if mine == theirs:
                continue
            now = sym.str_value
            sym.user_value = theirs
            _forget(sym)
            try:
                other = sym.str_value
            finally:
                sym.user_value = mine
                _forget(sym)
                sym.str_value  # noqa: B018  (recomputes the value and its _write_to_conf)
            if other != now or _out_of_range(sym, theirs):
                held[sym.name] = (now, other)
        # Linux 6.11+ picks a choice's member by the members' priority (compat.py): the
        # base's ranking goes in with its user values, or the selection would not move.
        ranks: dict[Any, list[Any]] | None = getattr(kconf, "_priority", None)
        base_ranks: Mapping[int, list[str]] = base.get("priority", {})  # type: ignore[assignment]
        for index, choice in enumerate(kconf.unique_choices):
            selected = choice.selection
            if selected is None:
                continue
            mode, name = base["choices"].get(index, (None, None))
            theirs_sel = kconf.syms[name] if name else None
            mine_rank = None if ranks is None else ranks.get(choice)
            theirs_rank = [kconf.syms[n] for n in base_ranks.get(index, [])]
            same_rank = ranks is None or (mine_rank or []) == theirs_rank
            if (choice.user_value, choice.user_selection) == (mode, theirs_sel) and same_rank:
                continue
            mine_mode, mine_sel = choice.user_value, choice.user_selection
            choice.user_value, choice.user_selection = mode, theirs_sel
            members = {sym: sym.user_value for sym in choice.syms}
            if ranks is not None:
                # the ranking is read with the members' own user values: the base's, too
                ranks[choice] = theirs_rank
                for sym in members:
                    sym.user_value = base_syms.get(sym.name)
            choice._cached_selection = kconfiglib._NO_CACHED_SELECTION
            try:
                other_sel = choice.selection
            finally:
                choice.user_value, choice.user_selection = mine_mode, mine_sel
                for sym, value in members.items():
                    sym.user_value = value
                if ranks is not None:
                    if mine_rank is None:
                        ranks.pop(choice, None)
                    else:
                        ranks[choice] = mine_rank
                choice._cached_selection = kconfiglib._NO_CACHED_SELECTION
            if other_sel is not selected:
                held[selected.name] = ("y", "n")
    # Definition order is menu order: keep it, so presets read like menuconfig.
    order = {sym.name: i for i, sym in enumerate(kconf.unique_defined_syms)}
    return dict(sorted(held.items(), key=lambda item: order[item[0]]))


def config_values(text: str) -> dict[str, str]:
    """Symbol -> value as written in a ``.config`` text (``n`` for "is not set")."""
    return parse_text(text, Path(".config")).values()


@dataclass
class Minimal:
    """The assignments, and what re-applying them to the base did not give back (if any)."""

    assignments: dict[str, str]
    unreproduced: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    added_by_proof: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Applying the assignments to the base gives the target, symbol for symbol."""
        return not self.unreproduced


def minimal_assignments(tree: Tree, base: Snapshot, rounds: int = 3) -> Minimal:
    """The held symbols of the tree's current configuration against ``base``, proven.

    The proof restores ``base``, sets the assignments as a preset would (``Tree.set_many``)
    and compares the written ``.config`` with the target's; the tree is left in the target
    state whatever happens.
    """
    target_snap = tree.snapshot()
    target = config_values(tree.config_text())
    assignments = held_symbols(tree, base)
    result = Minimal(assignments)
    try:
        for _ in range(rounds):
            tree.restore(base)
            tree.set_many(assignments)
            got = config_values(tree.config_text())
            wrong = {
                name: (got.get(name), target.get(name))
                for name in dict.fromkeys([*target, *got])
                if got.get(name) != target.get(name)
            }
            result.unreproduced = wrong
            fixable = [n for n, (_, want) in wrong.items() if want is not None and tree.has(n)]
            fixable = [n for n in fixable if n not in assignments]
            if not wrong or not fixable:
                break
            for name in fixable:
                assignments[name] = target[name]
                result.added_by_proof.append(name)
    finally:
        tree.restore(target_snap)
    return result


__all__ = [
    "Minimal",
    "Snapshot",
    "config_values",
    "held_symbols",
    "held_with_alternatives",
    "minimal_assignments",
]
