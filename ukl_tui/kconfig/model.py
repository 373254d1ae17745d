"""The Kconfig model every face of ukl-tui reads and edits: a loaded tree plus its .config.

``load_tree`` turns a path into a ``Tree``: it finds the kernel sources (a kernel tree, or
the ``linux/`` submodule of a ukl checkout), recreates kbuild's environment, parses (or
reuses the parse cache), and loads the ``.config`` strictly. ``Tree`` then answers values,
sets them with validation and a read-back (kconfiglib accepts a value for a hidden symbol
and silently keeps the old one), searches, explains, diffs, and writes ``.config`` files
atomically. What it writes matches the kernel's own ``make olddefconfig``.
"""

from __future__ import annotations

import bisect
import gc
import heapq
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import kconfiglib
from kconfiglib import BOOL, HEX, INT, STRING, TRISTATE, Symbol

from ukl_tui import fsutil
from ukl_tui.errors import UserError
from ukl_tui.kconfig import cache
from ukl_tui.kconfig.compat import CompatKconfig
from ukl_tui.kconfig.dotconfig import DotConfig, parse_text, read_dotconfig
from ukl_tui.kconfig.env import kconfig_env
from ukl_tui.kconfig.sandbox import parse_environment, sandboxed
from ukl_tui.kconfig.why import Explanation, Term, explain, show_value
from ukl_tui.paths import cache_dir

SetStatus = Literal["set", "already", "not-stuck"]
Base = Literal[
    "defaults",
    "defconfig",
    "tinyconfig",
    "allnoconfig",
    "allmodconfig",
    "allyesconfig",
    "alldefconfig",
]
_TRI = {"n": 0, "m": 1, "y": 2}
#: The kernel's all*config targets: the level conf_set_all_new_symbols gives every symbol.
_ALL_CONFIGS: dict[str, int | None] = {
    "allnoconfig": 0,
    "allmodconfig": 1,
    "allyesconfig": 2,
    "alldefconfig": None,
}


@dataclass
class SetResult:
    """What happened to one requested value, after the model settled."""

    name: str
    requested: str
    before: str
    after: str
    status: SetStatus
    blockers: list[Term] = field(default_factory=list)
    reason: str = ""

    @property
    def took(self) -> bool:
        """True when the symbol now has the requested value."""
        return self.status != "not-stuck"

    def line(self) -> str:
        """One line for the command line report."""
        if self.status == "set":
            return f"set        {self.name}={self.requested} (was {show_value(self.before)})"
        if self.status == "already":
            return f"already    {self.name}={self.requested}"
        return (
            f"NOT STUCK  {self.name}={self.requested} (is {show_value(self.after)}): {self.reason}"
        )


@dataclass(frozen=True)
class SearchHit:
    """One search result: where the query matched, best matches first."""

    name: str
    prompt: str | None
    field: Literal["name", "prompt", "help"]
    score: int
    value: str


@dataclass(frozen=True)
class Change:
    """One difference between the saved .config and what would be written now."""

    name: str
    old: str | None  # None: not in the saved file
    new: str | None  # None: would not be written


def find_srctree(path: Path) -> Path:
    """The kernel source directory for a path: the path itself or a ukl checkout's linux/."""
    path = path.expanduser()
    if not path.exists():
        raise UserError(f"{path}: no such directory")
    if not path.is_dir():
        raise UserError(f"{path}: not a directory (expected a kernel tree or a ukl checkout)")
    if (path / "configure.ac").is_file() and (path / "linux").is_dir():
        linux = path / "linux"
        if not (linux / "Kconfig").is_file():
            raise UserError(
                f"{path}: ukl checkout whose linux/ submodule is empty "
                "(run: git submodule update --init linux)"
            )
        path = linux
    missing = [n for n in ("Kconfig", "Makefile", "arch/x86/Kconfig") if not (path / n).is_file()]
    if missing:
        raise UserError(
            f"{path}: not a kernel tree (missing {', '.join(missing)}) nor a ukl checkout"
        )
    return path.resolve()


def _top_kconfig(srctree: Path, overlays: tuple[Path, ...]) -> str:
    """The top-level Kconfig to parse: the tree's own, or a wrapper sourcing overlays too.

    The wrapper copies the tree's top-level Kconfig (its ``mainmenu`` must stay the first
    statement for the C tools) and appends ``source`` lines, so the extracted tree is never
    modified. The same wrapper is handed to ``make KBUILD_KCONFIG=...``.
    """
    if not overlays:
        return "Kconfig"
    for overlay in overlays:
        if not overlay.is_file():
            raise UserError(f"{overlay}: no such Kconfig overlay file")
    text = (srctree / "Kconfig").read_text()
    text += "".join(f'\nsource "{overlay.resolve()}"\n' for overlay in overlays)
    digest = cache.cache_key(srctree, text)
    wrapper = cache_dir() / "overlays" / digest / "Kconfig"
    if not wrapper.is_file() or wrapper.read_text() != text:
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        fsutil.write_atomic(wrapper, text, fsync=False)
    return str(wrapper)


def _parse(
    srctree: Path, top: str, use_cache: bool, cc: str | None = None
) -> tuple[CompatKconfig, bool]:
    env = parse_environment(kconfig_env(srctree, cc))
    key = cache.cache_key(srctree, top, cc)
    if use_cache:
        kconf = cache.load(key, env)
        if kconf is not None:
            return kconf, True
    was_enabled = gc.isenabled()
    gc.disable()  # the parse allocates ~1M objects; collections during it are pure overhead
    try:
        with sandboxed(env):
            kconf = CompatKconfig(top, warn_to_stderr=False, suppress_traceback=False)
        gc.freeze()  # see cache.load: keep the parsed tree out of later collections
    except kconfiglib.KconfigError as exc:
        message = str(exc).strip().splitlines()
        raise UserError(
            f"Kconfig error: {' '.join(line.strip() for line in message)[:300]}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{srctree}: cannot read the Kconfig files ({exc})") from None
    finally:
        if was_enabled:
            gc.enable()
    if use_cache:
        cache.store(key, kconf, env, env.looked_up, srctree)
    return kconf, False


def load_tree(
    path: Path | str,
    config: Path | str | None = None,
    overlays: Iterable[Path | str] = (),
    use_cache: bool = True,
    cc: str | None = None,
) -> Tree:
    """Load a kernel tree (or ukl checkout) and its ``.config``.

    ``config``: the ``.config`` to start from; by default the tree's own ``.config`` when
    there is one, else the tree's defaults. Writes go to ``config`` (or the tree's .config).
    ``cc``: the build's ``CC=`` when it wraps the compiler (see :func:`.env.kconfig_env`).
    """
    start = time.perf_counter()
    srctree = find_srctree(Path(path))
    overlay_paths = tuple(Path(p).expanduser() for p in overlays)
    top = _top_kconfig(srctree, overlay_paths)
    kconf, hit = _parse(srctree, top, use_cache, cc)
    tree = Tree(kconf, srctree, top, overlay_paths)
    tree.cc = cc
    tree.cache_hit = hit
    config_path = Path(config).expanduser() if config is not None else srctree / ".config"
    tree.config_path = config_path.absolute()
    if config is not None or config_path.is_file():
        tree.load_config(config_path)
    else:
        tree.mark_saved()
    tree.load_seconds = time.perf_counter() - start
    return tree


class Tree:
    """A parsed Kconfig tree with the values of one configuration (see module docstring)."""

    def __init__(
        self, kconf: CompatKconfig, srctree: Path, top: str, overlays: tuple[Path, ...] = ()
    ) -> None:
        self.kconf = kconf
        self.srctree = srctree
        self.top = top
        self.overlays = overlays
        #: The ``CC=`` the tree was parsed with (None: kbuild's own ``gcc``).
        self.cc: str | None = None
        self.config_path: Path | None = None
        self.loaded_from: Path | None = None
        self.dotconfig: DotConfig | None = None
        self.load_warnings: list[str] = []
        self.cache_hit = False
        self.load_seconds = 0.0
        self._saved_text = ""
        self._saved_values: dict[str, str] | None = None
        self._index: _SearchIndex | None = None
        self._transitional_defaults: dict[str, tuple] = {}

    # ----- lookup -------------------------------------------------------------------

    @property
    def mainmenu(self) -> str:
        """The tree's title, e.g. ``Linux/x86_64 6.1.192 Kernel Configuration``."""
        return self.kconf.mainmenu_text

    def has(self, name: str) -> bool:
        """True when the tree defines ``name`` (referenced-only symbols do not count)."""
        sym = self.kconf.syms.get(name)
        return sym is not None and bool(sym.nodes)

    def symbol(self, name: str) -> Symbol | None:
        """The kconfiglib symbol, or None when the tree does not define it."""
        return self.kconf.syms[name] if self.has(name) else None

    def require(self, name: str) -> Symbol:
        """The symbol, or a clear error naming the tree."""
        sym = self.symbol(name)
        if sym is None:
            raise UserError(f"unknown symbol {name}: this tree ({self.srctree}) does not define it")
        return sym

    def value(self, name: str) -> str | None:
        """The current value (n/m/y, a number or an unquoted string); None if undefined."""
        sym = self.symbol(name)
        return None if sym is None else sym.str_value

    def type_of(self, name: str) -> str:
        """The Kconfig type name of a defined symbol."""
        return kconfiglib.TYPE_TO_STR[self.require(name).orig_type]

    # ----- setting ------------------------------------------------------------------

    def normalise(self, name: str, value: str) -> str:
        """Validate ``value`` for ``name`` (type, format, range); return it in canonical form."""
        sym = self.require(name)
        kind = sym.orig_type
        text = value.strip() if kind != STRING else value
        if "\n" in value or "\r" in value:
            raise UserError(f"{name}: a value cannot contain a line break")
        if kind in (BOOL, TRISTATE):
            low = text.lower()
            if low not in ("n", "m", "y") or (kind is BOOL and low == "m"):
                allowed = "y or n" if kind is BOOL else "y, m or n"
                raise UserError(f"{name} is a {self.type_of(name)}: {value!r} is not {allowed}")
            return low
        if kind is STRING:
            if len(text) >= 2 and text[0] == text[-1] == '"':
                text = re.sub(r"\\(.)", r"\1", text[1:-1])
            return text
        if kind is INT:
            if not re.fullmatch(r"[-+]?\d+", text):
                raise UserError(f"{name} is an int: {value!r} is not a whole number")
            number = int(text)
            self._check_range(sym, number, str(number))
            return str(number)
        if kind is HEX:
            if not re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", text):
                raise UserError(f"{name} is hex: {value!r} is not a hexadecimal number")
            number = int(text, 16)
            canonical = text if text.lower().startswith("0x") else f"0x{text}"
            self._check_range(sym, number, canonical)
            return canonical
        raise UserError(f"{name} has no type in this tree and cannot be set")

    @staticmethod
    def _check_range(sym: Symbol, number: int, shown: str) -> None:
        base = 16 if sym.orig_type is HEX else 10
        for low, high, cond in sym.ranges:
            if kconfiglib.expr_value(cond):
                try:
                    lo, hi = int(low.str_value, base), int(high.str_value, base)
                except ValueError:
                    return
                if not lo <= number <= hi:
                    raise UserError(
                        f"{sym.name}={shown} is out of range {low.str_value}..{high.str_value}"
                    )
                return

    def _assign(self, sym: Symbol, value: str) -> None:
        kconf = self.kconf
        saved_warn = kconf.warn
        kconf.warn = False  # a hidden symbol's value is kept silently; we read back instead
        try:
            if sym.orig_type in (BOOL, TRISTATE):
                sym.set_value(_TRI[value])
            else:
                sym.set_value(value)
        finally:
            kconf.warn = saved_warn

    def set(self, name: str, value: str) -> SetResult:
        """Set one value and verify it; see ``set_many`` for several at once."""
        return self.set_many({name: value})[0]

    def set_many(self, assignments: Mapping[str, str]) -> list[SetResult]:
        """Set every value, let the model settle, then verify each one.

        Order does not matter: UNIKERNEL_LINUX=y before RANDOMIZE_BASE=n works, because a
        value given to a hidden symbol is kept and takes effect once it becomes visible.
        Every value is validated before anything is changed.
        """
        wanted = {name: self.normalise(name, value) for name, value in assignments.items()}
        before = {name: self.require(name).str_value for name in wanted}
        for name, value in wanted.items():
            self._assign(self.kconf.syms[name], value)
        return [self._verify(name, value, before[name]) for name, value in wanted.items()]

    def _verify(self, name: str, value: str, before: str) -> SetResult:
        sym = self.kconf.syms[name]
        after = sym.str_value
        if after == value or (sym.orig_type is HEX and _same_hex(after, value)):
            status: SetStatus = "already" if before == after else "set"
            return SetResult(name, value, before, after, status)
        exp = explain(sym, want=value)
        reason = exp.summary
        if not exp.blockers and sym.choice is not None and value == "n":
            reason = f"{name} is the selected option of its choice: select another one instead"
        elif not exp.blockers and sym.orig_type in (INT, HEX, STRING) and not sym.visibility:
            reason = f"{name} is hidden (no visible prompt), so a value given to it is ignored"
        return SetResult(name, value, before, after, "not-stuck", exp.blockers, reason)

    def unset(self, name: str) -> None:
        """Forget a value set for ``name`` (back to what defaults and dependencies give)."""
        self.require(name).unset_value()

    # ----- snapshots (undo/redo) ------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """Every user value (symbols and choices): cheap to take, exact to restore."""
        syms = {
            s.name: s.user_value for s in self.kconf.unique_defined_syms if s.user_value is not None
        }
        choices = {
            i: (c.user_value, c.user_selection.name if c.user_selection else None)
            for i, c in enumerate(self.kconf.unique_choices)
            if c.user_value is not None or c.user_selection is not None
        }
        return {"syms": syms, "choices": choices, "priority": self.kconf.priority_snapshot()}

    def restore(self, snap: Mapping[str, object]) -> None:
        """Return to a snapshot taken with ``snapshot``."""
        kconf = self.kconf
        saved_warn = kconf.warn
        kconf.warn = False
        try:
            kconf.unset_values()
            for name, value in snap["syms"].items():  # type: ignore[union-attr]
                kconf.syms[name].set_value(value)
            for index, (mode, selection) in snap["choices"].items():  # type: ignore[union-attr]
                choice = kconf.unique_choices[index]
                if mode is not None:
                    choice.set_value(mode)
                if selection is not None:
                    choice.user_selection = kconf.syms[selection]
                    choice._rec_invalidate()
            kconf.restore_priority(snap.get("priority", {}))  # type: ignore[arg-type]
        finally:
            kconf.warn = saved_warn

    # ----- loading configurations ------------------------------------------------------

    def load_config(self, path: Path) -> None:
        """Load a ``.config`` strictly: garbage lines are an error and nothing is changed."""
        dot = self.load_values(path)
        self.load_warnings = [w for w in self.kconf.warnings if "malformed string" not in w]
        self.dotconfig = dot
        self.loaded_from = path.absolute()
        self.mark_saved(_read_text(path))

    def load_values(self, path: Path) -> DotConfig:
        """Only the values of a ``.config``, checked as ``load_config`` checks them: what it
        was loaded from and saved as stay as they were (a base to compare with, not a file
        the session now edits).
        """
        dot = read_dotconfig(path)
        dot.require_clean()
        self._check_values(dot)
        self.kconf.warnings.clear()
        self.kconf.load_config(str(path), replace=True)
        self._apply_transitional(dot)
        return dot

    def _check_values(self, dot: DotConfig) -> None:
        """Values of the wrong type for a known symbol are garbage too (unquoted strings aside:
        they are a known trap the rules report, and kconfig ignores them).
        """
        for name, a in dot.assignments.items():
            sym = self.symbol(name)
            if sym is None or sym.orig_type is STRING:
                continue
            ok = True
            if sym.orig_type in (BOOL, TRISTATE):
                ok = a.raw in ("y", "n") or (a.raw == "m" and sym.orig_type is TRISTATE)
            elif sym.orig_type is INT:
                # sym_string_valid: no '+', no leading zero (kconfiglib would take both)
                ok = bool(re.fullmatch(r"-?(0|[1-9][0-9]*)", a.raw))
            elif sym.orig_type is HEX:
                ok = bool(re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", a.raw))
            if not ok:
                raise UserError(
                    f"{dot.path}:{a.line}: {a.raw!r} is not a valid {self.type_of(name)} "
                    f"value for {name}"
                )

    def _apply_transitional(self, dot: DotConfig) -> None:
        """A transitional symbol's old value feeds defaults (Linux 6.18 semantics)."""
        for name in self.kconf.transitional_syms:
            sym = self.kconf.syms.get(name)
            if sym is None:
                continue
            original = self._transitional_defaults.setdefault(name, tuple(sym.defaults))
            a = dot.assignments.get(name)
            if a is None:
                sym.defaults = list(original)
            else:
                value = a.value
                if sym.orig_type is STRING:
                    const = self.kconf._lookup_const_sym(value)
                else:
                    const = (
                        self.kconf._lookup_const_sym(value)
                        if value not in _TRI
                        else self.kconf.const_syms[value]
                    )
                sym.defaults = [(const, self.kconf.y), *original]
            sym._rec_invalidate()

    def load_fragment(self, path: Path) -> None:
        """Merge a fragment onto the current values (merge_config.sh, then olddefconfig)."""
        dot = read_dotconfig(path)
        dot.require_clean()
        self._check_values(dot)
        self.kconf.load_config(str(path), replace=False)

    def reset(self, base: Base) -> None:
        """Start over from one of the kernel's standard configurations.

        ``all*config`` are the kernel's targets without KCONFIG_ALLCONFIG (``make
        alldefconfig`` is ``defaults`` written out); ``tinyconfig`` is allnoconfig with
        the tiny fragments, as ``make tinyconfig`` does.
        """
        kconf = self.kconf
        if base == "defaults":
            kconf.unset_values()
        elif base == "defconfig":
            defconfig = self.srctree / "arch" / "x86" / "configs" / "x86_64_defconfig"
            if not defconfig.is_file():
                raise UserError(
                    f"{self.srctree}: no arch/x86/configs/x86_64_defconfig to start from"
                )
            kconf.load_config(str(defconfig), replace=True)
        elif base == "tinyconfig":
            self._all_config(0, self.srctree / "kernel/configs/tiny-base.config")
            for fragment in ("kernel/configs/tiny.config", "arch/x86/configs/tiny.config"):
                if (self.srctree / fragment).is_file():
                    kconf.load_config(str(self.srctree / fragment), replace=False)
        elif base in _ALL_CONFIGS:
            self._all_config(_ALL_CONFIGS[base])
        else:
            raise UserError(f"unknown base configuration {base!r}")

    def _all_config(self, level: int | None, allconfig: Path | None = None) -> None:
        """``make all{no,mod,yes,def}config`` (level 0 / 1 / 2 / None), with an optional
        KCONFIG_ALLCONFIG, re-read as olddefconfig does.

        conf_set_all_new_symbols gives every bool/tristate the level (a bool asked for m
        becomes y). Choice members are left to their choice's default in 6.11+ C code
        (``conf.c`` skips them); older C code sets them and the choice's mode too.
        """
        kconf = self.kconf
        saved_warn = kconf.warn
        kconf.warn = False
        try:
            kconf.unset_values()
            if level is not None:
                skip_members = kconf.c_rules.choice_priority
                for sym in kconf.unique_defined_syms:
                    if sym.orig_type not in (BOOL, TRISTATE) or (sym.choice and skip_members):
                        continue
                    if level == 0:
                        sym.set_value(2 if sym.is_allnoconfig_y else 0)
                    elif not sym.choice:
                        sym.set_value(2 if sym.orig_type is BOOL else level)
                    elif sym.orig_type is TRISTATE:
                        sym.set_value(1)  # the top of an m-mode choice; y mode ignores it
                for choice in kconf.unique_choices:
                    # the C code of 6.1 gives the choice itself the level too: n leaves an
                    # optional choice off, a non-optional one keeps its lowest mode
                    choice.set_value(2 if level == 1 and choice.orig_type is BOOL else level)
            if allconfig is not None and allconfig.is_file():
                kconf.load_config(str(allconfig), replace=False)
            text = kconf._config_contents("")
        finally:
            kconf.warn = saved_warn
        self._load_text(text)

    def _load_text(self, text: str) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".config", delete=False) as handle:
            handle.write(text)
        try:
            self.kconf.load_config(handle.name, replace=True)
        finally:
            os.unlink(handle.name)

    # ----- writing ------------------------------------------------------------------

    def header(self) -> str:
        """The header the C tools write, so a diff against their output is only values."""
        return f"#\n# Automatically generated file; DO NOT EDIT.\n# {self.mainmenu}\n#\n"

    def config_text(self) -> str:
        """The ``.config`` that would be written now."""
        return self.kconf._config_contents(self.header())

    def min_config_text(self) -> str:
        """The minimal configuration, byte-identical to ``make savedefconfig``."""
        return self.kconf._min_config_contents("")

    def write_config(self, path: Path | None = None) -> Path:
        """Write ``.config`` atomically, keeping the previous file as ``.config.old``."""
        target = (path or self.config_path or self.srctree / ".config").absolute()
        text = self.config_text()
        write_atomic(target, text, keep_old=True)
        if path is None or target == self.config_path:
            self.mark_saved(text)
        return target

    def write_min_config(self, path: Path) -> Path:
        """Write the minimal configuration (``make savedefconfig`` format)."""
        target = path.absolute()
        write_atomic(target, self.min_config_text(), keep_old=False)
        return target

    def mark_saved(self, text: str | None = None) -> None:
        """Remember what is on disk now, for ``diff`` and "unsaved changes"."""
        self._saved_text = self.config_text() if text is None else text
        self._saved_values = None  # parsed on the first diff, then reused

    def diff(self, against: str | None = None) -> list[Change]:
        """Differences between the saved file (or ``against`` text) and the current values."""
        if against is None:
            if self._saved_values is None:
                self._saved_values = parse_text(self._saved_text, Path("saved")).values()
            old_v = self._saved_values
        else:
            old_v = parse_text(against, Path("saved")).values()
        new_v = parse_text(self.config_text(), Path("current")).values()
        changes = [
            Change(name, old_v.get(name), new_v.get(name))
            for name in dict.fromkeys([*new_v, *old_v])
            if old_v.get(name) != new_v.get(name)
        ]
        return changes

    @property
    def dirty(self) -> bool:
        """True when the current values differ from the saved ``.config``."""
        return bool(self.diff())

    # ----- search and explanations ----------------------------------------------------

    def _search_index(self) -> _SearchIndex:
        if self._index is None:
            self._index = _SearchIndex(self.kconf.unique_defined_syms)
        return self._index

    def search(self, query: str, limit: int = 100) -> list[SearchHit]:
        """Symbols whose name, prompt or help contain every word of ``query``, best first.

        Ranking: exact name, name prefix, name substring, prompt, help text; ties by name.
        """
        words = query.lower().replace("config_", "").split()
        if not words:
            return []
        index = self._search_index()
        first = words[0]
        matches = index.matching(words)
        # Name matches (scores 0-2) always outrank prompt and help matches (3-4): when there
        # are enough of them, the others need not be scored at all.
        names = index.names
        name_hits = [i for i in matches if first in names[i]]
        hits: list[tuple[int, str, Symbol, str]] = []
        for i in name_hits if len(name_hits) >= limit else matches:
            sym, name, prompt = index.entries[i]
            if name == first:
                score, where = 0, "name"
            elif name.startswith(first):
                score, where = 1, "name"
            elif first in name:
                score, where = 2, "name"
            elif first in prompt:
                score, where = 3, "prompt"
            else:
                score, where = 4, "help"
            hits.append((score, sym.name, sym, where))
        best = heapq.nsmallest(limit, hits, key=lambda h: (h[0], h[1]))
        return [
            SearchHit(
                sym.name,
                next((n.prompt[0] for n in sym.nodes if n.prompt), None),
                where,  # type: ignore[arg-type]
                score,
                sym.str_value,
            )
            for score, _, sym, where in best
        ]

    def why(self, name: str, want: str | None = None) -> Explanation:
        """Explain a symbol; with ``want``, why it cannot have that value and how to fix it."""
        sym = self.require(name)
        if want is not None:
            want = self.normalise(name, want)
        return explain(sym, want)

    def undefined_in(self, names: Iterable[str]) -> list[str]:
        """The names this tree does not define (presets, fragments and .config files use it)."""
        return [name for name in names if not self.has(name)]


class _SearchIndex:
    """Names, prompts and help texts of all symbols joined into one lower-case haystack.

    Scanning one string with ``str.find`` runs at C speed; a Python loop over 16,000
    symbols per keystroke does not. ``offsets`` maps a match position back to its symbol.
    """

    def __init__(self, symbols: Iterable[Symbol]) -> None:
        self.entries: list[tuple[Symbol, str, str]] = []
        self.names: list[str] = []
        self.texts: list[str] = []
        parts: list[str] = []
        self.offsets: list[int] = []
        pos = 0
        for sym in symbols:
            prompt = " / ".join(n.prompt[0] for n in sym.nodes if n.prompt).lower()
            helptext = " ".join(n.help for n in sym.nodes if n.help).lower()
            name = sym.name.lower()
            text = f"{name}\x00{prompt}\x00{helptext}\x01"
            self.entries.append((sym, name, prompt))
            self.names.append(name)
            self.texts.append(text)
            self.offsets.append(pos)
            parts.append(text)
            pos += len(text)
        self.offsets.append(pos)
        self.haystack = "".join(parts)

    def _entries_with(self, word: str) -> set[int]:
        if len(word) <= 2:
            # A very short word is in most entries: testing each one beats jumping
            # from match to match.
            return {i for i, text in enumerate(self.texts) if word in text}
        found: set[int] = set()
        hay, offsets = self.haystack, self.offsets
        pos = hay.find(word)
        while pos != -1:
            i = bisect.bisect_right(offsets, pos) - 1
            found.add(i)
            pos = hay.find(word, offsets[i + 1])
        return found

    def matching(self, words: list[str]) -> list[int]:
        """Indexes of the entries containing every word (in any of the three fields)."""
        result: set[int] | None = None
        for word in sorted(words, key=len, reverse=True):  # longest first: fewest matches
            found = self._entries_with(word)
            result = found if result is None else result & found
            if not result:
                return []
        return sorted(result or ())


def _same_hex(a: str, b: str) -> bool:
    try:
        return int(a, 16) == int(b, 16)
    except ValueError:
        return False


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def write_atomic(target: Path, text: str, keep_old: bool) -> None:
    """Write a user's ``.config`` (:func:`ukl_tui.fsutil.write_atomic`) with ``.old`` as the
    kernel's tools keep it; any failure is a one-line UserError and nothing is changed.
    """
    directory = target.parent
    if not directory.is_dir():
        raise UserError(f"cannot write {target}: directory {directory} does not exist")
    if target.exists() and not target.is_file():
        raise UserError(f"cannot write {target}: it exists and is not a regular file")
    try:
        fsutil.write_atomic(target, text, keep_old=keep_old)
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
