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


def ukl_overlay_for(srctree: Path, overlay: Path, dest: Path) -> Path:
    """The UKL stand-in as a fork on ``srctree`` would spell it.

    The stand-in is written for the fork's 6.3 base (``!PAGE_TABLE_ISOLATION``); on a tree
    with the 6.9 rename a fork depends on ``!MITIGATION_PAGE_TABLE_ISOLATION`` instead.
    Trees without the rename get ``overlay`` itself.
    """
    if not any(
        "config MITIGATION_PAGE_TABLE_ISOLATION" in f.read_text()
        for f in (srctree / "arch/x86").glob("Kconfig*")
    ):
        return overlay
    dest.mkdir(parents=True, exist_ok=True)
    renamed = dest / overlay.name
    renamed.write_text(
        overlay.read_text().replace("!PAGE_TABLE_ISOLATION", "!MITIGATION_PAGE_TABLE_ISOLATION")
    )
    return renamed


#: The lines by which the compat layer recognises Linux 6.1's C configurator (and which
#: 6.12's no longer has): see ukl_tui/kconfig/compat.py, ``read_c_rules``.
_LINUX_6_1_MARKERS = {
    "symbol.c": "\tdef_sym = sym->def[S_DEF_USER].val;  /* 6.1 sym_calc_choice */\n",
    "confdata.c": (
        "\t\t\t\t/* Reset a string value if it's out of range */\n"
        "\t\t\t\tif (sym_string_within_range(sym, sym->def[S_DEF_USER].val))\n"
    ),
    "menu.c": "\t\t\tparentdep = expr_alloc_symbol(sym);\n",
}


def linux_6_1_rules_tree(mini_tree: Path, root: Path) -> Path:
    """A copy of the small tree whose scripts/kconfig carries the 6.1-only C lines.

    Without any scripts/kconfig the compat layer follows the newest C code it knows
    (6.12); this copy makes it follow 6.1's, so both sets of rules can be tested without
    a real kernel tree (tests/test_kconfig_real.py checks both against the real C tools).
    """
    shutil.copytree(mini_tree, root)
    kconfig_dir = root / "scripts" / "kconfig"
    kconfig_dir.mkdir(parents=True)
    for name, text in _LINUX_6_1_MARKERS.items():
        (kconfig_dir / name).write_text(text)
    return root
