"""The wizard's step bar: where you are, what comes next, clickable with the mouse."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static


class StepBar(Horizontal):
    """One line: ``Welcome › Preset › Config › …`` with the current step highlighted."""

    DEFAULT_CSS = """
    StepBar { height: 1; width: 1fr; background: $boost; }
    StepBar > .step { width: auto; padding: 0 1; color: $text-muted; }
    StepBar > .step:hover { text-style: underline; }
    StepBar > .step.-current { color: $text; background: $primary; text-style: bold; }
    StepBar > .step.-done { color: $text; }
    StepBar > .sep { width: auto; color: $text-disabled; }
    """

    def __init__(self, steps: Sequence[tuple[str, str]], current: str, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.steps = list(steps)
        self.current = current

    def compose(self) -> ComposeResult:
        """One label per step, separated by arrows."""
        names = [name for name, _ in self.steps]
        here = names.index(self.current) if self.current in names else -1
        for index, (name, title) in enumerate(self.steps):
            if index:
                yield Static("›", classes="sep")
            classes = "step"
            if index == here:
                classes += " -current"
            elif index < here:
                classes += " -done"
            yield Static(f"{index + 1} {title}", classes=classes, name=name)

    def on_click(self, event: object) -> None:
        """A click on a step asks the app to go there."""
        from ukl_tui.screens.messages import GoTo

        widget = getattr(event, "widget", None)
        if isinstance(widget, Static) and widget.name:
            self.post_message(GoTo(widget.name))
