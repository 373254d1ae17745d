"""Application: which program becomes the unikernel, and configure's options for it.

The catalogue is read from the checkout by the apps module (``list_apps``: programs named in
configure.ac with a ``UKL.a`` target, annotated with ports, banners and clone needs); a
prebuilt archive goes through ``custom_app``. The options form edits a ``ConfigureOptions``;
its checks (``validate``, ``warnings``, ``check_options``), the exact ``./configure`` line
(``configure_argv``) and what ukl's Makefile then appends to ``linux/.config``
(``kconfig_lines``) are the core's, shown as the user types.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from ukl_tui.errors import UserError
from ukl_tui.session import STEPS, Session
from ukl_tui.widgets.steps import StepBar

if TYPE_CHECKING:
    from ukl_tui.apps import App, ConfigureOptions

#: Option ids of the two entries that are not programs of the checkout.
KERNEL_ONLY = "-kernel-only"
CUSTOM = "-custom"


def app_lines(app: App) -> list[Content]:
    """What the catalogue knows about one program."""
    out = [Content.assemble((app.name, "bold $accent"), "  ", app.summary)]
    kind = {"server": "server (never exits)", "one-shot": "runs once"}.get(app.kind, "unknown")
    out.append(Content.assemble(("kind     ", "dim"), kind))
    if app.ports:
        out.append(Content.assemble(("ports    ", "dim"), ", ".join(map(str, app.ports))))
    if app.banner:
        out.append(Content.assemble(("success  ", "dim"), f"prints {app.banner!r}"))
    for clone in app.clones:
        how = "SSH (needs a GitHub key)" if clone.needs_ssh_key else clone.transport
        out.append(Content.assemble(("fetches  ", "dim"), f"{clone.url} over {how}"))
    out += [Content.assemble(("note     ", "dim"), note) for note in app.notes]
    out += [Content.assemble(("! ", "$warning"), (w, "$warning")) for w in app.warnings]
    return out


class ApplicationScreen(Screen[None]):
    """The application step (see module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+o", "focus_options", "Options")]

    def __init__(self, session: Session, **kw: Any) -> None:
        super().__init__(**kw)
        self.session = session
        self.apps: list[App] = []
        self.problem: str | None = None
        #: The configure options the form last stored in the plan (a fix may change them).
        self._stored: ConfigureOptions | None = None

    @property
    def is_ukl(self) -> bool:
        """True for a ukl checkout (configure options apply)."""
        ws = self.session.workspace
        return ws is not None and ws.is_ukl

    def compose(self) -> ComposeResult:
        """Catalogue on the left; details, archive path and options on the right."""
        from ukl_tui.apps import OPTIONS

        yield StepBar(STEPS, "application")
        with Horizontal(id="app-main"):
            with Vertical(id="app-left"):
                yield Static("Applications", classes="panel-title")
                yield OptionList(id="app-list")
            with VerticalScroll(id="app-detail"):
                yield Static("", id="app-info")
                with Vertical(id="app-archive-box"):
                    yield Label("Prebuilt UKL.a (objcopy --prefix-symbols=ukl_ already applied)")
                    yield Input(placeholder="/path/to/UKL.a", id="app-archive")
                with Vertical(id="app-options"):
                    yield Static("configure options", classes="panel-title")
                    for spec in OPTIONS:
                        if spec.field == "program":
                            continue
                        with Horizontal(classes="option-row"):
                            if spec.kind == "bool":
                                yield Checkbox(spec.flag, id=f"opt-{spec.field}", compact=True)
                            elif spec.kind == "choice":
                                yield Label(spec.flag, classes="option-flag")
                                yield Select(
                                    [(c, c) for c in spec.choices],
                                    prompt=f"default ({spec.default})",
                                    id=f"opt-{spec.field}",
                                    compact=True,
                                )
                            else:
                                yield Label(spec.flag, classes="option-flag")
                                yield Input(
                                    placeholder=str(spec.default),
                                    id=f"opt-{spec.field}",
                                    compact=True,
                                )
                        text = spec.meaning + (f"  ({spec.warning})" if spec.warning else "")
                        yield Static(text, classes="option-meaning", markup=False)
                yield Static("", id="app-result")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Read the catalogue from the checkout; show the session's current choice."""
        from ukl_tui.apps import list_apps

        ws = self.session.workspace
        self.apps = list_apps(ws) if ws is not None else []
        options: list[Option] = []
        for app in self.apps:
            flag = "  (configure's default)" if app.is_default else ""
            warn = f"  ! {len(app.warnings)}" if app.warnings else ""
            options.append(
                Option(
                    Content.assemble(
                        (app.name, "bold"),
                        (flag, "dim"),
                        (warn, "$warning"),
                        "\n",
                        (app.summary, "dim"),
                    ),
                    id=app.name,
                )
            )
        if not self.is_ukl:
            options.insert(
                0,
                Option(
                    Content.assemble(
                        ("Kernel only", "bold"),
                        "\n",
                        ("a plain kernel tree has no programs: build and boot the kernel", "dim"),
                    ),
                    id=KERNEL_ONLY,
                ),
            )
        options.append(
            Option(
                Content.assemble(
                    ("Prebuilt UKL.a…", "bold"), "\n", ("an archive you built", "dim")
                ),
                id=CUSTOM,
            )
        )
        listing = self.query_one("#app-list", OptionList)
        listing.set_options(options)
        self._load_session()
        ids = [o.id for o in options]
        listing.highlighted = ids.index(self.selected_id) if self.selected_id in ids else 0
        self.query_one("#app-options").display = self.is_ukl
        listing.focus()

    def on_screen_resume(self) -> None:
        """Back on this step: show configure options a fix changed meanwhile."""
        if self._stored is not None and self._stored != self.session.choices.configure:
            self._load_session()

    def _load_session(self) -> None:
        plan = self.session.choices
        if plan.ukl_a is not None:
            self.selected_id = CUSTOM
            self.query_one("#app-archive", Input).value = str(plan.ukl_a)
        elif plan.app is not None:
            self.selected_id = plan.app
        else:
            default = next((a.name for a in self.apps if a.is_default), None)
            self.selected_id = default or KERNEL_ONLY
        opts = plan.configure
        for field_name, widget in self._option_widgets():
            value = getattr(opts, field_name)
            if isinstance(widget, Checkbox):
                widget.value = bool(value)
            elif isinstance(widget, Select):
                widget.value = value if value is not None else Select.NULL
            else:
                from ukl_tui.apps import option_spec

                default = option_spec(field_name).default
                widget.value = "" if value in (None, default) else str(value)

    def _option_widgets(self) -> list[tuple[str, Any]]:
        from ukl_tui.apps import OPTIONS

        return [
            (spec.field, self.query_one(f"#opt-{spec.field}"))
            for spec in OPTIONS
            if spec.field != "program"
        ]

    # ----- reading the form -------------------------------------------------------------

    def options_from_form(self) -> ConfigureOptions:
        """The form as ``ConfigureOptions`` (empty fields mean configure's default)."""
        from ukl_tui.apps import ConfigureOptions, option_spec

        values: dict[str, Any] = {}
        for field_name, widget in self._option_widgets():
            if isinstance(widget, Checkbox):
                values[field_name] = widget.value
            elif isinstance(widget, Select):
                values[field_name] = None if widget.value is Select.NULL else widget.value
            else:
                text = widget.value.strip()
                if field_name == "ukl_archive":
                    values[field_name] = text or None
                else:
                    values[field_name] = text or option_spec(field_name).default
        program = self.selected_id if self.selected_id not in (KERNEL_ONLY, CUSTOM) else "hello"
        return ConfigureOptions(program=program, **values)

    @on(OptionList.OptionHighlighted, "#app-list")
    def _picked(self, event: OptionList.OptionHighlighted) -> None:
        self.selected_id = event.option.id or KERNEL_ONLY
        self.refresh_choice()

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _edited(self) -> None:
        if self.is_mounted:
            self.refresh_choice()

    def refresh_choice(self) -> None:
        """Store the choice in the session and show what the core says about it."""
        from ukl_tui.apps import check_options, configure_argv, custom_app, kconfig_lines

        session = self.session
        plan = session.choices
        info = self.query_one("#app-info", Static)
        result = self.query_one("#app-result", Static)
        self.query_one("#app-archive-box").display = self.selected_id == CUSTOM
        lines: list[Content] = []
        self.problem = None
        app: App | None = None
        if self.selected_id == CUSTOM:
            text = self.query_one("#app-archive", Input).value.strip()
            plan.app = None
            if not text:
                self.problem = "name the UKL.a archive"
                info.update(Content("A prebuilt UKL.a replaces the checkout's program."))
            else:
                try:
                    app = custom_app(Path(text), session.workspace)
                except UserError as exc:
                    self.problem = exc.message
                    plan.ukl_a = None
                else:
                    plan.ukl_a = app.archive
            if app is not None:
                info.update(Content("\n").join(app_lines(app)))
        elif self.selected_id == KERNEL_ONLY:
            plan.app = None
            plan.ukl_a = None
            info.update(
                Content(
                    "No application: the plan builds this tree's kernel (bzImage) and boots it "
                    "with the initramfs, which runs its trigger path if it is there."
                )
            )
        else:
            app = next((a for a in self.apps if a.name == self.selected_id), None)
            plan.app = self.selected_id
            plan.ukl_a = None
            if app is not None:
                info.update(Content("\n").join(app_lines(app)))
        if self.is_ukl:
            opts = self.options_from_form()
            try:
                opts.validate()
            except UserError as exc:
                self.problem = self.problem or exc.message
            else:
                plan.configure = replace(opts)
                self._stored = plan.configure
                warnings: list[str] = []
                try:
                    if session.workspace is not None:
                        warnings = check_options(opts, session.workspace)
                except UserError as exc:
                    self.problem = self.problem or exc.message
                lines.append(Content.styled("\nThe exact command", "bold"))
                lines.append(Content(" ".join(configure_argv(opts))))
                lines.append(
                    Content.styled("\nukl's Makefile then appends to linux/.config", "bold")
                )
                lines += [Content(line) for line in kconfig_lines(opts)]
                lines += [Content.assemble(("! ", "$warning"), (w, "$warning")) for w in warnings]
        if self.problem:
            lines.insert(0, Content.assemble(("✗ ", "$error"), (self.problem, "$error")))
        result.update(Content("\n").join(lines))

    def leave_problem(self) -> str | None:
        """Why the wizard should not move on yet (shown when Ctrl+N is pressed)."""
        return self.problem

    def action_focus_options(self) -> None:
        """Ctrl+O: into the options form."""
        if self.is_ukl:
            self.query_one("#app-options").query("Checkbox, Input, Select").first().focus()
