"""``ukl-tui preset save`` and ``ukl-tui preset import``: the user's own presets.

``save`` writes the fewest assignments that turn a base into a configuration (see
``kconfig.minimal``); ``import`` turns a merge fragment or a ``savedefconfig`` file into a
preset. Both write one file into the user's preset directory; bad input (a name that is not
a plain word, a base or file that does not exist, a file that is not a configuration,
configurations of different architectures) is one line, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ukl_tui.cli_common import add_tree_arguments, print_json, tree_path
from ukl_tui.errors import UserError

if TYPE_CHECKING:
    from ukl_tui.boot import NetworkSpec
    from ukl_tui.plan import Plan
    from ukl_tui.presets import Boot


def register(sub: Any) -> None:
    """Add ``preset save`` and ``preset import``."""
    preset = sub.add_parser(
        "preset",
        help="save your configuration as a preset, or import a fragment as one",
        description="Make presets of your own in the user preset directory "
        "($XDG_CONFIG_HOME/ukl-tui/presets).",
    )
    actions = preset.add_subparsers(dest="preset_command", metavar="ACTION", required=True)
    save = actions.add_parser(
        "save",
        help="the fewest assignments that turn a base into this configuration",
        description="Save what you chose (not what follows from it: defaults, selects, "
        "implies and dependencies are left to Kconfig) as a preset. Applying it to its base "
        "gives this configuration back, symbol for symbol; that is checked before writing.",
    )
    save.add_argument("name", metavar="NAME", help="preset name: a plain word, e.g. my-e1000")
    add_tree_arguments(save)
    save.add_argument(
        "--base",
        default=None,
        metavar="BASE",
        help="defconfig, tinyconfig or a .config file (default: the extended preset's base, "
        "else defconfig)",
    )
    save.add_argument(
        "--extends", action="append", default=[], metavar="PRESET", help="build on a preset"
    )
    _add_boot_arguments(save)
    _add_output_arguments(save)
    save.set_defaults(func=cmd_preset_save)

    imp = actions.add_parser(
        "import",
        help="turn a merge_config.sh fragment or a savedefconfig file into a preset",
        description="Each CONFIG_ assignment becomes a preset value. With a tree (--tree, else "
        "the current directory or $UKL_DIR when it is one) values are checked and symbols "
        "the tree does not define are reported by line and left out. A full .config (with "
        "the generated header) is saved as 'preset save --config FILE' would.",
    )
    imp.add_argument("file", metavar="FILE", help="fragment, savedefconfig or .config file")
    imp.add_argument("--name", help="preset name (default: the file name without extension)")
    add_tree_arguments(imp, config=False)
    imp.add_argument(
        "--base", choices=("defconfig", "tinyconfig"), help="the base the preset applies to"
    )
    imp.add_argument("--extends", action="append", default=[], metavar="PRESET")
    _add_output_arguments(imp)
    imp.set_defaults(func=cmd_preset_import)


def _add_boot_arguments(parser: argparse.ArgumentParser) -> None:
    """Boot and network settings for ``preset save``: a saved plan's, and options on top.

    ``--plan`` takes what a session already decided (its kernel parameters, CPU flags and
    network, presets included), the options say it directly; either way the preset keeps
    only what its parents do not already give. The network options are ``plan``'s own.
    """
    from ukl_tui.cli_plan import add_network_options

    boot = parser.add_argument_group(
        "boot and network (saved into the preset's [boot] and [network] tables)"
    )
    boot.add_argument(
        "--plan",
        metavar="FILE",
        help="take the boot and network settings of a saved plan file (ukl-tui.toml), its "
        "presets included; the configuration is still --config or the tree's .config (the "
        "tree defaults to the plan's)",
    )
    boot.add_argument(
        "--cmdline",
        action="append",
        metavar="WORDS",
        help="kernel parameters to add to the parents' (or default) command line, e.g. "
        "'loglevel=7 nokaslr' (repeatable)",
    )
    boot.add_argument(
        "--qemu-cpu-flags",
        metavar="FLAGS",
        help="QEMU -cpu flags to set on top of the parents' (or default) ones, e.g. -smap,+pdpe1gb",
    )
    boot.add_argument("--gdb", action="store_true", help="QEMU's gdb stub on 127.0.0.1:1234")
    add_network_options(boot)


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--summary", help="the one-line summary (default: made up from values)")
    parser.add_argument("--force", action="store_true", help="replace a preset of that name")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the preset instead of writing it"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable report")


def _default_base(extends: list[str]) -> str:
    """The extended presets' base (the last one that names one), else defconfig."""
    from ukl_tui.presets import Catalogue

    catalogue = Catalogue()
    for name in reversed(extends):
        base = catalogue.get(name).base
        if base:
            return base
    return "defconfig"


def _save(args: argparse.Namespace, config: Path | None) -> int:
    from ukl_tui.kconfig import load_tree
    from ukl_tui.kconfig.arch import check_arch
    from ukl_tui.preset_save import BaseChoice, check_name, make_preset

    check_name(args.name)
    base = BaseChoice.parse(args.base or _default_base(args.extends))
    plan = None
    if getattr(args, "plan", None):  # preset import of a full .config has no boot options
        from ukl_tui.plan import Plan

        plan = Plan.load(Path(args.plan).expanduser())
        if not args.tree:
            args.tree = str(plan.tree)
    srctree = tree_path(args)
    if config is None:
        from ukl_tui.kconfig import find_srctree

        config = find_srctree(srctree) / ".config"
        if not config.is_file():
            raise UserError(f"{config}: no such file: name the configuration with --config FILE")
    check_arch([p for p in (config, base.path) if p is not None])
    boot, network = _boot_settings(args, plan, srctree)
    tree = load_tree(srctree, config=config, overlays=args.overlay)
    saved = make_preset(
        tree,
        args.name,
        base,
        args.extends,
        summary=args.summary,
        boot=boot,
        network=network,
        source=str(config),
    )
    return _finish(
        args,
        saved.name,
        saved.text,
        {
            "assignments": saved.assignments,
            "base": saved.base.label,
            "extends": list(saved.extends),
            "config_lines": saved.config_lines,
            "savedefconfig_lines": saved.savedefconfig_lines,
            "boot": saved.boot.to_dict() if saved.boot is not None else None,
        },
    )


def _boot_settings(
    args: argparse.Namespace, plan: Plan | None, srctree: Path
) -> tuple[Boot | None, NetworkSpec | None]:
    """The whole boot (kernel command line, CPU flags, gdb) and network the preset should
    give, or None for each the user said nothing about; every value checked first.

    Without ``--plan`` the start is what the extended presets give (their command line and
    CPU flags, else the defaults, and their network); with it, the plan's boot. Options go
    on top: ``--cmdline`` words are added, ``--qemu-cpu-flags`` set, the network options
    change the network as ``ukl-tui plan`` would.
    """
    from ukl_tui.boot import add_cpu_flags, check_cpu_flag, check_param
    from ukl_tui.cli_plan import network_change
    from ukl_tui.plan import Plan
    from ukl_tui.presets import Boot, Catalogue, merge_boot

    if not hasattr(args, "cmdline"):  # preset import: no boot options
        return None, None
    catalogue = Catalogue()
    parents = merge_boot(catalogue.get(name).boot for name in args.extends)
    if plan is not None:
        spec = plan.boot_spec(merge_boot(p.boot for p in plan.load_presets()))
    else:
        spec = Plan(tree=srctree).boot_spec(parents)
    words = [w for item in args.cmdline or () for w in item.split()]
    flags = [f for f in (args.qemu_cpu_flags or "").split(",") if f]
    for word in words:
        check_param(word)
    for flag in flags:
        check_cpu_flag(flag)
    net_options = any(
        getattr(args, k) is not None
        for k in ("net", "ip", "gateway", "forward", "address_via", "mac", "tap", "bridge", "nic")
    )
    boot = None
    if plan is not None or words or flags or args.gdb:
        cmdline = [*spec.cmdline_base, *spec.extra_params]
        cmdline += [w for w in words if w not in cmdline]
        cpu = add_cpu_flags(",".join(spec.qemu_cpu_flags), flags)
        boot = Boot(tuple(cmdline), tuple(f for f in cpu.split(",") if f), spec.gdb or args.gdb)
    network = None
    if plan is not None or net_options:
        network, _ = network_change(args, spec.network)
        network.validate(check_ports=False)
    return boot, network


def _finish(args: argparse.Namespace, name: str, text: str, report: dict[str, Any]) -> int:
    """Print or write the preset, then the report."""
    from ukl_tui.preset_save import write_preset

    if args.dry_run:
        sys.stdout.write(text)
        return 0
    path = write_preset(name, text, force=args.force)
    if args.json:
        print_json({"name": name, "written": str(path), **report})
        return 0
    count = len(report["assignments"])
    extra = ""
    if "config_lines" in report:
        extra = (
            f" (the .config has {report['config_lines']} lines, savedefconfig "
            f"{report['savedefconfig_lines']})"
        )
    print(f"wrote {path}: {count} assignment(s){extra}")
    return 0


def cmd_preset_save(args: argparse.Namespace) -> int:
    """``preset save NAME``."""
    return _save(args, Path(args.config).expanduser() if args.config else None)


def cmd_preset_import(args: argparse.Namespace) -> int:
    """``preset import FILE``: a fragment as a preset; a full .config as ``preset save``."""
    from ukl_tui.preset_save import BaseChoice, check_name, import_fragment, preset_text

    path = Path(args.file).expanduser()
    name = check_name(args.name or path.name.split(".")[0].lower() or "imported")
    args.name = name
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    from ukl_tui.workspace import locate_tree

    tree = None
    if locate_tree(args.tree)[0] is not None or args.tree:
        from ukl_tui.kconfig import load_tree

        if _is_full_config(path):
            args.config = str(path)
            return _save(args, path)
        from ukl_tui.kconfig.arch import check_arch
        from ukl_tui.preset_save import read_fragment

        read_fragment(path)
        check_arch([path])
        tree = load_tree(tree_path(args), overlays=args.overlay)
    elif _is_full_config(path):
        raise UserError(f"{path}: a full .config: name its kernel tree with --tree to import it")
    imported = import_fragment(path, tree)
    for line, symbol in imported.unknown:
        sys.stderr.write(f"ukl-tui: {path}:{line}: CONFIG_{symbol} is not defined by this tree\n")
    base = BaseChoice(args.base, args.base) if args.base else None
    values = imported.values
    summary = args.summary or f"imported from {path.name}: {len(values)} value(s)"
    text = preset_text(
        tree,
        name=name,
        summary=" ".join(summary.split()),
        base=base,
        extends=tuple(args.extends),
        assignments=values,
        header=[f"Imported by ukl-tui from {path}."],
        trailer=[
            f"line {line}: {symbol} is not defined by {tree.mainmenu}"  # type: ignore[union-attr]
            for line, symbol in imported.unknown
        ],
    )
    if args.extends:
        from ukl_tui.presets import Catalogue

        catalogue = Catalogue()
        for parent in args.extends:
            catalogue.get(parent)
    return _finish(
        args,
        name,
        text,
        {"assignments": values, "unknown": [{"line": n, "symbol": s} for n, s in imported.unknown]},
    )


def _is_full_config(path: Path) -> bool:
    """A ``.config`` the kernel wrote starts with its generated header."""
    try:
        head = path.read_text(errors="replace")[:300]
    except OSError:
        return False
    return "# Automatically generated file; DO NOT EDIT." in head
