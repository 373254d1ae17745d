"""Compatibility of kconfiglib 14.1.0 (the last release) with the tree's own C configurator.

kconfiglib stopped in 2020; Linux kept going. Rather than fork it, this module adapts it in
two ways.

Syntax. ``CompatKconfig`` rewrites the few newer constructs while the files are read,
keeping line numbers intact:

* ``modules`` (Linux 5.13+): the bare attribute replaced ``option modules``. It is rewritten
  to ``option modules``, which kconfiglib already understands.
* ``transitional`` (Linux 6.18+): marks a symbol kept only to migrate old ``.config`` files.
  Such a symbol is invisible, is never written out, but the value an old ``.config`` gives it
  feeds other symbols' defaults. The attribute line is blanked, the symbol is remembered in
  ``transitional_syms``, and ``model.Tree`` honours the rest.

Help text is skipped while rewriting, so a help line that reads "modules" stays text.

Semantics. Where the C code of the tree differs from kconfiglib, the tree wins. ``CRules``
records which rules the tree's ``scripts/kconfig/symbol.c`` and ``confdata.c`` follow
(read from the files themselves, so a fork or a future kernel is judged by its own code),
and kconfiglib's ``Symbol``/``Choice`` methods are wrapped to follow them; Kconfig objects
that are not ``CompatKconfig`` keep kconfiglib's behaviour. The rules, with the C lines
they follow (line numbers of Debian's linux-source-6.1 / 6.12):

* ``imply`` keeps m (``imply_keeps_m``). kconfiglib still promotes a tristate whose
  ``imply`` source is y from m to y (the rule of the 4.x kernels). In 6.1 / 6.12
  ``sym_calc_value`` takes a visible symbol's user value as it is (``goto calc_newval``,
  symbol.c:397 / 453, skips the imply), ORs ``implied.tri`` into the default and ANDs the
  result with the direct dependencies (symbol.c:410-415 / 466-471), and promotes m to y only
  for bool (symbol.c:422 / 478). The assignable range, ``sym_tristate_within_range``
  (symbol.c:490-507 / 528-543), is ``rev_dep.tri <= val <= visible`` with no imply term, so
  ``explain`` offers n / m / y. ``sym_get_string_default`` (savedefconfig, symbol.c:757 /
  825) lifts the default to ``implied.tri``, which kconfiglib already does. The C code also
  sets SYMBOL_WRITE whenever ``implied.tri`` is not n, so such a symbol is written as
  ``# CONFIG_X is not set`` even when its dependencies are off (e.g.
  IMA_SECURE_AND_OR_TRUSTED_BOOT on x86_64 defconfig); kconfiglib does not.
* Choice members depend on the choice's dependencies (``choice_deps_direct``), not on the
  choice itself (6.12 ``_menu_finalize``, menu.c:294-316; 6.1 menu.c:318-323): see
  ``_propagate_deps``.
* Choices by priority (``choice_priority``, Linux 6.11+; 6.12 ``sym_calc_choice``,
  symbol.c:276-358, and confdata.c:481). Every choice member read from a .config (y or n)
  moves to the front of the choice's priority list; the selection is the first visible
  member whose value is y, else the default unless it was explicitly set to n, else the
  first visible member without a value, else the least recently set visible one. kconfiglib
  follows the older code (6.1 ``sym_calc_choice``, symbol.c:273-303): the user's y member
  or the default, ignoring n. On 6.12's x86_64 defconfig (``# CONFIG_INTEL_IOMMU_DEFAULT_ON
  is not set``) the two differ.
* int/hex start at 0 (``int_hex_zero``; 6.12 symbol.c:408-414 and 836-842): an int or hex
  symbol with no active default is ``0`` / ``0x0`` (6.1 and kconfiglib: empty).
* Out-of-range user values are clamped (``clamp_user_value``): 6.12's ``conf_read`` no
  longer drops an int/hex user value outside the active range (6.1 confdata.c:565-586 did,
  falling back on the default, as kconfiglib does); ``sym_validate_range`` (6.12
  symbol.c:148-178) then sets it to the nearer bound.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kconfiglib
from kconfiglib import BOOL, HEX, INT, TRISTATE, Choice, Symbol, expr_value

_ATTR = re.compile(r"^(\s+)(modules|transitional)\s*(#.*)?$")
_HELP = re.compile(r"^\s*(help|---help---)\s*(#.*)?$")
_CONFIG_START = re.compile(r"^\s*(config|menuconfig)\s+(\S+)")
#: Cheap whole-file test: almost no file needs the line-by-line rewrite.
_ANY_ATTR = re.compile(r"^\s+(?:modules|transitional)\s*(?:#.*)?$", re.M)


def _indent(line: str) -> int:
    return len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())


def rewrite_kconfig(text: str) -> tuple[str, list[tuple[int, str]]]:
    """Rewrite newer attributes; return the new text and (line, symbol) of each transitional."""
    if not _ANY_ATTR.search(text):
        return text, []
    out: list[str] = []
    transitional: list[tuple[int, str]] = []
    current_sym = ""
    in_help = False
    help_indent: int | None = None
    for lineno, line in enumerate(text.splitlines(keepends=True), start=1):
        body = line.rstrip("\n")
        if in_help:
            if not body.strip():
                out.append(line)
                continue
            ind = _indent(body)
            if help_indent is None:
                help_indent = ind
            if ind >= help_indent and help_indent > 0:
                out.append(line)
                continue
            in_help = False
        if _HELP.match(body):
            in_help, help_indent = True, None
            out.append(line)
            continue
        start = _CONFIG_START.match(body)
        if start:
            current_sym = start.group(2)
        attr = _ATTR.match(body)
        if attr:
            if attr.group(2) == "modules":
                out.append(f"{attr.group(1)}option modules\n")
            else:
                transitional.append((lineno, current_sym))
                out.append("\n")
            continue
        out.append(line)
    return "".join(out), transitional


@dataclass(frozen=True)
class CRules:
    """Which of the rules Linux changed a tree's C configurator follows (module docstring)."""

    imply_keeps_m: bool = True
    choice_priority: bool = True
    choice_deps_direct: bool = True
    int_hex_zero: bool = True
    clamp_user_value: bool = True


#: kconfiglib's own behaviour: what its ``Symbol`` and ``Choice`` do unwrapped.
KCONFIGLIB_RULES = CRules(False, False, False, False, False)


def read_c_rules(srctree: Path) -> tuple[CRules, list[str]]:
    """The rules of the tree's own ``scripts/kconfig`` C code, and the files they came from.

    Each rule is recognised by the line that implements it, so a fork or a future kernel
    is judged by its own code. A tree without these files (a trimmed copy, a test
    fixture) gets the newest rules known here (Linux 6.12's).
    """
    kconfig_dir = srctree / "scripts" / "kconfig"
    sources = [kconfig_dir / name for name in ("symbol.c", "confdata.c", "menu.c")]
    try:
        symbol_c, confdata_c, menu_c = (path.read_text(errors="replace") for path in sources)
    except OSError:
        return CRules(), []
    rules = CRules(
        # 4.x: "if (newval.tri == mod && (... || sym->implied.tri == yes))"
        imply_keeps_m=not re.search(r"implied\.tri\s*==\s*yes", symbol_c),
        choice_priority="choice_members" in symbol_c,
        # 6.1 menu_finalize(): "Use the choice itself as the parent dependency"
        choice_deps_direct="parentdep = expr_alloc_symbol(sym);" not in menu_c,
        int_hex_zero=bool(re.search(r'newval\.val\s*=\s*"0"', symbol_c)),
        # 6.1: "Reset a string value if it's out of range" in conf_read()
        clamp_user_value="sym_string_within_range(sym, sym->def[S_DEF_USER].val)" not in confdata_c,
    )
    return rules, [str(path) for path in sources]


def _rules(item: Symbol | Choice) -> CRules:
    return getattr(item.kconfig, "c_rules", KCONFIGLIB_RULES)


# kconfiglib's own implementations, wrapped below; objects of a plain kconfiglib.Kconfig
# (no ``c_rules``) go straight to them.
_sym_tri_value = Symbol.tri_value.fget
_sym_str_value = Symbol.str_value.fget
_sym_assignable = Symbol._assignable
_sym_str_default = Symbol._str_default
_sym_set_value = Symbol.set_value
_sym_unset_value = Symbol.unset_value
_choice_selection = Choice._selection


def _tri_value(sym: Symbol) -> int:
    """``sym_calc_value`` for a bool/tristate that is not a choice member (C code)."""
    cached = sym._cached_tri_val
    if cached is not None:
        return cached
    if sym.choice or sym.orig_type not in (BOOL, TRISTATE) or not _rules(sym).imply_keeps_m:
        return _sym_tri_value(sym)
    is_bool = sym.type is BOOL  # a tristate counts as bool while MODULES is n
    vis = sym.visibility
    write = vis != 0
    if vis and sym.user_value is not None:
        # visible with a user value: that value, capped by the visibility; no imply
        val = min(sym.user_value, vis)
    else:
        val = 0
        for default, cond in sym.defaults:
            cond_val = expr_value(cond)
            if cond_val:
                val = min(expr_value(default), cond_val)
                write = write or val != 0
                break
        implied = expr_value(sym.weak_rev_dep)
        if implied:
            write = True
            if implied == 1 and is_bool:
                implied = 2
            dir_dep = expr_value(sym.direct_dep)
            if dir_dep == 1 and is_bool:
                dir_dep = 2
            val = min(max(val, implied), dir_dep)
    rev_dep = expr_value(sym.rev_dep)
    if rev_dep:
        write = True
        if expr_value(sym.direct_dep) < rev_dep:
            sym._warn_select_unsatisfied_deps()
        val = max(val, rev_dep)
    if val == 1 and is_bool:
        val = 2
    sym._write_to_conf = write
    sym._cached_tri_val = val
    return val


def _number(text: str, base: int) -> int:
    """``strtoll`` on a well-formed value; anything else counts as 0, as kconfiglib does."""
    try:
        return int(text, base)
    except ValueError:
        return 0


def _str_value(sym: Symbol) -> str:
    """An int/hex value as the tree's ``sym_calc_value`` and ``sym_validate_range`` give it."""
    cached = sym._cached_str_val
    if cached is not None:
        return cached
    rules = _rules(sym)
    if sym.orig_type not in (INT, HEX) or not (rules.int_hex_zero or rules.clamp_user_value):
        return _sym_str_value(sym)
    base = 16 if sym.orig_type is HEX else 10
    bounds = None
    for low, high, cond in sym.ranges:
        if expr_value(cond):
            bounds = (low.str_value, high.str_value)
            break
    vis = sym.visibility
    write = vis != 0
    val = None
    user = sym.user_value
    if vis and user is not None:
        number = _number(user, base)
        if (
            rules.clamp_user_value
            or bounds is None
            or _number(bounds[0], base) <= number <= _number(bounds[1], base)
        ):
            val = user
        else:
            sym.kconfig._warn(
                f"user value {user} on the {kconfiglib.TYPE_TO_STR[sym.orig_type]} symbol "
                f"{sym.name_and_loc} ignored due to being outside the active range "
                f"([{bounds[0]}, {bounds[1]}]) -- falling back on defaults"
            )
    if val is None:
        val = ("0" if base == 10 else "0x0") if rules.int_hex_zero else ""
        for default, cond in sym.defaults:
            if expr_value(cond):
                write = True
                val = default.str_value
                break
    if bounds is not None:
        # sym_validate_range: below the range gives the low bound's text, above the high's
        number = _number(val, base)
        if number < _number(bounds[0], base):
            val = bounds[0]
        elif number > _number(bounds[1], base):
            val = bounds[1]
    if sym.env_var is not None or sym is sym.kconfig.defconfig_list:
        write = False
    sym._write_to_conf = write
    sym._cached_str_val = val
    return val


def _assignable(sym: Symbol) -> tuple[int, ...]:
    """The values ``sym_tristate_within_range`` accepts: rev_dep <= value <= visibility."""
    if sym.choice or sym.orig_type not in (BOOL, TRISTATE) or not _rules(sym).imply_keeps_m:
        return _sym_assignable(sym)
    vis = sym.visibility
    if not vis:
        return ()
    is_bool = sym.type is BOOL
    rev_dep = expr_value(sym.rev_dep)
    if rev_dep == 1 and is_bool:
        rev_dep = 2
    return tuple(v for v in (0, 1, 2) if rev_dep <= v <= vis and not (v == 1 and is_bool))


def _str_default(sym: Symbol) -> str:
    """``sym_get_string_default`` (savedefconfig): int/hex without a default are 0 / 0x0."""
    val = _sym_str_default(sym)
    if val == "" and sym.orig_type in (INT, HEX) and _rules(sym).int_hex_zero:
        return "0" if sym.orig_type is INT else "0x0"
    return val


def _set_value(sym: Symbol, value: Any) -> bool:
    """The original ``set_value``; a choice member also moves to the front of its choice."""
    ok = _sym_set_value(sym, value)
    if ok and sym.choice is not None and _rules(sym).choice_priority:
        sym.kconfig.prioritise(sym)
    return ok


def _unset_value(sym: Symbol) -> None:
    """The original ``unset_value``; a choice member also leaves its choice's priority list."""
    had_value = sym.user_value is not None
    _sym_unset_value(sym)
    if had_value and sym.choice is not None and _rules(sym).choice_priority:
        sym.kconfig.forget_priority(sym)


def _selection(choice: Choice) -> Symbol | None:
    """``sym_calc_choice`` of Linux 6.11+ (module docstring), or kconfiglib's own rule."""
    if not _rules(choice).choice_priority:
        return _choice_selection(choice)
    if choice.tri_value != 2:
        return None
    ranked = choice.kconfig.priority(choice)
    for sym in ranked:
        if sym.visibility and sym.user_value == 2:
            return sym
    default = choice._selection_from_defaults()
    if default is not None and default.user_value != 0:
        return default
    for sym in choice.syms:
        if sym.visibility and sym.user_value is None:
            return sym
    for sym in reversed(ranked):
        if sym.visibility:
            return sym
    return None


Symbol.tri_value = property(_tri_value, doc=Symbol.tri_value.__doc__)
Symbol.str_value = property(_str_value, doc=Symbol.str_value.__doc__)
Symbol._assignable = _assignable
Symbol._str_default = _str_default
Symbol.set_value = _set_value
Symbol.unset_value = _unset_value
Choice._selection = _selection


class CompatKconfig(kconfiglib.Kconfig):
    """kconfiglib's Kconfig with the compatibility rewrites described in the module docstring."""

    transitional_syms: set[str]
    c_rules: CRules
    #: The C files ``c_rules`` were read from (the parse cache watches them too).
    c_sources: list[str]
    #: Per choice, the members with a user value, most recently set first.
    _priority: dict[Choice, list[Symbol]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.transitional_syms = set()
        # $srctree as kconfiglib itself reads it (through the sandbox's environment); the
        # parse already needs choice_deps_direct
        srctree = kconfiglib.os.getenv("srctree") or "."
        self.c_rules, self.c_sources = read_c_rules(Path(srctree))
        self._priority = {}
        super().__init__(*args, **kwargs)

    def _propagate_deps(self, node: Any, visible_if: Any) -> None:
        # 6.12 _menu_finalize() (menu.c:294-316): a choice's members get the choice's own
        # dependencies (parent->dep), where 6.1 (menu.c:318-323) and kconfiglib put the
        # choice itself. The two differ where a member selects a tristate: under a choice
        # that depends on an m symbol the select is m in 6.12, y with the choice (y).
        if node.item.__class__ is Choice and self.c_rules.choice_deps_direct:
            node = SimpleNamespace(item=None, dep=node.dep, list=node.list)
        super()._propagate_deps(node, visible_if)

    def _add_choice_deps(self) -> None:
        # Without the choice in their dependencies, members must still be recalculated
        # when the choice's selection changes.
        super()._add_choice_deps()
        if self.c_rules.choice_deps_direct:
            for choice in self.unique_choices:
                choice._dependents.update(choice.syms)

    def priority(self, choice: Choice) -> list[Symbol]:
        """The members of ``choice`` with a user value, most recently set first."""
        return self._priority.get(choice, [])

    def prioritise(self, sym: Symbol) -> None:
        """A member was just given a value: it now ranks first in its choice (the C
        ``list_move`` in conf_read and choice_set_value).
        """
        ranked = self._priority.setdefault(sym.choice, [])
        if sym in ranked:
            ranked.remove(sym)
        ranked.insert(0, sym)
        sym.choice._rec_invalidate()

    def priority_snapshot(self) -> dict[int, list[str]]:
        """Every choice's ranking by name (choice index in ``unique_choices``), for undo."""
        index = {choice: i for i, choice in enumerate(self.unique_choices)}
        return {
            index[c]: [s.name for s in ranked] for c, ranked in self._priority.items() if ranked
        }

    def restore_priority(self, snapshot: dict[int, list[str]]) -> None:
        """Put back the rankings of ``priority_snapshot`` (after the values themselves)."""
        self._priority = {
            self.unique_choices[i]: [self.syms[name] for name in names]
            for i, names in snapshot.items()
        }
        for choice in self.unique_choices:
            choice._rec_invalidate()

    def forget_priority(self, sym: Symbol) -> None:
        """A member lost its user value: it leaves the ranking."""
        ranked = self._priority.get(sym.choice, [])
        if sym in ranked:
            ranked.remove(sym)
        sym.choice._rec_invalidate()

    def _open(self, filename: str, mode: str) -> Any:
        # While Kconfig files are parsed, serve them through the rewriter; .config files
        # and writes go to kconfiglib's own open().
        if mode == "r" and getattr(self, "_parsing_kconfigs", False):
            with open(filename, encoding=self._encoding) as handle:
                text, transitional = rewrite_kconfig(handle.read())
            self.transitional_syms.update(name for _, name in transitional if name)
            return io.StringIO(text)
        return super()._open(filename, mode)

    def _c_tool_write_fixups(self) -> None:
        # The C code's SYMBOL_WRITE for implied symbols (module docstring), where kconfiglib's
        # own tri_value computes the values; _tri_value sets it itself.
        if self.c_rules.imply_keeps_m:
            return
        for sym in self.unique_defined_syms:
            if sym.orig_type not in (kconfiglib.BOOL, kconfiglib.TRISTATE) or sym.choice:
                continue
            sym.str_value  # noqa: B018  (evaluates and caches _write_to_conf)
            if not sym._write_to_conf and kconfiglib.expr_value(sym.weak_rev_dep):
                sym._write_to_conf = True

    def _drop_transitional(self, text: str) -> str:
        if not self.transitional_syms:
            return text
        names = self.transitional_syms
        keep = []
        for line in text.splitlines(keepends=True):
            m = re.match(r"^(?:# )?CONFIG_([A-Za-z0-9_]+)[= ]", line)
            if m and m.group(1) in names:
                continue
            keep.append(line)
        return "".join(keep)

    def _config_contents(self, header: str) -> str:
        self._c_tool_write_fixups()
        return self._drop_transitional(super()._config_contents(header))

    def _min_config_contents(self, header: str) -> str:
        return self._drop_transitional(super()._min_config_contents(header))
