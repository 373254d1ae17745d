"""Welcome: which tree this is, whether the host can build and boot, and the tree loading.

The screen paints at once; three things then run in worker threads: the workspace facts
(``workspace.inspect_workspace``: kind, version, git, submodules), the host prerequisites
(``host.check_prerequisites``) and the Kconfig load (``kconfig.load_tree``, started by the
app). With no tree anywhere it offers what the core can do: unpack an installed Debian
``linux-source`` tarball into the cache, clone ukl, or pick a directory.

When the tree has been run before, the last run of it is shown too (``history``: when, the
application, the verdict, each step's time against the run of the same plan before it, the
ccache hit rate, the cause of a failure); ``r`` opens it read-only on the Run screen, which
the app does on this screen's ``OpenRun``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, ProgressBar, Static

from ukl_tui.errors import UserError
from ukl_tui.history import RunRecord, last_run_of_tree
from ukl_tui.paths import display_path
from ukl_tui.screens.messages import GoNext, LoadTree, OpenRun
from ukl_tui.session import STEPS, Session
from ukl_tui.widgets.steps import StepBar

if TYPE_CHECKING:
    from ukl_tui.host import Prereq
    from ukl_tui.workspace import Workspace


def workspace_lines(ws: Workspace) -> list[Content]:
    """What the tree is, in a few lines."""
    out: list[Content] = []
    kind = "ukl checkout" if ws.is_ukl else "kernel tree"
    out.append(Content.assemble(("Kind     ", "dim"), (kind, "bold")))
    version = ws.kernel_version or "unknown"
    out.append(Content.assemble(("Kernel   ", "dim"), f"Linux {version}"))
    if ws.is_ukl:
        where = display_path(ws.kernel_tree) if ws.kernel_tree else "linux/ is not initialised"
        out.append(Content.assemble(("Sources  ", "dim"), where))
    git = ws.git
    if git is None:
        out.append(Content.assemble(("Git      ", "dim"), ("not a git repository", "dim")))
    else:
        commit = (git.commit or "")[:12]
        line = Content.assemble(("Git      ", "dim"), (git.branch, "bold"), f"  {commit}")
        out.append(line)
        if git.subject:
            out.append(Content.assemble("         ", (git.subject[:70], "italic")))
        if git.error:
            out.append(Content.assemble("         ", (git.error, "$warning")))
        elif git.is_dirty:
            out.append(
                Content.assemble(
                    "         ", (f"{git.dirty_count} changed or untracked files", "$warning")
                )
            )
        else:
            out.append(Content.assemble("         ", ("clean", "$success")))
    for sub in ws.submodules:
        ok = sub.state == "at recorded commit"
        style = "$success" if ok else "$warning"
        out.append(Content.assemble(("Module   ", "dim"), f"{sub.path:<10} ", (sub.state, style)))
    return out


def last_run_lines(record: RunRecord) -> list[Content]:
    """The last run of the tree: when, what, the verdict; the times; why it failed."""
    mark, style = ("✓ ", "$success") if record.ok else ("✗ ", "$error")
    app = record.application or "no application"
    out = [
        Content.assemble(
            ("Last run ", "dim"),
            f"{record.started or record.run.name}  ",
            (app, "bold"),
            "  ",
            (mark + record.status, style),
        )
    ]
    if record.times:
        out.append(Content.assemble(("Times    ", "dim"), record.times))
    if record.cause:
        out.append(Content.assemble(("Cause    ", "dim"), (record.cause, "$error")))
    out.append(Content.assemble(("         ", "dim"), ("r shows it on the Run screen", "dim")))
    return out


def prereq_lines(prereqs: list[Prereq]) -> list[Content]:
    """One line per host requirement: ok or missing, and the Debian package for it."""
    out = []
    for p in prereqs:
        if p.ok:
            mark = ("✓ ", "$success")
        elif p.optional:
            mark = ("– ", "$warning")
        else:
            mark = ("✗ ", "$error")
        line = [mark, (f"{p.name:<20}", "bold" if not p.ok else "")]
        if not p.ok and not p.optional:
            line.append((f" apt install {p.debian_package}", "$accent"))
        elif not p.ok:
            line.append((" optional", "dim"))
        out.append(Content.assemble(*line))
        if not p.ok:
            out.append(Content.assemble("    ", (p.detail, "dim")))
    missing = [p for p in prereqs if not p.ok and not p.optional]
    if missing:
        packages = " ".join(dict.fromkeys(p.debian_package for p in missing))
        out += [Content(""), Content.assemble(("To build: ", "bold"), f"apt install {packages}")]
    return out


class WelcomeScreen(Screen[None]):
    """The first step (see module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "continue", "Continue", show=False),
        Binding("o", "pick", "Open tree"),
        Binding("r", "last_run", "Last run"),
    ]

    def __init__(self, session: Session, **kw: Any) -> None:
        super().__init__(**kw)
        self.session = session
        #: The last run of the tree shown (None: none, or not looked up yet).
        self.last_run: RunRecord | None = None
        self._history_shown = False

    @property
    def ready(self) -> bool:
        """Everything is on screen: tree facts, host checks, the load's outcome."""
        session = self.session
        return (
            self._facts_shown
            and self._history_shown
            and session.prereqs is not None
            and (
                session.tree is not None
                or session.load_error is not None
                or session.tree_path is None
            )
        )

    def compose(self) -> ComposeResult:
        """Two columns on wide terminals: the tree on the left, the host on the right."""
        yield StepBar(STEPS, "welcome")
        with VerticalScroll(id="welcome-main"):
            with Vertical(id="welcome-tree", classes="panel"):
                yield Static("Kernel tree", classes="panel-title")
                yield Static("", id="tree-path", markup=False)
                yield Static("", id="tree-facts")
                with Horizontal(id="load-row"):
                    yield ProgressBar(
                        total=None, show_eta=False, show_percentage=False, id="load-bar"
                    )
                    yield Static("", id="load-status", markup=False)
                with Vertical(id="no-tree"):
                    yield Static("", id="no-tree-text", markup=False)
                    yield Button("Unpack Debian's kernel sources", id="unpack", compact=True)
                    yield Button("Clone the ukl repository", id="clone", compact=True)
                with Horizontal(id="tree-actions"):
                    yield Button(
                        "Continue ▸", id="continue", variant="primary", disabled=True, compact=True
                    )
                    yield Button("Open another tree…", id="pick", compact=True)
                yield Static("", id="last-run", markup=False)
            with Vertical(id="welcome-host", classes="panel"):
                yield Static("Host", classes="panel-title")
                yield Static("checking…", id="host-list")
        yield Footer(compact=True)

    _facts_shown = False

    def on_mount(self) -> None:
        """Paint first; everything slow runs in workers, started after the first frame."""
        self.query_one("#no-tree").display = False
        self.query_one("#last-run").display = False
        self.call_after_refresh(self._begin)

    def on_screen_resume(self) -> None:
        """Back on Welcome (after a run, say): the tree's last run may be another one now."""
        if self._history_shown and self.session.tree_path is not None:
            self._look_up_last_run(self.session.tree_path)

    def _begin(self) -> None:
        self.start()
        self._check_host()

    def start(self) -> None:
        """Show the session's tree and load it, or offer ways to get one."""
        session = self.session
        path_line = self.query_one("#tree-path", Static)
        self._facts_shown = session.tree_path is None
        self._history_shown = session.tree_path is None  # else when the look-up answers
        self.last_run = None
        self.query_one("#last-run").display = False
        self.refresh_bindings()
        if session.tree_path is None:
            path_line.update("No kernel tree or ukl checkout found.")
            self._offer_sources()
            return
        self.query_one("#no-tree").display = False
        for wid in ("#tree-facts", "#load-row", "#continue"):
            self.query_one(wid).display = True
        source = f"  (from {session.tree_source})" if session.tree_source else ""
        path_line.update(f"{display_path(session.tree_path)}{source}")
        self.query_one("#tree-facts", Static).update("")
        self._inspect(session.tree_path)
        self._look_up_last_run(session.tree_path)
        if session.tree is not None:  # loaded already (a saved plan, or a test)
            self.tree_loaded(None)
            return
        self._set_loading(f"reading Kconfig of {session.tree_path.name} …")
        self.post_message(LoadTree())

    def _set_loading(self, text: str) -> None:
        bar = self.query_one("#load-bar", ProgressBar)
        bar.display = True
        bar.update(total=None)
        self.query_one("#load-status", Static).update(text)
        self.query_one("#continue", Button).disabled = True

    def _offer_sources(self) -> None:
        from ukl_tui.sources import debian_tarballs, is_unpacked

        self.query_one("#load-bar", ProgressBar).display = False
        self.query_one("#load-status", Static).update("")
        for wid in ("#tree-facts", "#load-row", "#continue"):
            self.query_one(wid).display = False
        self.query_one("#no-tree").display = True
        tarballs = debian_tarballs()
        unpack = self.query_one("#unpack", Button)
        if tarballs:
            done = " (already unpacked)" if is_unpacked(tarballs[0]) else ""
            unpack.label = f"Unpack Debian's {tarballs[0].name} and use it{done}"
            unpack.display = True
        else:
            unpack.display = False
        text = (
            "ukl-tui looked at --tree, the current directory and $UKL_DIR. "
            "Get a tree in one of these ways, or open one with 'o':"
        )
        if not tarballs:
            text += "\n(apt install linux-source gives Debian's kernel sources to try it out.)"
        self.query_one("#no-tree-text", Static).update(text)
        (unpack if tarballs else self.query_one("#clone", Button)).focus()

    @work(thread=True, exclusive=True, group="inspect")
    def _inspect(self, path: Path) -> None:
        from ukl_tui.workspace import inspect_workspace

        try:
            ws = inspect_workspace(path)
        except UserError as exc:
            self.app.call_from_thread(self._show_facts, None, exc.message)
            return
        self.app.call_from_thread(self._show_facts, ws, None)

    def _show_facts(self, ws: Workspace | None, problem: str | None) -> None:
        self._facts_shown = True
        self.session.workspace = ws
        facts = self.query_one("#tree-facts", Static)
        if ws is None:
            facts.update(Content.assemble((problem or "", "$error")))
        else:
            facts.update(Content("\n").join(workspace_lines(ws)))

    @work(thread=True, exclusive=True, group="history")
    def _look_up_last_run(self, tree: Path) -> None:
        """Read the runs' summaries in a thread: up to fifty small JSON files."""
        record = last_run_of_tree(tree)
        self.app.call_from_thread(self._show_last_run, record, tree)

    def _show_last_run(self, record: RunRecord | None, tree: Path) -> None:
        if tree != self.session.tree_path:
            return  # another tree was opened meanwhile: its own look-up answers
        self.last_run = record
        self._history_shown = True
        box = self.query_one("#last-run", Static)
        box.display = record is not None
        box.update(Content("\n").join(last_run_lines(record)) if record is not None else "")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer "Last run" only when the tree has one (no key that does nothing)."""
        if action == "last_run":
            return self.last_run is not None
        return True

    def action_last_run(self) -> None:
        """r: the last run of this tree, read-only on the Run screen (the app shows it)."""
        if self.last_run is not None:
            self.post_message(OpenRun(self.last_run.run))

    @work(thread=True, exclusive=True, group="host")
    def _check_host(self) -> None:
        prereqs = self.session.prereqs
        if prereqs is None:
            from ukl_tui.host import check_prerequisites

            plan = self.session.plan
            prereqs = check_prerequisites(distcc=bool(plan is not None and plan.distcc))
        self.app.call_from_thread(self._show_host, prereqs)

    def _show_host(self, prereqs: list[Prereq]) -> None:
        self.session.prereqs = prereqs
        self.query_one("#host-list", Static).update(Content("\n").join(prereq_lines(prereqs)))

    def tree_loaded(self, error: str | None) -> None:
        """The app's loader finished: say how it went and enable Continue."""
        bar = self.query_one("#load-bar", ProgressBar)
        bar.display = False
        status = self.query_one("#load-status", Static)
        session = self.session
        if error or session.tree is None:
            status.update(error or "loading failed")
            status.set_class(True, "-error")
            self.query_one("#pick", Button).focus()
            return
        tree = session.tree
        status.set_class(False, "-error")
        count = len(tree.kconf.unique_defined_syms)
        if tree.loaded_from is not None:
            start = f"starting from {display_path(tree.loaded_from)}"
        else:
            start = "no .config yet: the tree's defaults apply"
        status.update(f"{tree.mainmenu}: {count:,} symbols, {start}. Press Enter to continue.")
        button = self.query_one("#continue", Button)
        button.disabled = False
        button.focus()

    @on(Button.Pressed, "#continue")
    def action_continue(self) -> None:
        """Enter: on to the next step once the tree is loaded."""
        if self.session.tree is not None:
            self.post_message(GoNext())

    @on(Button.Pressed, "#pick")
    def action_pick(self) -> None:
        """o: open another tree."""
        from ukl_tui.screens.obtain import PickTree

        start = self.session.tree_path or Path.cwd()
        self.app.push_screen(PickTree(start.parent if start.is_file() else start), self._use)

    @on(Button.Pressed, "#unpack")
    def _unpack(self) -> None:
        from ukl_tui.screens.obtain import unpack_dialog
        from ukl_tui.sources import debian_tarballs

        tarballs = debian_tarballs()
        if tarballs:
            self.app.push_screen(unpack_dialog(tarballs[0]), self._use_unpacked)

    @on(Button.Pressed, "#clone")
    def _clone(self) -> None:
        from ukl_tui.screens.obtain import CloneDialog

        self.app.push_screen(CloneDialog(Path.cwd() / "ukl"), self._use_cloned)

    def _use_unpacked(self, path: Path | None) -> None:
        self._use(path, "Debian's linux-source, unpacked")

    def _use_cloned(self, path: Path | None) -> None:
        self._use(path, "the clone")

    def _use(self, path: Path | None, source: str = "your choice") -> None:
        if path is None:
            return
        self.session.choose_tree(path, source)
        self.start()
