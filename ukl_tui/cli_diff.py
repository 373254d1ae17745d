"""``ukl-tui diff A B``: two configurations compared, with what was chosen and what followed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ukl_tui.cli_common import add_tree_arguments, print_json, tree_path


def register(sub: Any) -> None:
    """Add ``diff``."""
    diff = sub.add_parser(
        "diff",
        help="compare two configurations: choices, and the consequences under their cause",
        description="Like scripts/diffconfig, with reasons: each difference is a choice (set "
        "directly) or a consequence (selected, implied, a default, a dependency turned off), "
        "consequences listed under their cause, grouped by menu. Both files are read as "
        "'make olddefconfig' would. Exit 0 whether or not they differ, 2 on bad input.",
    )
    diff.add_argument("a", metavar="A", help="the configuration to compare from")
    diff.add_argument("b", metavar="B", help="the configuration to compare to")
    add_tree_arguments(diff, config=False)
    diff.add_argument(
        "--format",
        choices=("text", "fragment"),
        default="text",
        help="fragment: only the choices, as a merge_config.sh fragment that turns A into B",
    )
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    diff.set_defaults(func=cmd_diff)


def cmd_diff(args: argparse.Namespace) -> int:
    """Print the comparison."""
    from ukl_tui.errors import UserError
    from ukl_tui.kconfig import load_tree
    from ukl_tui.kconfig.compare import compare

    a, b = Path(args.a).expanduser(), Path(args.b).expanduser()
    for path in (a, b):
        if not path.is_file():
            raise UserError(f"{path}: no such configuration file")
    tree = load_tree(tree_path(args), overlays=args.overlay)
    result = compare(tree, a, b, keep_values=False)
    if args.json:
        print_json(result.to_dict())
    elif args.format == "fragment":
        sys.stdout.write(result.fragment())
    else:
        print("\n".join(result.lines()))
    return 0
