"""Network and boot: how the guest is reached and how QEMU runs it, checked as you type.

A Build section beside Boot takes the distcc hosts and ``-j`` (:mod:`ukl_tui.widgets.build`).

Every check is the boot module's: ``NetworkSpec`` parses and validates addresses, prefixes,
gateways and forwards (user networking's 10.0.2.0/24, the bridge subnet under user mode as
an error, duplicate or busy host ports), ``BootSpec`` the memory, CPUs, kernel parameters
and init arguments, and produces the kernel command line, QEMU's CPU flags and network
arguments shown at the bottom. The screen turns fields into the plan's choices, lets the plan
make the boot from them (``Plan.boot_spec``, as the build will) and shows the first problem.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Input, Label, RadioButton, RadioSet, Select, Static

from ukl_tui.errors import UserError
from ukl_tui.plan import BOOT_TABLE, Plan
from ukl_tui.session import STEPS, Session
from ukl_tui.widgets.build import BuildFields
from ukl_tui.widgets.steps import StepBar

if TYPE_CHECKING:
    from ukl_tui.boot import Forward, NetworkSpec

#: (value, label) of the initrd choices the plan knows (a path is typed in the field).
INITRD_CHOICES = [
    ("auto", "auto: the checkout's ukl-initrd, else ukl-tui's minimal one"),
    ("minimal", "minimal: ukl-tui's busybox initramfs (no Docker)"),
    ("ukl", "ukl: the checkout's ukl-initrd.cpio.xz"),
    ("file", "a file…"),
]
#: The plan's choices this step edits (Ctrl+R puts back the plan's defaults for them).
FIELDS = ("network", "network_keys", "auto_forwards", *BOOT_TABLE, "distcc", "jobs")
MODES = [
    ("user", "User networking (port forwards)"),
    ("tap", "Tap on a bridge (root)"),
    ("none", "No network"),
]


def _forwards(text: str) -> tuple[Forward, ...]:
    """Port forwards as typed: separated by spaces or commas."""
    from ukl_tui.boot import parse_forward

    return tuple(parse_forward(w) for w in re.split(r"[\s,]+", text.strip()) if w)


class NetworkScreen(Screen[None]):
    """The network and boot step (see module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "defaults", "Defaults"),
    ]

    def __init__(self, session: Session, **kw: Any) -> None:
        super().__init__(**kw)
        self.session = session
        self.problem: str | None = None
        self._loading = False
        #: This step's choices as the form last stored them (a fix may change them).
        self._stored: dict[str, Any] = {}
        #: The network the form was filled with (presets' settings included): a field the
        #: user changes from it becomes the user's choice (``Plan.network_keys``).
        self._shown: NetworkSpec | None = None

    def compose(self) -> ComposeResult:
        """Network on the left, boot on the right (stacked when narrow); the result below."""
        from ukl_tui.boot import ACCELS, NIC_MODELS

        yield StepBar(STEPS, "network")
        with VerticalScroll(id="net-main"):
            with Horizontal(id="net-columns"):
                with Vertical(id="net-left", classes="form"):
                    yield Static("Network", classes="panel-title")
                    with RadioSet(id="net-mode"):
                        for value, label in MODES:
                            yield RadioButton(label, name=value)
                    yield Label("Guest address / prefix")
                    yield Input(id="net-address", compact=True)
                    yield Label("Gateway")
                    yield Input(id="net-gateway", compact=True)
                    yield Label("Port forwards  HOST:GUEST (or HOST:GUEST/udp), comma separated")
                    yield Input(
                        placeholder="e.g. 8080:80, 2222:22", id="net-forwards", compact=True
                    )
                    yield Checkbox(
                        "Add the application's usual ports", id="net-auto", value=True, compact=True
                    )
                    with Horizontal(classes="pair"):
                        with Vertical():
                            yield Label("Tap")
                            yield Input(id="net-tap", compact=True)
                        with Vertical():
                            yield Label("Bridge")
                            yield Input(id="net-bridge", compact=True)
                    with Horizontal(classes="pair"):
                        with Vertical():
                            yield Label("Network card")
                            yield Select(
                                [(n, n) for n in NIC_MODELS],
                                id="net-nic",
                                allow_blank=False,
                                compact=True,
                            )
                        with Vertical():
                            yield Label("Address handed over by")
                            yield Select(
                                [
                                    ("ip= kernel parameter", "ip"),
                                    ("ukl init arguments", "init"),
                                    ("not at all", "none"),
                                ],
                                id="net-via",
                                allow_blank=False,
                                compact=True,
                            )
                with Vertical(id="net-right", classes="form"):
                    yield Static("Boot", classes="panel-title")
                    with Horizontal(classes="pair"):
                        with Vertical():
                            yield Label("Memory (MiB)")
                            yield Input(id="boot-memory", type="integer", compact=True)
                        with Vertical():
                            yield Label("CPUs")
                            yield Input(id="boot-cpus", type="integer", compact=True)
                    yield Label("Accelerator")
                    yield Select(
                        [(a, a) for a in ACCELS], id="boot-accel", allow_blank=False, compact=True
                    )
                    yield Label("Initrd")
                    yield Select(
                        [(label, v) for v, label in INITRD_CHOICES],
                        id="boot-initrd",
                        allow_blank=False,
                        compact=True,
                    )
                    yield Input(
                        placeholder="/path/to/initrd.cpio.gz", id="boot-initrd-file", compact=True
                    )
                    yield Label("Extra kernel parameters")
                    yield Input(placeholder="e.g. loglevel=7", id="boot-append", compact=True)
                    yield Label("Application arguments (after --, one word each)")
                    yield Input(id="boot-init-args", compact=True)
                    yield Static("Build", classes="panel-title")
                    yield BuildFields(id="build-fields")
        yield Static("", id="net-result")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Fill the form from the session."""
        self.fill()

    def on_screen_resume(self) -> None:
        """Back on this step: show kernel parameters a fix changed meanwhile."""
        if self._stored and (
            self._stored != _choices(self.session.choices)
            or self._shown != self.session.boot_spec().network
        ):
            self.fill()

    def fill(self) -> None:
        """Session -> fields."""
        plan = self.session.choices
        net = self._shown = self.session.boot_spec().network  # with the presets' settings
        self._loading = True
        try:
            for button in self.query(RadioButton):
                button.value = button.name == net.mode
            self.query_one("#net-address", Input).value = str(net.address or "")
            self.query_one("#net-gateway", Input).value = str(net.gateway or "")
            self.query_one("#net-forwards", Input).value = ", ".join(map(str, net.forwards))
            self.query_one("#net-auto", Checkbox).value = plan.auto_forwards
            self.query_one("#net-tap", Input).value = net.tap
            self.query_one("#net-bridge", Input).value = net.bridge
            self.query_one("#net-nic", Select).value = net.nic
            self.query_one("#net-via", Select).value = net.address_via
            self.query_one("#boot-memory", Input).value = str(plan.memory_mib)
            self.query_one("#boot-cpus", Input).value = str(plan.cpus)
            self.query_one("#boot-accel", Select).value = plan.accel
            known = {v for v, _ in INITRD_CHOICES}
            initrd = plan.initrd if plan.initrd in known else "file"
            self.query_one("#boot-initrd", Select).value = initrd
            self.query_one("#boot-initrd-file", Input).value = (
                "" if initrd != "file" else plan.initrd
            )
            self.query_one("#boot-append", Input).value = " ".join(plan.append)
            self.query_one("#boot-init-args", Input).value = " ".join(plan.init_args)
            self.query_one(BuildFields).set_values(plan.distcc, plan.jobs)
        finally:
            self._loading = False
        self.check()

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    @on(RadioSet.Changed)
    def _changed(self) -> None:
        if not self._loading and self.is_mounted:
            self.check()

    def _mode(self) -> str:
        pressed = self.query_one("#net-mode", RadioSet).pressed_button
        return (pressed.name if pressed is not None else None) or "user"

    def check(self) -> None:
        """Fields -> NetworkSpec and BootSpec; store what is valid; show the first problem."""
        from ukl_tui.boot import NetworkSpec

        session = self.session
        mode = self._mode()
        tap_mode, none_mode = mode == "tap", mode == "none"
        for wid in ("#net-tap", "#net-bridge"):
            self.query_one(wid).disabled = not tap_mode
        for wid in ("#net-forwards", "#net-auto"):
            self.query_one(wid).disabled = mode != "user"
        for wid in ("#net-address", "#net-gateway", "#net-nic", "#net-via"):
            self.query_one(wid).disabled = none_mode
        initrd = self.query_one("#boot-initrd", Select).value
        self.query_one("#boot-initrd-file").display = initrd == "file"
        lines: list[Content] = []
        self.problem = None
        try:
            text = self.query_one
            forwards = _forwards(text("#net-forwards", Input).value)
            network = NetworkSpec(
                mode=mode,  # type: ignore[arg-type]
                address=text("#net-address", Input).value.strip() or None,
                gateway=text("#net-gateway", Input).value.strip() or None,
                forwards=forwards if mode == "user" else (),
                tap=text("#net-tap", Input).value.strip(),
                bridge=text("#net-bridge", Input).value.strip(),
                nic=text("#net-nic", Select).value,  # type: ignore[arg-type]
                address_via=text("#net-via", Select).value,  # type: ignore[arg-type]
                # not on the form: kept as the plan (or a preset) has them
                mac=(self._shown or NetworkSpec()).mac,
                forward_bind=(self._shown or NetworkSpec()).forward_bind,
            )
            network.validate(check_ports=True)
            memory = _number("memory", text("#boot-memory", Input).value)
            cpus = _number("CPUs", text("#boot-cpus", Input).value)
            # Words split on spaces only: a comma belongs to a parameter (clearcpuid=smap,smep).
            append = tuple(text("#boot-append", Input).value.split())
            init_args = tuple(text("#boot-init-args", Input).value.split())
            accel = text("#boot-accel", Select).value
            initrd_value = (
                text("#boot-initrd-file", Input).value.strip() if initrd == "file" else initrd
            )
            if not initrd_value:
                raise UserError("name the initrd file")
            plan = replace(
                session.choices,
                **self._network_choice(network),
                auto_forwards=self.query_one("#net-auto", Checkbox).value,
                memory_mib=memory,
                cpus=cpus,
                append=append,
                init_args=init_args,
                accel=str(accel),
                initrd=initrd_value,
            )
            boot = plan.boot_spec(session.asked.boot)
            boot.validate(check_ports=False)
            build = self.query_one(BuildFields)
            if build.problem:
                raise UserError(build.problem)
            plan = replace(plan, distcc=build.hosts, jobs=build.jobs)
        except UserError as exc:
            self.problem = exc.message
            lines.append(Content.assemble(("✗ ", "$error"), (exc.message, "$error")))
        else:
            session.plan = plan
            self._stored = _choices(plan)
            lines.append(Content.styled("✓ valid", "$success"))
            lines.append(Content.assemble(("kernel command line  ", "bold"), boot.kernel_cmdline()))
            cpu = ",".join(boot.qemu_cpu_flags) or "(none)"
            lines.append(Content.assemble(("QEMU -cpu flags      ", "bold"), cpu))
            qemu_net = " ".join(network.qemu_args()) or "(no network device)"
            lines.append(Content.assemble(("QEMU network         ", "bold"), qemu_net))
            if plan.auto_forwards and mode == "user" and plan.app:
                from ukl_tui.boot import default_forwards

                extra = [str(f) for f in default_forwards(plan.app)]
                if extra:
                    lines.append(
                        Content.assemble(("added for the app    ", "bold"), ", ".join(extra))
                    )
            if tap_mode:
                try:
                    network.check_host()
                except UserError as exc:
                    lines.append(Content.assemble(("! ", "$warning"), (exc.message, "$warning")))
        self.query_one("#net-result", Static).update(Content("\n").join(lines))

    def _network_choice(self, network: NetworkSpec) -> dict[str, Any]:
        """The plan's ``network`` and ``network_keys`` for the form's network: the keys
        chosen before, those changed from what the form was filled with, and, when the
        mode changed, every key that differs from the new mode's defaults (the presets'
        settings belong to their mode and no longer apply). Keys not chosen keep the
        defaults, so that applying another preset later can still set them.
        """
        from ukl_tui.boot import NETWORK_KEYS, NetworkSpec

        shown = self._shown or network
        keys = set(self.session.choices.network_keys)
        keys |= {k for k in NETWORK_KEYS if getattr(network, k) != getattr(shown, k)}
        if network.mode != shown.mode:
            keys |= set(network.chosen_keys())
        start = NetworkSpec.for_mode(network.mode if "mode" in keys else "user")
        values = {k: getattr(network, k) for k in keys if k != "mode"}
        return {
            "network": replace(start, **values),
            "network_keys": tuple(k for k in NETWORK_KEYS if k in keys),
        }

    def leave_problem(self) -> str | None:
        """Why the wizard should not move on yet."""
        return self.problem

    def action_defaults(self) -> None:
        """Ctrl+R: back to user networking at 10.0.2.15 and the default boot settings (the
        plan's defaults; kernel parameters and CPU flags a fix set go too).
        """
        plan = self.session.choices
        defaults = Plan(tree=plan.tree)
        self.session.plan = replace(plan, **{name: getattr(defaults, name) for name in FIELDS})
        self.fill()

    @on(RadioSet.Changed, "#net-mode")
    def _mode_changed(self, event: RadioSet.Changed) -> None:
        """Switching mode fills the address the mode expects (unless the user typed one)."""
        if self._loading:
            return
        from ukl_tui.boot import BRIDGE_GATEWAY, BRIDGE_GUEST, USER_GATEWAY, USER_GUEST

        mode = event.pressed.name
        address = self.query_one("#net-address", Input)
        gateway = self.query_one("#net-gateway", Input)
        defaults = {
            "user": (str(USER_GUEST), str(USER_GATEWAY)),
            "tap": (str(BRIDGE_GUEST), str(BRIDGE_GATEWAY)),
        }
        others = {v for pair in defaults.values() for v in pair} | {""}
        if mode in defaults and address.value in others and gateway.value in others:
            address.value, gateway.value = defaults[mode]


def _choices(plan: Plan) -> dict[str, Any]:
    """The plan's choices this step edits."""
    return {name: getattr(plan, name) for name in FIELDS}


def _number(what: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise UserError(f"{what} must be a whole number, not {text.strip()!r}") from None
