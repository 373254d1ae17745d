"""What saving would change: every symbol whose value differs from the saved ``.config``.

The list comes from ``Tree.diff`` (the model parses both texts the way the kernel writes
them), so it shows exactly the lines a ``diff`` of the two files would show.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from ukl_tui.errors import UserError
from ukl_tui.kconfig import Change, Tree
from ukl_tui.paths import display_path
from ukl_tui.screens.dialogs import SymbolList


def change_line(change: Change, width: int) -> Content:
    """``NAME  old → new``, with "not set" for a value the file does not carry."""
    old = "not set" if change.old is None else change.old or '""'
    new = "not set" if change.new is None else change.new or '""'
    return Content.assemble(
        (change.name.ljust(width), "bold"), (old, "$error"), "  →  ", (new, "$success")
    )


class DiffScreen(SymbolList):
    """The differences; Enter jumps to the symbol, Escape closes.

    Listed: every symbol whose value differs from the saved .config as Kconfig reads it
    (``changes``, the session's changes). Beneath, what else saving would add to the file
    (``Tree.diff``): a minimal file such as a defconfig lacks thousands of lines that
    saving writes, though none of those values changed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("o", "compare", "Compare with a file")]

    def __init__(self, tree: Tree, changes: list[Change], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.model = tree
        self.changes = changes
        names = {c.name for c in changes}
        self.file_only = [c for c in tree.diff() if c.name not in names]

    def compose(self) -> ComposeResult:
        """Title, summary, list."""
        path = display_path(self.model.config_path)
        count = len(self.changes)
        with Vertical(id="diff-box", classes="dialog"):
            yield Label(f"Changed since {path} was loaded or saved", classes="dialog-title")
            if not count:
                text = "No value differs from the file."
            else:
                text = f"{count} value{'s differ' if count != 1 else ' differs'}."
            if self.file_only:
                extra = len(self.file_only)
                text += (
                    f" Saving also writes {extra} line{'s' if extra != 1 else ''} the file lacks"
                    " (a minimal config: their values do not change)."
                )
            if count:
                text += " Enter jumps to a symbol; Esc closes."
            text += " o compares with any other .config."
            yield Static(text, classes="muted")
            width = min(40, max((len(c.name) for c in self.changes), default=10) + 2)
            yield OptionList(
                *(Option(change_line(c, width), id=c.name) for c in self.changes), id="diff-list"
            )

    def action_compare(self) -> None:
        """o: ask for a file, then compare it with the current values (choices and reasons)."""
        from ukl_tui.screens.compare import ask_file

        self.app.push_screen(ask_file(), self._compare)

    def _compare(self, text: str | None) -> None:
        from ukl_tui.screens.compare import CompareScreen

        if not text:
            return
        try:
            screen = CompareScreen(self.model, text)
        except UserError as exc:
            self.notify(exc.message, severity="error")
            return
        self.app.push_screen(screen, lambda name: name and self.dismiss(name))
