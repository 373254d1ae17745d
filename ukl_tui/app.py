"""The wizard: a Textual app leading from a kernel tree (or nothing) to the exact commands.

The app holds the session (tree, workspace, choices made so far) and the navigation between
steps; every screen is a thin face over the core modules. Steps are installed screens, so
going back and forth keeps each screen as the user left it; Escape goes back a step, Ctrl+N
goes forward, the step bar can be clicked. Ctrl+P jumps to any symbol by fuzzy name.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.worker import Worker, WorkerState

from ukl_tui.errors import UserError
from ukl_tui.widgets.palette import SymbolProvider
from ukl_tui.widgets.steps import StepBar

if TYPE_CHECKING:
    from ukl_tui.host import Prereq
    from ukl_tui.kconfig import Change, Tree
    from ukl_tui.workspace import Workspace


@dataclass
class Session:
    """Everything chosen so far; what a saved plan will hold."""

    tree_path: Path | None = None
    config: Path | None = None
    overlays: list[Path] = field(default_factory=list)
    plan_path: Path | None = None
    #: Where the tree came from: "argument", "current directory", "$UKL_DIR", "picked", ...
    tree_source: str = ""
    tree: Tree | None = None
    workspace: Workspace | None = None
    load_error: str | None = None
    load_seconds: float = 0.0
    #: The .config text the session started from (or last saved): "changed" means against it.
    baseline: str = ""
    #: Host prerequisites (``host.check_prerequisites``), filled by the welcome screen.
    prereqs: list[Prereq] | None = None
    # ----- the choices a plan holds (``plan.Plan``'s fields) -----
    #: Presets applied, in order, and the base configuration they were applied on.
    presets: list[str] = field(default_factory=list)
    base: str | None = None
    #: What the applied presets asked for (tree names), for the "did it stick" rules.
    preset_wanted: dict[str, str] = field(default_factory=dict)
    preset_required: frozenset[str] = frozenset()
    #: The presets' kernel parameters and QEMU CPU flags (None: the boot module's defaults).
    preset_cmdline: tuple[str, ...] | None = None
    preset_cpu_flags: tuple[str, ...] | None = None
    #: Values the user set by hand (browser edits and fixes): they win over presets.
    edits: dict[str, str] = field(default_factory=dict)
    #: The application: a program of the checkout, or a prebuilt archive (None, None: the
    #: checkout's default program, or the kernel alone for a plain tree).
    app: str | None = None
    ukl_a: Path | None = None
    #: configure's options (``apps.ConfigureOptions``; its ``program`` is ``app``'s).
    configure: Any = None
    #: The guest's network (``boot.NetworkSpec``) and the boot settings of the plan.
    network: Any = None
    auto_forwards: bool = True
    memory_mib: int = 1024
    cpus: int = 1
    accel: str = "auto"
    initrd: str = "auto"
    #: Extra kernel parameters and application arguments typed on the Network and boot step.
    append: tuple[str, ...] = ()
    init_args: tuple[str, ...] = ()
    #: distcc hosts on one line (None: compile here) and make -j (None: hosts' slots / CPUs).
    distcc: str | None = None
    jobs: int | None = None
    #: Conflict ids the user acknowledged on the Review step.
    acknowledged: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        """Defaults that need the core's types."""
        if self.configure is None:
            from ukl_tui.apps import ConfigureOptions

            self.configure = ConfigureOptions()
        if self.network is None:
            from ukl_tui.boot import NetworkSpec

            self.network = NetworkSpec()

    def cmdline(self) -> str:
        """The kernel command line the boot will use (presets' or default, plus extras)."""
        from ukl_tui.boot import DEFAULT_CMDLINE

        return " ".join((*(self.preset_cmdline or DEFAULT_CMDLINE), *self.append))

    def qemu_cpu(self) -> str:
        """QEMU's ``-cpu`` flags as the boot will pass them (the model is decided at boot)."""
        from ukl_tui.boot import DEFAULT_CPU_FLAGS

        return ",".join(("max", *(self.preset_cpu_flags or DEFAULT_CPU_FLAGS)))

    def to_plan(self) -> Any:
        """The session as a ``plan.Plan`` (what Review builds, saves and runs)."""
        from ukl_tui.plan import Plan

        if self.tree_path is None:
            raise UserError("no kernel tree yet")
        config = self.config
        if config is None and self.tree is not None and self.tree.loaded_from is not None:
            config = self.tree.loaded_from
        plan = Plan(
            tree=self.tree_path,
            overlays=tuple(self.overlays),
            config=config,
            base=self.base,
            presets=tuple(self.presets),
            edits=dict(self.edits),
            app=self.app,
            ukl_a=self.ukl_a,
            configure=self.configure,
            network=self.network,
            auto_forwards=self.auto_forwards,
            memory_mib=self.memory_mib,
            cpus=self.cpus,
            append=self.append,
            init_args=self.init_args,
            initrd=self.initrd,
            accel=self.accel,
            distcc=self.distcc,
            jobs=self.jobs,
        )
        plan.source = self.plan_path
        return plan

    @classmethod
    def from_plan(cls, plan: Any) -> Session:
        """A session re-entered from a saved plan (the tree is loaded, then replayed)."""
        return cls(
            tree_path=plan.tree,
            config=plan.config,
            overlays=list(plan.overlays),
            plan_path=plan.source,
            tree_source="the plan file",
            presets=list(plan.presets),
            base=plan.base,
            edits=dict(plan.edits),
            app=plan.app,
            ukl_a=plan.ukl_a,
            configure=plan.configure,
            network=plan.network,
            auto_forwards=plan.auto_forwards,
            memory_mib=plan.memory_mib,
            cpus=plan.cpus,
            append=tuple(plan.append),
            init_args=tuple(plan.init_args),
            initrd=plan.initrd,
            accel=plan.accel,
            distcc=plan.distcc,
            jobs=plan.jobs,
        )

    def replay(self, tree: Tree) -> None:
        """Apply the session's presets and edits to a freshly loaded tree (``--plan``)."""
        if not (self.presets or self.edits):
            return
        from ukl_tui.presets import apply_presets, load_presets

        presets = load_presets(self.presets) if self.presets else []
        report = apply_presets(tree, presets, hand_edits=self.edits, base=self.base or False)
        self.preset_wanted = report.wanted
        self.preset_required = frozenset(o.symbol or o.name for o in report.outcomes if o.required)
        self.preset_cmdline = report.boot.cmdline or None
        self.preset_cpu_flags = report.boot.qemu_cpu_flags or None

    def rules_context(self) -> Any:
        """The rules' view of the live session (``rules.Context``)."""
        from ukl_tui.rules import Context

        return Context(
            tree=self.tree,
            cmdline=self.cmdline(),
            qemu_cpu=self.qemu_cpu(),
            wanted={**self.preset_wanted, **self.edits},
            required=self.preset_required,
        )

    def conflicts(self) -> list[Any]:
        """Conflicts of the live session (``rules.check``), errors first."""
        if self.tree is None:
            return []
        from ukl_tui.rules import check

        return check(self.rules_context())


def display_path(path: Path | str | None) -> str:
    """A path as the user would type it: relative to the current directory when inside it,
    ``~/...`` when inside the home directory, else absolute.
    """
    if path is None:
        return "(none)"
    path = Path(path)
    for base, shown in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            rel = path.relative_to(base)
        except ValueError:
            continue
        return f"{shown}{rel}" if str(rel) != "." else (shown.rstrip("/") or ".")
    return str(path)


def locate_tree(argument: str | None, cwd: Path | None = None) -> tuple[Path | None, str]:
    """Which tree to open: the argument, the current directory, then ``$UKL_DIR``.

    The current directory counts only when it is a kernel tree or a ukl checkout (it is
    checked with the workspace module); otherwise ``(None, "")`` means "ask the user".
    """
    if argument:
        return Path(argument).expanduser(), "argument"
    from ukl_tui.workspace import inspect_workspace

    here = cwd or Path.cwd()
    try:
        inspect_workspace(here)
    except UserError:
        pass
    else:
        return here, "current directory"
    env = os.environ.get("UKL_DIR")
    if env:
        return Path(env).expanduser(), "$UKL_DIR"
    return None, ""


class TreeLoaded(Message, bubble=False):
    """The tree finished loading (or failed: ``error``); posted to the app only."""

    def __init__(self, error: str | None) -> None:
        super().__init__()
        self.error = error


class UklApp(App[int]):
    """The ukl-tui wizard (see module docstring)."""

    CSS_PATH = "ukl_tui.tcss"
    TITLE = "ukl-tui"
    COMMANDS: ClassVar = App.COMMANDS | {SymbolProvider}
    HORIZONTAL_BREAKPOINTS: ClassVar = [(0, "-narrow"), (110, "-wide")]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next"),
        Binding("f1", "keys", "Keys"),
    ]

    #: The wizard's steps, in order: (screen name, title).
    ALL_STEPS: ClassVar[list[tuple[str, str]]] = [
        ("welcome", "Welcome"),
        ("preset", "Preset"),
        ("browser", "Config"),
        ("application", "Application"),
        ("network", "Network & boot"),
        ("review", "Review"),
    ]

    def __init__(self, session: Session, **kw: Any) -> None:
        super().__init__(**kw)
        self.session = session
        self.started = time.perf_counter()
        #: Seconds from start to the first paint of the welcome screen (the benchmark reads it).
        self.first_paint: float | None = None
        #: The exit code of the last run started from Review (None: none finished).
        self.last_run_code: int | None = None

    # ----- steps ----------------------------------------------------------------------

    def steps(self) -> list[tuple[str, str]]:
        """The steps shown in the step bar."""
        return list(self.ALL_STEPS)

    def step_names(self) -> list[str]:
        """Just the names."""
        return [name for name, _ in self.steps()]

    def current_step(self) -> str | None:
        """The step on screen (None while a dialog or an unknown screen is on top)."""
        for name in self.step_names():
            if self.is_screen_installed(name) and self.get_screen(name) is self.screen:
                return name
        return None

    # ----- garbage collection ---------------------------------------------------------

    #: Seconds without input before a full garbage collection may run.
    GC_IDLE = 1.0

    def _gc_start(self) -> None:
        """Full collections only when the user is idle.

        Textual keeps tens of thousands of small cached objects (strips, styles), so on a slow
        machine an automatic generation-2 collection stalls the app for 100-300 ms, in the
        middle of typing a search. Generations 0 and 1 keep running as usual; the full pass
        is deferred to a moment without input. The previous thresholds come back on exit.
        """
        self._gc_thresholds = gc.get_threshold()
        self._last_input = time.monotonic()
        gc.set_threshold(self._gc_thresholds[0], self._gc_thresholds[1], 1_000_000_000)
        self.set_interval(0.5, self._gc_when_idle)

    def _gc_when_idle(self) -> None:
        if time.monotonic() - self._last_input >= self.GC_IDLE and gc.get_count()[2] > 0:
            gc.collect()

    def _gc_stop(self) -> None:
        if hasattr(self, "_gc_thresholds"):
            gc.set_threshold(*self._gc_thresholds)

    async def on_event(self, event: events.Event) -> None:
        """Note the time of every key and click (the idle-time garbage collection reads it)."""
        if isinstance(event, (events.Key, events.MouseDown)):
            self._last_input = time.monotonic()
        await super().on_event(event)

    def on_unmount(self) -> None:
        """Give the interpreter its usual garbage collection back."""
        self._gc_stop()

    def on_mount(self) -> None:
        """Start on the welcome screen; it loads the tree."""
        self._gc_start()
        from ukl_tui.screens.welcome import WelcomeScreen

        if self.session.tree is not None and not self.session.baseline:
            self.session.baseline = self.session.tree.config_text()
        self.install_screen(WelcomeScreen(), "welcome")
        self.push_screen("welcome")
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        if self.first_paint is None:
            self.first_paint = time.perf_counter() - self.started

    def ensure_screen(self, name: str) -> None:
        """Create a step's screen once; it then lives for the session."""
        if self.is_screen_installed(name):
            return
        if name == "preset":
            from ukl_tui.screens.preset import PresetScreen

            self.install_screen(PresetScreen(), name)
        elif name == "browser":
            from ukl_tui.screens.browser import BrowserScreen

            self.install_screen(BrowserScreen(), name)
        elif name == "application":
            from ukl_tui.screens.application import ApplicationScreen

            self.install_screen(ApplicationScreen(), name)
        elif name == "network":
            from ukl_tui.screens.network import NetworkScreen

            self.install_screen(NetworkScreen(), name)
        elif name == "review":
            from ukl_tui.screens.review import ReviewScreen

            self.install_screen(ReviewScreen(), name)
        else:
            raise ValueError(f"unknown step {name}")

    def can_enter(self, name: str) -> str | None:
        """None when the step can be shown now, else why not (said to the user)."""
        if name != "welcome" and self.session.tree is None:
            return "The kernel tree is not loaded yet."
        return None

    def goto(self, name: str) -> bool:
        """Show a step (keeping every step's screen as it was left)."""
        problem = self.can_enter(name)
        if problem:
            self.notify(problem, severity="warning")
            return False
        self.ensure_screen(name)
        here = self.current_step()
        if here == name:
            return True
        if here is None:
            return False  # a dialog is open (it answers first), or the app is still starting
        names = self.step_names()
        if here in names and names.index(name) > names.index(here):
            problem = getattr(self.screen, "leave_problem", lambda: None)()
            if problem:
                self.notify(problem, title="Not yet", severity="warning")
                return False
        self.switch_screen(name)
        return True

    def action_keys(self) -> None:
        """F1: every key of the screen in a side panel (toggle)."""
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_next(self) -> None:
        """Ctrl+N: the next step."""
        names = self.step_names()
        here = self.current_step()
        if here is None:
            return
        index = names.index(here)
        if index + 1 < len(names):
            self.goto(names[index + 1])

    def action_back(self) -> None:
        """Escape: the previous step."""
        names = self.step_names()
        here = self.current_step()
        if here is None:
            return
        index = names.index(here)
        if index > 0:
            self.goto(names[index - 1])

    def on_step_bar_picked(self, event: StepBar.Picked) -> None:
        """A click on the step bar."""
        self.goto(event.step)

    # ----- the tree -------------------------------------------------------------------

    def load_tree(self) -> Worker[None]:
        """Load the tree named by the session in a worker thread; posts TreeLoaded."""
        self.session.tree = None
        self.session.load_error = None
        return self._load_tree()

    @work(thread=True, exclusive=True, group="load-tree")
    def _load_tree(self) -> None:
        from ukl_tui.kconfig import load_tree

        session = self.session
        start = time.perf_counter()
        try:
            assert session.tree_path is not None
            tree = load_tree(session.tree_path, config=session.config, overlays=session.overlays)
            tree.search("ukl")  # build the search index here, not on the first keystroke
            baseline = tree.config_text()
            session.replay(tree)  # a saved plan's presets and edits (nothing otherwise)
        except UserError as exc:
            session.load_error = exc.message
        else:
            session.baseline = baseline
            session.tree = tree
        session.load_seconds = time.perf_counter() - start
        self.post_message(TreeLoaded(session.load_error))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A crash in the loader is a bug, but it must still reach the screen as a message."""
        if event.worker.group == "load-tree" and event.state == WorkerState.ERROR:
            self.session.load_error = f"loading failed: {event.worker.error}"
            self.post_message(TreeLoaded(self.session.load_error))

    def on_tree_loaded(self, event: TreeLoaded) -> None:
        """Tell the welcome screen; forget screens built for an earlier tree."""
        for name in self.step_names():
            if name != "welcome" and self.is_screen_installed(name):
                if self.get_screen(name) is not self.screen:
                    self.uninstall_screen(name)
        if self.is_screen_installed("welcome"):
            self.get_screen("welcome").tree_loaded(event.error)  # type: ignore[attr-defined]

    # ----- symbols --------------------------------------------------------------------

    def jump_to_symbol(self, name: str) -> None:
        """Open the browser on a symbol (the command palette calls this)."""
        if not self.goto("browser"):
            return
        from ukl_tui.screens.browser import BrowserScreen

        screen = self.get_screen("browser")
        assert isinstance(screen, BrowserScreen)
        self.call_after_refresh(screen.jump_to, name)

    # ----- running --------------------------------------------------------------------

    def start_run(self, built: Any) -> None:
        """The hand-off to the Run screen (issue 6): a checked plan, run live on top of Review.

        Escape on the Run screen comes back here; the run's exit code is remembered.
        """
        from ukl_tui.screens.run import RunScreen

        def finished(code: int | None) -> None:
            self.last_run_code = code

        self.push_screen(RunScreen(built), finished)

    # ----- quitting -------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Ctrl+Q: ask first when the configuration has unsaved changes."""
        self.confirm_unsaved(lambda: self.exit(0), "quit")

    def confirm_unsaved(self, then: Callable[[], None], verb: str) -> None:
        """Run ``then``, asking first (save, discard, cancel) if there are unsaved changes."""
        from ukl_tui.screens.dialogs import Choose

        tree = self.session.tree
        changes = self.session_changes()
        if not changes:
            then()
            return
        if self.current_step() is None and len(self.screen_stack) > 1:
            self.pop_screen()  # a dialog was open: the question replaces it
        count = len(changes)

        def answered(key: str | None) -> None:
            if key == "s":
                if self.save_config() is not None:
                    then()
            elif key == "d":
                then()

        self.push_screen(
            Choose(
                "Unsaved changes",
                f"You changed {count} symbol{'s' if count != 1 else ''} since "
                f"{display_path(tree.config_path)} was loaded or saved. Save before you {verb}?",
                [("s", "Save", "primary"), ("d", "Discard", "error"), ("c", "Cancel", "default")],
            ),
            answered,
        )

    def session_changes(self) -> list[Change]:
        """Symbols whose value differs from the baseline (the file as loaded or last saved).

        Not ``Tree.diff()`` against the file itself: a minimal .config (a defconfig) lacks
        thousands of lines that saving would add, yet the user changed none of them.
        """
        tree = self.session.tree
        if tree is None:
            return []
        return tree.diff(against=self.session.baseline)

    def save_config(self) -> Path | None:
        """Write .config atomically (the previous one becomes .config.old); None on error."""
        tree = self.session.tree
        if tree is None:
            return None
        try:
            path = tree.write_config()
        except UserError as exc:
            self.notify(exc.message, severity="error", title="Not saved")
            return None
        self.session.baseline = tree.config_text()
        self.notify(f"{path}\n(previous file kept as {path.name}.old)", title="Saved")
        if self.is_screen_installed("browser"):
            browser = self.get_screen("browser")
            if browser.is_mounted:
                browser.after_change()  # type: ignore[attr-defined]
        return path


def session_from_args(args: argparse.Namespace) -> Session:
    """The session the command line asks for (tree located, paths made absolute)."""
    plan = getattr(args, "wizard_plan", None)
    config = getattr(args, "wizard_config", None)
    if plan:
        from ukl_tui.plan import Plan

        session = Session.from_plan(Plan.load(Path(plan).expanduser()))
        if getattr(args, "wizard_tree", None):
            session.tree_path = Path(args.wizard_tree).expanduser().absolute()
            session.tree_source = "argument"
        if config:
            session.config = Path(config).expanduser().absolute()
        if getattr(args, "wizard_overlay", None):
            session.overlays = [Path(p).expanduser().absolute() for p in args.wizard_overlay]
        return session
    path, source = locate_tree(getattr(args, "wizard_tree", None))
    overlays = [Path(p).expanduser().absolute() for p in getattr(args, "wizard_overlay", []) or []]
    for overlay in overlays:
        if not overlay.is_file():
            raise UserError(f"{overlay}: no such Kconfig overlay file")
    return Session(
        tree_path=path.absolute() if path else None,
        config=Path(config).expanduser().absolute() if config else None,
        overlays=overlays,
        plan_path=Path(plan).expanduser().absolute() if plan else None,
        tree_source=source,
    )


def run_wizard(args: argparse.Namespace) -> int:
    """Start the wizard; the exit status is the app's (0 unless something failed)."""
    app = UklApp(session_from_args(args))
    result = app.run()
    if app.return_code:
        return app.return_code  # an unexpected error (Textual printed it)
    return int(result or 0)
