"""Getting a tree when there is none: pick a directory, unpack Debian's sources, clone ukl.

Each dialog dismisses with the path of a usable tree (or None). The work itself is the
core's (``workspace.inspect_workspace`` to check a directory, ``workspace.clone_ukl`` to
clone with progress, ``sources.unpack_tarball``); these screens run it in a worker thread,
show its progress, and can cancel it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from ukl_tui.errors import UserError

#: The public ukl repository (https: works without an SSH key for the top level).
UKL_URL = "https://github.com/unikernelLinux/ukl.git"


def check_tree(path: Path) -> str | None:
    """None when ``path`` is a kernel tree or ukl checkout, else why not (from the core)."""
    from ukl_tui.workspace import inspect_workspace

    try:
        inspect_workspace(path)
    except UserError as exc:
        return exc.message
    return None


class PickTree(ModalScreen[Path | None]):
    """Type a path or browse to a directory; it is checked before it is accepted."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, start: Path, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.start = start

    def compose(self) -> ComposeResult:
        """Path field, problem line, directory browser."""
        with Vertical(id="pick-box", classes="dialog"):
            yield Label("Open a kernel tree or a ukl checkout", classes="dialog-title")
            yield Input(str(self.start), id="pick-path")
            yield Static("", id="pick-problem", classes="error-line", markup=False)
            yield DirectoryTree(str(self.start), id="pick-dirs")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Open", id="open", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        """Start in the field."""
        self.query_one("#pick-path", Input).focus()

    @on(DirectoryTree.DirectorySelected)
    def _dir(self, event: DirectoryTree.DirectorySelected) -> None:
        self.query_one("#pick-path", Input).value = str(event.path)

    @on(Input.Submitted, "#pick-path")
    @on(Button.Pressed, "#open")
    def _open(self) -> None:
        path = Path(self.query_one("#pick-path", Input).value).expanduser()
        problem = check_tree(path)
        if problem:
            self.query_one("#pick-problem", Static).update(problem)
            return
        self.dismiss(path.absolute())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Escape."""
        self.dismiss(None)


class TaskDialog(ModalScreen[Path | None]):
    """Run one long job with a progress bar; Escape cancels it (the job's process group dies).

    ``job(progress, cancel)`` runs in a thread; ``progress(fraction or None, text)`` may be
    called from there. A UserError ends the job with its message shown; the dialog then
    stays open so the user can read it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        intro: str,
        job: Callable[[Callable[[float | None, str], None], threading.Event], Path],
        start_now: bool = True,
        **kw: object,
    ) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.title_text = title
        self.intro = intro
        self.job = job
        self.start_now = start_now
        self.cancel_event = threading.Event()
        self.running = False
        self.error: str | None = None

    def compose_fields(self) -> ComposeResult:
        """Extra fields above the progress bar (the clone dialog adds URL and place)."""
        yield from ()

    def compose(self) -> ComposeResult:
        """Title, intro, fields, progress, status, buttons."""
        with Vertical(classes="dialog task-box"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.intro, classes="dialog-body", markup=False)
            yield from self.compose_fields()
            yield ProgressBar(total=1.0, show_eta=False, id="task-bar")
            yield Static("", id="task-status", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start", id="start", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        """Start at once, or wait for the Start button."""
        if self.start_now:
            self.begin()
        else:
            self.query_one("#start", Button).focus()

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.begin()

    def begin(self) -> None:
        """Run the job."""
        if self.running:
            return
        self.running = True
        self.error = None
        self.cancel_event.clear()
        self.query_one("#start", Button).disabled = True
        self.query_one("#task-status", Static).set_class(False, "-error")
        self._run()

    def _progress(self, fraction: float | None, text: str) -> None:
        bar = self.query_one("#task-bar", ProgressBar)
        if fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=1.0, progress=fraction)
        self.query_one("#task-status", Static).update(text)

    @work(thread=True, exclusive=True, group="task")
    def _run(self) -> None:
        worker = get_current_worker()

        def progress(fraction: float | None, text: str) -> None:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._progress, fraction, text)

        try:
            path = self.job(progress, self.cancel_event)
        except UserError as exc:
            self.app.call_from_thread(self._failed, exc.message)
            return
        self.app.call_from_thread(self.dismiss, path)

    def _failed(self, message: str) -> None:
        self.running = False
        self.error = message
        status = self.query_one("#task-status", Static)
        status.update(message)
        status.set_class(True, "-error")
        start = self.query_one("#start", Button)
        start.disabled = False
        start.label = "Try again"

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Escape: stop the job (if any) and close."""
        self.cancel_event.set()
        self.dismiss(None)


class CloneDialog(TaskDialog):
    """Clone ukl with its submodules (``workspace.clone_ukl``), showing git's progress."""

    def __init__(self, dest: Path, **kw: object) -> None:
        super().__init__(
            "Clone the ukl repository",
            "git clone --recurse-submodules: the kernel, glibc and gcc submodules are large "
            "(several GB); the clone can be cancelled and tried again.",
            self._clone,
            start_now=False,
            **kw,
        )
        self.dest = dest
        self.url = UKL_URL

    def compose_fields(self) -> ComposeResult:
        """Repository URL and destination."""
        yield Label("Repository")
        yield Input(UKL_URL, id="clone-url")
        yield Label("Clone into")
        yield Input(str(self.dest), id="clone-dest")

    def begin(self) -> None:
        """Read the fields here (the clone runs in a thread), then start."""
        self.url = self.query_one("#clone-url", Input).value.strip()
        self.dest = Path(self.query_one("#clone-dest", Input).value.strip()).expanduser()
        super().begin()

    def _clone(
        self, progress: Callable[[float | None, str], None], cancel: threading.Event
    ) -> Path:
        from ukl_tui.workspace import CloneProgress, clone_ukl

        url, dest = self.url, self.dest

        def report(p: CloneProgress) -> None:
            where = p.repository or "ukl"
            count = f" {p.current:.0f}/{p.total:.0f}" if p.current and p.total else ""
            progress(p.fraction, f"{where}: {p.stage}{count}")

        progress(None, f"cloning {url} …")
        return clone_ukl(url, dest, report, cancel=cancel)


def unpack_dialog(tarball: Path) -> TaskDialog:
    """Unpack a Debian linux-source tarball into the cache (``sources.unpack_tarball``)."""
    from ukl_tui.sources import unpack_tarball, unpacked_dir

    def job(progress: Callable[[float | None, str], None], cancel: threading.Event) -> Path:
        def report(fraction: float) -> None:
            progress(fraction, f"{fraction:.0%} of {tarball.name}")

        return unpack_tarball(tarball, progress=report, cancel=cancel)

    return TaskDialog(
        f"Unpack {tarball.name}",
        f"Debian's kernel sources, unpacked once into {unpacked_dir(tarball)}; "
        "the tree there is only read (builds go to separate directories).",
        job,
    )
