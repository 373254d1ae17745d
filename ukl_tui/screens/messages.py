"""What the wizard's screens tell the app: the only way a screen talks upward.

A step screen gets the session (``ukl_tui.session.Session``) in its constructor and changes
values through it; what it cannot do itself (go to another step, load a tree, save, run,
show a past run) it asks for with one of these messages, which bubble from the screen to the
app. So no screen imports the app or another step screen (tests/test_layering.py holds that),
in the manner of esp-idf-kconfig's menuconfig and frogmouth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from pathlib import Path

    from ukl_tui.plan import Built


class GoNext(Message):
    """On to the next step (the app asks the screen's ``leave_problem`` first)."""


class GoTo(Message):
    """Show the step named ``step``."""

    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step


class ShowSymbol(Message):
    """Open the Config step on the symbol ``name`` (the command palette's jump)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class LoadTree(Message):
    """Load the tree the session's plan names (the app runs the loader in a worker)."""


class ValuesChanged(Message):
    """The screen changed values through the session: other steps showing them refresh."""


class SaveConfig(Message):
    """Write the session's ``.config`` (the app saves, says so, refreshes the steps)."""


class StartRun(Message):
    """Run a checked plan on the Run screen, on top of the current step."""

    def __init__(self, built: Built) -> None:
        super().__init__()
        self.built = built


class OpenRun(Message):
    """Show the past run in ``run`` (its directory) read-only on the Run screen."""

    def __init__(self, run: Path) -> None:
        super().__init__()
        self.run = run


__all__ = [
    "GoNext",
    "GoTo",
    "LoadTree",
    "OpenRun",
    "SaveConfig",
    "ShowSymbol",
    "StartRun",
    "ValuesChanged",
]
