"""Checking ukl-tui's model against the tree's own C configurator, at use time.

The tests compare the model with the kernel's C tools on two Debian trees and on configs
nobody chose; a user's tree (a UKL fork, a future kernel) may still hold Kconfig no test has
seen. ``verify`` makes a disagreement impossible to miss: it runs the tree's own
``scripts/kconfig/conf`` through ``make -s O=<temp dir> ARCH=x86_64 olddefconfig`` on the
same input and compares the two results symbol by symbol (values and presence).

The tree is never touched: make runs in a *shadow* of it (a temporary directory of symlinks
to the tree's files, with a copy of the top-level Makefile so kbuild's ``realpath`` lands in
the shadow). The shadow leaves out what kbuild's "source tree is not clean" check looks at
(an in-tree ``.config``, ``include/config``, generated headers), so a tree that was once
configured in place verifies too, and every output goes to the temporary ``O=`` directory.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ukl_tui.errors import UserError
from ukl_tui.kconfig.env import ARCH
from ukl_tui.kconfig.model import Tree

#: Paths kbuild's out-of-tree check refuses (top-level Makefile, ``outputmakefile``), plus
#: the previous .config: none of them may reach the C tool.
_BUILD_STATE = (
    ".config",
    ".config.old",
    "include/config",
    "include/generated",
    "arch/x86/include/generated",
)

#: Environment variables that would make ``make`` configure something other than what the
#: model reads (another architecture, another top Kconfig or .config, clang for gcc): these
#: names, and every name with one of the prefixes.
_FOREIGN_ENV = frozenset({"ARCH", "SRCARCH", "CROSS_COMPILE", "LLVM", "LLVM_IAS", "O"})
_FOREIGN_PREFIXES = ("KBUILD_", "KCONFIG_")


@dataclass(frozen=True)
class Difference:
    """One symbol on which ukl-tui and the tree's C tool disagree (None: not written)."""

    name: str
    ours: str | None
    theirs: str | None

    def line(self) -> str:
        """One line for the report: both values, or which side does not write the symbol."""

        def show(value: str | None) -> str:
            return "(not written)" if value is None else value

        return f"{self.name}: ukl-tui {show(self.ours)}, the tree's tool {show(self.theirs)}"


_SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")


def written_values(text: str) -> dict[str, str]:
    """Symbol -> value exactly as a .config text writes it (``n`` for "is not set").

    Deliberately looser than the strict reader: an empty ``CONFIG_X=`` (what 6.1 writes
    for an int without a default) is a value to compare, not garbage to skip.
    """
    result: dict[str, str] = {}
    for line in text.splitlines():
        match = _SET.match(line)
        if match:
            result[match.group(1)] = match.group(2)
            continue
        match = _UNSET.match(line)
        if match:
            result[match.group(1)] = "n"
    return result


def compare(ours: str, theirs: str) -> list[Difference]:
    """Every symbol whose written value or presence differs between two .config texts.

    Values are compared as written (quotes included), ``# CONFIG_X is not set`` as ``n``,
    and a symbol one side writes and the other leaves out is a difference too.
    """
    a, b = written_values(ours), written_values(theirs)
    return [
        Difference(name, a.get(name), b.get(name))
        for name in sorted(a.keys() | b.keys())
        if a.get(name) != b.get(name)
    ]


def host_problem() -> str | None:
    """Why this host cannot build the tree's C configurator (None when it can).

    One line naming the first missing tool and the Debian package that provides it.
    """
    from ukl_tui.host import kconfig_tool_prerequisites

    for prereq in kconfig_tool_prerequisites():
        if not prereq.ok:
            return (
                f"cannot build the tree's own configurator: {prereq.detail} "
                f"(Debian package: {prereq.debian_package})"
            )
    return None


def shadow_tree(srctree: Path, dest: Path) -> Path:
    """Fill ``dest`` with symlinks to ``srctree``'s files, minus its build state.

    Only the directories on the way to a left-out path are real directories; everything
    else is one symlink, so the shadow costs a few dozen entries, not a copy of the tree.
    """
    skip = {Path(p) for p in _BUILD_STATE}
    on_the_way = {parent for p in skip for parent in p.parents if parent != Path(".")}

    def fill(rel: Path) -> None:
        (dest / rel).mkdir(parents=True, exist_ok=True)
        with os.scandir(srctree / rel) as entries:
            for entry in entries:
                here = rel / entry.name
                if here in skip:
                    continue
                if here in on_the_way and entry.is_dir(follow_symlinks=False):
                    fill(here)
                elif here == Path("Makefile"):
                    # kbuild takes srctree from realpath(Makefile): a copy keeps it here
                    shutil.copyfile(entry.path, dest / here)
                else:
                    os.symlink(entry.path, dest / here)

    fill(Path("."))
    return dest


class CConfigurator:
    """The tree's own C configurator, run by ``make`` in a shadow of the tree.

    ``workdir`` holds the shadow (``src``) and the ``O=`` directory (``build``); keeping one
    across calls keeps the compiled ``conf``, so later calls cost only the tool's own run.
    """

    def __init__(self, srctree: Path, workdir: Path, cc: str | None = None) -> None:
        self.srctree = srctree
        #: make's ``CC=`` (the build's wrapper), so the tool sees the compiler ukl-tui saw.
        self.cc = cc
        self.shadow = workdir / "src"
        self.objdir = workdir / "build"
        if not self.shadow.exists():
            shadow_tree(srctree, self.shadow)
        self.objdir.mkdir(parents=True, exist_ok=True)

    def make(
        self,
        target: str,
        config_text: str | None = None,
        top: str = "Kconfig",
        env: Mapping[str, str] | None = None,
        timeout: float = 600,
    ) -> str:
        """Run one kconfig target on ``config_text`` (none: no .config); return the result."""
        config = self.objdir / ".config"
        if config_text is not None:
            config.write_text(config_text)
        elif config.exists():
            config.unlink()
        argv = ["make", "-s", "-C", str(self.shadow), f"O={self.objdir}", f"ARCH={ARCH}"]
        if top != "Kconfig":
            argv.append(f"KBUILD_KCONFIG={top}")
        if self.cc:
            argv.append(f"CC={self.cc}")
        argv.append(target)
        full_env = {
            k: v
            for k, v in os.environ.items()
            if k not in _FOREIGN_ENV and not k.startswith(_FOREIGN_PREFIXES)
        }
        full_env.update(env or {})
        _run(argv, full_env, timeout)
        return config.read_text()

    def olddefconfig(self, config_text: str, top: str = "Kconfig") -> str:
        """What the tree's ``make olddefconfig`` makes of ``config_text``."""
        return self.make("olddefconfig", config_text, top)


def _run(argv: list[str], env: dict[str, str], timeout: float) -> None:
    """Run make in its own process group; on failure one clear line from its stderr."""
    from ukl_tui.procs import run_in_group

    returncode, _, err = run_in_group(argv, timeout, env=env)
    if returncode != 0:
        text = err.decode("utf-8", "replace")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {returncode}"
        raise UserError(f"the tree's own configurator failed ({' '.join(argv[-1:])}): {last}")


@dataclass(frozen=True)
class Verification:
    """The outcome of ``verify``: the differences, and both .config texts compared."""

    differences: list[Difference]
    ours: str
    theirs: str

    @property
    def equal(self) -> bool:
        """True when ukl-tui and the tree's tool write the same values, symbol for symbol."""
        return not self.differences

    @property
    def symbols(self) -> int:
        """How many symbols the two .config files write between them."""
        return len(written_values(self.ours).keys() | written_values(self.theirs).keys())


def verify(tree: Tree, input_text: str) -> Verification:
    """Compare what ukl-tui writes for ``tree`` with the C tool's olddefconfig of its input.

    ``input_text`` is the .config ``tree`` was loaded from
    (empty for the tree's defaults: an empty .config, so the C tool never falls back on
    the host's /boot/config-* through ``defconfig_list``).
    """
    problem = host_problem()
    if problem:
        raise UserError(problem)
    ours = tree.config_text()
    with tempfile.TemporaryDirectory(prefix="ukl-tui-verify-") as tmp:
        tool = CConfigurator(tree.srctree, Path(tmp), tree.cc)
        theirs = tool.olddefconfig(input_text, top=tree.top)
    return Verification(compare(ours, theirs), ours, theirs)
