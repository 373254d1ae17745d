"""The kernel's own C kconfig tools, driven through ``make``, as the reference for ukl-tui.

A thin layer over ``ukl_tui.kconfig.verify.CConfigurator`` (the same runner ``ukl-tui
verify`` uses): one work directory per test session keeps the compiled ``conf`` tool, so
each call costs only the C tool's run (about two seconds on defconfig).
"""

from __future__ import annotations

from pathlib import Path

from ukl_tui.kconfig.verify import CConfigurator, compare, written_values


class COracle:
    """Runs ``make O=... ARCH=x86_64 <target>`` on a real tree, with an optional top Kconfig."""

    def __init__(self, srctree: Path, workdir: Path) -> None:
        self.srctree = srctree
        self.tool = CConfigurator(srctree, workdir)
        self.objdir = self.tool.objdir  # the O= directory (merge_config.sh works in it too)

    def make(
        self,
        target: str,
        config_text: str | None = None,
        kconfig: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> str:
        """Run a kconfig make target; return the resulting .config text."""
        return self.tool.make(target, config_text, top=kconfig or "Kconfig", env=extra_env)

    def olddefconfig(self, config_text: str, kconfig: str | None = None) -> str:
        """What ``make olddefconfig`` makes of ``config_text``."""
        return self.make("olddefconfig", config_text, kconfig)

    def savedefconfig(self, config_text: str, kconfig: str | None = None) -> str:
        """What ``make savedefconfig`` writes for ``config_text``."""
        self.make("savedefconfig", config_text, kconfig)
        return (self.objdir / "defconfig").read_text()

    def randconfig(self, seed: int, kconfig: str | None = None) -> str:
        """``make randconfig`` with ``KCONFIG_SEED=seed`` (the same config every time)."""
        return self.make("randconfig", kconfig=kconfig, extra_env={"KCONFIG_SEED": str(seed)})


def differences(ours: str, theirs: str) -> list[str]:
    """Readable differences between two .config texts, symbol by symbol (values and presence)."""
    return [f"{d.name}: ukl-tui={d.ours} C={d.theirs}" for d in compare(ours, theirs)]


def values(text: str) -> dict[str, str]:
    """Symbol -> value as written (quotes kept, ``n`` for "is not set"): the comparison unit."""
    return written_values(text)
