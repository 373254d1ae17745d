"""``ukl-tui explain`` and ``ukl-tui apply``: the Kconfig model from the command line."""

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
        "atomically (the previous file kept as .config.old). Exit 0 when every value took, "
        "1 when one did not, 2 on bad input.",
    )
    add_tree_arguments(apply)
    apply.add_argument("--out", help="where to write (default: the tree's .config)")
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
            for term in result.blockers:
                fix = " ".join(f"{k}={v}" for k, v in term.fix)
                print(
                    f"             blocked by {term.describe()}" + (f"; fix: {fix}" if fix else "")
                )
        if written:
            note = f" ({len(failed)} value(s) did not stick)" if failed else ""
            print(f"wrote {written}{note}")
    return 1 if failed else 0
