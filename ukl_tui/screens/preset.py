"""Preset: pick a starting point, see exactly what it would change before anything changes.

The catalogue is the presets module's (``Catalogue``); the preview and the apply are the
session's (``Session.preview_preset``, ``Session.apply_preset``: one undoable action), and
the remaining conflicts are the rules' on the applied state. The preview applies to the live
tree and restores it at once, so what is shown is what Apply will do. A preset never
silently overrides a value set by hand in this session: Apply asks first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Checkbox, Footer, OptionList, Static
from textual.widgets.option_list import Option

from ukl_tui.errors import UserError
from ukl_tui.screens.dialogs import Choose
from ukl_tui.screens.messages import GoNext, ValuesChanged
from ukl_tui.session import STEPS, Session
from ukl_tui.widgets.conflicts import SEVERITY_MARK
from ukl_tui.widgets.steps import StepBar

if TYPE_CHECKING:
    from ukl_tui.presets import ApplyReport, Preset

STATUS_MARK = {
    "applied": ("→ ", "$success"),
    "already": ("= ", "dim"),
    "not-stuck": ("✗ ", "$error"),
    "not-in-tree": ("– ", "$warning"),
}


def _show(value: str | None) -> str:
    return value if value else '""'


def outcome_line(outcome: Any) -> Content:
    """One symbol of the preview: what it is now, what it would be, or why not."""
    mark = STATUS_MARK.get(outcome.status, ("? ", ""))
    name = outcome.name if outcome.symbol in (None, outcome.name) else f"{outcome.symbol}"
    value = outcome.value or '""'
    parts: list[str | tuple[str, str]] = [mark, (f"{name}={value}", "bold")]
    if outcome.status == "applied":
        parts.append((f"  (now {_show(outcome.before)})", "dim"))
    elif outcome.status == "already":
        parts.append(("  already", "dim"))
    elif outcome.status == "not-stuck":
        parts.append((f"  would not stick: {outcome.reason}", "$error"))
    elif outcome.required:
        parts.append(("  required, but this tree does not define it", "$error"))
    else:
        parts.append(("  not in this tree (optional: skipped)", "$warning"))
    if outcome.origin == "yours":
        parts.append(("  [your edit]", "italic"))
    return Content.assemble(*parts)


class PresetScreen(Screen[None]):
    """The preset step (see module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+a", "apply", "Apply", priority=True),
        Binding("b", "toggle_base", "Base"),
        Binding("s", "skip", "Skip"),
    ]

    def __init__(self, session: Session, **kw: Any) -> None:
        super().__init__(**kw)
        self.session = session
        self.presets: dict[str, Preset] = {}
        self.problems: list[str] = []
        self.report: ApplyReport | None = None
        self.remaining: list[Any] = []
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        """List on the left, preview on the right (stacked when narrow)."""
        yield StepBar(STEPS, "preset")
        with Horizontal(id="preset-main"):
            with Vertical(id="preset-left"):
                yield Static("Presets", classes="panel-title")
                yield OptionList(id="preset-list")
            with VerticalScroll(id="preset-preview"):
                yield Static("", id="preset-head")
                yield Checkbox("", id="preset-base", compact=True)
                yield Static("", id="preset-changes")
                yield Static("", id="preset-boot")
                yield Static("", id="preset-conflicts")
        yield Static(
            "Enter or Ctrl+A applies the highlighted preset; s skips (no preset).",
            id="message",
            markup=False,
        )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Read the catalogue; a malformed file is listed, not fatal."""
        from ukl_tui.presets import Catalogue

        presets, errors = Catalogue().load_all()
        self.presets = {p.name: p for p in presets}
        self.problems = [e.message for e in errors]
        options = [self._option(p) for p in presets]
        options += [
            Option(Content.styled(f"✗ {m}", "$error"), disabled=True) for m in self.problems
        ]
        listing = self.query_one("#preset-list", OptionList)
        listing.set_options(options)
        chosen = self.session.choices.presets
        names = [p.name for p in presets]
        first = chosen[0] if chosen and chosen[0] in names else "ukl-base"
        listing.highlighted = names.index(first) if first in names else 0
        listing.focus()

    @staticmethod
    def _option(preset: Preset) -> Option:
        where = "" if preset.shipped else "  (yours)"
        return Option(
            Content.assemble(
                (preset.name, "bold"), (where, "italic"), "\n", (preset.summary, "dim")
            ),
            id=preset.name,
        )

    @property
    def current(self) -> Preset | None:
        """The highlighted preset."""
        option = self.query_one("#preset-list", OptionList).highlighted_option
        return self.presets.get(option.id) if option is not None and option.id else None

    @on(OptionList.OptionHighlighted, "#preset-list")
    def _highlighted(self) -> None:
        preset = self.current
        if preset is None:
            return
        box = self.query_one("#preset-base", Checkbox)
        box.display = preset.base is not None
        if preset.base:
            tree = self.session.tree
            box.label = f"Start from {preset.base} (instead of the loaded .config's values)"
            with box.prevent(Checkbox.Changed):
                box.value = tree is not None and tree.loaded_from is None
        self._schedule()

    @on(Checkbox.Changed, "#preset-base")
    def _base_changed(self) -> None:
        self._schedule()

    def _schedule(self) -> None:
        """Preview after the cursor rests (a tinyconfig preview takes ~0.1 s)."""
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.06, self.preview)

    def base_choice(self) -> bool | str:
        """The ``base`` argument for the presets module: the preset's own, or none."""
        box = self.query_one("#preset-base", Checkbox)
        return bool(box.display and box.value)

    def preview(self) -> None:
        """Apply to the live tree, judge with the rules, restore: then show all of it."""
        preset = self.current
        if preset is None or self.session.tree is None:
            return
        try:
            report, remaining = self.session.preview_preset(preset, self.base_choice())
        except UserError as exc:
            self.report = None
            self.query_one("#preset-changes", Static).update(
                Content.styled(f"\nCannot apply {preset.name}: {exc.message}", "$error")
            )
            self.query_one("#preset-boot", Static).update("")
            self.query_one("#preset-conflicts", Static).update("")
            return
        self.report = report
        self.remaining = remaining
        self._show(preset, report, remaining)

    def _show(self, preset: Preset, report: ApplyReport, remaining: list[Any]) -> None:
        head = [
            Content.assemble((preset.name, "bold $accent"), "  ", preset.summary),
            Content.assemble(("extends  ", "dim"), " → ".join(preset.chain)),
            Content.assemble(("file     ", "dim"), preset.source.rsplit("/", 1)[-1]),
        ]
        self.query_one("#preset-head", Static).update(Content("\n").join(head))
        changes = [Content.styled("\nWhat applying changes", "bold")]
        changes += [outcome_line(o) for o in report.outcomes]
        for clash in report.clashes:
            changes.append(
                Content.assemble(
                    ("! ", "$warning"),
                    f"{clash.symbol}: you set {_show(clash.your_value)} by hand; "
                    f"{clash.preset} wants {_show(clash.preset_value)} (Apply asks)",
                )
            )
        self.query_one("#preset-changes", Static).update(Content("\n").join(changes))
        boot = [Content.styled("\nBoot", "bold")]
        boot.append(
            Content.assemble(
                ("kernel parameters  ", "dim"), report.boot.cmdline_text or "(defaults)"
            )
        )
        boot.append(
            Content.assemble(("QEMU -cpu flags    ", "dim"), report.boot.cpu_arg or "(defaults)")
        )
        if report.boot.gdb:
            boot.append(Content.assemble(("gdb stub           ", "dim"), "on (127.0.0.1:1234)"))
        for key, value in report.boot.network_text().items():
            shown = ", ".join(value) if isinstance(value, list) else value or "none"
            boot.append(Content.assemble((f"network {key:<11}", "dim"), shown))
        for line in self.session.network_clashes(report.boot).values():
            boot.append(Content.assemble(("! ", "$warning"), line, " (Apply asks)"))
        self.query_one("#preset-boot", Static).update(Content("\n").join(boot))
        lines = [Content.styled("\nConflicts left after applying", "bold")]
        if not remaining:
            lines.append(Content.styled("✓ none", "$success"))
        for conflict in remaining:
            mark = SEVERITY_MARK.get(conflict.severity, ("? ", ""))
            lines.append(Content.assemble(mark, (conflict.id, "bold"), "  ", conflict.message))
        self.query_one("#preset-conflicts", Static).update(Content("\n").join(lines))

    # ----- actions ----------------------------------------------------------------------

    def action_toggle_base(self) -> None:
        """b: start from the preset's base configuration, or from the loaded values."""
        box = self.query_one("#preset-base", Checkbox)
        if box.display:
            box.toggle()

    @on(OptionList.OptionSelected, "#preset-list")
    def action_apply(self) -> None:
        """Enter / Ctrl+A: apply (asking first when it would override your edits)."""
        if self._timer is not None:
            self._timer.stop()
        self.preview()
        report, preset = self.report, self.current
        if report is None or preset is None:
            return
        network = self.session.network_clashes(report.boot)
        if not report.clashes and not network:
            self._apply(preset, keep_mine=True)
            return
        listed = "\n".join([*(c.line() for c in report.clashes), *network.values()])

        def answered(key: str | None) -> None:
            if key in ("k", "p"):
                self._apply(preset, keep_mine=key == "k")

        self.app.push_screen(
            Choose(
                f"{preset.name} differs from your edits",
                listed,
                [
                    ("k", "Keep mine", "primary"),
                    ("p", "Use the preset's", "warning"),
                    ("c", "Cancel", "default"),
                ],
            ),
            answered,
        )

    def _apply(self, preset: Preset, keep_mine: bool) -> None:
        clashes = self.report.clashes if self.report is not None else []
        drop = [] if keep_mine else [clash.symbol for clash in clashes]
        network = (
            []
            if keep_mine or self.report is None
            else self.session.network_clashes(self.report.boot)
        )
        try:
            report = self.session.apply_preset(
                preset, self.base_choice(), drop_edits=drop, drop_network=list(network)
            )
        except UserError as exc:
            self.query_one("#message", Static).update(exc.message)
            return
        self.post_message(ValuesChanged())
        failed = len(report.failed)
        self.app.notify(
            f"{preset.name}: {sum(o.status == 'applied' for o in report.outcomes)} applied, "
            f"{failed} did not stick" + (" (see Conflicts)" if failed else ""),
            title="Preset applied",
            severity="warning" if failed else "information",
        )
        self.post_message(GoNext())

    def action_skip(self) -> None:
        """s: no preset; on to the browser."""
        self.post_message(GoNext())
