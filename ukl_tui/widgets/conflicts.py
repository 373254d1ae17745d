"""The conflicts list: what the rules find wrong right now, each with its fix.

The conflicts come from ``rules.check`` over the live session; the widget only lists them,
errors first, and says which fix Enter would apply. It is used in the browser's side panel
(live, after every change) and on the Review step (where each must be fixed or acknowledged).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

SEVERITY_MARK = {"error": ("✗ ", "$error"), "warning": ("! ", "$warning"), "info": ("i ", "dim")}


def conflict_prompt(conflict: Any, acknowledged: bool = False) -> Content:
    """Two or three lines: the problem, then the fix (or that it is advice only)."""
    mark = SEVERITY_MARK.get(conflict.severity, ("? ", ""))
    head = Content.assemble(mark, (conflict.id, "bold"), "  ", conflict.message)
    lines = [head]
    fix = conflict.fix
    if fix is not None and fix.describe():
        how = "Enter: " if fix.applicable else "To do: "
        lines.append(Content.assemble("   ", (how, "bold $accent"), fix.describe()))
    if acknowledged:
        lines.append(Content.assemble("   ", ("acknowledged", "italic dim")))
    return Content("\n").join(lines)


def fix_message(conflict: Any, results: Sequence[Any]) -> tuple[str, bool]:
    """What a step says after ``Session.apply_fix``: the values that did not stick (an
    error), or what the fix did. ``results`` are the fix's ``SetResult`` values.
    """
    failed = [r for r in results if not r.took]
    if failed:
        text = "; ".join(f"{r.name}={r.requested} did not stick: {r.reason}" for r in failed)
        return text, True
    return f"{conflict.id}: fixed ({conflict.fix.describe()})", False


class ConflictList(OptionList):
    """Conflicts as options; the option id is the conflict's index in ``conflicts``."""

    DEFAULT_CSS = """
    ConflictList { height: auto; max-height: 50%; border: none; padding: 0; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.conflicts: list[Any] = []

    def show(self, conflicts: Sequence[Any], acknowledged: set[str] | None = None) -> None:
        """Replace the list (keeping the highlight on the same conflict when it remains)."""
        old = self.highlighted_option.id if self.highlighted_option is not None else None
        self.conflicts = list(conflicts)
        acknowledged = acknowledged or set()
        options = [
            Option(conflict_prompt(c, key(c) in acknowledged), id=key(c)) for c in self.conflicts
        ]
        if not options:
            options = [Option(Content.styled("✓ No conflicts.", "$success"), id="none")]
        self.set_options(options)
        ids = [o.id for o in options]
        self.highlighted = ids.index(old) if old in ids else 0

    @property
    def current(self) -> Any | None:
        """The highlighted conflict (None when the list is empty)."""
        option = self.highlighted_option
        if option is None or option.id == "none":
            return None
        return next((c for c in self.conflicts if key(c) == option.id), None)


def key(conflict: Any) -> str:
    """A stable id for one conflict: its rule id and subject."""
    return f"{conflict.id}:{conflict.subject}"
