"""What saving would change: every symbol whose value differs from the saved ``.config``.

The list comes from ``Tree.diff`` (the model parses both texts the way the kernel writes
them), so it shows exactly the lines a ``diff`` of the two files would show.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from ukl_tui.kconfig import Change, Tree
from ukl_tui.paths import display_path


def change_line(change: Change, width: int) -> Content:
    """``NAME  old → new``, with "not set" for a value the file does not carry."""
    old = "not set" if change.old is None else change.old or '""'
    new = "not set" if change.new is None else change.new or '""'
    return Content.assemble(
        (change.name.ljust(width), "bold"), (old, "$error"), "  →  ", (new, "$success")
    )


class DiffScreen(ModalScreen[str | None]):
    """The differences; Enter jumps to the symbol, Escape closes.

    Listed: every symbol whose value differs from the saved .config as Kconfig reads it
    (``changes``, the session's changes). Beneath, what else saving would add to the file
    (``Tree.diff``): a minimal file such as a defconfig lacks thousands of lines that
    saving writes, though none of those values changed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

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
            yield Static(text, classes="muted")
            width = min(40, max((len(c.name) for c in self.changes), default=10) + 2)
            yield OptionList(
                *(Option(change_line(c, width), id=c.name) for c in self.changes), id="diff-list"
            )

    def on_mount(self) -> None:
        """The list has focus."""
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        """Escape."""
        self.dismiss(None)
