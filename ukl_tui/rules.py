"""Conflict rules: every way a UKL build or boot silently goes wrong, caught with a fix.

Kconfig never complains: with KASLR or PTI on it just turns UNIKERNEL_LINUX off, an unquoted
string in ``.config`` is ignored, ``ip=`` does nothing without IP_PNP, and nothing in Kconfig
knows that SMAP/SMEP must be off at boot. Each rule looks at one such trap in a ``Context``
(a loaded tree or a bare ``.config`` scan, the kernel command line, QEMU's ``-cpu`` value, the
network, the application's configure options, the initrd) and returns ``Conflict`` values whose
``Fix`` is data the TUI can show and apply. One engine serves a preset, a ``.config`` file and
the TUI's live state alike.

A symbol missing from a ``.config`` is never reported as on: Kconfig writes no line for a
symbol whose dependencies are off (tinyconfig has no PAGE_TABLE_ISOLATION line), and absent
means off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ukl_tui.boot import add_cpu_flags, edit_cmdline
from ukl_tui.errors import UserError
from ukl_tui.presets import other_names, rename_of, resolve_name

if TYPE_CHECKING:
    from ukl_tui.kconfig import SetResult, Tree
    from ukl_tui.kconfig.dotconfig import DotConfig
    from ukl_tui.presets import ApplyReport, Preset

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

#: UKL symbols of older 5.x fork trees; configure still offers the options that set them.
OLD_UKL_SYMBOLS = {
    "UKL_SAME_STACK": "--enable-same-stack",
    "UKL_USE_IST_PF": "--enable-use-ist-pf",
    "UKL_CREATE_AFTERSPACE": "--enable-afterspace",
}

#: initrd compression -> the option that lets the kernel unpack it.
RD_OPTIONS = {
    "gzip": "RD_GZIP",
    "bzip2": "RD_BZIP2",
    "lzma": "RD_LZMA",
    "xz": "RD_XZ",
    "lzo": "RD_LZO",
    "lz4": "RD_LZ4",
    "zstd": "RD_ZSTD",
}
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"\x5d\x00\x00", "lzma"),
    (b"\x89LZO", "lzo"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"0707", "none"),
)


# ----- fixes and conflicts -------------------------------------------------------------------


@dataclass(frozen=True)
class Fix:
    """What would resolve a conflict, as data: the TUI shows it, ``apply_to`` performs it."""

    kconfig: Mapping[str, str] = field(default_factory=dict)  # the tree's symbol names
    cmdline_add: tuple[str, ...] = ()
    cmdline_remove: tuple[str, ...] = ()  # parameters to drop: a word, or a ``name=`` prefix
    cpu_flags: tuple[str, ...] = ()  # added to QEMU's -cpu value
    options: Mapping[str, Any] = field(default_factory=dict)  # ConfigureOptions fields
    note: str = ""  # what only a person can do

    @property
    def applicable(self) -> bool:
        """True when ``apply_to`` can do something (a note alone is advice)."""
        return bool(
            self.kconfig or self.cmdline_add or self.cmdline_remove or self.cpu_flags
        ) or bool(self.options)

    def describe(self) -> str:
        """``set RANDOMIZE_BASE=n; add kernel parameter clearcpuid=smap,smep``."""
        parts = []
        if self.kconfig:
            parts.append("set " + " ".join(f"{k}={_show(v)}" for k, v in self.kconfig.items()))
        if self.cmdline_remove:
            parts.append("drop kernel parameter " + " ".join(self.cmdline_remove))
        if self.cmdline_add:
            parts.append("add kernel parameter " + " ".join(self.cmdline_add))
        if self.cpu_flags:
            parts.append("add QEMU -cpu flags " + ",".join(self.cpu_flags))
        if self.options:
            parts.append("configure: " + ", ".join(f"{k}={v!r}" for k, v in self.options.items()))
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)

    def apply_to(self, target: FixTarget) -> list[SetResult]:
        """Apply every part of the fix to ``target``: the one way a fix is applied.

        A rules ``Context`` (the command line's ``check``) and the wizard's session are both
        targets: each says how its own state takes Kconfig values, kernel parameters, QEMU
        CPU flags and configure options; which parts apply, and in what order, is decided
        here. The results say whether the Kconfig values stuck.
        """
        results: list[SetResult] = []
        if self.kconfig:
            results = target.set_kconfig(self.kconfig)
        if self.cmdline_add or self.cmdline_remove:
            target.edit_cmdline(self.cmdline_add, self.cmdline_remove)
        if self.cpu_flags:
            target.add_cpu_flags(self.cpu_flags)
        if self.options:
            target.set_options(self.options)
        return results

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` and plan files."""
        return {
            "kconfig": dict(self.kconfig),
            "cmdline_add": list(self.cmdline_add),
            "cmdline_remove": list(self.cmdline_remove),
            "cpu_flags": list(self.cpu_flags),
            "options": dict(self.options),
            "note": self.note,
            "text": self.describe(),
        }


class FixTarget(Protocol):
    """Whatever a fix can be applied to (see ``Fix.apply_to``)."""

    def set_kconfig(self, assignments: Mapping[str, str]) -> list[SetResult]:
        """Set Kconfig values (settled and read back where there is a tree)."""
        ...

    def edit_cmdline(self, add: Sequence[str], remove: Sequence[str]) -> None:
        """Drop kernel parameters (words or ``name=`` prefixes), then add others."""
        ...

    def add_cpu_flags(self, flags: Sequence[str]) -> None:
        """Set QEMU ``-cpu`` flags (replacing an earlier setting of the same flag)."""
        ...

    def set_options(self, options: Mapping[str, Any]) -> None:
        """Change configure's options (``apps.ConfigureOptions`` fields)."""
        ...


@dataclass(frozen=True)
class Conflict:
    """One problem found: a stable id, how bad, what it is about, what to do."""

    id: str
    severity: Severity
    subject: str
    message: str
    fix: Fix | None = None

    def lines(self) -> list[str]:
        """The command line report: the problem, then its fix."""
        out = [f"{self.severity:<8} {self.id}: {self.message}"]
        if self.fix is not None:
            out.append(f"{'':<8} fix: {self.fix.describe()}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "id": self.id,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix.to_dict() if self.fix else None,
        }


def _show(value: str) -> str:
    return value if value else '""'


def detect_compression(path: Path) -> str:
    """The compression of an initrd file from its first bytes (``none`` for a plain cpio)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the initrd ({exc.strerror})") from None
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    raise UserError(f"{path}: not a cpio archive in a compression the kernel knows")


# ----- the context ---------------------------------------------------------------------------


@dataclass
class Context:
    """Everything the rules look at; any part may be missing (None: not checked).

    ``tree`` gives settled values and dependency explanations; without it, values come
    from ``values`` or the ``config`` scan (a ``.config`` or a preset). ``wanted`` and
    ``required`` are what presets and hand edits asked for (names as asked), so the rules
    can say what did not stick and what this tree lacks.
    """

    tree: Tree | None = None
    config: DotConfig | None = None
    values: dict[str, str] | None = None
    cmdline: str | None = None
    qemu_cpu: str | None = None
    network: Any = None  # ukl_tui.boot.NetworkSpec
    wanted_ukl: bool | None = None  # None: decided from what is asked and what the tree is
    app_options: Any = None  # ukl_tui.apps.ConfigureOptions
    initrd_compression: str | None = None
    trigger: str | None = None  # the exec path the initrd's init runs
    wanted: dict[str, str] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    fragments: list[DotConfig] = field(default_factory=list)
    absent_is_off: bool = True  # False for a preset alone: what it does not say is unknown

    def __post_init__(self) -> None:
        """A loaded tree brings the strict reader's view of its .config."""
        if self.config is None and self.tree is not None:
            self.config = self.tree.dotconfig

    @classmethod
    def for_report(cls, tree: Tree, report: ApplyReport, **kw: Any) -> Context:
        """After presets were applied to ``tree``: judge the result and what they asked."""
        kw.setdefault("cmdline", report.boot.cmdline_text if report.boot.cmdline else None)
        kw.setdefault("qemu_cpu", report.boot.cpu_arg if report.boot.qemu_cpu_flags else None)
        return cls(
            tree=tree,
            wanted={o.name: o.value for o in report.outcomes},
            required=frozenset(o.name for o in report.outcomes if o.required),
            **kw,
        )

    @classmethod
    def for_preset(cls, preset: Preset, **kw: Any) -> Context:
        """A preset on its own (no tree): its values stand in for a ``.config``."""
        kw.setdefault("cmdline", preset.boot.cmdline_text if preset.boot.cmdline else None)
        kw.setdefault("qemu_cpu", preset.boot.cpu_arg if preset.boot.qemu_cpu_flags else None)
        kw.setdefault("absent_is_off", False)
        return cls(
            values=preset.kconfig(),
            wanted=preset.kconfig(),
            required=frozenset(preset.required),
            **kw,
        )

    # ----- values -------------------------------------------------------------------------

    def scan_values(self) -> dict[str, str]:
        """Values without a tree: ``values`` if given, else the ``.config`` scan."""
        if self.values is not None:
            return self.values
        return self.config.values() if self.config is not None else {}

    def symbol(self, name: str) -> str | None:
        """The name used here for ``name`` (renames resolved); None if the tree lacks it."""
        if self.tree is not None:
            return resolve_name(name, self.tree.has)
        values = self.scan_values()
        return next((n for n in (name, *other_names(name)) if n in values), name)

    def value(self, name: str) -> str | None:
        """The value of ``name`` (renames resolved); None when unknown or undefined."""
        symbol = self.symbol(name)
        if symbol is None:
            return None
        if self.tree is not None:
            return self.tree.value(symbol)
        return self.scan_values().get(symbol)

    def on(self, name: str) -> bool:
        """True for y or m; a symbol absent from a ``.config`` is off."""
        return self.value(name) in ("y", "m")

    def off(self, name: str) -> bool:
        """Known to be off: n in the tree (a symbol the tree lacks is unknown, not off), or
        n / absent in a ``.config`` (absent from a preset alone is unknown).
        """
        value = self.value(name)
        if self.tree is not None:
            return value == "n"
        return value == "n" or (value is None and self.absent_is_off)

    def defines(self, name: str) -> bool:
        """The tree defines ``name`` (under any of its names); without a tree: it is set."""
        return self.symbol(name) is not None and (
            self.tree is not None or self.value(name) is not None
        )

    def asked(self, name: str) -> str | None:
        """What presets or hand edits asked for ``name`` (any of its names)."""
        for n in (name, *other_names(name)):
            if n in self.wanted:
                return self.wanted[n]
        return None

    @property
    def ukl_wanted(self) -> bool:
        """Is a UKL kernel the goal? Explicit, else what was asked, else what the tree is."""
        if self.wanted_ukl is not None:
            return self.wanted_ukl
        asked = self.asked("UNIKERNEL_LINUX")
        if asked is not None:
            return asked == "y"
        if self.app_options is not None:
            return True
        if self.tree is not None:
            return self.tree.has("UNIKERNEL_LINUX")
        return self.on("UNIKERNEL_LINUX")

    @property
    def ukl_explicit(self) -> bool:
        """UKL was asked for, not just inferred from the tree."""
        return (
            self.wanted_ukl is True
            or self.asked("UNIKERNEL_LINUX") == "y"
            or (self.wanted_ukl is None and self.app_options is not None)
        )

    def trigger_path(self) -> str | None:
        """The exec path the initrd runs: given, else the configure option."""
        if self.trigger is not None:
            return self.trigger
        return getattr(self.app_options, "ukl_trigger", None)

    # ----- fixes --------------------------------------------------------------------------

    def set_kconfig(self, assignments: Mapping[str, str]) -> list[SetResult]:
        """A fix's values: on the tree (settled, verified), else on the scanned values."""
        if self.tree is not None:
            return self.tree.set_many(assignments)
        self.values = {**self.scan_values(), **assignments}
        return []

    def edit_cmdline(self, add: Sequence[str], remove: Sequence[str]) -> None:
        """A fix's kernel parameters, on the command line checked here."""
        self.cmdline = edit_cmdline(self.cmdline or "", add, remove)

    def add_cpu_flags(self, flags: Sequence[str]) -> None:
        """A fix's QEMU CPU flags, on the ``-cpu`` value checked here."""
        self.qemu_cpu = add_cpu_flags(self.qemu_cpu or "", flags)

    def set_options(self, options: Mapping[str, Any]) -> None:
        """A fix's configure options (when the context has any)."""
        if self.app_options is not None:
            self.app_options = dataclasses.replace(self.app_options, **options)

    def kconfig_fix(self, assignments: Mapping[str, str], depth: int = 3) -> dict[str, str]:
        """``assignments`` in this tree's names plus what they need to stick (from ``why``).

        Without a tree the assignments are returned as they are.
        """
        out: dict[str, str] = {}
        for name, value in assignments.items():
            symbol = self.symbol(name) or name
            if self.tree is not None and self.tree.has(symbol) and depth > 0:
                if self.tree.value(symbol) != value:
                    try:
                        needs = self.tree.why(symbol, value).fixes()
                    except UserError:
                        needs = {}
                    for dep, dep_value in self.kconfig_fix(needs, depth - 1).items():
                        out.setdefault(dep, dep_value)
            out[symbol] = value
        return out


Rule = Callable[[Context], Iterable[Conflict]]


# ----- the rules -------------------------------------------------------------------------------


def rule_kaslr(ctx: Context) -> Iterable[Conflict]:
    """KASLR on while UKL is wanted: Kconfig drops UNIKERNEL_LINUX silently."""
    if ctx.ukl_wanted and ctx.on("RANDOMIZE_BASE"):
        yield Conflict(
            "kaslr",
            "error",
            "RANDOMIZE_BASE",
            "KASLR is on (RANDOMIZE_BASE=y): UNIKERNEL_LINUX depends on !RANDOMIZE_BASE, so "
            "Kconfig turns UKL off without a word and the kernel builds without the application",
            Fix(kconfig={"RANDOMIZE_BASE": "n"}),
        )


def rule_pti(ctx: Context) -> Iterable[Conflict]:
    """PTI on while UKL is wanted; the words use the tree's own name of the option
    (MITIGATION_PAGE_TABLE_ISOLATION since Linux 6.9).
    """
    name = ctx.symbol("PAGE_TABLE_ISOLATION") or "PAGE_TABLE_ISOLATION"
    if ctx.ukl_wanted and ctx.on(name):
        yield Conflict(
            "pti",
            "error",
            name,
            f"page table isolation is on ({name}=y): UNIKERNEL_LINUX depends on "
            f"!{name}, so Kconfig turns UKL off without a word",
            Fix(kconfig={name: "n"}),
        )


def rule_ukl_off(ctx: Context) -> Iterable[Conflict]:
    """UNIKERNEL_LINUX wanted but not y after settling: say which term holds it."""
    if not ctx.ukl_wanted or ctx.value("UNIKERNEL_LINUX") == "y":
        return
    if ctx.tree is not None:
        if not ctx.tree.has("UNIKERNEL_LINUX"):
            return
        why = ctx.tree.why("UNIKERNEL_LINUX", "y")
        terms = "; ".join(t.describe() for t in why.blockers)
        because = f"blocked by {terms}" if terms else why.summary.rstrip(".")
        yield Conflict(
            "ukl-off",
            "error",
            "UNIKERNEL_LINUX",
            f"UNIKERNEL_LINUX is {ctx.value('UNIKERNEL_LINUX')}, not y: {because}; the kernel "
            "would build without the application",
            Fix(kconfig=ctx.kconfig_fix({"UNIKERNEL_LINUX": "y"})),
        )
    elif ctx.ukl_explicit:
        yield Conflict(
            "ukl-off",
            "error",
            "UNIKERNEL_LINUX",
            "UNIKERNEL_LINUX is not y in this configuration: the kernel would build without the "
            "application",
            Fix(kconfig={"UNIKERNEL_LINUX": "y"}),
        )


def rule_ukl_tls(ctx: Context) -> Iterable[Conflict]:
    """UKL_TLS left n: the fork writes ``default Y`` (an undefined symbol, so n)."""
    if ctx.ukl_wanted and ctx.value("UNIKERNEL_LINUX") == "y" and ctx.off("UKL_TLS"):
        yield Conflict(
            "ukl-tls",
            "warning",
            "UKL_TLS",
            "UKL_TLS is n: the fork's 'default Y' names an undefined symbol, not y, so only "
            "ukl's Makefile turns it on; an application linked with UKL's glibc needs it",
            Fix(kconfig={"UKL_TLS": "y"}),
        )


def rule_ukl_missing(ctx: Context) -> Iterable[Conflict]:
    """UKL asked for, but the tree is not a UKL kernel at all."""
    if ctx.tree is not None and ctx.ukl_explicit and not ctx.tree.has("UNIKERNEL_LINUX"):
        yield Conflict(
            "ukl-missing",
            "error",
            "UNIKERNEL_LINUX",
            f"this tree ({ctx.tree.srctree}) does not define UNIKERNEL_LINUX: it is not the "
            "UKL kernel",
            Fix(note="use the ukl checkout's linux/ submodule (git submodule update --init linux)"),
        )


def rule_smap_smep(ctx: Context) -> Iterable[Conflict]:
    """SMAP/SMEP left on: the application touches user memory from ring 0 and faults."""
    if not ctx.ukl_wanted:
        return
    from ukl_tui.boot import cmdline_clears_smap_smep, cpu_flags_clear_smap_smep

    if ctx.cmdline is not None and not cmdline_clears_smap_smep(ctx.cmdline):
        cleared: list[str] = []
        for word in ctx.cmdline.split():
            if word == "--":
                break
            if word.startswith("clearcpuid="):
                cleared += [i for i in word[len("clearcpuid=") :].split(",") if i]
        merged = ",".join(dict.fromkeys([*cleared, "smap", "smep"]))
        remove = ("clearcpuid=",) if cleared else ()
        yield Conflict(
            "smap-smep-cmdline",
            "error",
            "kernel command line",
            "the kernel command line leaves SMAP/SMEP on (no clearcpuid=smap,smep, nor "
            "nosmap nosmep): the application runs in ring 0 and touches user-half memory, "
            "which SMAP/SMEP forbid",
            Fix(cmdline_add=(f"clearcpuid={merged}",), cmdline_remove=remove),
        )
    if ctx.qemu_cpu is not None and not cpu_flags_clear_smap_smep(ctx.qemu_cpu):
        yield Conflict(
            "smap-smep-cpu",
            "error",
            "QEMU -cpu",
            f"QEMU's CPU ({ctx.qemu_cpu or 'default'}) keeps SMAP/SMEP: the guest CPU must not "
            "offer them to a UKL kernel",
            Fix(cpu_flags=("-smap", "-smep")),
        )


def rule_shortcut_inet(ctx: Context) -> Iterable[Conflict]:
    """UKL_DEEP_SHORTCUT needs INET: without it Kconfig drops the shortcut silently."""
    wanted = (
        ctx.asked("UKL_DEEP_SHORTCUT") == "y"
        or bool(getattr(ctx.app_options, "shortcuts", False))
        or (ctx.config is not None and ctx.config.values().get("UKL_DEEP_SHORTCUT") == "y")
        or ctx.on("UKL_DEEP_SHORTCUT")
    )
    if wanted and ctx.off("INET"):
        yield Conflict(
            "shortcut-inet",
            "error",
            "UKL_DEEP_SHORTCUT",
            "deep shortcuts (UKL_DEEP_SHORTCUT) depend on INET, which is off: Kconfig drops "
            "the shortcut without a word",
            Fix(kconfig=ctx.kconfig_fix({"INET": "y", "UKL_DEEP_SHORTCUT": "y"})),
        )


def rule_initrd(ctx: Context) -> Iterable[Conflict]:
    """An initrd the kernel cannot unpack: BLK_DEV_INITRD and the matching RD_* option."""
    kind = ctx.initrd_compression
    if kind is None:
        return
    need = {"BLK_DEV_INITRD": "y"}
    if kind != "none":
        option = RD_OPTIONS.get(kind)
        if option is None:
            raise UserError(f"unknown initrd compression {kind!r}")
        need[option] = "y"
    missing = [name for name in need if ctx.off(name)]
    if missing:
        what = f"a {kind}-compressed initrd" if kind != "none" else "an initrd"
        yield Conflict(
            "initrd",
            "error",
            missing[-1],
            f"the boot uses {what} but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} off: the kernel cannot unpack it "
            "(Unable to mount root fs)",
            Fix(kconfig=ctx.kconfig_fix(need)),
        )


def rule_unquoted_strings(ctx: Context) -> Iterable[Conflict]:
    """``CONFIG_UKL_NAME=/UKL``: kconfig ignores an unquoted string and keeps the default."""
    if ctx.config is None:
        return
    for name, a in ctx.config.assignments.items():
        if a.quoted or a.raw == "n" or ctx.asked(name) is not None:
            continue
        if ctx.tree is not None:
            if not ctx.tree.has(name) or ctx.tree.type_of(name) != "string":
                continue
            now = f' (now "{ctx.tree.value(name)}")'
        else:
            if a.raw in ("y", "m") or a.raw.lstrip("+-").isdigit() or a.raw.startswith("0x"):
                continue
            now = ""
        yield Conflict(
            "unquoted-string",
            "error",
            name,
            f"{ctx.config.path}:{a.line}: CONFIG_{name}={a.raw} has no quotes: kconfig ignores "
            f"it and keeps the default{now}",
            Fix(kconfig={name: a.raw}),
        )


def rule_ukl_name(ctx: Context) -> Iterable[Conflict]:
    """UKL_NAME must be the path the initrd's init executes, or the app never starts."""
    trigger = ctx.trigger_path()
    if trigger is None or not ctx.on("UNIKERNEL_LINUX"):
        return
    name = ctx.value("UKL_NAME")
    if name is not None and name != trigger:
        yield Conflict(
            "ukl-name",
            "error",
            "UKL_NAME",
            f'UKL_NAME is "{name}" but the initrd runs {trigger}: the kernel starts the '
            "application only for an exec of UKL_NAME",
            Fix(kconfig={"UKL_NAME": trigger}),
        )


def rule_unknown_symbols(ctx: Context) -> Iterable[Conflict]:
    """Symbols in a ``.config`` or fragment this tree lacks: their lines are ignored."""
    if ctx.tree is None:
        return
    tree = ctx.tree
    for scan in [s for s in (ctx.config, *ctx.fragments) if s is not None]:
        unknown: list[str] = []
        for name, a in scan.assignments.items():
            if tree.has(name):
                continue
            rename = rename_of(name)
            newer = resolve_name(name, tree.has)
            if rename is not None and newer is not None:
                if a.value != tree.value(newer):
                    yield Conflict(
                        "renamed-symbol",
                        "warning",
                        name,
                        f"{scan.path}:{a.line}: CONFIG_{name} is called {newer} in this tree "
                        f"(renamed in Linux {rename.since}): the line is ignored",
                        Fix(kconfig={newer: a.value}),
                    )
                continue
            if name in OLD_UKL_SYMBOLS:
                if a.value != "n":
                    yield Conflict(
                        "old-ukl-symbol",
                        "warning",
                        name,
                        f"{scan.path}:{a.line}: CONFIG_{name} exists only in older 5.x UKL "
                        f"kernels: no effect here ({OLD_UKL_SYMBOLS[name]} does nothing)",
                        Fix(note=f"drop the line / {OLD_UKL_SYMBOLS[name]}"),
                    )
                continue
            unknown.append(name)
        set_ones = [n for n in unknown if scan.assignments[n].value != "n"]
        if set_ones:
            shown = ", ".join(set_ones[:8]) + (", ..." if len(set_ones) > 8 else "")
            yield Conflict(
                "unknown-symbols",
                "warning",
                str(scan.path),
                f"{scan.path}: {len(set_ones)} symbol(s) set here are not defined by this "
                f"tree and are ignored: {shown}",
                None,
            )
        unset = len(unknown) - len(set_ones)
        if unset:
            yield Conflict(
                "unknown-unset",
                "info",
                str(scan.path),
                f"{scan.path}: {unset} 'is not set' line(s) name symbols this tree lacks "
                "(harmless)",
                None,
            )


def rule_configure_options(ctx: Context) -> Iterable[Conflict]:
    """Configure choices that break the build, do nothing here, or disagree with .config."""
    opts = ctx.app_options
    if opts is None:
        return
    from ukl_tui.apps import OPTIONS, kconfig_effects

    if getattr(opts, "bypass", False):
        yield Conflict(
            "bypass",
            "warning",
            "--enable-bypass",
            "--enable-bypass is known to break the glibc build on ukl main (ukl issue #37)",
            Fix(options={"bypass": False}),
        )
    for spec in OPTIONS:
        if not spec.kconfig or getattr(opts, spec.field, None) is not True:
            continue
        if ctx.tree is not None and not ctx.defines(spec.kconfig):
            yield Conflict(
                "option-no-effect",
                "warning",
                spec.flag,
                f"{spec.flag} sets CONFIG_{spec.kconfig}, which this tree does not define: "
                "it has no effect",
                Fix(options={spec.field: False}),
            )
    if ctx.tree is None:
        return
    effects = kconfig_effects(opts, quoted=False)
    differing = {
        name: value
        for name, value in effects.items()
        if ctx.tree.has(name)
        and ctx.tree.value(name) != value
        and ctx.asked(name) is None
        and name != "UKL_TLS"  # rule_ukl_tls says it, with or without configure options
    }
    # UKL off is reported by ukl-off; its dependants are n because of it.
    if ctx.value("UNIKERNEL_LINUX") != "y":
        differing = {}
    for name, value in differing.items():
        yield Conflict(
            "option-kconfig",
            "warning",
            name,
            f"the configure options make ukl's Makefile append CONFIG_{name}={value}, but the "
            f"configuration has {_show(ctx.tree.value(name) or '')}",
            Fix(kconfig=ctx.kconfig_fix({name: value})),
        )


def rule_network(ctx: Context) -> Iterable[Conflict]:
    """The network spec and the kernel: ip= needs IP_PNP, the NIC needs its driver."""
    net = ctx.network
    uses_ip = ctx.cmdline is not None and any(
        w.startswith("ip=") for w in ctx.cmdline.split("--")[0].split()
    )
    if net is not None:
        try:
            net.validate(check_ports=False)
        except UserError as exc:
            yield Conflict("network", "error", "network", exc.message, None)
        mode = getattr(net, "mode", "none")
        uses_ip = uses_ip or (mode != "none" and getattr(net, "address_via", "") == "ip")
        if mode != "none":
            drivers = {
                "e1000": {"E1000": "y"},
                "virtio-net-pci": {"VIRTIO_NET": "y", "VIRTIO_PCI": "y"},
            }.get(getattr(net, "nic", ""), {})
            off = [n for n in drivers if ctx.off(n)]
            if off:
                yield Conflict(
                    "nic-driver",
                    "error",
                    off[0],
                    f"QEMU emulates a {net.nic} NIC but {' and '.join(off)} "
                    f"{'is' if len(off) == 1 else 'are'} off: the guest has no network device",
                    Fix(kconfig=ctx.kconfig_fix(drivers)),
                )
    if uses_ip and ctx.off("IP_PNP"):
        yield Conflict(
            "ip-pnp",
            "error",
            "IP_PNP",
            "the kernel command line configures the address with ip=, which does nothing "
            "without IP_PNP (off here)",
            Fix(kconfig=ctx.kconfig_fix({"IP_PNP": "y"})),
        )


def rule_console(ctx: Context) -> Iterable[Conflict]:
    """console=ttyS0 without the 8250 serial console: the boot is silent."""
    if ctx.cmdline is None:
        return
    if not any(w.startswith("console=ttyS") for w in ctx.cmdline.split()):
        return
    if ctx.tree is None and ctx.config is None and ctx.values is None:
        return
    if ctx.off("SERIAL_8250_CONSOLE"):
        yield Conflict(
            "serial-console",
            "warning",
            "SERIAL_8250_CONSOLE",
            "console=ttyS0 is on the command line but SERIAL_8250_CONSOLE is off: QEMU's "
            "serial console will stay silent",
            Fix(kconfig=ctx.kconfig_fix({"SERIAL_8250_CONSOLE": "y"})),
        )


def rule_not_in_tree(ctx: Context) -> Iterable[Conflict]:
    """Asked-for symbols the tree lacks: an error only where a preset marks them required."""
    if ctx.tree is None:
        return
    for name in ctx.wanted:
        if ctx.symbol(name) is None:
            required = name in ctx.required
            yield Conflict(
                "not-in-tree",
                "error" if required else "info",
                name,
                f"{name} is not defined by this tree"
                + (": a preset requires it" if required else " (optional: skipped)"),
                None,
            )


def rule_not_stuck(ctx: Context) -> Iterable[Conflict]:
    """Asked-for values the settled configuration does not have, with the blocking terms."""
    if ctx.tree is None:
        return
    tree = ctx.tree
    for name, value in ctx.wanted.items():
        symbol = ctx.symbol(name)
        if symbol is None:
            continue
        try:
            want = tree.normalise(symbol, value)
        except UserError:
            continue
        now = tree.value(symbol)
        if now == want:
            continue
        why = tree.why(symbol, want)
        terms = "; ".join(t.describe() for t in why.blockers)
        yield Conflict(
            "not-stuck",
            "error",
            symbol,
            f"{symbol}={_show(want)} did not stick (is {_show(now or '')}): "
            + (f"blocked by {terms}" if terms else why.summary.rstrip(".")),
            Fix(kconfig=ctx.kconfig_fix({symbol: want})),
        )


#: The specific rules, then the generic ones (which skip subjects already reported).
RULES: tuple[Rule, ...] = (
    rule_kaslr,
    rule_pti,
    rule_ukl_off,
    rule_ukl_tls,
    rule_ukl_missing,
    rule_smap_smep,
    rule_shortcut_inet,
    rule_initrd,
    rule_unquoted_strings,
    rule_ukl_name,
    rule_unknown_symbols,
    rule_configure_options,
    rule_network,
    rule_console,
)
GENERIC_RULES: tuple[Rule, ...] = (rule_not_in_tree, rule_not_stuck)


def check(context: Context, rules: Sequence[Rule] | None = None) -> list[Conflict]:
    """Run the rules; errors first, then warnings, then notes; one conflict per subject
    from the generic rules (a specific rule already explains KASLR better than "did not stick").
    """
    conflicts: list[Conflict] = []
    for rule in RULES if rules is None else rules:
        conflicts.extend(rule(context))
    if rules is None:
        seen = {c.subject for c in conflicts}
        for rule in GENERIC_RULES:
            conflicts.extend(c for c in rule(context) if c.subject not in seen)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(conflicts, key=lambda c: order[c.severity])


def failing(conflicts: Iterable[Conflict], strict: bool = False) -> list[Conflict]:
    """The conflicts that make ``check`` exit 1: errors; with ``strict`` (CI) warnings too."""
    fails = ("error", "warning") if strict else ("error",)
    return [c for c in conflicts if c.severity in fails]


def apply_fixes(context: FixTarget, conflicts: Iterable[Conflict]) -> list[SetResult]:
    """Apply every applicable fix; kconfig values are set together, then settled once."""
    kconfig: dict[str, str] = {}
    results: list[SetResult] = []
    for conflict in conflicts:
        fix = conflict.fix
        if fix is None or not fix.applicable:
            continue
        kconfig.update(fix.kconfig)
        rest = dataclasses.replace(fix, kconfig={})
        results.extend(rest.apply_to(context))
    if kconfig:
        results.extend(Fix(kconfig=kconfig).apply_to(context))
    return results


__all__ = [
    "GENERIC_RULES",
    "OLD_UKL_SYMBOLS",
    "RD_OPTIONS",
    "RULES",
    "Conflict",
    "Context",
    "Fix",
    "FixTarget",
    "Rule",
    "add_cpu_flags",
    "apply_fixes",
    "check",
    "detect_compression",
    "edit_cmdline",
    "failing",
]
