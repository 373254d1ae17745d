"""The ``ukl-tui`` command line: the wizard with no arguments, scriptable subcommands otherwise.

Each group of subcommands lives in its own ``cli_*`` module with a ``register(subparsers)``
function, so the parser stays small and a subcommand imports only what it needs: the CLI
must never pull in Textual unless the wizard itself is started.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ukl_tui import __version__
from ukl_tui.errors import UserError

#: Modules that contribute subcommands; each has ``register(subparsers) -> None``.
COMMAND_MODULES = (
    "ukl_tui.cli_kconfig",
    "ukl_tui.cli_presets",
    "ukl_tui.cli_preset_save",
    "ukl_tui.cli_diff",
    "ukl_tui.cli_plan",
    "ukl_tui.cli_run",
    "ukl_tui.cli_runs",
)


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors exit 2 with one line, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print a one-line usage error instead of the whole usage block."""
        sys.stderr.write(f"ukl-tui: {message} (see 'ukl-tui --help')\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """Assemble the parser from every command module that is present."""
    parser = _Parser(
        prog="ukl-tui",
        description="From a Unikernel Linux checkout to a booted unikernel, without menuconfig.",
    )
    parser.add_argument("--version", action="version", version=f"ukl-tui {__version__}")
    # The wizard's own options use their own dests: argparse lets a subcommand's defaults
    # overwrite the main parser's values when both use the same dest.
    parser.add_argument(
        "--tree",
        dest="wizard_tree",
        help="kernel tree or ukl checkout (default: . if it is one, else $UKL_DIR)",
    )
    parser.add_argument("--config", dest="wizard_config", help=".config to start from")
    parser.add_argument("--plan", dest="wizard_plan", help="open the wizard from a saved plan")
    parser.add_argument(
        "--overlay",
        dest="wizard_overlay",
        action="append",
        default=[],
        metavar="KCONFIG",
        help="extra Kconfig file sourced after the tree's own (e.g. a UKL stand-in)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: dispatch to a subcommand or start the wizard; map errors to exit codes."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from ukl_tui.app import run_wizard

            return run_wizard(args)
        return int(args.func(args) or 0)
    except UserError as exc:
        sys.stderr.write(f"ukl-tui: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("ukl-tui: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
