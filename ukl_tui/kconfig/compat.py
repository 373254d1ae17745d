"""Compatibility of kconfiglib 14.1.0 (the last release) with newer Linux Kconfig syntax.

kconfiglib stopped at 2020; Linux kept going. Rather than fork it, ``CompatKconfig``
rewrites the few newer constructs while the files are read, keeping line numbers intact:

* ``modules`` (Linux 5.13+): the bare attribute replaced ``option modules``. It is rewritten
  to ``option modules``, which kconfiglib already understands.
* ``transitional`` (Linux 6.18+): marks a symbol kept only to migrate old ``.config`` files.
  Such a symbol is invisible, is never written out, but the value an old ``.config`` gives it
  feeds other symbols' defaults. The attribute line is blanked, the symbol is remembered in
  ``transitional_syms``, and ``model.Tree`` honours the rest.

It also writes what the C tools write where kconfiglib differs: the C ``conf`` emits
``# CONFIG_X is not set`` for a bool whose ``imply`` sources are on even when its own
dependencies are off (e.g. IMA_SECURE_AND_OR_TRUSTED_BOOT on x86_64 defconfig).
Help text is skipped while rewriting, so a help line that reads "modules" stays text.
"""

from __future__ import annotations

import io
import re
from typing import Any

import kconfiglib

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


class CompatKconfig(kconfiglib.Kconfig):
    """kconfiglib's Kconfig with the compatibility rewrites described in the module docstring."""

    transitional_syms: set[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.transitional_syms = set()
        super().__init__(*args, **kwargs)

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
        # Match the C conf's SYMBOL_WRITE rule for implied symbols (see module docstring).
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
