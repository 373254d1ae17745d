"""Presets: named sets of Kconfig values and boot settings, in TOML, that replace menuconfig.

A preset names what a UKL kernel needs (KASLR and PTI off, UNIKERNEL_LINUX on, ...) without
knowing which kernel it meets: symbols may be missing (UKL_ARCHIVE_PATH was dropped by a newer
fork commit) or renamed (Linux 6.9 renamed PAGE_TABLE_ISOLATION), so applying one reports each
symbol as applied / already / did not stick (with the blocking terms) / not in this tree, and
only a symbol the preset marks ``required`` makes "not in this tree" an error.

The file format (one file per preset, the file name without ``.toml`` is its name)::

    name = "ukl-base"                   # optional; must equal the file name
    summary = "UKL prerequisites ..."   # required, one line
    extends = ["ukl-prereqs"]           # optional; parents first, the file's own values last
    base = "defconfig"                  # optional: defconfig | tinyconfig (fresh trees, --base)
    kernel = "6.1.192"                  # optional: the kernel a saved preset was made on

    [kconfig]                           # plain values: "y" / "n" / "m", strings unquoted,
    RANDOMIZE_BASE = "n"                # integers as numbers or strings, true / false = y / n
    UNIKERNEL_LINUX = { value = "y", required = true }   # the only other form

    [boot]
    cmdline = ["console=ttyS0", "clearcpuid=smap,smep"]  # kernel parameters, one a word
    qemu_cpu_flags = ["-smap", "-smep"]                  # added to QEMU's -cpu model
    gdb = false                 # QEMU's gdb stub on 127.0.0.1:1234 (-gdb tcp:...; no -S)

    [network]                   # only the keys to set; the others keep the plan's value
    mode = "user"               # user | tap | none
    address = "10.0.2.15/24"    # guest address ("" = none); gateway = "10.0.2.2"
    forwards = ["8080:80", "5353/udp"]   # HOST:GUEST port forwards (user networking)
    nic = "virtio-net-pci"      # also: address_via (ip|init|none), mac, tap, bridge,
                                # forward_bind: the keys of a plan file's [network] table

Through ``extends`` (and when several presets are applied at once) kernel parameters and
CPU flags add up, while each ``[network]`` key the later preset sets replaces the earlier
value: ``forwards`` is one key, so a preset that lists forwards gives the whole list. A
later preset that switches ``mode`` drops the earlier network settings, which belong to the
other mode. The network values are read by the plan file's own parsers, and the merged
settings must make a valid network (``NetworkSpec.validate``).

Applied to a plan (``plan --preset``, the wizard), the presets' network settings fill in
every key the user did not choose (``Plan.network_keys``: a ``--ip``/``--forward``/...
option, a key in the plan file, a field changed on the wizard's Network step); where the
user's value differs from a preset's, the user's is kept and a warning says so. The
settings are for the presets' mode (user networking when they name none): when the user
chose another mode, none of them apply, and a warning says that too.
Shipped presets live in the package's ``presets/`` directory; a user's own presets in
``paths.config_dir()/presets/*.toml`` override shipped ones of the same name. A malformed
file is one ``UserError`` naming the file and line, raised before anything is applied.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ukl_tui import paths
from ukl_tui.errors import UserError

if TYPE_CHECKING:
    from ukl_tui.kconfig import SetResult, Term, Tree

#: The package the wheel ships preset files in (``pyproject.toml`` maps it to ``presets/``).
DATA_PACKAGE = "ukl_tui.preset_files"
#: The source checkout's preset directory, used when the data package is not installed.
SOURCE_DIR = Path(__file__).resolve().parent.parent / "presets"

Base = Literal["defconfig", "tinyconfig"]
BASES: tuple[str, ...] = ("defconfig", "tinyconfig")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_VERSION_RE = re.compile(r"^[0-9][A-Za-z0-9._+-]{0,63}$")
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9_]+$")
_CPU_FLAG_RE = re.compile(r"^(?:[+-][A-Za-z0-9_.-]+|[A-Za-z0-9_.-]+=(?:on|off|true|false))$")
_TOP_KEYS = ("name", "summary", "extends", "base", "kernel", "kconfig", "boot", "network")
_BOOT_KEYS = ("cmdline", "qemu_cpu_flags", "gdb")


# ----- renamed symbols ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rename:
    """One Kconfig symbol that changed its name: presets and rules know both."""

    old: str
    new: str
    since: str  # the Linux version that introduced the new name


#: Linux 6.9 moved the x86 mitigation options into one MITIGATION_ namespace (commit series
#: "x86/bugs: Rename CONFIG_..."; the CPU_MITIGATIONS rename was backported to 6.1.y, which is
#: why Debian's 6.1 tree already has CPU_MITIGATIONS). The UKL fork (6.3) uses the old names.
RENAMES: tuple[Rename, ...] = (
    Rename("PAGE_TABLE_ISOLATION", "MITIGATION_PAGE_TABLE_ISOLATION", "6.9"),
    Rename("RETPOLINE", "MITIGATION_RETPOLINE", "6.9"),
    Rename("SLS", "MITIGATION_SLS", "6.9"),
    Rename("RETHUNK", "MITIGATION_RETHUNK", "6.9"),
    Rename("CPU_UNRET_ENTRY", "MITIGATION_UNRET_ENTRY", "6.9"),
    Rename("CPU_IBPB_ENTRY", "MITIGATION_IBPB_ENTRY", "6.9"),
    Rename("CPU_IBRS_ENTRY", "MITIGATION_IBRS_ENTRY", "6.9"),
    Rename("CPU_SRSO", "MITIGATION_SRSO", "6.9"),
    Rename("CALL_DEPTH_TRACKING", "MITIGATION_CALL_DEPTH_TRACKING", "6.9"),
    Rename("GDS_FORCE_MITIGATION", "MITIGATION_GDS_FORCE", "6.9"),
    Rename("SPECULATION_MITIGATIONS", "CPU_MITIGATIONS", "6.9"),
)
_RENAMED: dict[str, Rename] = {r.old: r for r in RENAMES} | {r.new: r for r in RENAMES}


def other_names(name: str) -> tuple[str, ...]:
    """The other names ``name`` has had (``PAGE_TABLE_ISOLATION`` -> the MITIGATION_ one)."""
    rename = _RENAMED.get(name)
    if rename is None:
        return ()
    return (rename.new,) if name == rename.old else (rename.old,)


def rename_of(name: str) -> Rename | None:
    """The rename ``name`` takes part in, if any."""
    return _RENAMED.get(name)


def resolve_name(name: str, has: Callable[[str], bool]) -> str | None:
    """The name this tree uses for ``name``: itself, its old or new name, or None if neither."""
    if has(name):
        return name
    for other in other_names(name):
        if has(other):
            return other
    return None


# ----- the preset model ----------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """One symbol a preset sets, after ``extends`` is resolved."""

    name: str  # as the preset spells it (aliases are resolved against a tree later)
    value: str  # plain: strings unquoted
    required: bool
    preset: str  # the preset that gave this value
    source: str  # its file
    line: int

    @property
    def where(self) -> str:
        """``file:line`` of the assignment, for error messages."""
        return f"{self.source}:{self.line}"


@dataclass(frozen=True)
class NetSetting:
    """One network key a preset sets (``boot.NetworkSpec`` field, parsed value) and who set it."""

    key: str
    value: Any
    preset: str

    @property
    def text(self) -> Any:
        """The value as the file writes it (``HOST:GUEST`` forwards, ``""`` for none)."""
        from ukl_tui.boot import network_value_data

        return network_value_data(self.key, self.value)


@dataclass(frozen=True)
class Boot:
    """What a preset asks of the boot: kernel parameters, QEMU CPU flags, the gdb stub and
    the network keys it sets (only those: the plan's own choices and defaults fill the rest).
    """

    cmdline: tuple[str, ...] = ()
    qemu_cpu_flags: tuple[str, ...] = ()
    gdb: bool = False
    network: tuple[NetSetting, ...] = ()

    def network_values(self) -> dict[str, Any]:
        """Network key -> parsed value, in ``NetworkSpec`` field order."""
        return {s.key: s.value for s in self.network}

    def network_text(self) -> dict[str, Any]:
        """Network key -> value as written in files and JSON."""
        return {s.key: s.text for s in self.network}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON reports."""
        return {
            "cmdline": list(self.cmdline),
            "qemu_cpu_flags": list(self.qemu_cpu_flags),
            "gdb": self.gdb,
            "network": self.network_text(),
        }

    @property
    def cmdline_text(self) -> str:
        """The parameters as one command line string."""
        return " ".join(self.cmdline)

    @property
    def cpu_arg(self) -> str:
        """The flags as QEMU's ``-cpu`` takes them after a model: ``-smap,-smep``."""
        return ",".join(self.qemu_cpu_flags)


@dataclass(frozen=True)
class _Layer:
    """One parsed file, before ``extends`` is resolved."""

    name: str
    summary: str
    source: str
    text: str
    extends: tuple[str, ...]
    base: str | None
    kernel: str | None
    kconfig: dict[str, tuple[str, bool | None, int]]  # name -> (value, required?, line)
    cmdline: tuple[str, ...] | None
    qemu_cpu_flags: tuple[str, ...] | None
    gdb: bool | None
    network: dict[str, Any] = field(default_factory=dict)  # key -> parsed value


@dataclass(frozen=True)
class Preset:
    """A preset with its ``extends`` chain resolved: what applying it sets, in order."""

    name: str
    summary: str
    source: str
    shipped: bool
    extends: tuple[str, ...] = ()
    base: str | None = None
    kernel: str | None = None  # the kernel version a saved preset was made on (informative)
    values: Mapping[str, Value] = field(default_factory=dict)
    boot: Boot = field(default_factory=Boot)
    chain: tuple[str, ...] = ()  # every preset that contributed, parents first
    overrides: str | None = None  # the shipped file a user preset of the same name replaces

    @property
    def required(self) -> list[str]:
        """Symbols that must exist in the tree (an error when they do not)."""
        return [v.name for v in self.values.values() if v.required]

    def kconfig(self) -> dict[str, str]:
        """Name -> plain value, as the preset spells the names."""
        return {name: v.value for name, v in self.values.items()}


@dataclass(frozen=True)
class PresetInfo:
    """A catalogue entry: enough to list presets without parsing every file."""

    name: str
    source: str
    shipped: bool
    overrides: str | None = None  # for a user preset that replaces a shipped one


# ----- reading files ---------------------------------------------------------------------------


def _locate(text: str, table: str | None, key: str | None) -> int:
    """The line of ``key`` inside ``[table]`` (top level for None); 1 if it cannot be found.

    tomllib reports positions only for syntax errors, so validation errors find their line
    by scanning: table headers switch the current table, a ``key =`` (quoted or not) matches.
    """
    current: str | None = None
    header = re.compile(r"^\s*\[\s*([^\]\[]+?)\s*\]")
    fallback = 0
    for number, line in enumerate(text.splitlines(), start=1):
        match = header.match(line)
        if match:
            current = match.group(1).replace('"', "").replace(" ", "")
            if key is None and current == table:
                return number
            continue
        if key is None:
            continue
        if re.match(rf'^\s*(["\']?){re.escape(key)}\1\s*[=.]', line):
            if current == table:
                return number
            fallback = fallback or number
    return fallback or 1


def _syntax_error(source: str, exc: tomllib.TOMLDecodeError) -> UserError:
    message = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        text = message[: match.start()]
        return UserError(f"{source}:{match.group(1)}:{match.group(2)}: TOML syntax: {text}")
    match = re.search(r"\s*\(at end of document\)$", message)
    if match:
        return UserError(
            f"{source}: TOML syntax at the end of the file: {message[: match.start()]}"
        )
    return UserError(f"{source}: TOML syntax: {message}")


def _kconfig_value(where: str, name: str, raw: Any) -> str:
    if isinstance(raw, bool):
        return "y" if raw else "n"
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, str):
        if "\n" in raw or "\r" in raw:
            raise UserError(f"{where}: {name}: a value cannot contain a line break")
        return raw
    kind = type(raw).__name__
    raise UserError(
        f'{where}: {name}: a value must be a string ("y", "n", "/UKL"), a whole number or '
        f"true/false, not a {kind}"
    )


def parse_preset(text: str, source: str, name: str) -> _Layer:
    """Validate one preset file's text (no ``extends`` resolution); ``UserError`` on problems."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(source, exc) from None

    def at(table: str | None, key: str | None) -> str:
        return f"{source}:{_locate(text, table, key)}"

    for key in data:
        if key not in _TOP_KEYS:
            raise UserError(f"{at(None, key)}: unknown key {key!r} (known: {', '.join(_TOP_KEYS)})")
    declared = data.get("name", name)
    if not isinstance(declared, str) or declared != name:
        raise UserError(
            f"{at(None, 'name')}: name {declared!r} must match the file name ({name!r})"
        )
    summary = data.get("summary")
    if not isinstance(summary, str) or not summary.strip() or "\n" in summary.strip():
        raise UserError(f"{at(None, 'summary')}: 'summary' must be one non-empty line of text")
    extends = data.get("extends", [])
    if isinstance(extends, str):
        extends = [extends]
    if not isinstance(extends, list) or not all(isinstance(e, str) for e in extends):
        raise UserError(f"{at(None, 'extends')}: 'extends' must be a list of preset names")
    base = data.get("base")
    if base is not None and base not in BASES:
        raise UserError(f"{at(None, 'base')}: 'base' must be one of {', '.join(BASES)}")
    kernel = data.get("kernel")
    if kernel is not None and (not isinstance(kernel, str) or not _VERSION_RE.match(kernel)):
        raise UserError(f"{at(None, 'kernel')}: 'kernel' must be a version such as \"6.1.192\"")

    kconfig_table = data.get("kconfig", {})
    if not isinstance(kconfig_table, dict):
        raise UserError(f"{at(None, 'kconfig')}: 'kconfig' must be a table of SYMBOL = value")
    kconfig: dict[str, tuple[str, bool | None, int]] = {}
    for sym, raw in kconfig_table.items():
        line = _locate(text, "kconfig", sym)
        where = f"{source}:{line}"
        if sym.startswith("CONFIG_"):
            raise UserError(f"{where}: write {sym[len('CONFIG_') :]}, without the CONFIG_ prefix")
        if not _SYMBOL_RE.match(sym):
            raise UserError(f"{where}: {sym!r} is not a Kconfig symbol name")
        required: bool | None = None
        if isinstance(raw, dict):
            line = _locate(text, f"kconfig.{sym}", None) if line == 1 else line
            where = f"{source}:{line}"
            unknown = sorted(set(raw) - {"value", "required"})
            if unknown:
                raise UserError(
                    f"{where}: {sym}: unknown key {unknown[0]!r} (an entry has 'value' and "
                    "optionally 'required')"
                )
            if "value" not in raw:
                raise UserError(f"{where}: {sym}: missing 'value'")
            required = raw.get("required")
            if required is not None and not isinstance(required, bool):
                raise UserError(f"{where}: {sym}: 'required' must be true or false")
            raw = raw["value"]
        kconfig[sym] = (_kconfig_value(where, sym, raw), required, line)

    boot = data.get("boot", {})
    if not isinstance(boot, dict):
        raise UserError(f"{at(None, 'boot')}: 'boot' must be a table")
    for key in boot:
        if key not in _BOOT_KEYS:
            raise UserError(
                f"{at('boot', key)}: unknown key {key!r} in [boot] (known: {', '.join(_BOOT_KEYS)})"
            )
    cmdline = _words(boot, "cmdline", at("boot", "cmdline"), _check_param)
    flags = _words(boot, "qemu_cpu_flags", at("boot", "qemu_cpu_flags"), _check_cpu_flag)
    gdb = boot.get("gdb")
    if gdb is not None and not isinstance(gdb, bool):
        raise UserError(f"{at('boot', 'gdb')}: 'gdb' must be true or false")
    network = _parse_network(data.get("network", {}), text, at)
    return _Layer(
        name=name,
        summary=summary.strip(),
        source=source,
        text=text,
        extends=tuple(extends),
        base=base,
        kernel=kernel,
        kconfig=kconfig,
        cmdline=cmdline,
        qemu_cpu_flags=flags,
        gdb=gdb,
        network=network,
    )


def _parse_network(
    table: Any, text: str, at: Callable[[str | None, str | None], str]
) -> dict[str, Any]:
    """The ``[network]`` table: each key through the plan files' own parser
    (``boot.parse_network_value``), an error naming the file and the key's line.
    """
    from ukl_tui.boot import NETWORK_KEYS, parse_network_value

    if not isinstance(table, dict):
        raise UserError(f"{at(None, 'network')}: 'network' must be a table")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in NETWORK_KEYS:
            raise UserError(
                f"{at('network', key)}: unknown key {key!r} in [network] "
                f"(known: {', '.join(NETWORK_KEYS)})"
            )
        try:
            values[key] = parse_network_value(key, raw)
        except UserError as exc:
            raise UserError(f"{at('network', key)}: network {key}: {exc.message}") from None
    return {k: values[k] for k in NETWORK_KEYS if k in values}


def network_spec(network: Iterable[NetSetting]) -> Any:
    """The ``boot.NetworkSpec`` that merged network settings give on their own: the mode's
    defaults with the settings on top (what a plan that chose nothing boots with).
    """
    from dataclasses import replace

    from ukl_tui.boot import NetworkSpec

    values = {s.key: s.value for s in network}
    return replace(NetworkSpec.for_mode(values.pop("mode", "user")), **values)


def _words(
    table: dict[str, Any], key: str, where: str, check: Callable[[str], str | None]
) -> tuple[str, ...] | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"{where}: '{key}' must be a list of strings, one word each")
    for word in value:
        problem = check(word)
        if problem:
            raise UserError(f"{where}: {key}: {word!r}: {problem}")
    return tuple(value)


def _check_param(word: str) -> str | None:
    if not word or re.search(r"[\s\"'\x00-\x1f\x7f]", word):
        return "a kernel parameter is one word without spaces, quotes or control characters"
    return None


def _check_cpu_flag(word: str) -> str | None:
    if not _CPU_FLAG_RE.match(word):
        return "a QEMU CPU flag looks like -smap, +pdpe1gb or smap=off"
    return None


# ----- the catalogue -------------------------------------------------------------------------


def shipped_root() -> Traversable:
    """Where the shipped presets are: the installed data package, else the source checkout."""
    try:
        return resources.files(DATA_PACKAGE)
    except ModuleNotFoundError:
        return SOURCE_DIR


def valid_name(name: str) -> bool:
    """A preset name is a plain word: lower-case letters, digits, ``-``, ``.``, ``_``."""
    return bool(_NAME_RE.match(name)) and not name.endswith(".toml")


def user_dir() -> Path:
    """The user's preset directory (may not exist)."""
    return paths.config_dir() / "presets"


class Catalogue:
    """Every preset by name, user presets over shipped ones; files are parsed on demand."""

    def __init__(self, shipped: Traversable | Path | None = None, user: Path | None = None) -> None:
        self._files: dict[str, tuple[Traversable | Path, bool]] = {}
        self._overridden: dict[str, str] = {}
        self._layers: dict[str, _Layer] = {}
        root = shipped if shipped is not None else shipped_root()
        if root.is_dir():
            for entry in sorted(root.iterdir(), key=lambda e: e.name):
                if entry.name.endswith(".toml") and entry.is_file():
                    self._files[entry.name[: -len(".toml")]] = (entry, True)
        udir = user if user is not None else user_dir()
        if udir.is_dir():
            for entry in sorted(udir.glob("*.toml")):
                name = entry.name[: -len(".toml")]
                if name in self._files:
                    self._overridden[name] = str(self._files[name][0])
                self._files[name] = (entry, False)

    def names(self) -> list[str]:
        """Every preset name, sorted."""
        return sorted(self._files)

    def infos(self) -> list[PresetInfo]:
        """Name, file and origin of every preset (no parsing)."""
        return [
            PresetInfo(name, str(entry), shipped, self._overridden.get(name))
            for name, (entry, shipped) in sorted(self._files.items())
        ]

    def _layer(self, name: str) -> _Layer:
        layer = self._layers.get(name)
        if layer is None:
            entry, _ = self._files[name]
            try:
                text = entry.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"{entry}: cannot read ({exc})") from None
            layer = parse_preset(text, str(entry), name)
            self._layers[name] = layer
        return layer

    def add_file(self, path: Path) -> str:
        """Make a preset file outside the catalogue loadable (``--preset ./mine.toml``)."""
        if not path.is_file():
            raise UserError(f"{path}: no such preset file")
        name = path.name[: -len(".toml")] if path.name.endswith(".toml") else path.name
        if not _NAME_RE.match(name):
            raise UserError(f"{path}: preset file names are lower-case letters, digits, - . _")
        if name in self._files and Path(str(self._files[name][0])) != path:
            self._overridden[name] = str(self._files[name][0])
        self._files[name] = (path, False)
        self._layers.pop(name, None)
        return name

    def get(self, name: str) -> Preset:
        """The preset ``name`` with ``extends`` resolved; ``UserError`` for any problem."""
        if name not in self._files:
            known = ", ".join(self.names()) or "none"
            raise UserError(f"unknown preset {name!r} (known: {known})")
        order = self._resolve_order(name, (), None)
        layers = [self._layer(n) for n in order]
        own = layers[-1]
        values: dict[str, Value] = {}
        for layer in layers:
            for sym, (value, required, line) in layer.kconfig.items():
                previous = values.pop(sym, None)  # re-insert: the latest layer sets the order
                if required is None:
                    required = previous.required if previous else False
                values[sym] = Value(sym, value, required, layer.name, layer.source, line)
        base = next((layer.base for layer in reversed(layers) if layer.base), None)
        boot = merge_boot(
            Boot(
                layer.cmdline or (),
                layer.qemu_cpu_flags or (),
                bool(layer.gdb),
                tuple(NetSetting(k, v, layer.name) for k, v in layer.network.items()),
            )
            for layer in layers
        )
        gdb = next((layer.gdb for layer in reversed(layers) if layer.gdb is not None), False)
        self._check_network(boot.network, layers)
        entry, shipped = self._files[name]
        return Preset(
            name=name,
            summary=own.summary,
            source=str(entry),
            shipped=shipped,
            extends=own.extends,
            base=base,
            kernel=own.kernel,
            values=values,
            boot=Boot(boot.cmdline, boot.qemu_cpu_flags, gdb, boot.network),
            chain=tuple(order),
            overrides=self._overridden.get(name),
        )

    def _check_network(self, network: tuple[NetSetting, ...], layers: Sequence[_Layer]) -> None:
        """The merged network settings must make a valid network (a user-networking address,
        a gateway inside the guest's subnet, forwards only with user networking, ...):
        ``NetworkSpec.validate``, the plan's own check, without binding ports; an error
        names the [network] table of the last preset that set something.
        """
        if not network:
            return
        try:
            network_spec(network).validate(check_ports=False)
        except UserError as exc:
            last = {s.preset for s in network}
            layer = next(la for la in reversed(layers) if la.name in last)
            where = f"{layer.source}:{_locate(layer.text, 'network', None)}"
            raise UserError(f"{where}: [network]: {exc.message}") from None

    def _resolve_order(self, name: str, stack: tuple[str, ...], child: str | None) -> list[str]:
        """Parents before children, each preset once (depth-first over ``extends``)."""
        if name in stack:
            cycle = " -> ".join((*stack[stack.index(name) :], name))
            layer = self._layer(stack[-1])
            where = f"{layer.source}:{_locate(layer.text, None, 'extends')}"
            raise UserError(f"{where}: 'extends' makes a cycle: {cycle}")
        if name not in self._files:
            assert child is not None
            layer = self._layer(child)
            where = f"{layer.source}:{_locate(layer.text, None, 'extends')}"
            raise UserError(f"{where}: extends unknown preset {name!r}")
        layer = self._layer(name)
        order: list[str] = []
        for parent in layer.extends:
            for item in self._resolve_order(parent, (*stack, name), name):
                if item not in order:
                    order.append(item)
        order.append(name)
        return order

    def load_all(self) -> tuple[list[Preset], list[UserError]]:
        """Every preset that loads, and one error per preset that does not."""
        good: list[Preset] = []
        bad: list[UserError] = []
        for name in self.names():
            try:
                good.append(self.get(name))
            except UserError as exc:
                bad.append(exc)
        return good, bad


def merge_network(boots: Iterable[Boot]) -> tuple[NetSetting, ...]:
    """Later network settings replace earlier ones key by key (``forwards`` is one key: the
    whole list); a later ``mode`` other than the one so far drops the earlier settings,
    which belong to the other mode (a user-networking address makes no sense on a tap).
    """
    merged: dict[str, NetSetting] = {}
    for boot in boots:
        for setting in boot.network:
            if setting.key == "mode":
                current = merged["mode"].value if "mode" in merged else "user"
                if setting.value != current:
                    merged.clear()
            merged[setting.key] = setting
    from ukl_tui.boot import NETWORK_KEYS

    return tuple(merged[k] for k in NETWORK_KEYS if k in merged)


def merge_boot(boots: Iterable[Boot]) -> Boot:
    """Later boots add to earlier ones: parameters once each, a CPU flag's last setting wins,
    network settings as :func:`merge_network` says.
    """
    boots = list(boots)
    cmdline: list[str] = []
    flags: dict[str, str] = {}
    gdb = False
    for boot in boots:
        for word in boot.cmdline:
            if word not in cmdline:
                cmdline.append(word)
        for flag in boot.qemu_cpu_flags:
            key = flag.lstrip("+-").split("=", 1)[0].lower()
            flags.pop(key, None)
            flags[key] = flag
        gdb = gdb or boot.gdb
    return Boot(tuple(cmdline), tuple(flags.values()), gdb, merge_network(boots))


def load_presets(names: Sequence[str], catalogue: Catalogue | None = None) -> list[Preset]:
    """Presets by name (or by ``.toml`` path), every one validated before any is used."""
    cat = catalogue or Catalogue()
    resolved = []
    for item in names:
        for name in (part.strip() for part in item.split(",")):
            if not name:
                continue
            if name.endswith(".toml") or "/" in name:
                name = cat.add_file(Path(name).expanduser())
            resolved.append(name)
    if not resolved:
        raise UserError("no preset named")
    return [cat.get(name) for name in resolved]


def combine(presets: Sequence[Preset]) -> Preset:
    """Several presets as one: later values win, required stays required, boots add up.

    The combined base is the presets' common base; when they name different ones it is None
    and :func:`choose_base` asks for an explicit choice.
    """
    if len(presets) == 1:
        return presets[0]
    bases = {p.base for p in presets if p.base}
    values: dict[str, Value] = {}
    for preset in presets:
        for name, value in preset.values.items():
            previous = values.pop(name, None)
            if previous is not None and previous.required and not value.required:
                value = Value(value.name, value.value, True, value.preset, value.source, value.line)
            values[name] = value
    chain: list[str] = []
    for preset in presets:
        chain.extend(n for n in preset.chain if n not in chain)
    return Preset(
        name="+".join(p.name for p in presets),
        summary="; ".join(p.summary for p in presets),
        source=", ".join(p.source for p in presets),
        shipped=all(p.shipped for p in presets),
        extends=tuple(p.name for p in presets),
        base=bases.pop() if len(bases) == 1 else None,
        values=values,
        boot=merge_boot(p.boot for p in presets),
        chain=tuple(chain),
    )


# ----- applying --------------------------------------------------------------------------------

Status = Literal["applied", "already", "not-stuck", "not-in-tree"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one symbol a preset (or the user) asked for."""

    name: str  # as asked
    symbol: str | None  # this tree's name (differs for renamed symbols); None: not in the tree
    value: str
    status: Status
    origin: str  # the preset that asked, or "yours" for a hand edit / --set
    required: bool = False
    before: str | None = None
    after: str | None = None
    blockers: tuple[Term, ...] = ()
    reason: str = ""
    overrode: tuple[str, str] | None = None  # (preset, its value) that a hand edit beat

    @property
    def failed(self) -> bool:
        """Did not stick, or a required symbol the tree lacks."""
        return self.status == "not-stuck" or (self.status == "not-in-tree" and self.required)

    def line(self) -> str:
        """One line of the command line report."""
        shown = self.name if self.symbol in (None, self.name) else f"{self.name} ({self.symbol})"
        tag = "--set" if self.origin == "yours" else self.origin
        if self.overrode:
            tag += f", overrides {self.overrode[0]}'s {_show(self.overrode[1])}"
        if self.status == "applied":
            text = f"applied      {shown}={_show(self.value)} (was {_show(self.before or '')})"
        elif self.status == "already":
            text = f"already      {shown}={_show(self.value)}"
        elif self.status == "not-stuck":
            text = (
                f"NOT STUCK    {shown}={_show(self.value)} (is {_show(self.after or '')}): "
                f"{self.reason}"
            )
        elif self.required:
            text = f"MISSING      {shown}: required, but this tree does not define it"
        else:
            text = f"not in tree  {shown} (optional, skipped)"
        return f"{text}  [{tag}]"


@dataclass(frozen=True)
class Clash:
    """A preset value that differs from one the user set by hand: the user's value is kept."""

    symbol: str
    preset: str
    preset_value: str
    your_value: str

    def line(self) -> str:
        """One line for reports."""
        return (
            f"{self.symbol}: kept your {_show(self.your_value)}; {self.preset} wants "
            f"{_show(self.preset_value)}"
        )


@dataclass
class ApplyReport:
    """The result of applying presets: one outcome per symbol, clashes, the boot settings."""

    presets: tuple[str, ...]
    base: str | None
    outcomes: list[Outcome]
    clashes: list[Clash]
    boot: Boot
    results: list[SetResult]

    @property
    def ok(self) -> bool:
        """Every value stuck and every required symbol exists."""
        return not self.failed

    @property
    def failed(self) -> list[Outcome]:
        """Outcomes that make ``apply`` exit 1."""
        return [o for o in self.outcomes if o.failed]

    @property
    def wanted(self) -> dict[str, str]:
        """Tree symbol -> requested value, for the rules' "did it stick" checks."""
        return {o.symbol: o.value for o in self.outcomes if o.symbol is not None}

    @property
    def missing(self) -> list[Outcome]:
        """Symbols the tree lacks (required or not)."""
        return [o for o in self.outcomes if o.status == "not-in-tree"]


def _show(value: str) -> str:
    return value if value else '""'


def choose_base(presets: Sequence[Preset], base: bool | str) -> str | None:
    """The base configuration to reset to: none, the presets' own, or the one named.

    ``True`` takes the presets' base; presets that name different bases are an error that
    asks for ``--base NAME``, because neither order of the presets makes one obviously right.
    """
    if base is False or base is None:
        return None
    if isinstance(base, str):
        if base not in BASES:
            raise UserError(f"unknown base {base!r} (known: {', '.join(BASES)})")
        return base
    declared = {p.name: p.base for p in presets if p.base}
    if len(set(declared.values())) > 1:
        listed = ", ".join(f"{name}: {b}" for name, b in declared.items())
        raise UserError(
            f"the presets start from different bases ({listed}): name one with --base NAME"
        )
    return next(iter(declared.values()), None)


def apply_presets(
    tree: Tree,
    presets: Sequence[Preset],
    *,
    hand_edits: Mapping[str, str] | None = None,
    base: bool | str = False,
) -> ApplyReport:
    """Apply presets to ``tree``: set everything, let Kconfig settle, verify each symbol.

    ``hand_edits`` are the values the user chose by hand this session (the TUI's edits, the
    CLI's ``--set``): they are (re)applied and always win; a preset value that differs is
    not applied and comes back as a ``Clash`` so the TUI can ask. With ``base`` the tree is
    first reset to the presets' base configuration (hand edits are re-applied on top). Every
    value is validated before anything changes. ``base`` is False, True (the presets' own
    base, see :func:`choose_base`) or a base name.
    """
    combined = combine(presets)
    start = choose_base(presets, base)
    edits: dict[str, str] = {}
    # Validate everything first: nothing changes on bad input.
    for name, value in (hand_edits or {}).items():
        name = name.removeprefix("CONFIG_")
        symbol = resolve_name(name, tree.has) or name
        edits[symbol] = tree.normalise(symbol, value)
    planned: list[tuple[Value, str | None]] = []
    for value in combined.values.values():
        symbol = resolve_name(value.name, tree.has)
        if symbol is not None:
            try:
                tree.normalise(symbol, value.value)
            except UserError as exc:
                raise UserError(f"{value.where}: {exc.message}") from None
        planned.append((value, symbol))

    if start is not None:
        tree.reset(start)  # type: ignore[arg-type]

    assignments: dict[str, str] = {}
    clashes: list[Clash] = []
    overrode: dict[str, tuple[str, str]] = {}
    for value, symbol in planned:
        if symbol is None:
            continue
        if symbol in edits:
            mine = edits[symbol]
            theirs = tree.normalise(symbol, value.value)
            if mine != theirs:
                clashes.append(Clash(symbol, value.preset, theirs, mine))
                overrode[symbol] = (value.preset, theirs)
            continue
        assignments[symbol] = value.value
    assignments.update(edits)
    results = tree.set_many(assignments)
    by_symbol = {r.name: r for r in results}

    outcomes: list[Outcome] = []
    seen: set[str] = set()
    for value, symbol in planned:
        if symbol is None:
            outcomes.append(
                Outcome(value.name, None, value.value, "not-in-tree", value.preset, value.required)
            )
            continue
        seen.add(symbol)
        result = by_symbol[symbol]
        origin = "yours" if symbol in edits else value.preset
        outcomes.append(_outcome(value.name, result, origin, value.required, overrode.get(symbol)))
    for name in edits:
        if name not in seen:
            outcomes.append(_outcome(name, by_symbol[name], "yours", False, None))
    return ApplyReport(
        presets=tuple(p.name for p in presets),
        base=start,
        outcomes=outcomes,
        clashes=clashes,
        boot=combined.boot,
        results=results,
    )


def _outcome(
    name: str,
    result: SetResult,
    origin: str,
    required: bool,
    overrode: tuple[str, str] | None,
) -> Outcome:
    status: Status = {"set": "applied", "already": "already"}.get(result.status, "not-stuck")  # type: ignore[assignment]
    return Outcome(
        name=name,
        symbol=result.name,
        value=result.requested,
        status=status,
        origin=origin,
        required=required,
        before=result.before,
        after=result.after,
        blockers=tuple(result.blockers),
        reason=result.reason,
        overrode=overrode,
    )


def preview(
    tree: Tree,
    presets: Sequence[Preset],
    *,
    hand_edits: Mapping[str, str] | None = None,
    base: bool | str = False,
) -> ApplyReport:
    """What applying would report, leaving the tree as it was (the TUI's preset preview)."""
    snap = tree.snapshot()
    try:
        return apply_presets(tree, presets, hand_edits=hand_edits, base=base)
    finally:
        tree.restore(snap)


# ----- merge_config.sh fragments -----------------------------------------------------------------


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fragment_line(name: str, value: str, kind: str | None) -> str:
    """One fragment line; ``kind`` is the Kconfig type, or None to guess from the value."""
    if kind is None:
        if value in ("y", "m", "n"):
            kind = "tristate"
        elif re.fullmatch(r"[-+]?\d+|0[xX][0-9a-fA-F]+", value):
            kind = "int"
        else:
            kind = "string"
    if kind in ("bool", "tristate"):
        return f"# CONFIG_{name} is not set" if value == "n" else f"CONFIG_{name}={value}"
    if kind == "string":
        return f"CONFIG_{name}={_quote(value)}"
    return f"CONFIG_{name}={value}"


def fragment_text(preset: Preset, tree: Tree | None = None) -> tuple[str, list[Value]]:
    """A ``merge_config.sh`` fragment for ``preset`` and the required symbols it had to skip.

    With a tree, renamed symbols take the tree's name, values are typed by the tree (strings
    quoted, ``n`` written as "is not set"), and symbols the tree lacks become comments.
    Without one, names stay as written and types are guessed from the values. Comments
    never contain ``CONFIG_``: merge_config.sh greps for ``-w CONFIG_X`` and would count them.
    """
    out = [
        f"# ukl-tui preset {preset.name}: {preset.summary.replace('CONFIG_', '')}",
        f"# from: {', '.join(preset.chain)}" + (f"; base: {preset.base}" if preset.base else ""),
    ]
    if tree is not None:
        out.append(f"# for: {tree.mainmenu} ({tree.srctree})")
    missing: list[Value] = []
    for value in preset.values.values():
        if tree is None:
            out.append(fragment_line(value.name, value.value, None))
            for other in other_names(value.name):
                out.append(f"#   ({other} in other kernels: pass --tree to resolve the name)")
            continue
        symbol = resolve_name(value.name, tree.has)
        if symbol is None:
            note = "required, but " if value.required else ""
            out.append(f"# {value.name}: {note}not in this tree (skipped)")
            if value.required:
                missing.append(value)
            continue
        out.append(fragment_line(symbol, tree.normalise(symbol, value.value), tree.type_of(symbol)))
    return "\n".join(out) + "\n", missing


__all__ = [
    "BASES",
    "RENAMES",
    "ApplyReport",
    "Boot",
    "Catalogue",
    "NetSetting",
    "Clash",
    "Outcome",
    "Preset",
    "PresetInfo",
    "Rename",
    "Value",
    "apply_presets",
    "choose_base",
    "combine",
    "fragment_line",
    "fragment_text",
    "load_presets",
    "merge_boot",
    "merge_network",
    "network_spec",
    "other_names",
    "parse_preset",
    "preview",
    "rename_of",
    "resolve_name",
    "shipped_root",
    "user_dir",
    "valid_name",
]
