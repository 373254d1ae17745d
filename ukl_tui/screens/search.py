"""Find a symbol by name, prompt or help text, as you type, and jump to it in the tree.

The search itself is the model's (``Tree.search``: every word must match, ranked name
first, then prompt, then help). Keys typed faster than the answers come are coalesced
into one search, and answers already seen are kept, so backspacing is instant. One letter
is not searched (it matches nearly every symbol). ``answered`` records how long each query
took from its keystroke to its results being painted (the benchmark and the tests read it).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ukl_tui.kconfig import SearchHit, Tree

#: Results shown for one query; more would not help anyone scanning a list.
RESULT_LIMIT = 60
#: Answers remembered for backspacing.
CACHE_SIZE = 64
#: Shorter queries are not searched: one letter matches nearly all 16,000 symbols.
MIN_QUERY = 2


def hit_prompt(hit: SearchHit, width: int = 28) -> Content:
    """One result line: name, prompt, value, and where the query matched."""
    value = hit.value if hit.value != "" else '""'
    parts: list[str | tuple[str, str]] = [(hit.name.ljust(width), "bold")]
    parts.append(hit.prompt or "(no prompt)")
    parts.append((f"  = {value}", "$accent"))
    if hit.field != "name":
        parts.append((f"  [{hit.field}]", "dim"))
    return Content.assemble(*parts)


class SearchScreen(ModalScreen[str | None]):
    """The jump-to dialog; dismisses with the chosen symbol name (see module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close"),
        Binding("enter", "choose", "Jump", priority=True),
        Binding("down", "move(1)", "Next", show=False, priority=True),
        Binding("up", "move(-1)", "Previous", show=False, priority=True),
        Binding("pagedown", "move(10)", "Page down", show=False, priority=True),
        Binding("pageup", "move(-10)", "Page up", show=False, priority=True),
    ]

    def __init__(self, tree: Tree, query: str = "", **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.model = tree
        self.initial = query
        self._cache: OrderedDict[str, list[SearchHit]] = OrderedDict()
        self._typed_at: dict[str, float] = {}
        #: query -> seconds from the keystroke to the results being on screen.
        self.answered: dict[str, float] = {}
        self.shown_query: str | None = None
        #: Set each time results are painted (the benchmark waits on it).
        self.painted = asyncio.Event()
        self._pending = ""
        self._scheduled = False
        self.hits: list[SearchHit] = []

    def compose(self) -> ComposeResult:
        """Field, results, and a preview of the highlighted result."""
        with Vertical(id="search-box", classes="dialog"):
            yield Label("Find a symbol — name, prompt or help words", classes="dialog-title")
            yield Input(self.initial, placeholder="e.g. unikernel, virtio net, 8250", id="q")
            yield Static("", id="search-count", classes="muted")
            yield OptionList(id="results")
            yield Static("", id="search-preview")

    def on_mount(self) -> None:
        """Focus the field; search the initial text, if any."""
        self.query_one("#q", Input).focus()
        self._request(self.initial)

    @on(Input.Changed, "#q")
    def _typed(self, event: Input.Changed) -> None:
        self._typed_at[event.value] = time.perf_counter()
        self._request(event.value)

    def _request(self, query: str) -> None:
        """Search for ``query`` once the keys already queued are handled.

        Keys that arrive together (fast typing, a paste) each change the field, but only
        the last text is searched: ``call_later`` runs after the queued messages. The
        model's search is fast enough (a C-speed scan of one string) to run right here;
        a worker thread would only fight the event loop for the GIL.
        """
        self._pending = query.strip()
        if not self._scheduled:
            self._scheduled = True
            self.call_later(self._run_pending)

    def _run_pending(self) -> None:
        self._scheduled = False
        query = self._pending
        if len(query) < MIN_QUERY:
            self._show(query, [])
            return
        key = query.lower()
        hits = self._cache.get(key)
        if hits is None:
            hits = self.model.search(query, limit=RESULT_LIMIT)
            self._cache[key] = hits
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        self._show(query, hits)

    def _show(self, query: str, hits: list[SearchHit]) -> None:
        results = self.query_one("#results", OptionList)
        width = min(32, max((len(h.name) for h in hits), default=10) + 2)
        results.set_options(Option(hit_prompt(h, width), id=h.name) for h in hits)
        if hits:
            results.highlighted = 0
        self.hits = hits
        count = self.query_one("#search-count", Static)
        if not query:
            count.update("Type to search; ↑↓ choose, Enter jumps, Esc closes.")
        elif len(query) < MIN_QUERY:
            count.update("Keep typing: one letter matches nearly every symbol.")
        elif not hits:
            count.update(f"Nothing matches {query!r}.")
        else:
            more = " (best first; type more words to narrow)" if len(hits) >= RESULT_LIMIT else ""
            count.update(f"{len(hits)} match{'es' if len(hits) != 1 else ''}{more}")
        self._preview()
        typed = self._typed_at.pop(query, None) if query else None

        def painted() -> None:
            self.shown_query = query
            if typed is not None:
                self.answered[query] = time.perf_counter() - typed
            self.painted.set()

        self.call_after_refresh(painted)

    @on(OptionList.OptionHighlighted, "#results")
    def _preview(self) -> None:
        results = self.query_one("#results", OptionList)
        preview = self.query_one("#search-preview", Static)
        option = results.highlighted_option
        if option is None or option.id is None:
            preview.update("")
            return
        sym = self.model.symbol(option.id)
        if sym is None:
            preview.update("")
            return
        helptext = " ".join(" ".join(n.help.split()) for n in sym.nodes if n.help)
        prompt = next((n.prompt[0] for n in sym.nodes if n.prompt), "(no prompt)")
        preview.update(
            Content.assemble(
                (option.id, "bold"), f"  {prompt}\n", (helptext[:400] or "(no help text)", "dim")
            )
        )

    def action_move(self, delta: int) -> None:
        """Arrows move through the results while typing continues in the field."""
        results = self.query_one("#results", OptionList)
        if not results.option_count:
            return
        current = results.highlighted if results.highlighted is not None else -1
        results.highlighted = max(0, min(results.option_count - 1, current + delta))

    @on(OptionList.OptionSelected, "#results")
    def action_choose(self) -> None:
        """Enter (or a click): jump to the highlighted symbol."""
        option = self.query_one("#results", OptionList).highlighted_option
        if option is not None and option.id is not None:
            self.dismiss(option.id)

    def action_cancel(self) -> None:
        """Escape: back to the tree where it was."""
        self.dismiss(None)
