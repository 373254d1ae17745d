"""The wizard: a Textual app leading from a kernel tree (or nothing) to the exact commands.

The app holds the session (``ukl_tui.session.Session``: tree, plan, history) and the
navigation between steps. Every step screen gets the session in its constructor and is a
thin face over it; screens ask the app for what they cannot do themselves with the messages
of ``screens.messages`` (next step, load, save, run), handled here. Steps are installed
screens, so going back and forth keeps each screen as the user left it; Escape goes back a
step, Ctrl+N goes forward, the step bar can be clicked. Ctrl+P jumps to any symbol by fuzzy
name.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from ukl_tui.errors import UserError
from ukl_tui.paths import display_path
from ukl_tui.screens import messages
from ukl_tui.session import STEP_NAMES, Session, session_from_args
from ukl_tui.widgets.lifetime import AppLifetime
from ukl_tui.widgets.palette import SymbolProvider


class TreeLoaded(Message, bubble=False):
    """The tree finished loading (or failed: ``error``); posted to the app only."""

    def __init__(self, error: str | None) -> None:
        super().__init__()
        self.error = error


class UklApp(AppLifetime, App[int]):
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

    def __init__(self, session: Session, **kw: Any) -> None:
        super().__init__(**kw)
        self.session = session
        self.started = time.perf_counter()
        #: Seconds from start to the first paint of the welcome screen (the benchmark reads it).
        self.first_paint: float | None = None
        #: The exit code of the last run started from Review (None: none finished).
        self.last_run_code: int | None = None

    # ----- steps ----------------------------------------------------------------------

    def current_step(self) -> str | None:
        """The step on screen (None while a dialog or an unknown screen is on top)."""
        for name in STEP_NAMES:
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
        if self.session.tree is not None and not self.session.baseline:
            self.session.baseline = self.session.tree.config_text()
        self.ensure_screen("welcome")
        self.push_screen("welcome")
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        if self.first_paint is None:
            self.first_paint = time.perf_counter() - self.started

    def ensure_screen(self, name: str) -> None:
        """Create a step's screen once, over the session; it then lives for the session."""
        if self.is_screen_installed(name):
            return
        self.install_screen(_step_screen(name, self.session), name)

    def goto(self, name: str) -> bool:
        """Show a step (keeping every step's screen as it was left)."""
        problem = self.session.can_enter(name)
        if problem:
            self.notify(problem, severity="warning")
            return False
        self.ensure_screen(name)
        here = self.current_step()
        if here == name:
            return True
        if here is None:
            return False  # a dialog is open (it answers first), or the app is still starting
        if STEP_NAMES.index(name) > STEP_NAMES.index(here):
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
        self._go_by(1)

    def action_back(self) -> None:
        """Escape: the previous step."""
        self._go_by(-1)

    def _go_by(self, offset: int) -> None:
        here = self.current_step()
        if here is None:
            return
        step = self.session.step_after(here, offset)
        if step is not None:
            self.goto(step)

    def on_go_next(self, event: messages.GoNext) -> None:
        """A screen is done (Continue, a preset applied or skipped)."""
        self.action_next()

    def on_go_to(self, event: messages.GoTo) -> None:
        """A click on the step bar (or a screen asking for a step)."""
        self.goto(event.step)

    # ----- the tree -------------------------------------------------------------------

    def on_load_tree(self, event: messages.LoadTree) -> None:
        """The welcome screen asks for the session's tree."""
        self.load_tree()

    def load_tree(self) -> Worker[None]:
        """Load the tree named by the session in a worker thread; posts TreeLoaded."""
        self.session.tree = None
        self.session.load_error = None
        return self._load_tree()

    @work(thread=True, exclusive=True, group="load-tree")
    def _load_tree(self) -> None:
        self.session.load()
        self.post_message(TreeLoaded(self.session.load_error))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A crash in the loader is a bug, but it must still reach the screen as a message."""
        if event.worker.group == "load-tree" and event.state == WorkerState.ERROR:
            self.session.load_error = f"loading failed: {event.worker.error}"
            self.post_message(TreeLoaded(self.session.load_error))

    def on_tree_loaded(self, event: TreeLoaded) -> None:
        """Tell the welcome screen; forget screens built for an earlier tree."""
        for name in STEP_NAMES:
            if name != "welcome" and self.is_screen_installed(name):
                if self.get_screen(name) is not self.screen:
                    self.uninstall_screen(name)
        if self.is_screen_installed("welcome"):
            self.get_screen("welcome").tree_loaded(event.error)  # type: ignore[attr-defined]

    # ----- symbols --------------------------------------------------------------------

    def on_show_symbol(self, event: messages.ShowSymbol) -> None:
        """The command palette picked a symbol."""
        self.jump_to_symbol(event.name)

    def jump_to_symbol(self, name: str) -> None:
        """Open the browser on a symbol."""
        if not self.goto("browser"):
            return
        screen = self.get_screen("browser")
        self.call_after_refresh(screen.jump_to, name)  # type: ignore[attr-defined]

    # ----- values, saving, running -------------------------------------------------------

    def on_values_changed(self, event: messages.ValuesChanged) -> None:
        """A step changed values through the session: refresh the steps that show them."""
        self._refresh_steps(current=False)

    def _refresh_steps(self, *, current: bool) -> None:
        """Redraw what depends on values: the browser (marks, conflicts) whenever it is
        built, the step on screen when ``current`` (it refreshes itself after its own
        changes). Review rebuilds its plan on every visit, so only the current one does.
        """
        for name in ("browser", "review"):
            if not self.is_screen_installed(name):
                continue
            screen = self.get_screen(name)
            here = screen is self.screen
            if screen.is_mounted and (current if here else name == "browser"):
                screen.refresh_values()  # type: ignore[attr-defined]

    def on_save_config(self, event: messages.SaveConfig) -> None:
        """Ctrl+S on a step."""
        self.save_config()

    def on_start_run(self, event: messages.StartRun) -> None:
        """The hand-off to the Run screen: a checked plan, run live on top of Review.

        Escape on the Run screen comes back here; the run's exit code is remembered.
        """
        from ukl_tui.screens.run import RunScreen

        def finished(code: int | None) -> None:
            self.last_run_code = code

        self.push_screen(RunScreen(event.built), finished)

    def on_open_run(self, event: messages.OpenRun) -> None:
        """A past run (the welcome screen's last run of this tree), read-only on the Run screen.

        Nothing runs again: the screen gets the run's recorded events (``history.replay``).
        """
        from ukl_tui.history import replay
        from ukl_tui.screens.run import RunScreen

        try:
            job, events = replay(event.run)
        except UserError as exc:
            self.notify(exc.message, title="Cannot show that run", severity="error")
            return
        self.push_screen(RunScreen(job, log_dir=event.run, autostart=False, replay=events))

    # ----- quitting -------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Ctrl+Q: ask first when the configuration has unsaved changes."""
        self.confirm_unsaved(lambda: self.exit(0), "quit")

    def confirm_unsaved(self, then: Callable[[], None], verb: str) -> None:
        """Run ``then``, asking first (save, discard, cancel) if there are unsaved changes."""
        from ukl_tui.screens.dialogs import Choose

        tree = self.session.tree
        changes = self.session.changes()
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

    def save_config(self) -> Path | None:
        """Write .config (``Session.save_config``), say so, refresh the steps; None on error."""
        try:
            path = self.session.save_config()
        except UserError as exc:
            self.notify(exc.message, severity="error", title="Not saved")
            return None
        self.notify(f"{path}\n(previous file kept as {path.name}.old)", title="Saved")
        self._refresh_steps(current=True)
        return path


#: Each step's screen: module and class, imported on first use (start-up stays fast).
STEP_SCREENS: dict[str, tuple[str, str]] = {
    "welcome": ("ukl_tui.screens.welcome", "WelcomeScreen"),
    "preset": ("ukl_tui.screens.preset", "PresetScreen"),
    "browser": ("ukl_tui.screens.browser", "BrowserScreen"),
    "application": ("ukl_tui.screens.application", "ApplicationScreen"),
    "network": ("ukl_tui.screens.network", "NetworkScreen"),
    "review": ("ukl_tui.screens.review", "ReviewScreen"),
}


def _step_screen(name: str, session: Session) -> Screen[Any]:
    """A step's screen over the session."""
    module, cls = STEP_SCREENS[name]
    return getattr(importlib.import_module(module), cls)(session)


def run_wizard(args: argparse.Namespace) -> int:
    """Start the wizard; the exit status is the app's (0 unless something failed)."""
    app = UklApp(session_from_args(args))
    result = app.run()
    if app.return_code:
        return app.return_code  # an unexpected error (Textual printed it)
    return int(result or 0)
