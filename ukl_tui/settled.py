"""After the kernel's own ``make olddefconfig``: did the values ukl-tui wrote stick?

ukl-tui writes the .config it verified (``apply``), then the plan lets the kernel's own tool
settle it. If the tree holds Kconfig the model does not follow exactly, the C tool would
change values silently and the kernel would build with something else than what ukl-tui
reported. So the plan copies what ukl-tui wrote aside (``<.config>.ukl-tui``), and after
olddefconfig a check step re-reads the settled file: every symbol must have the value
ukl-tui wrote (values and presence) and the UKL rules must still pass. On a difference the
step fails and the run stops there, listing the symbols; ``ukl-tui run --ignore-conflicts``
(``$UKL_TUI_IGNORE_CONFLICTS`` for the steps) lets it go on with a warning.

``with_settle_check`` is the one hook the plan's recipe calls; the rest is here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ukl_tui.errors import UserError
from ukl_tui.kconfig.verify import Difference, compare
from ukl_tui.steps import Step

#: Set (to anything) by ``ukl-tui run --ignore-conflicts``: the check reports, then passes.
IGNORE_ENV = "UKL_TUI_IGNORE_CONFLICTS"


def written_copy(dot: Path) -> Path:
    """Where the plan keeps the .config exactly as ukl-tui wrote it."""
    return dot.with_name(dot.name + ".ukl-tui")


@dataclass(frozen=True)
class SettleReport:
    """What changed between ukl-tui's .config and the settled one, and the rule errors."""

    differences: list[Difference]
    errors: list[str]

    @property
    def ok(self) -> bool:
        """True when nothing changed and no rule reports an error."""
        return not self.differences and not self.errors

    def lines(self) -> list[str]:
        """The report, one line per differing symbol or rule error."""
        out = [
            f"CHANGED    {d.name}: ukl-tui wrote {_show(d.ours)}, make olddefconfig left "
            f"{_show(d.theirs)}"
            for d in self.differences
        ]
        out += [f"RULE       {e}" for e in self.errors]
        return out


def _show(value: str | None) -> str:
    return "(nothing)" if value is None else value


def check_settled(
    tree: Path,
    settled: Path,
    written: Path,
    overlays: Sequence[Path] = (),
    cc: str | None = None,
) -> SettleReport:
    """Compare the settled .config with ukl-tui's copy; run the rules on the settled one."""
    from ukl_tui.kconfig import load_tree
    from ukl_tui.rules import Context, check

    try:
        written_text = written.read_text(errors="replace")
        settled_text = settled.read_text(errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read {exc.filename}: {exc.strerror}") from None
    model = load_tree(tree, config=settled, overlays=overlays, cc=cc)
    errors = [
        c.message for c in check(Context(tree=model)) if c.severity == "error"
    ]  # the settled values, judged as any .config is
    return SettleReport(compare(written_text, settled_text), errors)


def check_argv(tree: Path, dot: Path, overlays: Sequence[Path], cc: str | None = None) -> list[str]:
    """``ukl-tui verify --written`` on the settled file, run by the same Python."""
    argv = [sys.executable, "-m", "ukl_tui.cli", "verify", f"--tree={tree}", f"--config={dot}"]
    argv += [f"--overlay={o}" for o in overlays]
    if cc:
        argv.append(f"--cc={cc}")
    argv.append(f"--written={written_copy(dot)}")
    return argv


def with_settle_check(
    steps: list[Step],
    tree: Path,
    dot: Path,
    overlays: Sequence[Path],
    settle_id: str = "olddefconfig",
    cc: str | None = None,
) -> list[Step]:
    """The recipe's steps with the copy (after ``kconfig``) and the check (after the step
    ``settle_id`` that runs the kernel's olddefconfig: ``olddefconfig`` in a plain tree's
    recipe, ``kernel-config`` in a ukl checkout's split build) added; unchanged when either
    step is missing.
    """
    ids = [s.id for s in steps]
    if "kconfig" not in ids or settle_id not in ids:
        return steps
    out: list[Step] = []
    for step in steps:
        out.append(step)
        if step.id == "kconfig":
            out.append(
                Step(
                    id="kconfig-copy",
                    title="Keep the .config as ukl-tui wrote it, to compare after olddefconfig",
                    argv=("cp", "--", str(dot), str(written_copy(dot))),
                    cwd=step.cwd,
                    env={},
                    kind="prep",
                    timeout=60,
                )
            )
        elif step.id == settle_id:
            out.append(
                Step(
                    id="kconfig-check",
                    title="Check the settled .config: every value as ukl-tui wrote it, UKL "
                    "rules pass",
                    argv=tuple(check_argv(tree, dot, overlays, cc)),
                    cwd=step.cwd,
                    env={},
                    kind="prep",
                    timeout=600,
                )
            )
    return out


def report_settled(
    args_tree: Path,
    settled: Path,
    written: Path,
    overlays: Sequence[Path],
    cc: str | None = None,
) -> int:
    """Print the check for the plan's step; exit status 1 on a difference (0 when ignored)."""
    report = check_settled(args_tree, settled, written, overlays, cc)
    for line in report.lines():
        print(line)
    if report.ok:
        print(f"{settled}: every value as ukl-tui wrote it; the UKL rules pass")
        return 0
    what = f"{len(report.differences)} symbol(s) changed, {len(report.errors)} rule error(s)"
    if os.environ.get(IGNORE_ENV):
        print(f"warning: {what} after make olddefconfig; going on (--ignore-conflicts)")
        return 0
    print(
        f"{what} after make olddefconfig: the kernel would not be built as ukl-tui reported "
        "(stop here; 'ukl-tui run --ignore-conflicts' goes on anyway)"
    )
    return 1
