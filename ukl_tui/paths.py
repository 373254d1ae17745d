"""Where ukl-tui keeps its cache and user configuration (XDG base directories), and how a
path is shown to the user.

Kept in one place so tests can point everything at a temporary directory through
``XDG_CACHE_HOME`` / ``XDG_CONFIG_HOME`` and never touch the real home directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user cache directory for ukl-tui (parse caches, unpacked trees, initramfs)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ukl-tui"


def config_dir() -> Path:
    """The user configuration directory for ukl-tui (user presets)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ukl-tui"


def display_path(path: Path | str | None) -> str:
    """A path as the user would type it: relative to the current directory when inside it,
    ``~/...`` when inside the home directory, else absolute.
    """
    if path is None:
        return "(none)"
    path = Path(path)
    for base, shown in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            rel = path.relative_to(base)
        except ValueError:
            continue
        return f"{shown}{rel}" if str(rel) != "." else (shown.rstrip("/") or ".")
    return str(path)
