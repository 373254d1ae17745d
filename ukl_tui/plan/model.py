"""The plan as a value: every choice of a session, and :meth:`Plan.build`, which checks it all
and turns it into steps with the recipes of :mod:`.kernel`, :mod:`.ukl` and :mod:`.initrd`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ukl_tui.apps import (
    DEFAULT_ARCHIVE,
    OPTIONS,
    App,
    ConfigureOptions,
    check_options,
    custom_app,
    find_app,
    kconfig_effects,
)
from ukl_tui.boot import (
    DEFAULT_CMDLINE,
    DEFAULT_CPU_FLAGS,
    NETWORK_KEYS,
    BootSpec,
    NetworkSpec,
    add_cpu_flags,
    default_forwards,
    edit_cmdline,
    network_value_data,
    port_problem,
)
from ukl_tui.errors import UserError
from ukl_tui.host import KvmStatus
from ukl_tui.locate import free_port
from ukl_tui.plan.check import PlanChecks
from ukl_tui.plan.common import (
    MINIMAL_INITRD,
    absolute,
    check_make_path,
    check_text,
    configure_default,
    default_build_dir,
)
from ukl_tui.plan.compiler import Compiler, choose_compiler
from ukl_tui.plan.initrd import initrd_steps
from ukl_tui.plan.kernel import kernel_steps
from ukl_tui.plan.tomlfile import PlanFile
from ukl_tui.plan.ukl import ukl_steps
from ukl_tui.steps import Step

if TYPE_CHECKING:
    from ukl_tui.kconfig import Tree
    from ukl_tui.presets import Boot as PresetBoot
    from ukl_tui.presets import Preset
    from ukl_tui.workspace import Workspace


def _shown(value: object) -> str:
    """A network value in a message: lists joined, none as ``none``."""
    if isinstance(value, list):
        return ", ".join(value) or "no forwards"
    return str(value) or "none"


def base_cmdline(preset_boot: PresetBoot | None) -> tuple[str, ...]:
    """The kernel parameters a plan starts from: its presets', or the default ones."""
    if preset_boot is not None and preset_boot.cmdline:
        return tuple(preset_boot.cmdline)
    return DEFAULT_CMDLINE


@dataclass
class Built:
    """A checked plan: the steps to run, what to tell the user, and what the boot uses."""

    steps: list[Step]
    warnings: list[str]
    workspace: Workspace
    boot: BootSpec
    app: App | None
    build_dir: Path
    kernel: Path
    initrd: Path | None
    accel_note: str
    probe_ports: list[int] = field(default_factory=list)
    #: The id of a step after which the plan should be built again (``submodules`` when
    #: linux/ was not there to check symbols against), or None.
    replan_after: str | None = None
    #: What the conflict rules find in the plan's wanted values, command line, CPU flags,
    #: network, configure options and initrd (ukl_tui.rules.Conflict, errors first).
    conflicts: list[Any] = field(default_factory=list)
    #: How the kernel compiles: ccache, the distcc hosts that answered, every host's probe.
    compiler: Compiler = field(default_factory=Compiler)


@dataclass
class Plan(PlanFile, PlanChecks):
    """The whole session as data; see the module docstring and :meth:`build`.

    ``app`` is a program of a ukl checkout (None: configure's default), ``ukl_a`` a prebuilt
    archive instead. ``configure`` holds configure's options; its ``program`` field is ignored
    (``app`` decides). ``auto_forwards`` adds the known servers' port forwards for guest ports
    the user did not forward. ``initrd`` is ``auto``, ``ukl``, ``minimal`` or a file.
    ``build_dir`` None means :func:`default_build_dir`; ``jobs`` None the CPU count;
    ``ccache`` None "when installed". The kernel command line is the presets' (or the
    default one) without the parameters in ``remove`` (words, or ``name=`` prefixes), then
    ``append``; QEMU's CPU flags are the presets' (or the default ones) with ``cpu_flags``
    set on top: :meth:`boot_spec`. ``distcc`` is a distcc host list (:mod:`ukl_tui.distcc`;
    None: no distcc), kept on one line; with it and ``jobs`` None, ``-j`` is the slots of the
    hosts that answer the probe.
    """

    tree: Path
    overlays: tuple[Path, ...] = ()
    config: Path | None = None
    base: str | None = None
    presets: tuple[str, ...] = ()
    edits: dict[str, str] = field(default_factory=dict)
    app: str | None = None
    ukl_a: Path | None = None
    configure: ConfigureOptions = field(default_factory=ConfigureOptions)
    network: NetworkSpec = field(default_factory=NetworkSpec)
    #: The network keys the user chose (command line options, the plan file's [network]
    #: keys, the wizard's edits); a preset's network settings fill in the others. Keys whose
    #: value differs from the mode's defaults are always counted (see ``__post_init__``).
    network_keys: tuple[str, ...] = ()
    auto_forwards: bool = True
    memory_mib: int = 1024
    cpus: int = 1
    append: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    cpu_flags: tuple[str, ...] = ()
    init_args: tuple[str, ...] = ()
    initrd: str = "auto"
    accel: str = "auto"
    build_dir: Path | None = None
    jobs: int | None = None
    ccache: bool | None = None
    distcc: str | None = None
    source: Path | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Store paths absolute and sequences as tuples, whatever the caller passed."""
        self.tree = absolute(self.tree)
        self.overlays = tuple(absolute(p) for p in self.overlays)
        if self.config is not None:
            self.config = absolute(self.config)
        if self.ukl_a is not None:
            self.ukl_a = absolute(self.ukl_a)
        if self.build_dir is not None:
            self.build_dir = absolute(self.build_dir)
        self.presets = tuple(
            str(absolute(p)) if p.endswith(".toml") or "/" in p else p for p in self.presets
        )
        self.append = tuple(self.append)
        self.remove = tuple(self.remove)
        self.cpu_flags = tuple(self.cpu_flags)
        self.init_args = tuple(self.init_args)
        self.edits = {k.removeprefix("CONFIG_"): v for k, v in self.edits.items()}
        # A network set in code (Plan(network=NetworkSpec.user(...))) is the user's too.
        chosen = set(self.network_keys) | set(self.network.chosen_keys())
        self.network_keys = tuple(k for k in NETWORK_KEYS if k in chosen)
        if self.distcc is not None:
            # One line as DISTCC_HOSTS takes it (a hosts file has lines and comments); a bad
            # list is kept as given so build() names the problem.
            from ukl_tui.distcc import parse_hosts

            try:
                self.distcc = parse_hosts(self.distcc).spec() if self.distcc.strip() else None
            except UserError:
                pass

    # ----- derived values --------------------------------------------------------------

    def workspace(self) -> Workspace:
        """What the tree is (re-inspected on each call: the checkout may have changed)."""
        from ukl_tui.workspace import inspect_workspace

        return inspect_workspace(self.tree)

    def resolved_build_dir(self) -> Path:
        """The build directory this plan uses."""
        return self.build_dir or default_build_dir(self.tree)

    def resolved_jobs(self) -> int:
        """``make -j`` for this plan."""
        return self.jobs if self.jobs is not None else (os.cpu_count() or 1)

    def load_presets(self) -> list[Preset]:
        """The named presets, each validated (a bad file is one UserError naming file:line)."""
        if not self.presets:
            return []
        from ukl_tui.presets import load_presets

        return load_presets(list(self.presets))

    def resolve_app(self, ws: Workspace) -> App | None:
        """The application: a checkout's program, a custom UKL.a, or None (plain tree)."""
        if self.app is not None and self.ukl_a is not None:
            raise UserError("choose either a program (--app) or a prebuilt UKL.a (--ukl-a)")
        if self.ukl_a is not None:
            return custom_app(self.ukl_a, ws)
        if not ws.is_ukl:
            if self.app is not None:
                raise UserError(
                    f"{ws.root} is a plain kernel tree: it has no programs to build "
                    f"({self.app!r}); give a prebuilt archive with --ukl-a FILE"
                )
            return None
        name = self.app or configure_default(ws.root)
        return find_app(ws, name)

    def configure_options(self, app: App | None) -> ConfigureOptions:
        """Configure's options with the program (or custom archive) of ``app`` filled in."""
        opts = self.configure
        if app is not None and app.is_custom:
            if opts.ukl_archive not in (None, DEFAULT_ARCHIVE, str(app.archive)):
                raise UserError(
                    "--ukl-a and --with-ukl-archive both name the archive: give only one"
                )
            return replace(opts, ukl_archive=str(app.archive))
        if app is not None:
            return replace(opts, program=app.name)
        return opts

    def network_for(self, preset_boot: PresetBoot | None) -> NetworkSpec:
        """The network this plan boots with, given what its presets ask (``preset_boot``).

        The presets' settings fill in every key the user did not choose (``network_keys``).
        They are settings for the presets' mode (user networking when they name none): when
        the user chose another mode, none of them apply, as in a preset that switches mode.
        When the presets switch the mode, the keys nobody set take that mode's defaults.
        """
        asks = dict(preset_boot.network_values()) if preset_boot is not None else {}
        if not asks:
            return self.network
        mine = set(self.network_keys)
        mode = asks.pop("mode", "user")
        if "mode" in mine and mode != self.network.mode:
            return self.network
        start = self.network
        if mode != self.network.mode:
            start = NetworkSpec.for_mode(mode)
        kw = {k: v for k, v in asks.items() if k not in mine}
        kw |= {k: getattr(self.network, k) for k in mine if k != "mode"}
        return replace(start, **kw)

    def network_clashes(self, preset_boot: PresetBoot | None) -> dict[str, str]:
        """Network key -> one line, for each key the user chose that a preset wants
        otherwise (the user's value is kept), like a hand edit over a preset's Kconfig value.
        """
        if preset_boot is None or not preset_boot.network:
            return {}
        asks = preset_boot.network_values()
        mode = asks.get("mode", "user")
        if "mode" in self.network_keys and mode != self.network.mode:
            names = ", ".join(dict.fromkeys(s.preset for s in preset_boot.network))
            return {
                "mode": f"network mode: kept your {self.network.mode}; the network settings "
                f"of {names} are for {mode} networking and do not apply"
            }
        lines: dict[str, str] = {}
        for setting in preset_boot.network:
            if setting.key in self.network_keys:
                mine = getattr(self.network, setting.key)
                if mine != setting.value:
                    show = network_value_data(setting.key, mine)
                    theirs = network_value_data(setting.key, setting.value)
                    lines[setting.key] = (
                        f"network {setting.key}: kept your {_shown(show)}; {setting.preset} "
                        f"wants {_shown(theirs)}"
                    )
        return lines

    def drop_network_keys(self, keys: Sequence[str]) -> None:
        """Forget the user's choice of these network keys (the presets' values, else the
        mode's defaults, apply again): "use the preset's" in the wizard.
        """
        keep = tuple(k for k in self.network_keys if k not in keys)
        start = NetworkSpec.for_mode(self.network.mode if "mode" in keep else "user")
        self.network = replace(start, **{k: getattr(self.network, k) for k in keep if k != "mode"})
        self.network_keys = keep

    def effective_network(
        self, app: App | None, preset_boot: PresetBoot | None = None
    ) -> NetworkSpec:
        """The network (:meth:`network_for`) with the app's default forwards for guest
        ports not forwarded by hand or by a preset.
        """
        net = self.network_for(preset_boot)
        if net.mode != "user" or not self.auto_forwards or app is None:
            return net
        taken = {(f.guest_port, f.proto) for f in net.forwards}
        extra = [f for f in default_forwards(app.name) if (f.guest_port, f.proto) not in taken]
        if not extra:
            return net
        return replace(net, forwards=(*net.forwards, *extra))

    def boot_spec(
        self,
        preset_boot: PresetBoot | None = None,
        *,
        kernel: str = "bzImage",
        initrd: str | None = None,
        network: NetworkSpec | None = None,
    ) -> BootSpec:
        """The boot this plan's choices make, given what its presets ask (``preset_boot``):
        the one place the kernel command line and QEMU's CPU flags are put together, for
        :meth:`build`, the wizard's session and its Network and boot step alike.
        """
        asks = preset_boot
        base = base_cmdline(asks)
        flags = asks.qemu_cpu_flags if asks is not None and asks.qemu_cpu_flags else None
        cpu = add_cpu_flags(",".join(flags or DEFAULT_CPU_FLAGS), self.cpu_flags)
        return BootSpec(
            kernel=kernel,
            initrd=initrd,
            memory_mib=self.memory_mib,
            cpus=self.cpus,
            cmdline_base=tuple(edit_cmdline(" ".join(base), (), self.remove).split()),
            extra_params=self.append,
            init_args=self.init_args,
            qemu_cpu_flags=tuple(f for f in cpu.split(",") if f),
            network=self.network_for(asks) if network is None else network,
            accel=self.accel,  # type: ignore[arg-type]
            gdb=bool(asks is not None and asks.gdb),
        )

    def _load_tree(self, ws: Workspace, tree: Tree | None) -> Tree | None:
        """The kernel's Kconfig model, to check symbols; None when linux/ is not there yet."""
        if ws.kernel_tree is None:
            return None
        if tree is not None:
            same_tree = Path(tree.srctree).resolve() == ws.kernel_tree.resolve()
            same_overlays = tuple(Path(p).resolve() for p in tree.overlays) == tuple(
                p.resolve() for p in self.overlays
            )
            if same_tree and same_overlays:
                return tree
        from ukl_tui.kconfig import load_tree

        return load_tree(ws.kernel_tree, config=None, overlays=self.overlays)

    # ----- checking and building -----------------------------------------------------------

    def build(
        self,
        kvm: KvmStatus | None = None,
        tree: Tree | None = None,
        *,
        check_ports: bool = True,
        probe_hosts: bool = True,
    ) -> Built:
        """Check every choice and turn the plan into steps; the first bad input raises.

        ``kvm`` is the accelerator verdict (default: :func:`ukl_tui.host.kvm_usable` now);
        ``tree`` a Kconfig model the caller already has loaded (the TUI's), reused when it is
        this plan's tree with the same overlays. ``check_ports`` binds each forwarded host
        port briefly to see that it is free; ``probe_hosts`` asks each distcc host first
        (without it every listed host is used).
        """
        ws = self.workspace()
        warnings: list[str] = []
        check_make_path("tree", ws.root)
        build_dir = self.resolved_build_dir()
        check_make_path("build directory", build_dir)
        if self.source is not None:
            check_text("plan file path", str(self.source))
        jobs = self.resolved_jobs()
        if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= 1024:
            raise UserError(f"jobs must be a whole number from 1 to 1024, not {jobs!r}")
        self._check_inputs(ws)

        presets = self.load_presets()
        from ukl_tui.presets import combine

        combined = combine(presets) if presets else None
        if self.base is not None:
            from ukl_tui.presets import BASES

            if self.base not in BASES:
                raise UserError(f"unknown base {self.base!r} (known: {', '.join(BASES)})")
            if self.config is not None:
                raise UserError(
                    "give either a .config to start from or a base configuration, not both"
                )
        if presets and not ws.is_ukl and self.config is None:
            # apply starts a tree without .config from the presets' base: presets that name
            # different bases need an explicit one, which is better said now than mid-run.
            from ukl_tui.presets import choose_base

            choose_base(presets, self.base or True)

        app = self.resolve_app(ws)
        if app is not None:
            warnings.extend(app.warnings)
        opts = self.configure_options(app)
        opts.validate()
        if ws.is_ukl:
            warnings.extend(check_options(opts, ws))
        elif opts.changed() and app is None:
            warnings.append(
                "configure options only apply to a ukl checkout or a prebuilt UKL.a (--ukl-a)"
            )

        kernel_model = self._load_tree(ws, tree)
        edits = self._checked_edits(kernel_model, ws)
        effects = self._effects(opts, app, ws, kernel_model, warnings)
        for name, value in edits.items():
            if name in effects and effects[name] != value:
                warnings.append(
                    f"your edit {name}={value} replaces {effects[name]!r}, the value "
                    f"{'configure' if ws.is_ukl else 'the application'} needs"
                )
        # The path init must exec: what the kernel config will say, in the order apply uses
        # (your edits, then configure's / the application's values, then the presets).
        preset_name = combined.values.get("UKL_NAME") if combined else None
        trigger = (
            edits.get("UKL_NAME")
            or effects.get("UKL_NAME")
            or (preset_name.value if preset_name else None)
            or opts.ukl_trigger
        )

        sets = {**effects, **edits}
        compiler = choose_compiler(
            self.ccache, self.distcc, build_dir, warnings, probe_hosts=probe_hosts
        )
        if self.jobs is None and compiler.distcc is not None:
            jobs = min(compiler.distcc.slots, 1024)  # distcc -j: the answering hosts' slots
        if ws.is_ukl:
            steps, kernel, old_app = ukl_steps(
                ws,
                app,
                opts,
                sets,
                presets=self.presets,
                jobs=jobs,
                compiler=compiler,
                warnings=warnings,
            )
        else:
            steps, kernel = kernel_steps(
                ws,
                build_dir,
                kernel_model,
                sets,
                config=self.config,
                overlays=self.overlays,
                presets=self.presets,
                base=self.base,
                compiler=compiler,
                jobs=jobs,
            )
            old_app = None
        initrd, more = initrd_steps(self.initrd, ws, app, old_app, build_dir, trigger, warnings)
        steps += more

        boot = self.boot_spec(
            combined.boot if combined else None,
            kernel=str(kernel),
            initrd=None if initrd is None else str(initrd),
            network=self.effective_network(app, combined.boot if combined else None),
        )
        warnings.extend(self.network_clashes(combined.boot if combined else None).values())
        boot.validate(check_ports=check_ports)
        if boot.gdb and check_ports:
            boot = _gdb_port_free(boot, warnings)
        if shutil.which(boot.qemu) is None:
            raise UserError(
                f"{boot.qemu} not found on PATH: install QEMU (Debian: qemu-system-x86)"
            )
        if kvm is None:
            from ukl_tui.host import kvm_usable

            kvm = kvm_usable()
        choice = boot.resolve_accel(kvm)
        if choice.accel != "kvm":
            warnings.append(choice.note)
        markers = ["UKL BOOTED"]
        if app is not None and app.banner:
            markers.append(app.banner)
        cwd = ws.root if ws.is_ukl else build_dir
        steps.append(
            boot.to_step(
                kvm,
                str(cwd),
                step_id="boot",
                title="Boot the kernel under QEMU (serial console on stdin/stdout)",
                success_markers=markers,
            )
        )
        conflicts = self._conflicts(
            combined,
            sets,
            boot,
            steps[-1],
            opts if ws.is_ukl or app is not None else None,
            trigger,
            initrd,
        )
        # a conflict about an option says it better (and with a fix) than its plain warning
        subjects = {c.subject for c in conflicts}
        warnings = [w for w in warnings if w.split(":", 1)[0] not in subjects]
        ports: list[int] = []
        if app is not None and app.is_server and boot.network.mode == "user":
            ports = [f.host_port for f in boot.network.forwards if f.proto == "tcp"]
        return Built(
            steps=steps,
            warnings=list(dict.fromkeys(warnings)),
            workspace=ws,
            boot=boot,
            app=app,
            build_dir=build_dir,
            kernel=kernel,
            initrd=initrd,
            accel_note=choice.note,
            probe_ports=ports,
            replan_after="submodules"
            if ws.is_ukl and kernel_model is None and steps[0].id == "submodules"
            else None,
            conflicts=conflicts,
            compiler=compiler,
        )

    def _conflicts(
        self,
        combined: Preset | None,
        sets: Mapping[str, str],
        boot: BootSpec,
        boot_step: Step,
        opts: ConfigureOptions | None,
        trigger: str,
        initrd: Path | None,
    ) -> list[Any]:
        """The rules over what the plan asks for (the settled .config exists only later)."""
        from ukl_tui.rules import Context, check, detect_compression

        wanted = {**(combined.kconfig() if combined else {}), **sets}
        if initrd is None:
            compression = None
        elif initrd.is_file():
            compression = detect_compression(initrd)
        elif initrd.name == MINIMAL_INITRD:
            compression = "gzip"
        else:
            compression = "lzma"  # ukl's buildinitrd.sh: xz --format=lzma
        argv = boot_step.argv
        context = Context(
            values=wanted,
            wanted=wanted,
            required=frozenset(combined.required if combined else ()),
            absent_is_off=False,
            cmdline=boot.kernel_cmdline(),
            qemu_cpu=argv[argv.index("-cpu") + 1],
            network=boot.network,
            app_options=opts,
            initrd_compression=compression,
            trigger=trigger,
        )
        return check(context)

    def steps(self, kvm: KvmStatus | None = None, tree: Tree | None = None) -> list[Step]:
        """The ordered steps (see :meth:`build`)."""
        return self.build(kvm, tree).steps

    def _effects(
        self,
        opts: ConfigureOptions,
        app: App | None,
        ws: Workspace,
        model: Tree | None,
        warnings: list[str],
    ) -> dict[str, str]:
        """The values configure (or a custom UKL.a) puts in the kernel config, raw strings.

        Only symbols this tree defines are kept: ``apply`` refuses unknown ones, and ukl's
        Makefile writes options (UKL_SAME_STACK...) that 6.x kernels no longer have.
        """
        if not ws.is_ukl and app is None:
            return {}
        wanted = kconfig_effects(opts, quoted=False)
        if model is None:
            # linux/ is not checked out: keep what every UKL fork since 6.3 defines (UKL.md)
            # and what the user enabled. UKL_ARCHIVE_PATH at its default is left out: a newer
            # fork dropped the symbol, and where it exists its default is that same value.
            warnings.append(
                "linux/ is not checked out yet, so the kernel's symbols could not be checked: "
                "build the plan again after the submodule step (Built.replan_after)"
            )
            skipped = {spec.kconfig for spec in OPTIONS if spec.no_effect_on_6x}
            if wanted.get("UKL_ARCHIVE_PATH") == DEFAULT_ARCHIVE:
                skipped.add("UKL_ARCHIVE_PATH")
            return {k: v for k, v in wanted.items() if k not in skipped}
        kept = {k: v for k, v in wanted.items() if model.has(k)}
        for name in wanted.keys() - kept.keys():
            if name == "UKL_ARCHIVE_PATH" and app is not None and app.is_custom:
                warnings.append(
                    f"this kernel has no UKL_ARCHIVE_PATH: it cannot be pointed at {app.archive}"
                )
            elif name in ("UNIKERNEL_LINUX", "UKL_NAME"):
                warnings.append(f"this kernel tree does not define {name}: is it a UKL kernel?")
            elif any(spec.kconfig == name and getattr(opts, spec.field) for spec in OPTIONS):
                flag = next(spec.flag for spec in OPTIONS if spec.kconfig == name)
                warnings.append(f"{flag} sets CONFIG_{name}, which this kernel does not define")
        return kept


def _gdb_port_free(boot: BootSpec, warnings: list[str]) -> BootSpec:
    """The boot with its gdb stub on a port nothing holds: the asked one, else a free one.

    ``gdb = true`` puts the stub on 1234 (what ``target remote :1234`` expects); a second
    debug run at the same time would make QEMU refuse to start, so that run's stub moves to
    a free loopback port and the warning names it for the user's gdb.
    """
    problem = port_problem(boot.gdb_port)
    if problem is None:
        return boot
    port = free_port()
    warnings.append(
        f"gdb stub: {problem} (another debug run?); this run's stub is on 127.0.0.1:{port} "
        f"(gdb vmlinux -ex 'target remote 127.0.0.1:{port}')"
    )
    return replace(boot, gdb_port=port)
