"""The user's own presets: what they changed, saved as a preset; fragments imported as one.

Saving finds the fewest assignments that turn a base (defconfig, tinyconfig, a ``.config``
file, optionally with presets it extends applied on top) into the current configuration
(``kconfig.minimal``), proves them by re-applying, and writes a preset TOML into the user's
preset directory with a summary, the kernel version and each symbol's prompt as a comment.
Importing turns a ``merge_config.sh`` fragment or a ``savedefconfig`` file into a preset,
reporting every line whose symbol the tree does not define.

Nothing here writes before everything is checked: a bad name, base or file is one
``UserError`` and the preset directory is untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ukl_tui.boot import NETWORK_KEYS, NetworkSpec
from ukl_tui.errors import UserError
from ukl_tui.kconfig.dotconfig import DotConfig, read_dotconfig
from ukl_tui.kconfig.env import kernel_version
from ukl_tui.kconfig.minimal import Snapshot, minimal_assignments
from ukl_tui.presets import (
    BASES,
    Boot,
    Catalogue,
    NetSetting,
    Preset,
    apply_presets,
    merge_boot,
    network_spec,
    valid_name,
)

if TYPE_CHECKING:
    from ukl_tui.kconfig import Tree


@dataclass(frozen=True)
class BaseChoice:
    """What a saved preset starts from: a standard configuration or a ``.config`` file."""

    label: str  # "defconfig", "tinyconfig" or the file as given
    standard: str | None  # the preset's ``base`` key (None for a file)
    path: Path | None = None

    @classmethod
    def parse(cls, text: str) -> BaseChoice:
        """``defconfig``, ``tinyconfig`` or an existing ``.config`` file; else bad input."""
        if text in BASES:
            return cls(text, text)
        path = Path(text).expanduser()
        if not path.is_file():
            raise UserError(
                f"base {text!r}: no such file (expected {', '.join(BASES)} or a .config file)"
            )
        return cls(text, None, path.absolute())


def check_name(name: str) -> str:
    """A preset name must be a plain word: it becomes a file name and an ``extends`` entry."""
    if not valid_name(name):
        raise UserError(
            f"preset name {name!r}: use a plain word of lower-case letters, digits, '-', '.', "
            "'_' (e.g. my-e1000)"
        )
    return name


def base_snapshot(tree: Tree, base: BaseChoice, parents: Sequence[Preset]) -> Snapshot:
    """The user values of the base with the extended presets applied; the tree is unchanged."""
    current = tree.snapshot()
    try:
        if base.path is not None:
            tree.load_values(base.path)
        else:
            tree.reset(base.standard)  # type: ignore[arg-type]
        if parents:
            apply_presets(tree, parents)
        return tree.snapshot()
    finally:
        tree.restore(current)


@dataclass
class SavedPreset:
    """A preset ready to write: its text, the assignments and the figures for the report."""

    name: str
    text: str
    assignments: dict[str, str]
    base: BaseChoice
    extends: tuple[str, ...]
    config_lines: int  # the full .config
    savedefconfig_lines: int  # make savedefconfig of the same configuration
    boot: Boot | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def lines(self) -> int:
        """Assignments in the preset: what a user reads."""
        return len(self.assignments)


def _prompt(tree: Tree, name: str) -> str:
    sym = tree.symbol(name)
    prompts = [n.prompt[0] for n in sym.nodes if n.prompt] if sym is not None else []
    return " ".join(prompts[0].split()) if prompts else ""


def own_network(network: NetworkSpec, inherited: Sequence[NetSetting]) -> dict[str, Any]:
    """The network keys a preset must set so that, merged after ``inherited`` (its parents'
    settings, ``presets.merge_network``), it gives ``network``: the keys that differ from
    what the parents give, or, when the mode differs, the mode and every key that differs
    from that mode's defaults (switching mode drops the parents' settings).
    """
    start = network_spec(inherited)
    if network.mode != start.mode:
        keys = ["mode", *(k for k in network.chosen_keys() if k != "mode")]
    else:
        keys = [k for k in NETWORK_KEYS if getattr(network, k) != getattr(start, k)]
    return {k: getattr(network, k) for k in NETWORK_KEYS if k in keys}


def _own_boot(
    boot: Boot | None, parents: Sequence[Preset], network: NetworkSpec | None = None
) -> Boot | None:
    """What the preset must add to its parents' boot settings to give ``boot`` and
    ``network`` (None: the preset says nothing about them).
    """
    if boot is None and network is None:
        return None
    boot = boot or Boot()
    inherited = merge_boot(p.boot for p in parents)
    cmdline = tuple(w for w in boot.cmdline if w not in inherited.cmdline)
    flags = tuple(f for f in boot.qemu_cpu_flags if f not in inherited.qemu_cpu_flags)
    gdb = boot.gdb and not inherited.gdb
    net = own_network(network, inherited.network) if network is not None else {}
    if not (cmdline or flags or gdb or net):
        return None
    return Boot(cmdline, flags, gdb, tuple(NetSetting(k, v, "") for k, v in net.items()))


def default_summary(
    base: BaseChoice, extends: Sequence[str], assignments: Mapping[str, str]
) -> str:
    """``defconfig + ukl-base + 3 changes: E1000E=n, ...`` (one line, at most ~100 chars)."""
    start = " + ".join([Path(base.label).name if base.path else base.label, *extends])
    shown = ", ".join(f"{k}={v}" for k, v in list(assignments.items())[:4])
    more = len(assignments) - 4
    count = f"{len(assignments)} change{'s' if len(assignments) != 1 else ''}"
    text = f"{start} + {count}" + (f": {shown}" if shown else "")
    return text + (f" and {more} more" if more > 0 else "")


def make_preset(
    tree: Tree,
    name: str,
    base: BaseChoice,
    extends: Sequence[str] = (),
    *,
    summary: str | None = None,
    boot: Boot | None = None,
    network: NetworkSpec | None = None,
    source: str | None = None,
    catalogue: Catalogue | None = None,
) -> SavedPreset:
    """The preset that turns ``base`` (plus ``extends``) into the tree's current values,
    with the boot settings (``boot``: the whole kernel command line and CPU flags wanted)
    and the network (``network``: the whole spec wanted) that the extended presets do not
    already give.

    Raises ``UserError`` when the name is not a plain word, an extended preset is unknown or
    is the preset itself, or re-applying the assignments does not give the configuration back.
    """
    check_name(name)
    if name in extends:
        raise UserError(f"preset {name!r} cannot extend itself")
    cat = catalogue or Catalogue()
    parents = [cat.get(parent) for parent in extends]
    snap = base_snapshot(tree, base, parents)
    minimal = minimal_assignments(tree, snap)
    if not minimal.exact:
        wrong = ", ".join(
            f"{n} (gives {g}, wants {w})" for n, (g, w) in list(minimal.unreproduced.items())[:5]
        )
        raise UserError(f"no set of assignments reproduces this configuration: {wrong}")
    assignments = minimal.assignments
    own_boot = _own_boot(boot, parents, network)
    summary = " ".join((summary or default_summary(base, extends, assignments)).split())
    config_lines = len(tree.config_text().splitlines())
    min_lines = len(tree.min_config_text().splitlines())
    text = preset_text(
        tree,
        name=name,
        summary=summary,
        base=base,
        extends=tuple(extends),
        assignments=assignments,
        boot=own_boot,
        header=[
            f"Saved by ukl-tui from {source or 'the configuration'} ({tree.mainmenu}).",
            f"{len(assignments)} assignment(s) turn {' + '.join([base.label, *extends])} into it; "
            f"the full .config has {config_lines} lines, savedefconfig {min_lines}.",
            "Values that follow from these (defaults, selects, implies, dependencies) are "
            "left to Kconfig.",
            *(
                [f"Made against {base.path}: apply it on that file (apply --config FILE)."]
                if base.path
                else []
            ),
        ],
    )
    return SavedPreset(
        name, text, dict(assignments), base, tuple(extends), config_lines, min_lines, own_boot
    )


def preset_text(
    tree: Tree | None,
    *,
    name: str,
    summary: str,
    base: BaseChoice | None,
    extends: tuple[str, ...],
    assignments: Mapping[str, str],
    boot: Boot | None = None,
    header: Sequence[str] = (),
    trailer: Sequence[str] = (),
) -> str:
    """The preset file: header comments, keys, ``[kconfig]`` with prompts, ``[boot]``,
    ``[network]``.
    """
    from ukl_tui.plan import dumps_toml  # the project's one TOML writer

    def line(key: str, value: Any) -> str:
        return dumps_toml({key: value}).rstrip("\n")

    top: dict[str, Any] = {"name": name, "summary": summary}
    if tree is not None:
        top["kernel"] = kernel_version(tree.srctree)
    if base is not None and base.standard:
        top["base"] = base.standard
    if extends:
        top["extends"] = list(extends)
    out = [f"# {h}".rstrip() for h in header]
    out += [line(k, v) for k, v in top.items()]
    out += ["", "[kconfig]"]
    for symbol, value in assignments.items():
        prompt = _prompt(tree, symbol) if tree is not None else ""
        out.append(line(symbol, value) + (f"  # {prompt}" if prompt else ""))
    out += [f"# {t}" for t in trailer]
    if boot is not None:
        table: dict[str, Any] = {}
        if boot.cmdline:
            table["cmdline"] = list(boot.cmdline)
        if boot.qemu_cpu_flags:
            table["qemu_cpu_flags"] = list(boot.qemu_cpu_flags)
        if boot.gdb:
            table["gdb"] = True
        if table:
            out += ["", "[boot]", *(line(k, v) for k, v in table.items())]
        if boot.network:
            out += ["", "[network]", *(line(k, v) for k, v in boot.network_text().items())]
    return "\n".join(out) + "\n"


def write_preset(
    name: str, text: str, *, force: bool = False, directory: Path | None = None
) -> Path:
    """Write ``NAME.toml`` into the user's preset directory, after checking it loads.

    An existing user preset, or a shipped one the new file would hide, is replaced only with
    ``force`` (the replaced file is kept as ``NAME.toml.old``).
    """
    from ukl_tui.kconfig.model import write_atomic
    from ukl_tui.presets import parse_preset, user_dir

    check_name(name)
    folder = directory or user_dir()
    target = folder / f"{name}.toml"
    parse_preset(text, str(target), name)  # what we write must load
    if not force:
        if target.exists():
            raise UserError(f"{target}: a preset of that name exists (--force replaces it)")
        catalogue = Catalogue(user=folder)
        shipped = {i.name for i in catalogue.infos() if i.shipped}
        if name in shipped:
            raise UserError(
                f"{name!r} is a shipped preset: pick another name (--force hides the shipped one)"
            )
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(target, text, keep_old=True)
    return target


# ----- importing fragments ---------------------------------------------------------------------


@dataclass
class Imported:
    """A fragment turned into preset values, and the lines that could not be taken."""

    values: dict[str, str]
    unknown: list[tuple[int, str]]  # (line, symbol) the tree does not define
    dot: DotConfig


def read_fragment(path: Path) -> DotConfig:
    """A fragment or savedefconfig file: assignments and comments only, at least one of them."""
    dot = read_dotconfig(path)
    if dot.garbage:
        line, text = dot.garbage[0]
        raise UserError(
            f"{path}:{line}: neither a config fragment nor a .config (not an assignment or "
            f"comment: {text.strip()[:60]!r})"
        )
    if not dot.assignments:
        raise UserError(f"{path}: no CONFIG_ assignments: neither a config fragment nor a .config")
    return dot


def import_fragment(path: Path, tree: Tree | None) -> Imported:
    """The file's assignments as preset values; with a tree, checked and unknowns set apart."""
    dot = read_fragment(path)
    values: dict[str, str] = {}
    unknown: list[tuple[int, str]] = []
    for name, assignment in dot.assignments.items():
        if tree is not None:
            if not tree.has(name):
                unknown.append((assignment.line, name))
                continue
            try:
                values[name] = tree.normalise(name, assignment.value)
            except UserError as exc:
                raise UserError(f"{path}:{assignment.line}: {exc.message}") from None
        else:
            values[name] = assignment.value
    return Imported(values, sorted(unknown), dot)


__all__ = [
    "BaseChoice",
    "Imported",
    "SavedPreset",
    "base_snapshot",
    "check_name",
    "default_summary",
    "import_fragment",
    "make_preset",
    "own_network",
    "preset_text",
    "read_fragment",
    "write_preset",
]
