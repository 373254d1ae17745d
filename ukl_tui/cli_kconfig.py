"""``ukl-tui explain``, ``apply`` and ``verify``: the Kconfig model from the command line."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ukl_tui.cli_common import add_tree_arguments, open_tree, parse_assignment, print_json


def register(sub: Any) -> None:
    """Add the subcommands of this module."""
    explain = sub.add_parser(
        "explain",
        help="value, dependencies and why of one symbol",
        description="Explain a symbol: value, type, prompt, where it is defined, its "
        "dependencies with their values, what selects or implies it, and why other values "
        "are not possible.",
    )
    add_tree_arguments(explain)
    explain.add_argument("symbol", help="symbol name (CONFIG_ prefix optional)")
    explain.add_argument("--want", help="explain why the symbol cannot have this value")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.set_defaults(func=cmd_explain)

    apply = sub.add_parser(
        "apply",
        help="set values (and presets) and write .config, reporting what did not stick",
        description="Set values, let Kconfig settle, verify each one, write .config "
        "atomically (the previous file kept as .config.old). With --preset, each preset "
        "symbol is reported applied / already / NOT STUCK / not in tree; --set values win "
        "over the presets and are reported as overriding them. Exit 0 when every value took, "
        "1 when one did not (or a required symbol is missing), 2 on bad input.",
    )
    add_tree_arguments(apply)
    apply.add_argument("--out", help="where to write (default: the tree's .config)")
    apply.add_argument(
        "--preset",
        dest="presets",
        action="append",
        default=[],
        metavar="NAME",
        help="preset to apply (repeatable or comma-separated; see 'ukl-tui presets')",
    )
    apply.add_argument(
        "--base",
        nargs="?",
        const=True,
        default=False,
        metavar="NAME",
        help="start from the presets' base configuration (or NAME: defconfig, tinyconfig) "
        "instead of the current .config; a tree without .config starts from it anyway",
    )
    apply.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="SYM=VAL",
        help="a value to set (repeatable)",
    )
    apply.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    apply.add_argument("--json", action="store_true", help="machine-readable output")
    apply.set_defaults(func=cmd_apply)

    verify = sub.add_parser(
        "verify",
        help="compare ukl-tui's .config with the tree's own make olddefconfig",
        description="Run the tree's own C configurator (make -s O=<temp dir> ARCH=x86_64 "
        "olddefconfig, in a temporary shadow of the tree: the tree and your files are never "
        "touched) on the same .config and compare its result with what ukl-tui writes, "
        "symbol by symbol. Exit 0 when they agree, 1 when any symbol differs (each is "
        "printed with both values), 2 when the host cannot build the C tool.",
    )
    add_tree_arguments(verify)
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.add_argument(
        "--written",
        metavar="FILE",
        help="no C tool run: --config is a .config the kernel's olddefconfig already settled "
        "and FILE the one ukl-tui wrote; exit 1 when a symbol changed or a UKL rule fails "
        "(the plan's check step)",
    )
    verify.set_defaults(func=cmd_verify)


def cmd_explain(args: argparse.Namespace) -> int:
    """Print the explanation of one symbol."""
    name = args.symbol.removeprefix("CONFIG_")
    tree = open_tree(args)
    exp = tree.why(name, args.want)
    if args.json:
        print_json(dataclasses.asdict(exp) | {"fixes": exp.fixes()})
    else:
        print("\n".join(exp.lines()))
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    """Set the requested values, verify, write; exit 1 when one did not stick."""
    wanted = dict(parse_assignment(a) for a in args.assignments)
    if args.presets or args.base is not False:
        return _apply_presets(args, wanted)
    tree = open_tree(args)
    for name, value in wanted.items():
        tree.normalise(name, value)  # every value is validated before anything changes
    results = tree.set_many(wanted)
    written = None
    if not args.dry_run:
        target = Path(args.out) if args.out else tree.srctree / ".config"
        written = tree.write_config(target)
    failed = [r for r in results if not r.took]
    if args.json:
        print_json(
            {
                "results": [dataclasses.asdict(r) for r in results],
                "written": str(written) if written else None,
                "ok": not failed,
            }
        )
    else:
        for result in results:
            print(result.line())
            _print_blockers(result.blockers)
        if written:
            note = f" ({len(failed)} value(s) did not stick)" if failed else ""
            print(f"wrote {written}{note}")
    return 1 if failed else 0


def _print_blockers(blockers: Any) -> None:
    for term in blockers:
        fix = " ".join(f"{k}={v}" for k, v in term.fix)
        print(f"             blocked by {term.describe()}" + (f"; fix: {fix}" if fix else ""))


def _apply_presets(args: argparse.Namespace, wanted: dict[str, str]) -> int:
    """``apply --preset``: the per-symbol report; ``--set`` values are the user's own."""
    from ukl_tui.errors import UserError
    from ukl_tui.presets import apply_presets, load_presets

    presets = load_presets(args.presets) if args.presets else []
    if args.base is True and not presets:
        raise UserError("--base without a NAME needs --preset (or say --base tinyconfig)")
    tree = open_tree(args)
    # A tree without a .config starts from the presets' base, as the preset file says.
    base = args.base if args.base is not False else tree.loaded_from is None
    report = apply_presets(tree, presets, hand_edits=wanted, base=base)
    written = None
    if not args.dry_run:
        target = Path(args.out) if args.out else tree.srctree / ".config"
        written = tree.write_config(target)
    failed = report.failed
    if args.json:
        print_json(
            {
                "presets": list(report.presets),
                "base": report.base,
                "outcomes": [dataclasses.asdict(o) for o in report.outcomes],
                "clashes": [dataclasses.asdict(c) for c in report.clashes],
                "boot": dataclasses.asdict(report.boot),
                "results": [dataclasses.asdict(r) for r in report.results],
                "written": str(written) if written else None,
                "ok": not failed,
            }
        )
        return 1 if failed else 0
    if presets:
        chain = ", ".join(dict.fromkeys(n for p in presets for n in p.chain))
        print(f"presets: {', '.join(report.presets)} (with {chain})")
    if report.base:
        print(f"base: {report.base}")
    for outcome in report.outcomes:
        print(outcome.line())
        if outcome.status == "not-stuck":
            _print_blockers(outcome.blockers)
    if report.clashes:
        print(f"{len(report.clashes)} preset value(s) overridden by your --set values")
    boot = report.boot
    if boot.cmdline or boot.qemu_cpu_flags or boot.gdb:
        parts = [f"kernel parameters: {boot.cmdline_text}"] if boot.cmdline else []
        if boot.qemu_cpu_flags:
            parts.append(f"QEMU -cpu flags: {boot.cpu_arg}")
        if boot.gdb:
            parts.append("QEMU gdb stub")
        print("boot: " + "; ".join(parts))
    if written:
        note = f" ({len(failed)} value(s) did not stick or are missing)" if failed else ""
        print(f"wrote {written}{note}")
    return 1 if failed else 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Compare with the tree's own ``make olddefconfig``; exit 1 on any difference."""
    from ukl_tui.errors import UserError
    from ukl_tui.kconfig.verify import host_problem, verify

    if args.written:
        from ukl_tui.cli_common import tree_path
        from ukl_tui.settled import report_settled

        if not args.config:
            raise UserError("--written needs --config: the .config olddefconfig settled")
        return report_settled(
            tree_path(args), Path(args.config), Path(args.written), args.overlay, args.cc
        )
    problem = host_problem()  # before the tree is read: a missing tool is a one-line exit 2
    if problem:
        raise UserError(problem)
    tree = open_tree(args)
    source = tree.loaded_from
    result = verify(tree, source.read_text(errors="replace") if source else "")
    what = str(source) if source else "the tree's defaults"
    if args.json:
        print_json(
            {
                "tree": str(tree.srctree),
                "config": str(source) if source else None,
                "equal": result.equal,
                "symbols": result.symbols,
                "differences": [dataclasses.asdict(d) for d in result.differences],
            }
        )
    elif result.equal:
        print(
            f"ukl-tui and the tree's own make olddefconfig agree on all {result.symbols} "
            f"symbols ({what})"
        )
    else:
        for difference in result.differences:
            print(f"DIFFERS    {difference.line()}")
        print(
            f"{len(result.differences)} of {result.symbols} symbols differ between ukl-tui and "
            f"the tree's own make olddefconfig ({what}): ukl-tui's model does not match this "
            "tree; trust the tree's tool"
        )
    return 0 if result.equal else 1
