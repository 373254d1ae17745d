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

#: Modules that contribute subcommands (each has ``register(subparsers) -> None``) and the
#: commands each registers. A command named first on the command line loads only its own
#: module: ``ukl-tui diff`` need not import the run machinery (asyncio, the runner, the
#: diagnosis: ~0.1 s of every command otherwise). tests/test_cli_commands.py keeps this
#: table equal to what the modules register.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "ukl_tui.cli_kconfig": ("explain", "apply", "verify"),
    "ukl_tui.cli_presets": ("presets", "check", "export-fragment"),
    "ukl_tui.cli_preset_save": ("preset",),
    "ukl_tui.cli_diff": ("diff",),
    "ukl_tui.cli_plan": ("plan", "initramfs"),
    "ukl_tui.cli_run": ("run",),
    "ukl_tui.cli_runs": ("runs",),
}


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors exit 2 with one line, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print a one-line usage error instead of the whole usage block."""
        sys.stderr.write(f"ukl-tui: {message} (see 'ukl-tui --help')\n")
        raise SystemExit(2)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Assemble the parser from every command module that is present, or only from the one
    that registers ``command`` (see :data:`COMMAND_MODULES`).
    """
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
    modules = [m for m, names in COMMAND_MODULES.items() if command in names] or COMMAND_MODULES
    for name in modules:
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
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(words)
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
