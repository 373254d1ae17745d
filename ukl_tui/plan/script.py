"""Steps shown as shell lines and written as a reproducer script (nothing here runs them)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ukl_tui.plan.common import CONTROL_RE
from ukl_tui.steps import Step


def comment_line(text: str) -> str:
    """One safe comment line: control characters (a newline could end the comment) replaced."""
    return "# " + CONTROL_RE.sub("?", text)


def step_lines(steps: Sequence[Step]) -> list[str]:
    """Each step as a comment (number, kind, title) and its copy-pasteable shell line."""
    out: list[str] = []
    for i, step in enumerate(steps, 1):
        out.append(comment_line(f"{i}/{len(steps)} [{step.kind}] {step.id}: {step.title}"))
        if step.expected_failure_note:
            out.append(comment_line(f"expected to fail: {step.expected_failure_note}"))
        out.append(step.shell_line())
    return out


def script_text(steps: Sequence[Step], *, header: str = "") -> str:
    """A bash script that runs the steps in order, stopping at the first failure.

    A step with an ``expected_failure_note`` may fail without stopping the script, like in
    the runner. Every word is quoted by :meth:`Step.shell_line`, so nothing a user typed is
    ever run as shell code.
    """
    from ukl_tui import __version__

    lines = [
        "#!/usr/bin/env bash",
        comment_line(f"Reproducer written by ukl-tui {__version__}."),
        "# Every word is single-quoted on purpose: nothing in it is expanded by the shell.",
        "# shellcheck disable=SC2016",
    ]
    lines += [comment_line(line) for line in header.splitlines()]
    lines += ["set -euo pipefail", ""]
    for i, step in enumerate(steps, 1):
        lines.append(comment_line(f"{i}/{len(steps)} [{step.kind}] {step.id}: {step.title}"))
        line = step.shell_line()
        if step.expected_failure_note:
            lines.append(comment_line(f"expected to fail: {step.expected_failure_note}"))
            note = f"ukl-tui: step {step.id} failed as expected, continuing"
            lines.append(f"( {line} ) || printf '%s\\n' {shlex.quote(note)} >&2")
        else:
            lines.append(line)
        lines.append("")
    return "\n".join(lines)
