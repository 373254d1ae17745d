"""Small modal dialogs the wizard shares: questions with keyed answers, validated values.

Both are generic: the caller passes the choices or the validating function (which comes from
the core, e.g. ``Tree.normalise``), so a dialog never decides anything about Kconfig itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static

from ukl_tui.errors import UserError


class Choose(ModalScreen[str | None]):
    """A question with a few answers, each with its own key (Escape cancels: None)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, title: str, body: str, answers: Sequence[tuple[str, str, str]], **kw: object
    ) -> None:
        """``answers``: (key, label, variant) triples; the key is also the result."""
        super().__init__(**kw)  # type: ignore[arg-type]
        self.title_text = title
        self.body = body
        self.answers = list(answers)

    def compose(self) -> ComposeResult:
        """Title, text, one button per answer."""
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.body:
                yield Static(self.body, classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                for key, label, variant in self.answers:
                    yield Button(
                        f"{label} ({key})",
                        id=f"answer-{key}",
                        variant=variant,  # type: ignore[arg-type]
                    )

    def on_mount(self) -> None:
        """The first answer has focus: Enter takes it."""
        self.query(Button).first().focus()

    def on_key(self, event: Key) -> None:
        """Each answer's key answers at once."""
        for key, _, _ in self.answers:
            if event.character is not None and event.character.lower() == key:
                event.stop()
                self.dismiss(key)
                return

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss((event.button.id or "").removeprefix("answer-"))

    def action_cancel(self) -> None:
        """Escape: no answer."""
        self.dismiss(None)


class AskValue(ModalScreen[str | None]):
    """Ask for a value, checking it on every keystroke with the given validator.

    The error (e.g. ``NR_CPUS=9000 is out of range 2..512``) is shown under the field as
    the user types; Enter is refused while the value is invalid.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        value: str,
        validate: Callable[[str], object],
        info: str = "",
        **kw: object,
    ) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.title_text = title
        self.value = value
        self.validate = validate
        self.info = info

    def compose(self) -> ComposeResult:
        """Title, hint, the field, and the live error line."""
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.info:
                yield Static(self.info, classes="dialog-body", markup=False)
            yield Input(self.value, id="value-input")
            yield Static("", id="value-error", classes="error-line", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        """Focus the field with the old value selected, so typing replaces it."""
        field = self.query_one(Input)
        field.focus()
        field.select_all()

    def _problem(self, text: str) -> str:
        try:
            self.validate(text)
        except UserError as exc:
            return exc.message
        return ""

    @on(Input.Changed, "#value-input")
    def _changed(self, event: Input.Changed) -> None:
        problem = self._problem(event.value)
        self.query_one("#value-error", Static).update(problem)
        event.input.set_class(bool(problem), "-invalid")

    @on(Input.Submitted, "#value-input")
    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        text = self.query_one(Input).value
        problem = self._problem(text)
        if problem:
            self.query_one("#value-error", Static).update(problem)
            self.app.bell()
            return
        self.dismiss(text)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Escape: keep the old value."""
        self.dismiss(None)


class SymbolList(ModalScreen[str | None]):
    """A modal list of symbols (option ids are symbol names): Enter returns the highlighted
    one for the caller to jump to, Escape returns None. Subclasses compose the list.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def on_mount(self) -> None:
        """The list has focus."""
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        """Escape."""
        self.dismiss(None)
