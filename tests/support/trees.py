"""Variants of the small fixture tree that several test modules need."""

from __future__ import annotations

import shutil
from pathlib import Path


def renamed_pti_tree(mini_tree: Path, root: Path) -> Path:
    """A copy of the small tree spelling PTI as Linux 6.9+ does (MITIGATION_ prefix)."""
    shutil.copytree(mini_tree, root)
    arch = root / "arch/x86/Kconfig"
    arch.write_text(
        arch.read_text().replace(
            "config PAGE_TABLE_ISOLATION", "config MITIGATION_PAGE_TABLE_ISOLATION"
        )
    )
    return root
