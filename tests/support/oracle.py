"""The kernel's own C kconfig tools, driven through ``make``, as the reference for ukl-tui.

One O= build directory per test session keeps the compiled ``conf`` tool, so each call
costs only the C tool's run (about two seconds on defconfig).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ukl_tui.kconfig.dotconfig import parse_text


class COracle:
    """Runs ``make O=... ARCH=x86_64 <target>`` on a real tree, with an optional top Kconfig."""

    def __init__(self, srctree: Path, objdir: Path) -> None:
        self.srctree = srctree
        self.objdir = objdir
        objdir.mkdir(parents=True, exist_ok=True)

    def make(
        self,
        target: str,
        config_text: str | None = None,
        kconfig: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> str:
        """Run a kconfig make target; return the resulting .config text."""
        if config_text is not None:
            (self.objdir / ".config").write_text(config_text)
        elif (self.objdir / ".config").exists():
            (self.objdir / ".config").unlink()
        argv = ["make", "-s", "-C", str(self.srctree), f"O={self.objdir}", "ARCH=x86_64"]
        if kconfig:
            argv.append(f"KBUILD_KCONFIG={kconfig}")
        argv.append(target)
        env = dict(os.environ, **(extra_env or {}))
        subprocess.run(argv, check=True, capture_output=True, env=env, timeout=600)
        return (self.objdir / ".config").read_text()

    def olddefconfig(self, config_text: str, kconfig: str | None = None) -> str:
        """What ``make olddefconfig`` makes of ``config_text``."""
        return self.make("olddefconfig", config_text, kconfig)

    def savedefconfig(self, config_text: str, kconfig: str | None = None) -> str:
        """What ``make savedefconfig`` writes for ``config_text``."""
        self.make("savedefconfig", config_text, kconfig)
        return (self.objdir / "defconfig").read_text()


def values(text: str) -> dict[str, str]:
    """Symbol -> raw value (``n`` for "is not set") of a .config text: the comparison unit."""
    return {name: a.raw for name, a in parse_text(text, Path("x")).assignments.items()}


def differences(ours: str, theirs: str) -> list[str]:
    """Readable differences between two .config texts, symbol by symbol."""
    a, b = values(ours), values(theirs)
    out = []
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            out.append(f"{name}: ukl-tui={a.get(name)} C={b.get(name)}")
    return out
