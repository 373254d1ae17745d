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

from ukl_tui.app import display_path
from ukl_tui.kconfig import Change, Tree


def change_line(change: Change, width: int) -> Content:
    """``NAME  old → new``, with "not set" for a value the file does not carry."""
    old = "not set" if change.old is None else change.old or '""'
    new = "not set" if change.new is None else change.new or '""'
    return Content.assemble(
        (change.name.ljust(width), "bold"), (old, "$error"), "  →  ", (new, "$success")
    )


#: Lines missing from the file are listed only when there are this few.
ADDED_SHOWN = 50


class DiffScreen(ModalScreen[str | None]):
    """The differences; Enter jumps to the symbol, Escape closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, tree: Tree, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.model = tree
        self.changes = tree.diff()

    def compose(self) -> ComposeResult:
        """Title, summary, list: changed values first; lines the file lacks folded if many."""
        path = self.model.config_path
        differ = [c for c in self.changes if c.old is not None]
        added = [c for c in self.changes if c.old is None]
        shown = differ + (added if len(added) <= ADDED_SHOWN else [])
        with Vertical(id="diff-box", classes="dialog"):
            yield Label(f"Saving would change {display_path(path)}", classes="dialog-title")
            if not self.changes:
                text = "Nothing: the values match the file."
            else:
                text = f"{len(differ)} value{'s' if len(differ) != 1 else ''} differ"
                if added:
                    text += f"; {len(added)} line{'s' if len(added) != 1 else ''} would be added"
                    if len(added) > ADDED_SHOWN:
                        text += " (the file is a minimal config: saving writes every value)"
                text += ". Enter jumps to a symbol; Esc closes."
            yield Static(text, classes="muted")
            width = min(40, max((len(c.name) for c in shown), default=10) + 2)
            yield OptionList(
                *(Option(change_line(c, width), id=c.name) for c in shown), id="diff-list"
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
