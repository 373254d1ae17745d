"""The recipe for a ukl checkout: submodules, configure, glibc, ukl's linux/.config, make.

ccache and distcc reach only the kernel. ukl's Makefile builds everything from one ``make``:
gcc and libgcc (their own configure picks their compilers, and the stage-1 gcc compiles
libgcc), glibc (configured with its own ``CC`` and ``CFLAGS``), the program's UKL.a, and the
kernel as ``$(MAKE) -C linux olddefconfig O=...`` then ``$(MAKE) -C linux WERROR=0 O=...``.
A ``CC=`` on that top-level command line would be passed down to every sub-make and replace
glibc's and gcc's own compilers, so it is never given there. Instead, when the kernel's
compiles are wrapped (:mod:`.compiler`), the build is split where ukl's recipe already is:
``make UKL.a`` (gcc, glibc, the program: untouched), the two kernel makes run by ukl-tui with
the same arguments plus ``CC=``, then ``make vmlinuz``, which finds the bzImage newer than
linux/.config and UKL.a and only copies it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ukl_tui.apps import App, ConfigureOptions, app_change_steps, configure_argv, has_make_target
from ukl_tui.plan.common import GLIBC_NOTE, apply_argv, configured_app
from ukl_tui.plan.compiler import Compiler
from ukl_tui.steps import Step

if TYPE_CHECKING:
    from ukl_tui.workspace import Workspace


def ukl_steps(
    ws: Workspace,
    app: App | None,
    opts: ConfigureOptions,
    sets: Mapping[str, str],
    *,
    presets: Sequence[str],
    jobs: int,
    compiler: Compiler,
    warnings: list[str],
) -> tuple[list[Step], Path, App | None]:
    """A ukl checkout's steps, in the order of ukl's Makefile (see :mod:`ukl_tui.plan`).

    Returns the steps, where ``vmlinuz`` will be, and the application the checkout was last
    configured for (the initrd recipe rebuilds ukl's initrd when it changes).
    """
    from ukl_tui.workspace import submodule_init_argv

    root = ws.root
    cwd = str(root)
    steps: list[Step] = []
    init = submodule_init_argv(ws)
    if init:
        steps.append(
            Step(
                id="submodules",
                title="Fetch the submodules that are not checked out yet",
                argv=tuple(init),
                cwd=cwd,
                env={},
                kind="prep",
                timeout=None,
            )
        )
    old_app = configured_app(root)
    if app is not None:
        for i, argv in enumerate(app_change_steps(old_app, app, ws)):
            old_name = old_app.name if old_app else "?"
            steps.append(
                Step(
                    id="app-clean" if i == 0 else f"app-clean-{i + 1}",
                    title=f"Clean what the previous application left ({old_name} -> {app.name})",
                    argv=tuple(argv),
                    cwd=cwd,
                    env={},
                    kind="prep",
                    timeout=1800,
                )
            )
    steps += [
        Step(
            id="autoreconf",
            title="Generate configure (autoreconf -i)",
            argv=("autoreconf", "-i"),
            cwd=cwd,
            env={},
            kind="prep",
            timeout=600,
        ),
        Step(
            id="configure",
            title=f"Configure ukl for {app.name if app else opts.program}",
            argv=tuple(configure_argv(opts)),
            cwd=cwd,
            env={},
            kind="prep",
            timeout=600,
        ),
    ]
    if has_make_target(root, "libc.a"):
        steps.append(
            Step(
                id="glibc",
                title="Build glibc for x86_64-ukl (errors in iconv are expected)",
                argv=("make", f"-j{jobs}", "libc.a"),
                cwd=cwd,
                env={},
                kind="build",
                timeout=None,
                expected_failure_note=GLIBC_NOTE,
            )
        )
    dot = root / "linux" / ".config"
    writes_config = has_make_target(root, "linux/.config")
    if writes_config:
        steps.append(
            Step(
                id="ukl-config",
                title="Write linux/.config with ukl's own recipe (saveconfig + its lines)",
                argv=("make", "-W", "saveconfig", "linux/.config"),
                cwd=cwd,
                env={},
                kind="prep",
                timeout=600,
            )
        )
    split = compiler.wraps and all(
        has_make_target(root, t) for t in ("UKL.a", "linux/arch/x86/boot/bzImage", "vmlinuz")
    )
    steps.append(
        Step(
            id="kconfig",
            title="Fix linux/.config with ukl-tui: quoted strings, presets, your edits",
            argv=tuple(
                apply_argv(
                    tree=root,
                    out=dot,
                    config=dot if writes_config else None,
                    overlays=(),
                    presets=presets,
                    base=None,
                    sets=sets,
                    cc=compiler.cc if split else None,  # the kernel's make gets it only then
                )
            ),
            cwd=cwd,
            env={},
            kind="prep",
            timeout=600,
        )
    )
    if split:
        from ukl_tui.settled import with_settle_check

        # The split build runs the kernel's olddefconfig as a step of its own, so the settled
        # .config is checked there as in a plain tree (ukl's single make has no such point).
        steps = with_settle_check(
            steps + _split_build(root, jobs, compiler),
            root,
            dot,
            (),
            settle_id="kernel-config",
            cc=compiler.cc,
        )
        return steps, root / "vmlinuz", old_app
    if compiler.wraps:
        warnings.append(
            "this checkout's Makefile has no separate UKL.a, kernel and vmlinuz targets: "
            f"the kernel builds with ukl's plain make, not{compiler.describe()}"
        )
    target = ["vmlinuz"] if has_make_target(root, "vmlinuz") else []
    steps.append(
        Step(
            id="build",
            title="Build gcc, glibc, the application's UKL.a and the kernel (make "
            f"-j{jobs}{' vmlinuz' if target else ''})",
            argv=("make", f"-j{jobs}", *target),
            cwd=cwd,
            env={},
            kind="build",
            timeout=None,
        )
    )
    return steps, root / "vmlinuz", old_app


def _split_build(root: Path, jobs: int, compiler: Compiler) -> list[Step]:
    """The build in ukl's own stages, the kernel's make with a compiler of its own (see above)."""
    cwd = str(root)
    linux = str(root / "linux")
    make = ["make", "-C", linux, f"O={linux}", *compiler.make_vars()]
    env = compiler.env()
    return [
        Step(
            id="build",
            title=f"Build gcc, glibc and the application's UKL.a (make -j{jobs} UKL.a; with "
            "their own compilers: a CC= here would replace glibc's and gcc's)",
            argv=("make", f"-j{jobs}", "UKL.a"),
            cwd=cwd,
            env={},
            kind="build",
            timeout=None,
        ),
        compiler.olddefconfig_step(
            "kernel-config",
            "Let the kernel's own tools settle linux/.config (ukl's olddefconfig)",
            make,
            cwd,
        ),
        *compiler.log_steps(cwd, make_dir=True),
        Step(
            id="kernel",
            title=f"Build the kernel with UKL.a (ukl's make WERROR=0 -j{jobs})"
            f"{compiler.describe()}",
            argv=(*make, "WERROR=0", f"-j{jobs}"),
            cwd=cwd,
            env=env,
            kind="build",
            timeout=None,
        ),
        Step(
            id="vmlinuz",
            title="Copy the bzImage to vmlinuz (make vmlinuz: everything else is up to date)",
            argv=("make", "vmlinuz"),
            cwd=cwd,
            env={},
            kind="prep",
            timeout=600,
        ),
    ]


# ----- initrd --------------------------------------------------------------------------
