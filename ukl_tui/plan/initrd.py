"""The recipe for the initrd: ukl's own (Docker), ukl-tui's minimal busybox one, or a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ukl_tui.apps import App
from ukl_tui.plan.common import MINIMAL_INITRD, UKL_INITRD, absolute
from ukl_tui.steps import Step

if TYPE_CHECKING:
    from ukl_tui.workspace import Workspace


def initrd_steps(
    choice: str,
    ws: Workspace,
    app: App | None,
    old_app: App | None,
    build_dir: Path,
    trigger: str,
    warnings: list[str],
) -> tuple[Path | None, list[Step]]:
    """The initrd the boot uses and the steps that make it.

    ``choice`` is ``auto``, ``ukl`` (ukl's Docker-built one), ``minimal`` (ukl-tui's busybox
    one, which execs ``trigger``) or a file. Warnings the user should read are appended.
    """
    ukl_file = ws.root / UKL_INITRD
    if choice == "auto":
        choice = "ukl" if ws.is_ukl and ukl_file.is_file() else "minimal"
    if choice == "ukl":
        steps: list[Step] = []
        changed = app is not None and old_app is not None and old_app.name != app.name
        if not ukl_file.is_file() or changed:
            warnings.append(
                "ukl's initrd is built in Docker with 'docker exec -it', which needs a "
                "terminal, and needs perf (ukl issue #38): if that step fails, build it by "
                "hand once (make ukl-initrd.cpio.xz) or use --initrd minimal"
            )
            steps.append(
                Step(
                    id="ukl-initrd",
                    title="Build ukl's initrd (Docker)",
                    argv=("make", UKL_INITRD),
                    cwd=str(ws.root),
                    env={},
                    kind="build",
                    timeout=None,
                )
            )
        return ukl_file, steps
    if choice == "minimal":
        from ukl_tui.initramfs import init_script

        init_script(trigger)  # the trigger goes into the init script: checked now
        out = build_dir / MINIMAL_INITRD
        argv = [
            sys.executable,
            "-m",
            "ukl_tui.cli",
            "initramfs",
            f"--out={out}",
            f"--trigger={trigger}",
        ]
        if app is not None:
            argv.append("--placeholder")
        step = Step(
            id="initramfs",
            title=f"Build ukl-tui's minimal initramfs (busybox, prints UKL BOOTED, runs {trigger})",
            argv=tuple(argv),
            cwd=str(ws.root if ws.is_ukl else build_dir),
            env={},
            kind="prep",
            timeout=300,
        )
        return out, [step]
    return absolute(choice), []


# ----- files ---------------------------------------------------------------------------
