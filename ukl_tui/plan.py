"""The whole session as data (``ukl-tui.toml``) and the exact commands it turns into.

A :class:`Plan` holds every choice a user makes in the wizard or on the command line: the
tree, presets and hand edits, the application and its configure options, the network and the
boot. :meth:`Plan.build` checks all of it at once (one ``UserError`` line for the first bad
input) and returns ordered :class:`~ukl_tui.steps.Step` objects, which the Review screen shows,
``ukl-tui plan`` prints and writes as a reproducer script, and the runner executes. Nothing
here runs a build; the only side effects are those of loading the kernel tree to check
symbol names (its parse cache, and the wrapper Kconfig that sources the overlays).

What the steps follow, read from the public unikernelLinux repositories with the project's
search tool: ukl's ``Makefile.am`` at commits 007415a0 and 4c8304ea, ``initrd/init.in``,
``initrd/buildinitrd.sh`` and ``initrd/create-initrd.sh``, and the linux fork's ``fs/exec.c``
patch (``check_ukl_exec``). From those:

- ``linux/.config: saveconfig`` copies ``saveconfig`` and appends ``echo CONFIG_...`` lines,
  strings unquoted (kconfig then ignores them). ``linux/arch/x86/boot/bzImage: linux/.config
  UKL.a`` runs ``olddefconfig`` and the kernel build; ``vmlinuz`` copies the bzImage. So the
  plan runs ``make -W saveconfig linux/.config`` (always rewritten from saveconfig, so a plan
  is reproducible), then ``ukl-tui apply`` on that file (presets, configure's values quoted,
  hand edits), then ``make vmlinuz``, whose olddefconfig keeps the fixed file: it is newer than
  saveconfig, so ukl's recipe does not overwrite it.
- ``libc.a`` runs glibc's first make with ``-`` (its iconv failure is ignored) and then copies
  ``libc.a``; it is its own step so only that stage's errors are labelled as expected.
- ``ukl-initrd.cpio.xz`` is built in Docker with ``docker exec -it`` (needs a terminal) and
  copies ``perf`` (ukl issue #38); its init runs the trigger path by name.
- The fork starts the application when an exec names ``CONFIG_UKL_NAME``, compared before the
  file is opened, so the trigger file's content does not matter (inferred from the patch).
  ukl-tui's minimal initramfs only execs the trigger when a file is there: the plan asks for a
  placeholder file so the exec happens.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import partial
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ukl_tui.apps import (
    DEFAULT_ARCHIVE,
    DEFAULT_PROGRAM,
    OPTIONS,
    App,
    ConfigureOptions,
    app_change_steps,
    check_options,
    configure_argv,
    custom_app,
    default_program,
    find_app,
    has_make_target,
    kconfig_effects,
)
from ukl_tui.boot import (
    ACCELS,
    DEFAULT_CMDLINE,
    DEFAULT_CPU_FLAGS,
    BootSpec,
    NetworkSpec,
    add_cpu_flags,
    check_cpu_flag,
    check_param,
    check_word,
    default_forwards,
    edit_cmdline,
)
from ukl_tui.errors import UserError
from ukl_tui.host import KvmStatus
from ukl_tui.steps import Step

if TYPE_CHECKING:
    from ukl_tui.kconfig import Tree
    from ukl_tui.presets import Boot as PresetBoot
    from ukl_tui.presets import Preset
    from ukl_tui.workspace import Workspace

#: The plan file a checkout keeps its session in.
PLAN_FILE = "ukl-tui.toml"
#: Bump when the file layout changes incompatibly.
FORMAT_VERSION = 1
#: Initrd choices besides a file path: ukl's own, ukl-tui's busybox one, or whichever is there.
INITRD_CHOICES: tuple[str, ...] = ("auto", "ukl", "minimal")
UKL_INITRD = "ukl-initrd.cpio.xz"
MINIMAL_INITRD = "ukl-tui-initramfs.cpio.gz"
#: UKL is x86_64 only (MEASURED.md: make's default ARCH=x86 gives 32-bit tiny configs).
ARCH = "x86_64"
#: Fixed build identity: the kernel's version banner, and so ccache's hit rate, stop
#: depending on when and where the build ran.
BUILD_ENV: dict[str, str] = {
    "KBUILD_BUILD_TIMESTAMP": "1970-01-01 00:00:00 UTC",
    "KBUILD_BUILD_USER": "ukl-tui",
    "KBUILD_BUILD_HOST": "ukl-tui",
}
GLIBC_NOTE = (
    "glibc's first make fails in iconv on every UKL build; ukl's Makefile continues past it "
    "and only needs libc.a to exist (a real failure shows again in the next make)"
)
#: Paths handed to make (``O=``, ``-C``, variables) must survive make's own parsing:
#: ``$`` would be expanded (``$(shell ...)``), spaces and colons break kbuild and autotools,
#: ``%`` is a pattern character, and QEMU reads a comma in a file name as a separator.
_MAKE_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+@~-]+$")
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9_]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MAKEFILE_VAR = re.compile(r"^(PROGRAM|ARCHIVE)[ \t]*=[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def base_cmdline(preset_boot: PresetBoot | None) -> tuple[str, ...]:
    """The kernel parameters a plan starts from: its presets', or the default ones."""
    if preset_boot is not None and preset_boot.cmdline:
        return tuple(preset_boot.cmdline)
    return DEFAULT_CMDLINE


# ----- small checks ---------------------------------------------------------------------------


def _check_text(what: str, text: str) -> None:
    """Refuse control characters (a newline above all) and undecodable bytes in a string."""
    if _CONTROL_RE.search(text):
        raise UserError(f"{what} {text!r} contains a newline or control character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{what} {text!r} is not valid UTF-8") from None


def check_make_path(what: str, path: Path) -> None:
    """A path that make and kbuild will see: no spaces, colons, ``$``, quotes or the like."""
    text = str(path)
    _check_text(what, text)
    if not _MAKE_SAFE_PATH.match(text):
        bad = sorted({c for c in text if not _MAKE_SAFE_PATH.match(c)})
        shown = " ".join(repr(c) for c in bad)
        raise UserError(
            f"{what} {text!r} contains {shown}: the kernel's make and autotools break on (or "
            "expand) spaces, colons, '$', quotes and similar characters in paths; use another "
            "directory"
        )


def _absolute(path: str | os.PathLike[str], base: Path | None = None) -> Path:
    """Expand ``~`` and make absolute against ``base`` (the plan file's directory) or the cwd."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (base or Path.cwd()) / p
    return Path(os.path.normpath(p))


def _kernel_tree_unclean(root: Path) -> str | None:
    """Why kbuild would refuse an ``O=`` build from this source tree, or None."""
    for rel in (".config", "include/config", "arch/x86/include/generated"):
        if (root / rel).exists():
            return rel
    return None


def default_build_dir(tree: Path) -> Path:
    """Where a tree's build goes by default: under the cache directory, never in the sources.

    One directory per source tree (named after it, plus a hash of its real path), so changing
    presets or edits rebuilds incrementally instead of from scratch.
    """
    from ukl_tui.paths import cache_dir

    real = os.path.realpath(tree)
    digest = sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(real).name) or "tree"
    return cache_dir() / "build" / f"{name}-{digest}"


def default_plan_path(ws: Workspace, build_dir: Path | None = None) -> Path:
    """``ukl-tui.toml`` in a ukl checkout; beside the build for a plain tree.

    ukl-tui never writes into a plain kernel tree (it may be read-only, and kbuild wants it
    clean), so that tree's plan lives in its build directory.
    """
    if ws.is_ukl:
        return ws.root / PLAN_FILE
    return (build_dir or default_build_dir(ws.root)) / PLAN_FILE


def check_writable(what: str, path: Path) -> None:
    """Raise when ``path`` could not be written (checked before anything is written)."""
    _check_text(f"{what} path", str(path))
    if path.is_dir():
        raise UserError(f"{what} {path} is a directory: give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {what} {path}: directory {parent} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"cannot write {what} {path}: permission denied")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {what} {path}: directory {parent} is not writable")


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file whole or not at all (a half-written plan must never be loaded)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


# ----- TOML writing (tomllib only reads) -------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b"}


def _toml_str(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise UserError(f"{text!r} cannot be written to TOML (undecodable bytes)")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_str(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps_toml(data: Mapping[str, Any], comment: str = "") -> str:
    """TOML for plain data: scalars and lists first, then one ``[table]`` per nested mapping."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]

    def emit(table: Mapping[str, Any], prefix: str) -> None:
        subtables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
        if prefix:
            lines.append("")
            lines.append(f"[{prefix}]")
        for key, value in table.items():
            if value is None or isinstance(value, Mapping):
                continue
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in subtables:
            emit(value, f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key))

    emit(data, "")
    return "\n".join(lines) + "\n"


# ----- reading plan files -----------------------------------------------------------------------


class _Reader:
    """Typed access to one table of a plan file; every error names the file and the key."""

    def __init__(self, source: str, table: Mapping[str, Any], prefix: str = "") -> None:
        self.source = source
        self.table = table
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def error(self, name: str, message: str) -> UserError:
        return UserError(f"{self.source}: key '{self.key(name)}': {message}")

    def check_keys(self, known: Iterable[str]) -> None:
        allowed = set(known)
        for name in self.table:
            if name not in allowed:
                raise UserError(
                    f"{self.source}: unknown key '{self.key(name)}' "
                    f"(known here: {', '.join(sorted(allowed))})"
                )

    def get(self, name: str, kind: type | tuple[type, ...], what: str, default: Any = None) -> Any:
        if name not in self.table:
            return default
        value = self.table[name]
        bad_bool = isinstance(value, bool) and kind in (int, (int, float))
        if not isinstance(value, kind) or bad_bool:
            raise self.error(name, f"expected {what}, not {value!r}")
        return value

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.get(name, str, "a string", default)
        if value is not None:
            try:
                _check_text("value", value)
            except UserError as exc:
                raise self.error(name, exc.message) from None
        return value

    def flag(self, name: str, default: bool) -> bool:
        return bool(self.get(name, bool, "true or false", default))

    def number(self, name: str, default: int | None) -> int | None:
        return self.get(name, int, "a whole number", default)

    def words(self, name: str) -> tuple[str, ...]:
        value = self.get(name, list, "a list of strings", [])
        for item in value:
            if not isinstance(item, str):
                raise self.error(name, f"expected a list of strings, found {item!r}")
        return tuple(value)

    def sub(self, name: str) -> _Reader:
        value = self.get(name, dict, "a table", {})
        return _Reader(self.source, value, f"{self.prefix}{name}.")


# ----- the plan ---------------------------------------------------------------------------------

_CONFIGURE_FIELDS = tuple(spec.field for spec in OPTIONS if spec.field != "program") + (
    "ukl_archive",
)
_NETWORK_FIELDS = tuple(f.name for f in fields(NetworkSpec))
#: The plan's fields kept in its file's [boot] table (the Network and boot step edits them).
BOOT_TABLE = ("memory_mib", "cpus", "append", "remove", "cpu_flags", "init_args", "initrd", "accel")


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


@dataclass
class Plan:
    """The whole session as data; see the module docstring and :meth:`build`.

    ``app`` is a program of a ukl checkout (None: configure's default), ``ukl_a`` a prebuilt
    archive instead. ``configure`` holds configure's options; its ``program`` field is ignored
    (``app`` decides). ``auto_forwards`` adds the known servers' port forwards for guest ports
    the user did not forward. ``initrd`` is ``auto``, ``ukl``, ``minimal`` or a file.
    ``build_dir`` None means :func:`default_build_dir`; ``jobs`` None the CPU count;
    ``ccache`` None "when installed". The kernel command line is the presets' (or the
    default one) without the parameters in ``remove`` (words, or ``name=`` prefixes), then
    ``append``; QEMU's CPU flags are the presets' (or the default ones) with ``cpu_flags``
    set on top: :meth:`boot_spec`.
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
    source: Path | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Store paths absolute and sequences as tuples, whatever the caller passed."""
        self.tree = _absolute(self.tree)
        self.overlays = tuple(_absolute(p) for p in self.overlays)
        if self.config is not None:
            self.config = _absolute(self.config)
        if self.ukl_a is not None:
            self.ukl_a = _absolute(self.ukl_a)
        if self.build_dir is not None:
            self.build_dir = _absolute(self.build_dir)
        self.presets = tuple(
            str(_absolute(p)) if p.endswith(".toml") or "/" in p else p for p in self.presets
        )
        self.append = tuple(self.append)
        self.remove = tuple(self.remove)
        self.cpu_flags = tuple(self.cpu_flags)
        self.init_args = tuple(self.init_args)
        self.edits = {k.removeprefix("CONFIG_"): v for k, v in self.edits.items()}

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
        name = self.app or _configure_default(ws.root)
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

    def effective_network(self, app: App | None) -> NetworkSpec:
        """The network with the app's default forwards for guest ports not forwarded by hand."""
        net = self.network
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
            network=self.network if network is None else network,
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
    ) -> Built:
        """Check every choice and turn the plan into steps; the first bad input raises.

        ``kvm`` is the accelerator verdict (default: :func:`ukl_tui.host.kvm_usable` now);
        ``tree`` a Kconfig model the caller already has loaded (the TUI's), reused when it is
        this plan's tree with the same overlays. ``check_ports`` binds each forwarded host
        port briefly to see that it is free.
        """
        ws = self.workspace()
        warnings: list[str] = []
        check_make_path("tree", ws.root)
        build_dir = self.resolved_build_dir()
        check_make_path("build directory", build_dir)
        if self.source is not None:
            _check_text("plan file path", str(self.source))
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

        if ws.is_ukl:
            steps, kernel, old_app = self._ukl_steps(ws, app, opts, effects, edits)
        else:
            steps, kernel = self._kernel_steps(ws, build_dir, kernel_model, effects, edits)
            old_app = None
        initrd, initrd_steps = self._initrd(ws, app, old_app, build_dir, trigger, warnings)
        steps += initrd_steps

        boot = self.boot_spec(
            combined.boot if combined else None,
            kernel=str(kernel),
            initrd=None if initrd is None else str(initrd),
            network=self.effective_network(app),
        )
        boot.validate(check_ports=check_ports)
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
            {**effects, **edits},
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

    def _check_inputs(self, ws: Workspace) -> None:
        """Input checks that need no tree model: files exist, kind-specific options fit."""
        for overlay in self.overlays:
            _check_text("overlay path", str(overlay))
            if not overlay.is_file():
                raise UserError(f"overlay {overlay} does not exist")
        if self.config is not None:
            _check_text("config path", str(self.config))
            if not self.config.is_file():
                raise UserError(f".config {self.config} does not exist")
        for name in self.presets:
            _check_text("preset name", name)
        for word in self.append:
            check_param(word)
        for word in self.init_args:
            check_word("init argument", word)
        if self.initrd not in INITRD_CHOICES:
            path = _absolute(self.initrd)
            _check_text("initrd path", str(path))
            if not path.is_file():
                raise UserError(f"initrd {path} does not exist (or use 'minimal')")
        if self.accel not in ACCELS:
            raise UserError(f"accelerator {self.accel!r} is not one of {', '.join(ACCELS)}")
        if ws.is_ukl:
            # The checkout's own linux/.config (what a loaded tree started from) is the file
            # ukl's recipe rewrites anyway: naming it changes nothing. Any other file would.
            own = self.config is not None and self.config == ws.root / "linux" / ".config"
            for what, given in (
                ("--overlay", bool(self.overlays)),
                ("--config", self.config is not None and not own),
                ("--base", self.base is not None),
            ):
                if given:
                    raise UserError(
                        f"{what} applies to plain kernel trees: in a ukl checkout, linux/.config "
                        "is made by ukl's Makefile from its saveconfig, and ukl's make builds "
                        "the kernel without overlays"
                    )
            if self.ccache:
                raise UserError(
                    "ccache applies to plain kernel trees: ukl's Makefile runs the kernel build "
                    "itself (a CC= on its command line would reach glibc and gcc too)"
                )
        else:
            unclean = _kernel_tree_unclean(ws.root)
            if unclean is not None:
                raise UserError(
                    f"{ws.root} is not clean ({unclean} exists): the kernel refuses O= builds "
                    "from it; run 'make mrproper' there (keep a copy of its .config and pass "
                    "it with --config)"
                )
            if self.initrd == "ukl":
                raise UserError("initrd 'ukl' is ukl's ukl-initrd.cpio.xz: a plain tree has none")
            if self.ccache and shutil.which("ccache") is None:
                raise UserError("ccache was asked for but is not installed (Debian: ccache)")

    def _checked_edits(self, model: Tree | None, ws: Workspace) -> dict[str, str]:
        """Hand edits validated against the tree (name, type, range); canonical values."""
        out: dict[str, str] = {}
        for name, value in self.edits.items():
            if not _SYMBOL_RE.match(name):
                raise UserError(f"edit {name!r}: not a Kconfig symbol name")
            if not isinstance(value, str):
                raise UserError(f"edit {name}: value must be a string, not {value!r}")
            _check_text(f"value of {name}", value)
            out[name] = model.normalise(name, value) if model is not None else value
        return out

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

    # ----- plain kernel tree ------------------------------------------------------------------

    def _kernel_steps(
        self,
        ws: Workspace,
        build_dir: Path,
        model: Tree | None,
        effects: Mapping[str, str],
        edits: Mapping[str, str],
    ) -> tuple[list[Step], Path]:
        src = ws.root
        cwd = str(build_dir)
        dot = build_dir / ".config"
        steps = [
            Step(
                id="build-dir",
                title="Create the build directory (O=, outside the source tree)",
                argv=("mkdir", "-p", "--", str(build_dir)),
                cwd=str(src),
                env={},
                kind="prep",
                timeout=60,
            ),
            Step(
                id="kconfig",
                title="Write .config with ukl-tui: presets, application values, your edits",
                argv=tuple(
                    apply_argv(
                        tree=src,
                        out=dot,
                        config=self.config,
                        overlays=self.overlays,
                        presets=self.presets,
                        base=self.base,
                        sets={**effects, **edits},
                    )
                ),
                cwd=cwd,
                env={},
                kind="prep",
                timeout=600,
            ),
        ]
        make = ["make", "-C", str(src), f"O={build_dir}", f"ARCH={ARCH}"]
        if self.overlays and model is not None and model.top != "Kconfig":
            # The wrapper Kconfig that sources the overlays; the kconfig step regenerates it
            # at the same path (named by a hash of its content) before make reads it.
            check_make_path("overlay wrapper", Path(model.top))
            make.append(f"KBUILD_KCONFIG={model.top}")
        use_ccache = self.ccache if self.ccache is not None else shutil.which("ccache") is not None
        if use_ccache:
            # The same CC for olddefconfig and the build: kbuild re-runs syncconfig when the
            # compiler it configured with changes, and CC_VERSION_TEXT must stay identical.
            make.append("CC=ccache gcc")
        steps.append(
            Step(
                id="olddefconfig",
                title="Let the kernel's own tools settle the .config (make olddefconfig)",
                argv=(*make, "olddefconfig"),
                cwd=cwd,
                env={},
                kind="prep",
                timeout=600,
            )
        )
        steps.append(
            Step(
                id="bzImage",
                title=f"Build the kernel (make -j{self.resolved_jobs()} bzImage)",
                argv=(*make, f"-j{self.resolved_jobs()}", "bzImage"),
                cwd=cwd,
                env=dict(BUILD_ENV),
                kind="build",
                timeout=None,
            )
        )
        return steps, build_dir / "arch" / "x86" / "boot" / "bzImage"

    # ----- ukl checkout ------------------------------------------------------------------------

    def _ukl_steps(
        self,
        ws: Workspace,
        app: App | None,
        opts: ConfigureOptions,
        effects: Mapping[str, str],
        edits: Mapping[str, str],
    ) -> tuple[list[Step], Path, App | None]:
        from ukl_tui.workspace import submodule_init_argv

        root = ws.root
        cwd = str(root)
        jobs = self.resolved_jobs()
        steps: list[Step] = []
        init = submodule_init_argv(ws)
        if init:
            steps.append(
                Step(
                    id="submodules",
                    title="Fetch the submodules that are not checked out yet",
                    argv=tuple(init),
                    cwd=cwd,
                    env={},
                    kind="prep",
                    timeout=None,
                )
            )
        old_app = configured_app(root)
        if app is not None:
            for i, argv in enumerate(app_change_steps(old_app, app, ws)):
                old_name = old_app.name if old_app else "?"
                steps.append(
                    Step(
                        id="app-clean" if i == 0 else f"app-clean-{i + 1}",
                        title=f"Clean what the previous application left ({old_name} -> "
                        f"{app.name})",
                        argv=tuple(argv),
                        cwd=cwd,
                        env={},
                        kind="prep",
                        timeout=1800,
                    )
                )
        steps += [
            Step(
                id="autoreconf",
                title="Generate configure (autoreconf -i)",
                argv=("autoreconf", "-i"),
                cwd=cwd,
                env={},
                kind="prep",
                timeout=600,
            ),
            Step(
                id="configure",
                title=f"Configure ukl for {app.name if app else opts.program}",
                argv=tuple(configure_argv(opts)),
                cwd=cwd,
                env={},
                kind="prep",
                timeout=600,
            ),
        ]
        if has_make_target(root, "libc.a"):
            steps.append(
                Step(
                    id="glibc",
                    title="Build glibc for x86_64-ukl (errors in iconv are expected)",
                    argv=("make", f"-j{jobs}", "libc.a"),
                    cwd=cwd,
                    env={},
                    kind="build",
                    timeout=None,
                    expected_failure_note=GLIBC_NOTE,
                )
            )
        dot = root / "linux" / ".config"
        writes_config = has_make_target(root, "linux/.config")
        if writes_config:
            steps.append(
                Step(
                    id="ukl-config",
                    title="Write linux/.config with ukl's own recipe (saveconfig + its lines)",
                    argv=("make", "-W", "saveconfig", "linux/.config"),
                    cwd=cwd,
                    env={},
                    kind="prep",
                    timeout=600,
                )
            )
        steps.append(
            Step(
                id="kconfig",
                title="Fix linux/.config with ukl-tui: quoted strings, presets, your edits",
                argv=tuple(
                    apply_argv(
                        tree=root,
                        out=dot,
                        config=dot if writes_config else None,
                        overlays=(),
                        presets=self.presets,
                        base=None,
                        sets={**effects, **edits},
                    )
                ),
                cwd=cwd,
                env={},
                kind="prep",
                timeout=600,
            )
        )
        target = ["vmlinuz"] if has_make_target(root, "vmlinuz") else []
        steps.append(
            Step(
                id="build",
                title="Build gcc, glibc, the application's UKL.a and the kernel (make "
                f"-j{jobs}{' vmlinuz' if target else ''})",
                argv=("make", f"-j{jobs}", *target),
                cwd=cwd,
                env={},
                kind="build",
                timeout=None,
            )
        )
        return steps, root / "vmlinuz", old_app

    # ----- initrd --------------------------------------------------------------------------

    def _initrd(
        self,
        ws: Workspace,
        app: App | None,
        old_app: App | None,
        build_dir: Path,
        trigger: str,
        warnings: list[str],
    ) -> tuple[Path | None, list[Step]]:
        choice = self.initrd
        ukl_file = ws.root / UKL_INITRD
        if choice == "auto":
            choice = "ukl" if ws.is_ukl and ukl_file.is_file() else "minimal"
        if choice == "ukl":
            steps: list[Step] = []
            changed = app is not None and old_app is not None and old_app.name != app.name
            if not ukl_file.is_file() or changed:
                warnings.append(
                    "ukl's initrd is built in Docker with 'docker exec -it', which needs a "
                    "terminal, and needs perf (ukl issue #38): if that step fails, build it by "
                    "hand once (make ukl-initrd.cpio.xz) or use --initrd minimal"
                )
                steps.append(
                    Step(
                        id="ukl-initrd",
                        title="Build ukl's initrd (Docker)",
                        argv=("make", UKL_INITRD),
                        cwd=str(ws.root),
                        env={},
                        kind="build",
                        timeout=None,
                    )
                )
            return ukl_file, steps
        if choice == "minimal":
            from ukl_tui.initramfs import init_script

            init_script(trigger)  # the trigger goes into the init script: checked now
            out = build_dir / MINIMAL_INITRD
            argv = [
                sys.executable,
                "-m",
                "ukl_tui.cli",
                "initramfs",
                f"--out={out}",
                f"--trigger={trigger}",
            ]
            if app is not None:
                argv.append("--placeholder")
            step = Step(
                id="initramfs",
                title="Build ukl-tui's minimal initramfs (busybox, prints UKL BOOTED, runs "
                f"{trigger})",
                argv=tuple(argv),
                cwd=str(ws.root if ws.is_ukl else build_dir),
                env={},
                kind="prep",
                timeout=300,
            )
            return out, [step]
        return _absolute(choice), []

    # ----- files ---------------------------------------------------------------------------

    def to_dict(self, base_dir: Path | None = None) -> dict[str, Any]:
        """Plain data for the TOML file; paths inside ``base_dir`` are written relative."""

        def p(path: Path | None) -> str | None:
            if path is None:
                return None
            if base_dir is not None:
                try:
                    rel = path.relative_to(base_dir)
                except ValueError:
                    return str(path)
                return str(rel) if str(rel) != "." else "."
            return str(path)

        data: dict[str, Any] = {"format": FORMAT_VERSION, "tree": p(self.tree)}
        data["overlays"] = [p(o) for o in self.overlays]
        data["config"] = p(self.config)
        data["base"] = self.base
        data["presets"] = list(self.presets)
        data["build_dir"] = p(self.build_dir)
        data["jobs"] = self.jobs
        data["ccache"] = self.ccache
        data["edits"] = dict(self.edits)
        app: dict[str, Any] = {"name": self.app, "ukl_a": p(self.ukl_a)}
        for name in _CONFIGURE_FIELDS:
            app[name] = getattr(self.configure, name)
        data["app"] = app
        net = self.network.to_dict()
        net.setdefault("address", "")  # none, as opposed to left out (the mode's default)
        net.setdefault("gateway", "")
        net["auto_forwards"] = self.auto_forwards
        data["network"] = net
        data["boot"] = {
            "memory_mib": self.memory_mib,
            "cpus": self.cpus,
            "append": list(self.append),
            "remove": list(self.remove),
            "cpu_flags": list(self.cpu_flags),
            "init_args": list(self.init_args),
            "initrd": self.initrd,
            "accel": self.accel,
        }
        return data

    def to_toml(self, base_dir: Path | None = None) -> str:
        """The plan file's text."""
        comment = (
            "ukl-tui plan: the whole session (tree, presets, edits, app, network, boot).\n"
            "'ukl-tui plan --plan THIS-FILE' prints its commands; relative paths are relative "
            "to this file."
        )
        return dumps_toml(self.to_dict(base_dir), comment)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the plan as TOML (atomically); paths under the file's directory are relative."""
        target = _absolute(path)
        check_writable("plan file", target)
        text = self.to_toml(target.parent)
        write_text_atomic(target, text)
        self.source = target
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Plan:
        """Read a plan file; any bad key or value is one UserError naming the file and key."""
        source = _absolute(path)
        try:
            with open(source, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise UserError(f"plan file {source} does not exist") from None
        except IsADirectoryError:
            raise UserError(f"plan file {source} is a directory") from None
        except OSError as exc:
            raise UserError(f"cannot read plan file {source}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{source}: not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise UserError(f"{source}: not valid TOML: not UTF-8 text") from None
        plan = cls.from_dict(data, str(source), source.parent)
        plan.source = source
        return plan

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str, base_dir: Path) -> Plan:
        """Build a plan from parsed TOML (``source`` names the file in error messages)."""
        top = _Reader(source, data)
        top.check_keys(
            (
                "format",
                "tree",
                "overlays",
                "config",
                "base",
                "presets",
                "build_dir",
                "jobs",
                "ccache",
                "edits",
                "app",
                "network",
                "boot",
            )
        )
        version = top.number("format", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise top.error("format", f"this ukl-tui reads format {FORMAT_VERSION}, not {version}")
        tree = top.text("tree")
        if not tree:
            raise UserError(f"{source}: key 'tree' is missing (the kernel tree or ukl checkout)")

        def path(value: str | None) -> Path | None:
            return None if value is None else _absolute(value, base_dir)

        jobs = top.number("jobs", None)
        if jobs is not None and not 1 <= jobs <= 1024:
            raise top.error("jobs", f"expected 1 to 1024, not {jobs}")
        ccache = top.get("ccache", bool, "true or false", None)
        edits_reader = top.sub("edits")
        edits: dict[str, str] = {}
        for name, value in edits_reader.table.items():
            if isinstance(value, bool):
                value = "y" if value else "n"
            elif isinstance(value, int):
                value = str(value)
            if not isinstance(value, str) or not _SYMBOL_RE.match(name.removeprefix("CONFIG_")):
                raise edits_reader.error(name, f'expected SYMBOL = "value", not {value!r}')
            edits[name.removeprefix("CONFIG_")] = value

        app_r = top.sub("app")
        app_r.check_keys(("name", "ukl_a", *_CONFIGURE_FIELDS))
        kw: dict[str, Any] = {}
        for spec in OPTIONS:
            if spec.field == "program" or spec.field not in app_r.table:
                continue
            if spec.kind == "bool":
                kw[spec.field] = app_r.flag(spec.field, False)
            else:
                kw[spec.field] = app_r.text(spec.field)
        configure = ConfigureOptions(**kw)
        try:
            configure.validate()
        except UserError as exc:
            raise UserError(f"{source}: table 'app': {exc.message}") from None

        network, auto_forwards = _read_network(top.sub("network"))
        boot_r = top.sub("boot")
        boot_r.check_keys(BOOT_TABLE)
        memory = boot_r.number("memory_mib", 1024)
        cpus = boot_r.number("cpus", 1)
        for name, value, low, high in (("memory_mib", memory, 64, 1 << 20), ("cpus", cpus, 1, 256)):
            if not low <= value <= high:  # type: ignore[operator]
                raise boot_r.error(name, f"expected {low} to {high}, not {value}")
        words: dict[str, tuple[str, ...]] = {}
        for key, check in (
            ("append", check_param),
            ("remove", check_param),
            ("cpu_flags", check_cpu_flag),
            ("init_args", partial(check_word, "init argument")),
        ):
            words[key] = boot_r.words(key)
            for word in words[key]:
                try:
                    check(word)
                except UserError as exc:
                    raise boot_r.error(key, exc.message) from None
        initrd = boot_r.text("initrd", "auto") or "auto"
        if initrd not in INITRD_CHOICES:
            initrd = str(_absolute(initrd, base_dir))
        accel = boot_r.text("accel", "auto") or "auto"
        if accel not in ACCELS:
            raise boot_r.error("accel", f"expected one of {', '.join(ACCELS)}, not {accel!r}")

        return cls(
            tree=_absolute(tree, base_dir),
            overlays=tuple(_absolute(o, base_dir) for o in top.words("overlays")),
            config=path(top.text("config")),
            base=top.text("base"),
            presets=tuple(
                str(_absolute(p, base_dir)) if p.endswith(".toml") or "/" in p else p
                for p in top.words("presets")
            ),
            edits=edits,
            app=app_r.text("name"),
            ukl_a=path(app_r.text("ukl_a")),
            configure=configure,
            network=network,
            auto_forwards=auto_forwards,
            memory_mib=memory,  # type: ignore[arg-type]
            cpus=cpus,  # type: ignore[arg-type]
            append=words["append"],
            remove=words["remove"],
            cpu_flags=words["cpu_flags"],
            init_args=words["init_args"],
            initrd=initrd,
            accel=accel,
            build_dir=path(top.text("build_dir")),
            jobs=jobs,
            ccache=ccache,
        )


def _read_network(reader: _Reader) -> tuple[NetworkSpec, bool]:
    """The [network] table: each key parsed on its own so an error names it.

    Keys left out take the mode's defaults (tap: ukl's boot-priv layout); an empty address or
    gateway means none.
    """
    from ukl_tui.boot import parse_address, parse_forward, parse_gateway, parse_mac

    reader.check_keys((*_NETWORK_FIELDS, "auto_forwards"))
    auto = reader.flag("auto_forwards", True)
    mode = reader.text("mode", "user")
    if mode not in ("user", "tap", "none"):
        raise reader.error("mode", f"expected user, tap or none, not {mode!r}")
    base = NetworkSpec.tap_on_bridge() if mode == "tap" else NetworkSpec(mode=mode)  # type: ignore[arg-type]
    parsers: dict[str, Any] = {
        "address": parse_address,
        "gateway": parse_gateway,
        "forward_bind": parse_gateway,
        "mac": parse_mac,
    }
    kw: dict[str, Any] = {}
    for name in _NETWORK_FIELDS:
        if name == "mode" or name not in reader.table:
            continue
        try:
            if name == "forwards":
                kw[name] = tuple(parse_forward(f) for f in reader.words(name))
                continue
            value = reader.text(name)
            if name in ("address", "gateway") and value == "":
                kw[name] = None
            else:
                kw[name] = parsers[name](value) if name in parsers else value
        except UserError as exc:
            if exc.message.startswith(reader.source):
                raise
            raise reader.error(name, exc.message) from None
    return replace(base, **kw), auto


def _configure_default(root: Path) -> str:
    """The program configure builds without ``--with-program`` (hello on ukl main)."""
    try:
        text = (root / "configure.ac").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return default_program(text) or DEFAULT_PROGRAM


def configured_app(root: Path) -> App | None:
    """The application configure last set up in this checkout, from its generated Makefile.

    The Makefile is the truth about what the checkout's objects belong to (a plan file could
    be older or come from elsewhere), so the clean step is added when it names another app.
    """
    try:
        text = (root / "Makefile").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    values = dict(_MAKEFILE_VAR.findall(text))
    program = values.get("PROGRAM")
    if not program:
        return None
    archive = values.get("ARCHIVE", "")
    if archive and archive != DEFAULT_ARCHIVE and os.path.isabs(archive):
        return App(name="custom", summary=f"prebuilt archive {archive}", archive=Path(archive))
    return App(name=program, summary=f"program {program}", checkout=root)


def apply_argv(
    *,
    tree: Path,
    out: Path,
    config: Path | None,
    overlays: Sequence[Path],
    presets: Sequence[str],
    base: str | None,
    sets: Mapping[str, str],
) -> list[str]:
    """``ukl-tui apply`` run by the same Python, every value as ``--opt=value`` (one argv word).

    The ``=`` form keeps a value that starts with ``-`` from being read as an option.
    """
    argv = [sys.executable, "-m", "ukl_tui.cli", "apply", f"--tree={tree}"]
    if config is not None:
        argv.append(f"--config={config}")
    argv += [f"--overlay={o}" for o in overlays]
    argv.append(f"--out={out}")
    argv += [f"--preset={p}" for p in presets]
    if base is not None:
        argv.append(f"--base={base}")
    argv += [f"--set={name}={value}" for name, value in sets.items()]
    return argv


# ----- showing steps -----------------------------------------------------------------------------


def comment_line(text: str) -> str:
    """One safe comment line: control characters (a newline could end the comment) replaced."""
    return "# " + _CONTROL_RE.sub("?", text)


def step_lines(steps: Sequence[Step]) -> list[str]:
    """Each step as a comment (number, kind, title) and its copy-pasteable shell line."""
    out: list[str] = []
    for i, step in enumerate(steps, 1):
        out.append(comment_line(f"{i}/{len(steps)} [{step.kind}] {step.id}: {step.title}"))
        if step.expected_failure_note:
            out.append(comment_line(f"expected to fail: {step.expected_failure_note}"))
        out.append(step.shell_line())
    return out


def script_text(steps: Sequence[Step], *, header: str = "") -> str:
    """A bash script that runs the steps in order, stopping at the first failure.

    A step with an ``expected_failure_note`` may fail without stopping the script, like in
    the runner. Every word is quoted by :meth:`Step.shell_line`, so nothing a user typed is
    ever run as shell code.
    """
    from ukl_tui import __version__

    lines = [
        "#!/usr/bin/env bash",
        comment_line(f"Reproducer written by ukl-tui {__version__}."),
        "# Every word is single-quoted on purpose: nothing in it is expanded by the shell.",
        "# shellcheck disable=SC2016",
    ]
    lines += [comment_line(line) for line in header.splitlines()]
    lines += ["set -euo pipefail", ""]
    for i, step in enumerate(steps, 1):
        lines.append(comment_line(f"{i}/{len(steps)} [{step.kind}] {step.id}: {step.title}"))
        line = step.shell_line()
        if step.expected_failure_note:
            lines.append(comment_line(f"expected to fail: {step.expected_failure_note}"))
            note = f"ukl-tui: step {step.id} failed as expected, continuing"
            lines.append(f"( {line} ) || printf '%s\\n' {shlex.quote(note)} >&2")
        else:
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


__all__ = [
    "Built",
    "FORMAT_VERSION",
    "INITRD_CHOICES",
    "PLAN_FILE",
    "Plan",
    "apply_argv",
    "check_make_path",
    "check_writable",
    "comment_line",
    "configured_app",
    "default_build_dir",
    "default_plan_path",
    "dumps_toml",
    "script_text",
    "step_lines",
    "write_text_atomic",
]
