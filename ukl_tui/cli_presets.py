"""``ukl-tui presets``, ``ukl-tui check`` and ``ukl-tui export-fragment``.

``check`` is the rules engine from the command line: it loads the tree and ``.config``,
applies presets and ``--set`` values in memory only (nothing is written), and reports every
conflict with its fix. Exit 0 when there is no error (warnings and notes are printed),
1 with errors (with ``--strict``, warnings too: for CI), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ukl_tui.cli_common import add_tree_arguments, open_tree, parse_assignment, print_json
from ukl_tui.errors import UserError


def register(sub: Any) -> None:
    """Add the subcommands of this module."""
    presets = sub.add_parser(
        "presets",
        help="list the presets: name, summary, file",
        description="List shipped presets and the user's own (from the user config directory's "
        "presets/ folder; a user preset overrides a shipped one of the same name).",
    )
    presets.add_argument("--json", action="store_true", help="machine-readable output")
    presets.set_defaults(func=cmd_presets)

    check = sub.add_parser(
        "check",
        help="find UKL conflicts (KASLR, PTI, SMAP/SMEP, unquoted strings, ...) with fixes",
        description="Check a configuration (and optionally presets applied in memory, the "
        "kernel command line and QEMU's -cpu value) for everything that silently breaks a UKL "
        "build or boot. Nothing is written. Exit 0 without errors (warnings are shown), 1 with "
        "errors (and with warnings under --strict), 2 on bad input.",
    )
    add_tree_arguments(check)
    _add_preset_arguments(check)
    check.add_argument("--cmdline", help="kernel command line to check (default: the presets')")
    check.add_argument(
        "--qemu-cpu", help="QEMU -cpu value to check, e.g. max,-smap,-smep (default: presets')"
    )
    check.add_argument("--trigger", help="exec path the initrd runs (checked against UKL_NAME)")
    check.add_argument("--initrd", help="initrd file: its compression must be supported")
    check.add_argument(
        "--fragment",
        action="append",
        default=[],
        metavar="FILE",
        help="config fragment merged on top (repeatable); its unknown symbols are reported",
    )
    check.add_argument(
        "--ukl",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a UKL kernel is the goal (default: when asked for or the tree defines it)",
    )
    check.add_argument("--strict", action="store_true", help="warnings fail too (exit 1): for CI")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=cmd_check)

    export = sub.add_parser(
        "export-fragment",
        help="print a preset as a fragment for the kernel's merge_config.sh",
        description="Print the Kconfig values of presets as a merge_config.sh fragment "
        "(CONFIG_X=y, '# CONFIG_X is not set', quoted strings). With --tree, renamed symbols "
        "take the tree's name and symbols it lacks become comments (exit 1 if one is required).",
    )
    export.add_argument("names", nargs="+", metavar="NAME", help="preset name(s) or .toml files")
    export.add_argument("--tree", help="kernel tree or ukl checkout to resolve names against")
    export.add_argument(
        "--overlay",
        action="append",
        default=[],
        metavar="KCONFIG",
        help="extra Kconfig file sourced after the tree's own (e.g. a UKL stand-in)",
    )
    export.add_argument("--out", help="write the fragment here instead of stdout")
    export.set_defaults(func=cmd_export_fragment)


def _add_preset_arguments(parser: argparse.ArgumentParser) -> None:
    """``--preset``, ``--base`` and ``--set``, shared by ``check`` (``apply`` has its own)."""
    parser.add_argument(
        "--preset",
        dest="presets",
        action="append",
        default=[],
        metavar="NAME",
        help="preset to apply in memory (repeatable or comma-separated; a .toml path works)",
    )
    parser.add_argument(
        "--base",
        nargs="?",
        const=True,
        default=False,
        metavar="NAME",
        help="start from the presets' base configuration, or NAME (defconfig, tinyconfig)",
    )
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="SYM=VAL",
        help="a value of your own (repeatable): wins over the presets",
    )


def cmd_presets(args: argparse.Namespace) -> int:
    """List presets; broken ones are reported on stderr (exit 2) after the good ones."""
    from ukl_tui.presets import Catalogue

    catalogue = Catalogue()
    good, bad = catalogue.load_all()
    if args.json:
        print_json(
            {
                "presets": [
                    {
                        "name": p.name,
                        "summary": p.summary,
                        "source": p.source,
                        "shipped": p.shipped,
                        "overrides": p.overrides,
                        "extends": list(p.extends),
                        "chain": list(p.chain),
                        "base": p.base,
                        "kernel": p.kernel,
                        "kconfig": p.kconfig(),
                        "required": p.required,
                        "boot": p.boot.to_dict(),
                    }
                    for p in good
                ],
                "errors": [e.message for e in bad],
            }
        )
    else:
        width = max((len(p.name) for p in good), default=0) + 2
        for p in good:
            print(f"{p.name:<{width}}{p.summary}")
            origin = "shipped" if p.shipped else "user"
            extra = [f"extends {', '.join(p.extends)}"] if p.extends else []
            if p.base:
                extra.append(f"base {p.base}")
            if p.kernel:
                extra.append(f"made on Linux {p.kernel}")
            if p.overrides:
                extra.append(f"overrides the shipped {p.overrides}")
            tail = f" ({'; '.join(extra)})" if extra else ""
            print(f"{'':<{width}}{origin}: {p.source}{tail}")
        if not good:
            print("no presets found")
    for error in bad:
        sys.stderr.write(f"ukl-tui: {error.message}\n")
    return 2 if bad else 0


def _check_context(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """Load, apply in memory, build the rules' context; also say what was not checked."""
    from ukl_tui.kconfig.dotconfig import read_dotconfig
    from ukl_tui.presets import apply_presets, load_presets
    from ukl_tui.rules import Context, detect_compression

    hand = dict(parse_assignment(a) for a in args.assignments)
    presets = load_presets(args.presets) if args.presets else []
    if args.base is True and not presets:
        raise UserError("--base without a NAME needs --preset (or say --base tinyconfig)")
    tree = open_tree(args)
    fragments = []
    for name in args.fragment:
        path = Path(name)
        scan = read_dotconfig(path)
        tree.load_fragment(path)
        fragments.append(scan)
    initrd = detect_compression(Path(args.initrd)) if args.initrd else None
    kw: dict[str, Any] = {
        "fragments": fragments,
        "wanted_ukl": args.ukl,
        "trigger": args.trigger,
        "initrd_compression": initrd,
    }
    if args.cmdline is not None:
        kw["cmdline"] = args.cmdline
    if args.qemu_cpu is not None:
        kw["qemu_cpu"] = args.qemu_cpu
    if presets or args.base is not False:
        base = args.base if args.base is not False else tree.loaded_from is None
        report = apply_presets(tree, presets, hand_edits=hand, base=base)
        context = Context.for_report(tree, report, **kw)
    else:
        tree.set_many(hand)
        context = Context(tree=tree, wanted=hand, **kw)
    unchecked = []
    if context.cmdline is None:
        unchecked.append("kernel command line (--cmdline)")
    if context.qemu_cpu is None:
        unchecked.append("QEMU -cpu (--qemu-cpu)")
    return context, unchecked


def cmd_check(args: argparse.Namespace) -> int:
    """Report conflicts with fixes; exit 1 on an error (or a warning with ``--strict``)."""
    from ukl_tui.rules import check, failing

    context, unchecked = _check_context(args)
    conflicts = check(context)
    bad = failing(conflicts, strict=args.strict)
    if args.json:
        print_json(
            {
                "conflicts": [c.to_dict() for c in conflicts],
                "ok": not bad,
                "ukl_wanted": context.ukl_wanted,
                "not_checked": unchecked,
            }
        )
        return 1 if bad else 0
    for conflict in conflicts:
        print("\n".join(conflict.lines()))
    counts = {s: sum(c.severity == s for c in conflicts) for s in ("error", "warning", "info")}
    if conflicts:
        print(
            f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s)"
        )
    else:
        print("no conflicts")
    if unchecked:
        print(f"not checked: {', '.join(unchecked)}")
    return 1 if bad else 0


def cmd_export_fragment(args: argparse.Namespace) -> int:
    """Print (or write) the fragment; exit 1 when the tree lacks a required symbol."""
    from ukl_tui.presets import combine, fragment_text, load_presets

    preset = combine(load_presets(args.names))
    tree = None
    if args.tree:
        from ukl_tui.kconfig import load_tree

        tree = load_tree(Path(args.tree), overlays=args.overlay)
    text, missing = fragment_text(preset, tree)
    if args.out:
        from ukl_tui.kconfig.model import write_atomic

        write_atomic(Path(args.out).absolute(), text, keep_old=False)
    else:
        sys.stdout.write(text)
    if missing:
        names = ", ".join(v.name for v in missing)
        sys.stderr.write(f"ukl-tui: required by the preset but not in this tree: {names}\n")
        return 1
    return 0
