"""The recipe for a plain kernel tree: an O= build directory, ukl-tui's .config, kbuild."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ukl_tui.plan.common import ARCH, BUILD_ENV, apply_argv, check_make_path
from ukl_tui.plan.compiler import Compiler
from ukl_tui.steps import Step

if TYPE_CHECKING:
    from ukl_tui.kconfig import Tree
    from ukl_tui.workspace import Workspace


def kernel_steps(
    ws: Workspace,
    build_dir: Path,
    model: Tree | None,
    sets: Mapping[str, str],
    *,
    config: Path | None,
    overlays: Sequence[Path],
    presets: Sequence[str],
    base: str | None,
    compiler: Compiler,
    jobs: int,
) -> tuple[list[Step], Path]:
    """A plain tree's steps: build directory, ukl-tui's .config, olddefconfig, bzImage.

    The build goes to ``O=build_dir`` (the sources stay clean); ``sets`` are the values
    ukl-tui writes (the application's, then the user's edits). Returns the steps and where
    the bzImage will be. ``compiler`` says whether the compiles go through ccache and/or
    distcc (:mod:`.compiler`).
    """
    src = ws.root
    cwd = str(build_dir)
    dot = build_dir / ".config"
    steps = [
        Step(
            id="build-dir",
            title="Create the build directory (O=, outside the source tree)",
            argv=("mkdir", "-p", "--", str(build_dir)),
            cwd=str(src),
            env={},
            kind="prep",
            timeout=60,
        ),
        Step(
            id="kconfig",
            title="Write .config with ukl-tui: presets, application values, your edits",
            argv=tuple(
                apply_argv(
                    tree=src,
                    out=dot,
                    config=config,
                    overlays=overlays,
                    presets=presets,
                    base=base,
                    sets=sets,
                    cc=compiler.cc,
                )
            ),
            cwd=cwd,
            env={},
            kind="prep",
            timeout=600,
        ),
    ]
    make = ["make", "-C", str(src), f"O={build_dir}", f"ARCH={ARCH}"]
    if overlays and model is not None and model.top != "Kconfig":
        # The wrapper Kconfig that sources the overlays; the kconfig step regenerates it
        # at the same path (named by a hash of its content) before make reads it.
        check_make_path("overlay wrapper", Path(model.top))
        make.append(f"KBUILD_KCONFIG={model.top}")
    make += compiler.make_vars()
    steps.append(
        compiler.olddefconfig_step(
            "olddefconfig",
            "Let the kernel's own tools settle the .config (make olddefconfig)",
            make,
            cwd,
        )
    )
    steps += compiler.log_steps(cwd, make_dir=False)
    steps.append(
        Step(
            id="bzImage",
            title=f"Build the kernel (make -j{jobs} bzImage){compiler.describe()}",
            argv=(*make, f"-j{jobs}", "bzImage"),
            cwd=cwd,
            env={**BUILD_ENV, **compiler.env()},
            kind="build",
            timeout=None,
        )
    )
    from ukl_tui.settled import with_settle_check

    return with_settle_check(steps, src, dot, overlays, cc=compiler.cc), (
        build_dir / "arch" / "x86" / "boot" / "bzImage"
    )


# ----- ukl checkout ------------------------------------------------------------------------
