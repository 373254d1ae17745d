"""The command table of ``cli.py``: what each module registers, and loading only one.

``ukl-tui COMMAND`` imports only COMMAND's module (its start-up then skips the run
machinery); the table saying which module holds which command must match what the modules
really register, or a command would vanish from the fast path.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from ukl_tui.cli import COMMAND_MODULES, build_parser


def commands(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_the_table_is_what_the_modules_register():
    everything = commands(build_parser())
    assert everything == [name for names in COMMAND_MODULES.values() for name in names]
    for names in COMMAND_MODULES.values():
        for name in names:
            assert commands(build_parser(name)) == list(names)


@pytest.mark.parametrize(
    ("command", "absent"),
    [("diff", "ukl_tui.run_session"), ("apply", "ukl_tui.history"), ("plan", "asyncio")],
)
def test_a_command_loads_only_its_own_module(command, absent):
    code = (
        "import sys\n"
        "from ukl_tui.cli import main\n"
        f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        f"print({absent!r} in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines()[-1] == "False", done.stdout[-500:]


def test_no_command_or_an_unknown_one_sees_every_command(capsys):
    with pytest.raises(SystemExit):
        build_parser("nope").parse_args(["nope"])
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and "'runs'" in err
