"""The current values compared with any ``.config`` file: choices, and what followed.

The wizard's face of ``ukl-tui diff FILE``: ``kconfig.compare.compare`` with the session's
current values as the second configuration (the tree is left as it was). Menus are headings;
each choice is followed by its consequences, indented, with the reason. Enter on a line
returns its symbol (the browser jumps to it), Escape closes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from ukl_tui.errors import UserError
from ukl_tui.screens.dialogs import AskValue, SymbolList

if TYPE_CHECKING:
    from ukl_tui.kconfig import Tree
    from ukl_tui.kconfig.compare import Comparison, Difference


def _show(value: str | None) -> str:
    return "not set" if value is None else value or '""'


def difference_line(diff: Difference, depth: int) -> Content:
    """``  NAME  old → new  reason``: choices bold, consequences dim, indented under causes."""
    style = "bold" if diff.kind == "choice" else "dim"
    return Content.assemble(
        "  " * depth,
        (diff.name, style),
        "  ",
        (_show(diff.old), "$error"),
        " → ",
        (_show(diff.new), "$success"),
        "  ",
        (diff.reason, "italic" if diff.kind == "consequence" else ""),
    )


def comparison_options(result: Comparison) -> list[Option]:
    """Menu headings (disabled) and one option per difference, depth-first under causes."""
    options: list[Option] = []
    seen: set[str] = set()

    def walk(diff: Difference, depth: int) -> None:
        seen.add(diff.name)
        options.append(Option(difference_line(diff, depth), id=diff.name))
        for child in sorted(diff.children, key=lambda d: d.order):
            if child.name not in seen:
                walk(child, depth + 1)

    for index, (menu, diffs) in enumerate(result.groups()):
        options.append(Option(Content.styled(menu, "$accent"), id=f"menu-{index}", disabled=True))
        for diff in diffs:
            walk(diff, 1)
    return options


class CompareScreen(SymbolList):
    """``path`` compared with the current values (see module docstring)."""

    def __init__(self, tree: Tree, path: str | Path, **kw: object) -> None:
        """Compares at once: a bad file is a ``UserError`` before the screen exists."""
        super().__init__(**kw)  # type: ignore[arg-type]
        from ukl_tui.kconfig.compare import compare

        self.path = _existing_file(str(path))
        self.result = compare(tree, self.path)

    def compose(self) -> ComposeResult:
        """Title, counts, the list."""
        result = self.result
        chosen = sum(d.kind == "choice" for d in result.differences)
        with Vertical(id="diff-box", classes="dialog"):
            yield Label(f"From {self.path} to the current values", classes="dialog-title")
            yield Static(
                f"{len(result.differences)} difference(s): {chosen} you chose (bold), "
                f"{len(result.consequences)} that followed, under their cause. "
                "Enter jumps to a symbol; Esc closes.",
                classes="muted",
                markup=False,
            )
            yield OptionList(*comparison_options(result), id="compare-list")


def _existing_file(text: str) -> Path:
    path = Path(text.strip()).expanduser()
    if not text.strip() or not path.is_file():
        raise UserError(f"{text.strip() or 'a path'}: no such file")
    return path


def ask_file() -> AskValue:
    """The question: which file to compare with (checked as the user types)."""
    return AskValue(
        "Compare with a .config",
        "",
        _existing_file,
        info="Any .config, defconfig or fragment of this architecture; the current values are "
        "the other side.",
    )


__all__ = ["CompareScreen", "ask_file", "comparison_options", "difference_line"]
