"""Review: what is still wrong, what changed, and the exact commands, before anything runs.

The session's plan (``Session.resolved_plan``) is built: ``Plan.build`` checks every choice (one
clear error for the first bad input) and returns the ordered steps, their warnings and the
plan's conflicts. Those, together with the live tree's conflicts (``rules.check`` on the
session), must each be fixed or acknowledged before Run is offered. The commands are
``plan.step_lines`` in a read-only text area (selectable) and one key copies them all. A fix is
the session's one ``apply_fix``. The plan file is ``Session.save_plan``; Run asks the app to
hand the checked plan to the Run screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, OptionList, Static, TextArea

from ukl_tui.errors import UserError
from ukl_tui.paths import display_path
from ukl_tui.screens.messages import SaveConfig, StartRun, ValuesChanged
from ukl_tui.session import STEPS, Session
from ukl_tui.widgets.conflicts import ConflictList, fix_message, key
from ukl_tui.widgets.steps import StepBar

if TYPE_CHECKING:
    from ukl_tui.plan import Built

#: Severities that must be fixed or acknowledged before Run (notes never block).
BLOCKING = ("error", "warning")


def merge_conflicts(*groups: list[Any]) -> list[Any]:
    """One list from the live tree's and the plan's conflicts: same rule and subject once."""
    seen: set[str] = set()
    out: list[Any] = []
    for group in groups:
        for conflict in group:
            if key(conflict) not in seen:
                seen.add(key(conflict))
                out.append(conflict)
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(out, key=lambda c: order.get(c.severity, 3))


class ReviewScreen(Screen[None]):
    """The review step (see module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "acknowledge", "Acknowledge"),
        Binding("f", "fix", "Fix"),
        Binding("y", "copy", "Copy commands"),
        Binding("ctrl+s", "save_config", "Save .config"),
        Binding("p", "save_preset", "Save as preset"),
        Binding("ctrl+w", "save_plan", "Save plan"),
        Binding("ctrl+r", "run", "Run"),
    ]

    def __init__(self, session: Session, **kw: Any) -> None:
        super().__init__(**kw)
        self.session = session
        self.built: Built | None = None
        self.error: str | None = None
        self.conflicts: list[Any] = []
        self.commands = ""
        #: How many times the plan was built (tests wait for the first one).
        self.builds = 0

    def compose(self) -> ComposeResult:
        """Conflicts and changes on the left, commands on the right; plan file and Run below."""
        yield StepBar(STEPS, "review")
        with Horizontal(id="review-main"):
            with VerticalScroll(id="review-left"):
                yield Static("", id="review-error", markup=False)
                yield Static("Conflicts", classes="panel-title", id="review-conflicts-title")
                yield ConflictList(id="review-conflicts")
                yield Static("Configuration changes", classes="panel-title")
                yield Static("", id="review-diff")
                yield Static("", id="review-warnings")
            with Vertical(id="review-right"):
                yield Static("The exact commands", classes="panel-title")
                yield TextArea("", id="review-commands", read_only=True, soft_wrap=True)
        with Horizontal(id="review-bottom"):
            yield Label("Plan file", id="plan-label")
            yield Input(id="plan-path", compact=True)
            yield Button("Save plan", id="save-plan", compact=True)
            yield Button("Run ▸", id="run", variant="success", compact=True)
        yield Static("", id="message", markup=False)
        yield Footer(compact=True)

    def on_screen_resume(self) -> None:
        """Every visit: rebuild the plan from the session as it is now."""
        self.rebuild()

    def on_mount(self) -> None:
        """The conflict list has focus: it is what needs attention first."""
        self.query_one("#review-conflicts").focus()

    def say(self, text: str, error: bool = False) -> None:
        """The message line."""
        line = self.query_one("#message", Static)
        line.update(text)
        line.set_class(error, "-error")

    # ----- building ---------------------------------------------------------------------

    def rebuild(self) -> None:
        """Session -> Plan -> Built; show conflicts, changes, warnings and commands."""
        from ukl_tui.plan import default_plan_path, step_lines

        session = self.session
        self.error = None
        self.built = None
        plan = session.resolved_plan()
        try:
            self.built = plan.build(tree=session.tree)
        except UserError as exc:
            self.error = exc.message
        error = self.query_one("#review-error", Static)
        error.update(f"✗ {self.error}" if self.error else "")
        error.display = self.error is not None
        built = self.built
        plan_conflicts = built.conflicts if built is not None else []
        self.conflicts = merge_conflicts(session.conflicts(), plan_conflicts)
        self.query_one(ConflictList).show(self.conflicts, session.acknowledged)
        blocking = self.blocking()
        title = self.query_one("#review-conflicts-title", Static)
        title.update(
            f"Conflicts: {len(blocking)} to fix or acknowledge"
            if blocking
            else "Conflicts: nothing blocks the build"
        )
        self._show_changes()
        warnings: list[Content] = []
        if built is not None:
            warnings = [Content.assemble(("! ", "$warning"), w) for w in built.warnings]
            if built.accel_note and built.accel_note not in built.warnings:
                warnings.append(Content.assemble(("accel  ", "dim"), built.accel_note))
        head = [Content.styled("\nWarnings", "bold")] if warnings else []
        self.query_one("#review-warnings", Static).update(Content("\n").join(head + warnings))
        self.commands = "\n".join(step_lines(built.steps)) if built is not None else ""
        self.query_one("#review-commands", TextArea).text = self.commands
        path_field = self.query_one("#plan-path", Input)
        if not path_field.value and built is not None:
            target = plan.source or default_plan_path(built.workspace, built.build_dir)
            path_field.value = display_path(target)
        self.query_one("#run", Button).disabled = built is None or bool(blocking)
        self.builds += 1

    def refresh_values(self) -> None:
        """The .config was saved, or values changed while Review is shown (the app calls
        this): build the plan again.
        """
        self.rebuild()

    def _show_changes(self) -> None:
        session = self.session
        plan = session.choices
        changes = session.changes()
        tree = session.tree
        lines: list[Content] = []
        presets = ", ".join(plan.presets) or "none"
        base = f" on {plan.base}" if plan.base else ""
        lines.append(Content.assemble(("presets  ", "dim"), presets + base))
        edits = " ".join(f"{k}={v}" for k, v in plan.edits.items()) or "none"
        lines.append(Content.assemble(("edits    ", "dim"), edits))
        if tree is not None:
            saved = "saved" if not tree.dirty else "not saved (Ctrl+S saves it)"
            shown = display_path(tree.config_path)
            lines.append(Content.assemble(("file     ", "dim"), f"{shown}  {saved}"))
        width = min(36, max((len(c.name) for c in changes), default=8) + 2)
        for change in changes[:200]:
            old = "not set" if change.old is None else change.old or '""'
            new = "not set" if change.new is None else change.new or '""'
            lines.append(
                Content.assemble(
                    "  ",
                    (change.name.ljust(width), "bold"),
                    (old, "$error"),
                    " → ",
                    (new, "$success"),
                )
            )
        if not changes:
            lines.append(Content.styled("  no values changed in this session", "dim"))
        elif len(changes) > 200:
            lines.append(Content.styled(f"  … and {len(changes) - 200} more", "dim"))
        self.query_one("#review-diff", Static).update(Content("\n").join(lines))

    def blocking(self) -> list[Any]:
        """Errors and warnings neither fixed nor acknowledged."""
        acknowledged = self.session.acknowledged
        return [c for c in self.conflicts if c.severity in BLOCKING and key(c) not in acknowledged]

    # ----- actions ----------------------------------------------------------------------

    def action_acknowledge(self) -> None:
        """a: accept the highlighted conflict as it is (again: take that back)."""
        conflict = self.query_one(ConflictList).current
        if conflict is None:
            return
        acknowledged = self.session.acknowledged
        if key(conflict) in acknowledged:
            acknowledged.discard(key(conflict))
            self.say(f"{conflict.id}: no longer acknowledged")
        else:
            acknowledged.add(key(conflict))
            self.say(f"{conflict.id}: acknowledged (the build goes ahead with it)")
        self.rebuild()

    @on(OptionList.OptionSelected, "#review-conflicts")
    def action_fix(self) -> None:
        """F / Enter: apply the highlighted conflict's fix (``Session.apply_fix``: one undoable
        change, wherever the fix belongs: Kconfig values, kernel parameters, QEMU CPU flags,
        configure options).
        """
        conflict = self.query_one(ConflictList).current
        if conflict is None:
            return
        try:
            results = self.session.apply_fix(conflict)
        except UserError as exc:
            self.say(exc.message, error=True)
            return
        self.post_message(ValuesChanged())
        self.say(*fix_message(conflict, results))
        self.rebuild()

    def action_copy(self) -> None:
        """y: every command to the clipboard (OSC 52; the text area can be selected too)."""
        if not self.commands:
            self.say("No commands: the plan has an error.", error=True)
            return
        self.app.copy_to_clipboard(self.commands + "\n")
        self.say(f"Copied {self.commands.count(chr(10)) + 1} lines to the clipboard.")

    def action_save_config(self) -> None:
        """Ctrl+S: write the .config now (the plan rebuilds it in the build directory too);
        the app saves, says so and has this step rebuilt.
        """
        self.post_message(SaveConfig())

    def action_save_preset(self) -> None:
        """p: Save as preset... the configuration and boot settings, as a preset of your own."""
        from ukl_tui.screens.save_preset import SavePresetScreen

        self.app.push_screen(SavePresetScreen.for_session(self.session))

    @on(Button.Pressed, "#save-plan")
    @on(Input.Submitted, "#plan-path")
    def action_save_plan(self) -> None:
        """Ctrl+W: write the plan file (the whole session, replayable with --plan)."""
        text = self.query_one("#plan-path", Input).value.strip()
        if not text:
            self.say("Name the plan file.", error=True)
            return
        try:
            path = self.session.save_plan(Path(text).expanduser())
        except UserError as exc:
            self.say(exc.message, error=True)
            return
        self.say(f"Plan saved to {path}; 'ukl-tui --plan {path}' reopens this session.")

    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        """Ctrl+R: hand the checked plan to the Run screen (refused while conflicts block)."""
        if self.built is None:
            self.say(self.error or "The plan has an error.", error=True)
            return
        blocking = self.blocking()
        if blocking:
            self.say(
                f"{len(blocking)} conflict{'s' if len(blocking) != 1 else ''} left: fix (f) or "
                "acknowledge (a) each one first.",
                error=True,
            )
            return
        self.post_message(StartRun(self.built))
