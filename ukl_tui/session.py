"""The wizard's session: one tree, one plan of choices, and the history of what changed.

The wizard's screens are faces over this object. Each gets the session in its constructor,
reads what it shows from here, changes values only through it, and tells the app with a
message; nothing here imports Textual, so everything a screen relies on is tested without
a terminal.

- The choices live once, in ``plan`` (a ``plan.Plan``: tree, presets, hand edits, the
  application, the network and the boot). Review builds and saves that very plan.
- ``tree`` is the live Kconfig model; ``baseline`` is the ``.config`` text it was loaded or
  last saved with, so "unsaved changes" are what the user changed, not what a minimal file
  lacks (``changes``).
- ``asked`` is what the applied presets asked for: the rules' "did it stick" checks read it,
  and so does the boot (``plan.Plan.boot_spec`` puts the presets' kernel parameters and QEMU
  CPU flags together with the plan's own; ``cmdline`` and ``qemu_cpu`` are its results).
- Every action that changes values (an edit, a preset, a fix) is one undo step: a
  ``Checkpoint`` of the tree's values, the plan's choices that actions change, and ``asked``.
- A conflict's fix is applied in one place for every screen, ``apply_fix``, through the
  rules' ``Fix.apply_to``: the session is a ``rules.FixTarget``, so Kconfig values, kernel
  parameters, QEMU CPU flags and configure options each land in the plan where they belong.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ukl_tui.boot import BootSpec, add_cpu_flags, edit_cmdline, param_dropped
from ukl_tui.errors import UserError
from ukl_tui.plan import Plan, base_cmdline
from ukl_tui.workspace import locate_tree

if TYPE_CHECKING:
    from ukl_tui.host import Prereq
    from ukl_tui.kconfig import Change, Explanation, SetResult, Tree
    from ukl_tui.presets import ApplyReport, Boot, Preset
    from ukl_tui.rules import Conflict, Context
    from ukl_tui.workspace import Workspace

#: The wizard's steps, in order: (name, title shown in the step bar).
STEPS: tuple[tuple[str, str], ...] = (
    ("welcome", "Welcome"),
    ("preset", "Preset"),
    ("browser", "Config"),
    ("application", "Application"),
    ("network", "Network & boot"),
    ("review", "Review"),
)
STEP_NAMES: tuple[str, ...] = tuple(name for name, _ in STEPS)

#: QEMU's CPU model in the live checks: the model is decided at boot (``BootSpec``'s accel
#: choice), and only the flags after it matter to the rules.
CPU_MODEL = "max"

#: The plan's choices an undoable action (an edit, a preset, a fix) may change.
UNDOABLE = ("presets", "base", "edits", "append", "remove", "cpu_flags", "configure")


@dataclass(frozen=True)
class Asked:
    """What the applied presets asked for: values (tree names), required symbols, the boot."""

    wanted: Mapping[str, str] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    boot: Boot | None = None


@dataclass(frozen=True)
class Checkpoint:
    """What one undo step puts back (see the module docstring)."""

    label: str
    values: Mapping[str, object]
    choices: Mapping[str, Any]
    asked: Asked

    def same_state(self, other: Checkpoint) -> bool:
        """True when nothing an undo would restore differs (the labels do not count)."""
        return (self.values, self.choices, self.asked) == (other.values, other.choices, other.asked)


@dataclass
class History:
    """Undo and redo stacks, one checkpoint per user action."""

    undo: list[Checkpoint] = field(default_factory=list)
    redo: list[Checkpoint] = field(default_factory=list)

    def record(self, before: Checkpoint) -> None:
        """A new action: its 'before' goes on the undo stack; the redo stack is dropped."""
        self.undo.append(before)
        self.redo.clear()


@dataclass(eq=False)
class Session:
    """The wizard's state over a tree and a plan (see the module docstring).

    ``plan`` is None only while no tree is named (the welcome screen then offers ways to get
    one); every step after Welcome has a loaded ``tree`` and so a plan.
    """

    plan: Plan | None = None
    #: Where the tree came from: "argument", "current directory", "$UKL_DIR", "the clone", ...
    tree_source: str = ""
    tree: Tree | None = None
    workspace: Workspace | None = None
    load_error: str | None = None
    load_seconds: float = 0.0
    #: The .config text the session started from (or last saved): "changed" means against it.
    baseline: str = ""
    #: Host prerequisites (``host.check_prerequisites``), filled by the welcome screen.
    prereqs: list[Prereq] | None = None
    asked: Asked = field(default_factory=Asked)
    #: Conflict keys the user acknowledged on the Review step.
    acknowledged: set[str] = field(default_factory=set)
    history: History = field(default_factory=History)

    # ----- the tree --------------------------------------------------------------------

    @property
    def tree_path(self) -> Path | None:
        """The tree or ukl checkout the plan names (None: not chosen yet)."""
        return self.plan.tree if self.plan is not None else None

    @property
    def choices(self) -> Plan:
        """The plan, for the steps that need one (every step after Welcome)."""
        if self.plan is None:
            raise UserError("no kernel tree yet")
        return self.plan

    def choose_tree(self, path: Path, source: str) -> None:
        """Another tree (picked, unpacked or cloned on the welcome screen); the choices
        made so far stay, and are replayed on the new tree when it loads.
        """
        self.plan = new_plan(tree=path) if self.plan is None else replace(self.plan, tree=path)
        self.tree_source = source
        self.tree = None
        self.workspace = None
        self.load_error = None

    def load(self) -> None:
        """Load the plan's tree (blocking: the app runs this in a worker thread).

        The search index is built here, not on the first keystroke; a saved plan's presets
        and edits are replayed. ``load_error`` says what went wrong, in one line. The undo
        history starts afresh: its checkpoints hold another tree's values.
        """
        from ukl_tui.kconfig import load_tree

        plan = self.choices
        start = time.perf_counter()
        self.tree = None
        self.load_error = None
        try:
            tree = load_tree(plan.tree, config=plan.config, overlays=plan.overlays)
            tree.search("ukl")
            baseline = tree.config_text()
            self.replay(tree)
        except UserError as exc:
            self.load_error = exc.message
        else:
            self.baseline = baseline
            self.tree = tree
            self.history = History()
        self.load_seconds = time.perf_counter() - start

    def replay(self, tree: Tree) -> None:
        """Apply the plan's presets and edits to a freshly loaded tree (``--plan``)."""
        plan = self.choices
        if not (plan.presets or plan.edits):
            return
        from ukl_tui.presets import apply_presets

        presets = plan.load_presets()
        report = _applying(
            lambda: apply_presets(tree, presets, hand_edits=plan.edits, base=plan.base or False)
        )
        self.take_report(report, names=plan.presets)

    def _tree(self) -> Tree:
        if self.tree is None:
            raise UserError("the kernel tree is not loaded yet")
        return self.tree

    # ----- the steps -------------------------------------------------------------------

    def can_enter(self, step: str) -> str | None:
        """None when ``step`` can be shown now, else why not (said to the user)."""
        if step not in STEP_NAMES:
            raise ValueError(f"unknown step {step}")
        if step != "welcome" and self.tree is None:
            return "The kernel tree is not loaded yet."
        return None

    @staticmethod
    def step_after(step: str, offset: int) -> str | None:
        """The step ``offset`` places after ``step`` (negative: before), None past the ends."""
        index = STEP_NAMES.index(step) + offset
        return STEP_NAMES[index] if 0 <= index < len(STEP_NAMES) else None

    # ----- undo and redo ---------------------------------------------------------------

    def checkpoint(self, label: str) -> Checkpoint:
        """The current state, as an undo step named ``label``."""
        plan = self.choices
        return Checkpoint(
            label,
            self._tree().snapshot(),
            {name: copy.copy(getattr(plan, name)) for name in UNDOABLE},
            self.asked,
        )

    def restore(self, checkpoint: Checkpoint) -> None:
        """Back to a recorded state."""
        self._tree().restore(checkpoint.values)
        for name, value in checkpoint.choices.items():
            setattr(self.choices, name, copy.copy(value))
        self.asked = checkpoint.asked

    def record(self, before: Checkpoint) -> bool:
        """Make what happened since ``before`` one undo step (unless nothing changed)."""
        if before.same_state(self.checkpoint(before.label)):
            return False
        self.history.record(before)
        return True

    def undo(self) -> str | None:
        """Undo the last action; its label, or None when there is nothing to undo."""
        return self._step_history(self.history.undo, self.history.redo)

    def redo(self) -> str | None:
        """Redo what was undone; its label, or None when there is nothing to redo."""
        return self._step_history(self.history.redo, self.history.undo)

    def _step_history(self, source: list[Checkpoint], target: list[Checkpoint]) -> str | None:
        if not source:
            return None
        state = source.pop()
        target.append(self.checkpoint(state.label))
        self.restore(state)
        return state.label

    # ----- changing values -------------------------------------------------------------

    def set_values(self, assignments: Mapping[str, str], label: str) -> list[SetResult]:
        """Set values by hand as one undoable action; they become the plan's edits.

        Every value is validated first (a ``UserError`` changes nothing); the results say
        which values stuck.
        """
        before = self.checkpoint(label)
        results = self.set_kconfig(assignments)
        self.record(before)
        return results

    def one_key_fix(self, exp: Explanation) -> dict[str, str]:
        """The explanation's fix, offered only when trying it gives the wanted value.

        The fix is the model's (``Explanation.fix_assignments``); it is applied and rolled
        back (``snapshot``/``restore``) so a screen never offers a key that would not work.
        """
        fixes = exp.fix_assignments()
        if not fixes or exp.want is None:
            return {}
        tree = self._tree()
        snap = tree.snapshot()
        try:
            works = all(r.took for r in tree.set_many(fixes))
        except UserError:
            works = False
        finally:
            tree.restore(snap)
        return fixes if works else {}

    def apply_fix(self, conflict: Conflict) -> list[SetResult]:
        """Apply a conflict's fix as one undoable action: the one way every screen does it.

        Raises ``UserError`` when the conflict has no automatic fix (its advice is the
        message) or a value is invalid (then nothing changes); the results say whether the
        Kconfig values stuck.
        """
        fix = conflict.fix
        if fix is None or not fix.applicable:
            raise UserError(f"{conflict.id}: {fix.describe() if fix else 'no automatic fix'}")
        before = self.checkpoint(f"fix {conflict.id}")
        try:
            results = fix.apply_to(self)
        except UserError:
            self.restore(before)
            raise
        self.record(before)
        return results

    # The rules' FixTarget: how each part of a fix lands in the session.

    def set_kconfig(self, assignments: Mapping[str, str]) -> list[SetResult]:
        """Values on the tree; those that took become hand edits (they win over presets)."""
        results = self._tree().set_many(dict(assignments))
        self.choices.edits.update({r.name: r.requested for r in results if r.took})
        return results

    def edit_cmdline(self, add: Sequence[str], remove: Sequence[str]) -> None:
        """Kernel parameters: a removed one leaves the extra parameters, or, when the
        presets' (or default) command line has it, goes into the plan's ``remove``; an added
        one joins the extra parameters unless the command line has it already.
        """
        plan = self.choices
        base = base_cmdline(self.asked.boot)
        plan.remove = (
            *plan.remove,
            *(
                r
                for r in remove
                if r not in plan.remove and any(param_dropped(w, (r,)) for w in base)
            ),
        )
        kept_base = edit_cmdline(" ".join(base), (), plan.remove).split()
        append = [w for w in plan.append if not param_dropped(w, remove)]
        append += [w for w in add if w not in append and w not in kept_base]
        plan.append = tuple(append)

    def add_cpu_flags(self, flags: Sequence[str]) -> None:
        """QEMU CPU flags go into the plan's ``cpu_flags`` (set on top of the presets')."""
        plan = self.choices
        plan.cpu_flags = tuple(f for f in add_cpu_flags(",".join(plan.cpu_flags), flags).split(","))

    def set_options(self, options: Mapping[str, Any]) -> None:
        """Configure's options (``apps.ConfigureOptions`` fields)."""
        plan = self.choices
        try:
            plan.configure = replace(plan.configure, **dict(options))
        except TypeError:
            names = ", ".join(options)
            raise UserError(f"configure has no option {names}") from None

    # ----- presets ---------------------------------------------------------------------

    def take_report(self, report: ApplyReport, names: Sequence[str] | None = None) -> None:
        """Presets were applied to the tree: the plan names them (``names``: as the user
        gave them, a file path stays a path) and ``asked`` holds what they asked for.
        """
        plan = self.choices
        plan.presets = tuple(report.presets if names is None else names)
        plan.base = report.base
        # This tree's names (a hand edit of the same symbol then overrides), and the asked
        # name for a symbol the tree lacks, so the rules can say it is missing.
        self.asked = Asked(
            wanted={o.symbol or o.name: o.value for o in report.outcomes},
            required=frozenset(o.symbol or o.name for o in report.outcomes if o.required),
            boot=report.boot,
        )

    def preview_preset(self, preset: Preset, base: bool | str) -> tuple[ApplyReport, list[Any]]:
        """What applying ``preset`` would do and the conflicts left after it; the tree is
        restored at once (``Tree.snapshot``/``restore``), so nothing changes.
        """
        from ukl_tui.presets import apply_presets
        from ukl_tui.rules import Context, check

        tree = self._tree()
        snap = tree.snapshot()
        try:
            report = _applying(
                lambda: apply_presets(tree, [preset], hand_edits=self.choices.edits, base=base)
            )
            boot = self.choices.boot_spec(report.boot)
            context = Context.for_report(
                tree, report, cmdline=boot.kernel_cmdline(), qemu_cpu=boot.cpu_value(CPU_MODEL)
            )
            return report, check(context)
        finally:
            tree.restore(snap)

    def apply_preset(
        self, preset: Preset, base: bool | str, drop_edits: Sequence[str] = ()
    ) -> ApplyReport:
        """Apply ``preset`` as one undoable action. Hand edits win over it, except those
        named in ``drop_edits`` (the user chose the preset's value over theirs).
        """
        from ukl_tui.presets import apply_presets

        tree = self._tree()
        edits = {k: v for k, v in self.choices.edits.items() if k not in drop_edits}
        before = self.checkpoint(f"preset {preset.name}")
        try:
            report = _applying(lambda: apply_presets(tree, [preset], hand_edits=edits, base=base))
        except UserError:
            self.restore(before)
            raise
        self.choices.edits = edits
        self.take_report(report)
        self.record(before)
        return report

    # ----- what the session says -------------------------------------------------------

    def boot_spec(self) -> BootSpec:
        """The boot as the plan will run it (``Plan.boot_spec`` with what presets asked)."""
        return self.choices.boot_spec(self.asked.boot)

    def cmdline(self) -> str:
        """The kernel command line the boot will use (with ``ip=`` and init arguments)."""
        return self.boot_spec().kernel_cmdline()

    def qemu_cpu(self) -> str:
        """QEMU's ``-cpu`` value as the boot will pass it (see ``CPU_MODEL``)."""
        return self.boot_spec().cpu_value(CPU_MODEL)

    def rules_context(self) -> Context:
        """The rules' view of the live session."""
        from ukl_tui.rules import Context

        return Context(
            tree=self.tree,
            cmdline=self.cmdline(),
            qemu_cpu=self.qemu_cpu(),
            wanted={**self.asked.wanted, **self.choices.edits},
            required=self.asked.required,
        )

    def conflicts(self) -> list[Conflict]:
        """Conflicts of the live session (``rules.check``), errors first."""
        if self.tree is None:
            return []
        from ukl_tui.rules import check

        return check(self.rules_context())

    def changes(self) -> list[Change]:
        """Symbols whose value differs from the baseline (the file as loaded or last saved).

        Not ``Tree.diff()`` against the file itself: a minimal .config (a defconfig) lacks
        thousands of lines that saving would add, yet the user changed none of them.
        """
        if self.tree is None:
            return []
        return self.tree.diff(against=self.baseline)

    # ----- saving ----------------------------------------------------------------------

    def save_config(self) -> Path:
        """Write .config atomically (the previous one becomes .config.old); it becomes the
        baseline. Raises ``UserError`` when it cannot be written.
        """
        tree = self._tree()
        path = tree.write_config()
        self.baseline = tree.config_text()
        return path

    def resolved_plan(self) -> Plan:
        """The plan as Review builds and saves it: a ``.config`` left unnamed is the file
        the tree was loaded from.
        """
        plan = self.choices
        if plan.config is None and self.tree is not None and self.tree.loaded_from is not None:
            return replace(plan, config=self.tree.loaded_from)
        return plan

    def save_plan(self, path: Path) -> Path:
        """Write the plan file (the whole session, replayable with ``--plan``)."""
        saved = self.resolved_plan().save(path)
        self.choices.source = saved
        return saved


def _applying(apply: Any) -> ApplyReport:
    """Run a preset application; kconfiglib's own error for a base file the tree lacks (a
    tree without arch/x86/configs/x86_64_defconfig) becomes one line.
    """
    try:
        return apply()
    except OSError as exc:
        raise UserError(str(exc).splitlines()[0]) from None


def new_plan(**fields: Any) -> Plan:
    """A fresh plan, compiling through distcc's own host list when the user has one.

    The wizard's Build field then starts with those hosts, as ``ukl-tui plan`` without
    ``--distcc`` does; a malformed list is left out here (the field starts empty and
    ``ukl-tui plan`` names the error).
    """
    from ukl_tui.distcc import implicit_hosts

    try:
        found = implicit_hosts()
    except UserError:
        found = None
    return Plan(**fields, distcc=None if found is None else found[0])


def session_from_args(args: argparse.Namespace) -> Session:
    """The session the wizard's command line asks for (tree located, paths made absolute)."""
    plan_file = getattr(args, "wizard_plan", None)
    config = getattr(args, "wizard_config", None)
    overlays = [Path(p).expanduser().absolute() for p in getattr(args, "wizard_overlay", []) or []]
    tree_arg = getattr(args, "wizard_tree", None)
    for overlay in overlays:
        if not overlay.is_file():
            raise UserError(f"{overlay}: no such Kconfig overlay file")
    if plan_file:
        plan = Plan.load(Path(plan_file).expanduser())
        changes: dict[str, Any] = {}
        if tree_arg:
            changes["tree"] = Path(tree_arg).expanduser().absolute()
        if config:
            changes["config"] = Path(config).expanduser().absolute()
        if overlays:
            changes["overlays"] = tuple(overlays)
        source = "argument" if tree_arg else "the plan file"
        return Session(replace(plan, **changes) if changes else plan, tree_source=source)
    path, source = locate_tree(tree_arg)
    if path is None:
        if config or overlays:
            raise UserError("--config and --overlay belong to a tree: name it with --tree")
        return Session()
    plan = new_plan(
        tree=path.absolute(),
        config=Path(config).expanduser().absolute() if config else None,
        overlays=tuple(overlays),
    )
    return Session(plan, tree_source=source)
