"""Arguments and helpers every subcommand that reads a kernel tree shares."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ukl_tui.errors import UserError


def add_tree_arguments(parser: argparse.ArgumentParser, config: bool = True) -> None:
    """``--tree``, ``--config`` and ``--overlay``, identical across subcommands."""
    parser.add_argument(
        "--tree",
        help="kernel tree or ukl checkout (default: the current directory if it is one, "
        "else $UKL_DIR)",
    )
    if config:
        parser.add_argument(
            "--config",
            help=".config to start from (default: the tree's .config, else its defaults)",
        )
    parser.add_argument(
        "--overlay",
        action="append",
        default=[],
        metavar="KCONFIG",
        help="extra Kconfig file sourced after the tree's own (e.g. a UKL stand-in)",
    )
    parser.add_argument(
        "--cc",
        metavar="WORDS",
        help="the CC= the kernel's make gets, when it wraps the compiler ('ccache gcc', "
        "'distcc gcc'): Kconfig reads $(CC) and its version (a plan passes it for you)",
    )


def tree_path(args: argparse.Namespace) -> Path:
    """The tree the user means, in the wizard's order (``workspace.locate_tree``)."""
    from ukl_tui.workspace import locate_tree

    path, _ = locate_tree(args.tree)
    if path is None:
        raise UserError(
            "no kernel tree: give --tree, run this inside a kernel tree or ukl checkout, "
            "or set $UKL_DIR"
        )
    return path


def open_tree(args: argparse.Namespace) -> Any:
    """Load the tree named by the arguments (imported lazily: kconfiglib is a big module)."""
    from ukl_tui.kconfig import load_tree

    return load_tree(
        tree_path(args),
        config=getattr(args, "config", None),
        overlays=args.overlay,
        cc=getattr(args, "cc", None),
    )


def parse_assignment(text: str) -> tuple[str, str]:
    """``SYM=VAL`` (a ``CONFIG_`` prefix is allowed) into a pair; anything else is bad input."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if name.startswith("CONFIG_"):
        name = name[len("CONFIG_") :]
    if not sep or not name or not name.replace("_", "").isalnum():
        raise UserError(f"--set {text!r}: expected SYMBOL=VALUE, e.g. --set RANDOMIZE_BASE=n")
    return name, value


def print_json(data: Any) -> None:
    """JSON for scripts, on stdout."""
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
