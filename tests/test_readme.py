"""The README's two set-up commands are the ones CI really runs, under a time limit."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: CI gives a run 90 minutes; .ci/run must end before that, whatever hangs.
CI_MINUTES = 90


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[0] == "```sh" and lines[3] == "```"
    install, test = lines[1], lines[2]
    assert "ukl-tui" in install and "pip install" in install
    assert "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci


def test_ci_runs_the_tests_under_an_overall_time_limit() -> None:
    text = (ROOT / ".ci" / "run").read_text()
    limits = re.findall(r"^timeout (?:--\S+ )*(\d+)m ", text, re.MULTILINE)
    assert len(limits) == 1, "the test command runs under exactly one overall timeout"
    assert int(limits[0]) < CI_MINUTES
    # The README's line is the script timeout runs (a quoted here-document), not a comment.
    test = (ROOT / "README.md").read_text().splitlines()[2]
    assert f"<<'README'\n{test}\nREADME\n" in text
