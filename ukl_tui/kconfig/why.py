"""Why a symbol has the value it has, in words a newcomer can act on.

kconfiglib gives the raw material (direct dependencies, prompt conditions, ``select`` and
``imply`` reverse dependencies, defaults); this module splits it into terms, evaluates
each one, and keeps only what actually constrains the value: the ``!RANDOMIZE_BASE`` that
holds UNIKERNEL_LINUX at n, the driver that selects a symbol you tried to turn off. Each
blocking term carries a fix where one assignment would lift it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import kconfiglib
from kconfiglib import (
    AND,
    BOOL,
    HEX,
    INT,
    OR,
    TRI_TO_STR,
    TRISTATE,
    TYPE_TO_STR,
    Choice,
    Symbol,
    expr_items,
    expr_str,
    expr_value,
    split_expr,
)

_TRI = {"n": 0, "m": 1, "y": 2}


def show_value(value: str) -> str:
    """Show an empty string value as a pair of quotes, so it is visible."""
    return value if value else '""'


@dataclass(frozen=True)
class Term:
    """One term of a dependency expression, evaluated now."""

    expr: str
    value: str  # n / m / y
    symbols: tuple[tuple[str, str], ...]  # (name, current value) of the symbols in the term
    fix: tuple[tuple[str, str], ...] = ()  # assignments that would satisfy the term

    def describe(self) -> str:
        """``!RANDOMIZE_BASE (RANDOMIZE_BASE is y)``."""
        vals = ", ".join(f"{name} is {show_value(value)}" for name, value in self.symbols)
        return f"{self.expr} ({vals})" if vals else self.expr


@dataclass(frozen=True)
class Reverse:
    """A symbol that selects or implies this one, with the condition of that select."""

    symbol: str
    condition: str
    active: bool


@dataclass(frozen=True)
class Default:
    """One ``default`` line: the value and its condition, and whether it applies now."""

    value: str
    condition: str
    active: bool


@dataclass
class Explanation:
    """Everything ``ukl-tui explain`` prints and the TUI's symbol panel shows."""

    name: str
    kind: str  # "symbol" / "choice"
    type: str
    value: str
    prompt: str | None
    defined_at: list[str]
    visible: bool
    assignable: tuple[str, ...]
    direct_deps: list[Term]
    blockers: list[Term] = field(default_factory=list)
    want: str | None = None
    selected_by: list[Reverse] = field(default_factory=list)
    implied_by: list[Reverse] = field(default_factory=list)
    defaults: list[Default] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    help: str = ""
    summary: str = ""

    def fixes(self) -> dict[str, str]:
        """One assignment per blocking term that has a simple fix (the TUI's one-key fix)."""
        out: dict[str, str] = {}
        for term in self.blockers:
            out.update(dict(term.fix))
        return out

    def fix_assignments(self) -> dict[str, str]:
        """What the one-key fix sets: the blocking terms' fixes, then the value wanted."""
        fixes = self.fixes()
        if fixes and self.want is not None and self.name not in fixes:
            fixes[self.name] = self.want
        return fixes

    def lines(self) -> list[str]:
        """Plain text lines for the command line."""
        out = [f"{self.name} = {show_value(self.value)}  ({self.type})"]
        if self.prompt:
            out.append(f"  prompt:      {self.prompt}")
        out.append(f"  defined at:  {', '.join(self.defined_at) or '(not defined)'}")
        if self.assignable:
            out.append(f"  can be set:  {' / '.join(self.assignable)}")
        out.append(f"  {self.summary}")
        if self.direct_deps:
            out.append("  depends on:")
            out.extend(
                f"    {'ok ' if t.value != 'n' else 'NO '} {t.describe()}" for t in self.direct_deps
            )
        if self.blockers:
            out.append(f"  why it cannot be {self.want}:")
            out.extend(f"    - {t.describe()}" for t in self.blockers)
            fixes = self.fixes()
            if fixes:
                out.append("  fix: " + " ".join(f"{k}={v}" for k, v in fixes.items()))
        for title, reverses in (("selected by", self.selected_by), ("implied by", self.implied_by)):
            if reverses:
                out.append(f"  {title}:")
                out.extend(
                    f"    {'on ' if r.active else 'off'} {r.symbol}" + _if(r.condition)
                    for r in reverses
                )
        if self.defaults:
            out.append("  defaults:")
            out.extend(
                f"    {'->' if d.active else '  '} {d.value}" + _if(d.condition)
                for d in self.defaults
            )
        if self.ranges:
            out.append(f"  range:       {'; '.join(self.ranges)}")
        return out


def _if(condition: str) -> str:
    """`` if COND`` for a condition that is not always true."""
    return f" if {condition}" if condition != "y" else ""


def _tri(value: int) -> str:
    return TRI_TO_STR[value]


def _term(expr: object) -> Term:
    symbols = tuple(
        (item.name, item.str_value)
        for item in dict.fromkeys(expr_items(expr))
        if isinstance(item, Symbol) and not item.is_constant
    )
    fix: tuple[tuple[str, str], ...] = ()
    if isinstance(expr, Symbol) and not expr.is_constant:
        fix = ((expr.name, "y"),)
    elif (
        isinstance(expr, tuple)
        and expr[0] is kconfiglib.NOT
        and isinstance(expr[1], Symbol)
        and not expr[1].is_constant
    ):
        fix = ((expr[1].name, "n"),)
    elif (
        isinstance(expr, tuple)
        and expr[0] is kconfiglib.EQUAL
        and isinstance(expr[1], Symbol)
        and isinstance(expr[2], Symbol)
        and expr[2].is_constant
    ):
        fix = ((expr[1].name, expr[2].name),)
    return Term(expr_str(expr), _tri(expr_value(expr)), symbols, fix)


def _and_terms(expr: object) -> list[Term]:
    if expr is None:
        return []
    return [_term(part) for part in split_expr(expr, AND) if not _is_y(part)]


def _is_y(expr: object) -> bool:
    return isinstance(expr, Symbol) and expr.is_constant and expr.name == "y"


def _reverse(expr: object) -> list[Reverse]:
    out = []
    for part in split_expr(expr, OR):
        if isinstance(part, Symbol) and part.is_constant:
            continue
        terms = split_expr(part, AND)
        selector = terms[0]
        cond = terms[1:]
        name = selector.name if isinstance(selector, Symbol) else expr_str(selector)
        cond_str = " && ".join(expr_str(c) for c in cond) or "y"
        out.append(Reverse(name, cond_str, expr_value(part) > 0))
    return out


def _type_name(item: Symbol | Choice) -> str:
    return TYPE_TO_STR[item.orig_type] if item.orig_type else "unknown"


def explain(sym: Symbol, want: str | None = None) -> Explanation:
    """Explain ``sym``; with ``want`` also why that value cannot be had (blockers, fixes)."""
    prompts = [node.prompt[0] for node in sym.nodes if node.prompt]
    visible = sym.visibility > 0
    value = sym.str_value
    exp = Explanation(
        name=sym.name,
        kind="symbol",
        type=_type_name(sym),
        value=value,
        prompt=prompts[0] if prompts else None,
        defined_at=[f"{node.filename}:{node.linenr}" for node in sym.nodes],
        visible=visible,
        assignable=tuple(_tri(v) for v in sym.assignable),
        direct_deps=_and_terms(sym.direct_dep),
        want=want,
        selected_by=_reverse(sym.rev_dep),
        implied_by=_reverse(sym.weak_rev_dep),
        defaults=[Default(expr_str(val), expr_str(cond), False) for val, cond in sym.defaults],
        help="\n\n".join(node.help for node in sym.nodes if node.help),
    )
    for i, (_, cond) in enumerate(sym.defaults):
        if expr_value(cond):
            exp.defaults[i] = Default(exp.defaults[i].value, exp.defaults[i].condition, True)
            break
    if sym.orig_type in (INT, HEX):
        exp.ranges = [
            f"{low.str_value}..{high.str_value}" + (f" if {expr_str(c)}" if not _is_y(c) else "")
            for low, high, c in sym.ranges
        ]
    if not sym.nodes:
        exp.summary = f"{sym.name} is referenced but never defined in this tree."
        return exp
    if want is None and sym.orig_type in (BOOL, TRISTATE):
        # Explain the other end: what keeps it from being y (if n) or from being n (if y).
        want = "y" if value == "n" else "n" if not visible or 0 not in sym.assignable else None
        exp.want = want
    exp.blockers = _blockers(sym, want) if want is not None else []
    exp.summary = _summary(sym, exp)
    return exp


def _blockers(sym: Symbol, want: str) -> list[Term]:
    if sym.orig_type not in (BOOL, TRISTATE):
        if sym.visibility:
            return []
        return _invisible_terms(sym)
    level = _TRI.get(want)
    if level is None:
        return []
    current = sym.tri_value
    if level > current:
        terms = [t for t in _and_terms(sym.direct_dep) if _TRI[t.value] < level]
        if not terms and sym.visibility < level:
            terms = _invisible_terms(sym, level)
        if level == 1 and sym.kconfig.modules.tri_value == 0:
            terms.append(_term(sym.kconfig.modules))
        return terms
    if level < current:
        return [
            _select_term(part) for part in split_expr(sym.rev_dep, OR) if expr_value(part) > level
        ]
    return []


def _select_term(part: object) -> Term:
    """A ``select`` that forces a value: the fix is turning the selecting symbol off.

    ``_term`` would suggest making the term true, which is backwards here; and a selector
    without a prompt (e.g. X86) cannot be turned off at all, so it gets no fix.
    """
    term = _term(part)
    selector = split_expr(part, AND)[0]
    fix: tuple[tuple[str, str], ...] = ()
    if isinstance(selector, Symbol) and not selector.is_constant and 0 in selector.assignable:
        fix = ((selector.name, "n"),)
    return Term(term.expr, term.value, term.symbols, fix)


def _invisible_terms(sym: Symbol, level: int = 1) -> list[Term]:
    terms: list[Term] = []
    for node in sym.nodes:
        if node.prompt:
            terms.extend(t for t in _and_terms(node.prompt[1]) if _TRI[t.value] < level)
    return terms


def _summary(sym: Symbol, exp: Explanation) -> str:
    name, value = sym.name, exp.value
    if not any(node.prompt for node in sym.nodes):
        src = "its defaults" + (" and the symbols that select it" if exp.selected_by else "")
        return f"{name} has no prompt: its value ({show_value(value)}) comes only from {src}."
    if exp.blockers and exp.want:
        blocked = "; ".join(t.describe() for t in exp.blockers)
        if _TRI.get(exp.want, 0) < sym.tri_value and sym.orig_type in (BOOL, TRISTATE):
            return f"{name} cannot be {exp.want}: it is forced on by {blocked}."
        return f"{name} cannot be {exp.want}: it depends on {blocked}."
    if not exp.visible:
        return f"{name} is hidden: its dependencies are not met."
    if sym.choice is not None:
        return f"{name} is one option of a choice; selecting it deselects the others."
    if sym.user_value is not None:
        return f"{name} is {show_value(value)} because it was set (in the .config or here)."
    return f"{name} is {show_value(value)} by default."


def value_type(sym: Symbol) -> str:
    """The type of a symbol as Kconfig names it (bool, tristate, string, int, hex)."""
    return _type_name(sym)


__all__ = ["Default", "Explanation", "Reverse", "Term", "explain", "value_type"]
