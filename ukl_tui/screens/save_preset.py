"""Save as preset...: the current configuration as a preset of the user's own.

The dialog is given everything it needs (the tree at its current values, the boot and
network settings, what the session started from) and asks only what a person must decide:
a name, a one-line summary, the base and the preset it builds on.
``preset_save.make_preset`` finds the fewest assignments and proves them by re-applying;
``write_preset`` writes the file into the user's preset directory. A problem (a name that
is not a plain word, an existing preset) is shown under the fields and nothing is written;
on success the dialog returns the file's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ukl_tui.errors import UserError

if TYPE_CHECKING:
    from ukl_tui.boot import NetworkSpec
    from ukl_tui.kconfig import Tree
    from ukl_tui.presets import Boot
    from ukl_tui.session import Session

#: The Select value for "builds on no preset".
NO_PARENT = "(none)"


class SavePresetScreen(ModalScreen[Path | None]):
    """Name, summary, base, extends; Save writes the preset (see module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        tree: Tree,
        *,
        boot: Boot | None = None,
        network: NetworkSpec | None = None,
        base: str | None = None,
        extends: Sequence[str] = (),
        source: str = "",
        **kw: object,
    ) -> None:
        """``base``/``extends`` preselect what the session started from (its presets)."""
        super().__init__(**kw)  # type: ignore[arg-type]
        from ukl_tui.presets import BASES, Catalogue

        self.model = tree
        self.boot = boot
        self.network = network
        self.source = source
        self.catalogue = Catalogue()
        self.bases = list(BASES)
        if tree.loaded_from is not None:
            self.bases.append(str(tree.loaded_from))
        self.base = base if base in self.bases else "defconfig"
        names = self.catalogue.names()
        self.parents = [NO_PARENT, *names]
        self.extends_choice = next((p for p in reversed(extends) if p in names), NO_PARENT)
        #: The written file, once saved (tests read it).
        self.written: Path | None = None

    @classmethod
    def for_session(cls, session: Session) -> SavePresetScreen:
        """The dialog for a wizard session: its tree, boot settings, base and presets.

        The kernel parameters are the boot's own (presets' or default, plus the user's
        extras); ``ip=`` and init arguments belong to the network and the application. The
        network is the one the boot uses (presets' settings and the user's choices; not the
        application's automatic forwards, which follow the application).
        """
        from ukl_tui.presets import Boot

        tree = session.tree
        assert tree is not None  # every step after Welcome has a loaded tree
        spec = session.boot_spec()
        plan = session.choices
        return cls(
            tree,
            boot=Boot((*spec.cmdline_base, *spec.extra_params), spec.qemu_cpu_flags, spec.gdb),
            network=spec.network,
            base=plan.base,
            extends=plan.presets,
            source=str(tree.loaded_from or tree.config_path),
        )

    def compose(self) -> ComposeResult:
        """The fields, the error line and the buttons."""
        with Vertical(id="save-preset-box", classes="dialog"):
            yield Label("Save as preset", classes="dialog-title")
            yield Static(
                "Only what you chose is saved; what follows from it (defaults, selects, "
                "dependencies) is left to Kconfig. Kernel parameters, QEMU flags and the "
                "network go in too.",
                classes="dialog-body",
                markup=False,
            )
            yield Input(placeholder="name: a plain word, e.g. my-e1000", id="preset-name")
            yield Input(placeholder="summary (one line; empty: made up)", id="preset-summary")
            with Horizontal(classes="dialog-row"):
                yield Label("Base")
                yield Select(
                    [
                        (b if b in ("defconfig", "tinyconfig") else f"file {b}", b)
                        for b in self.bases
                    ],
                    value=self.base,
                    allow_blank=False,
                    id="preset-base",
                    compact=True,
                )
            with Horizontal(classes="dialog-row"):
                yield Label("Builds on")
                yield Select(
                    [(p, p) for p in self.parents],
                    value=self.extends_choice,
                    allow_blank=False,
                    id="preset-extends",
                    compact=True,
                )
            yield Checkbox("Replace a preset of that name", id="preset-force", compact=True)
            yield Static("", id="preset-error", classes="error-line", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        """The name field has focus."""
        self.query_one("#preset-name", Input).focus()

    def _error(self, text: str) -> None:
        self.query_one("#preset-error", Static).update(text)

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def save(self) -> None:
        """Make the preset, prove it, write it; an error stays in the dialog."""
        from ukl_tui.preset_save import BaseChoice, make_preset, write_preset

        name = self.query_one("#preset-name", Input).value.strip()
        summary = self.query_one("#preset-summary", Input).value.strip() or None
        base = str(self.query_one("#preset-base", Select).value)
        parent = str(self.query_one("#preset-extends", Select).value)
        extends = [] if parent == NO_PARENT else [parent]
        force = self.query_one("#preset-force", Checkbox).value
        try:
            saved = make_preset(
                self.model,
                name,
                BaseChoice.parse(base),
                extends,
                summary=summary,
                boot=self.boot,
                network=self.network,
                source=self.source,
                catalogue=self.catalogue,
            )
            self.written = write_preset(name, saved.text, force=force)
        except UserError as exc:
            self._error(exc.message)
            self.app.bell()
            return
        self.app.notify(f"Saved preset {name}: {saved.lines} assignment(s) in {self.written}")
        self.dismiss(self.written)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Escape: nothing is written."""
        self.dismiss(None)


__all__ = ["NO_PARENT", "SavePresetScreen"]
