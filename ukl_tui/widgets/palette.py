"""Ctrl+P: jump to any symbol by fuzzy name from the command palette.

Textual's fuzzy matcher is too slow to run over 16,000 names per keystroke, so candidates
are found first with one regular expression over all names joined into one string (the
query's letters in order, anything between, within one name: a C-speed scan), then only
the best few hundred are scored and highlighted by the matcher.
"""

from __future__ import annotations

import re
import weakref
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from ukl_tui.kconfig import Tree

#: Candidates scored by the fuzzy matcher per query.
CANDIDATES = 300
#: Hits handed to the palette per query.
SHOWN = 40

_INDEXES: weakref.WeakKeyDictionary[Tree, NameIndex] = weakref.WeakKeyDictionary()


class NameIndex:
    """All symbol names of a tree in one newline-separated string (see module docstring)."""

    def __init__(self, tree: Tree) -> None:
        names = sorted(s.name for s in tree.kconf.unique_defined_syms)
        self.prompts = {
            s.name: next((n.prompt[0] for n in s.nodes if n.prompt), "")
            for s in tree.kconf.unique_defined_syms
        }
        self.text = "\n" + "\n".join(names) + "\n"

    def candidates(self, query: str, limit: int = CANDIDATES) -> list[str]:
        """Names containing the query's letters in order, shortest (tightest) first."""
        letters = [c for c in query.upper().replace(" ", "_") if c.isalnum() or c == "_"]
        if not letters:
            return []
        pattern = "[^\n]*?".join(re.escape(c) for c in letters)
        regex = re.compile(f"^[^\n]*?{pattern}[^\n]*$", re.MULTILINE)
        found = [m.group(0) for m in regex.finditer(self.text)]
        plain = "".join(letters)
        found.sort(key=lambda name: (plain not in name, not name.startswith(plain), len(name)))
        return found[:limit]


class SymbolProvider(Provider):
    """Symbols as palette commands: choosing one opens the browser on it."""

    async def startup(self) -> None:
        """Index the names once per tree (about 10 ms)."""
        tree = getattr(self.app, "session", None) and self.app.session.tree  # type: ignore[attr-defined]
        self.index: NameIndex | None = None
        if tree is not None:
            if tree not in _INDEXES:
                _INDEXES[tree] = NameIndex(tree)
            self.index = _INDEXES[tree]

    def _jump(self, name: str) -> None:
        from ukl_tui.screens.messages import ShowSymbol

        self.app.post_message(ShowSymbol(name))

    async def search(self, query: str) -> Hits:
        """Fuzzy name matches, best first."""
        if self.index is None:
            return
        matcher = self.matcher(query)
        scored = []
        for name in self.index.candidates(query):
            score = matcher.match(name)
            if score > 0:
                scored.append((score, name))
        scored.sort(key=lambda pair: -pair[0])
        for score, name in scored[:SHOWN]:
            yield Hit(
                score,
                matcher.highlight(name),
                partial(self._jump, name),
                text=name,
                help=self.index.prompts.get(name) or "(no prompt)",
            )

    async def discover(self) -> Hits:
        """With nothing typed: the UKL symbols, the ones a newcomer looks for first."""
        if self.index is None:
            return
        for name in self.index.candidates("UKL", limit=10) + self.index.candidates("UNIKERNEL"):
            yield DiscoveryHit(
                f"Go to {name}",
                partial(self._jump, name),
                text=name,
                help=self.index.prompts.get(name) or None,
            )
