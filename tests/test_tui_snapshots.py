"""Snapshots of every screen at 80x24 and 200x50 (pytest-textual-snapshot).

Deterministic by construction: the real tree at its CI path, the .config in the test's own
directory shown relative to it, fixed host facts (and installed source tarballs),
machine-specific paths in the commands masked (``mask_review``). Update after a deliberate
change with ``--snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.wizard import SCENES, TREELESS, make_app, make_treeless_app

pytestmark = pytest.mark.realtree

SIZES = {"80x24": (80, 24), "200x50": (200, 50)}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("scene", list(SCENES))
def test_screen(
    scene: str,
    size: str,
    tree,
    real_tree: Path,
    ukl_overlay: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    snap_compare,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UKL_DIR", raising=False)
    if scene in TREELESS:
        # What the host has in /usr/src must not show: one installed 6.1 tarball, always.
        from ukl_tui import sources

        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "linux-source-6.1.tar.xz").touch()
        found = sources.debian_tarballs(tmp_path / "src")
        monkeypatch.setattr(sources, "debian_tarballs", lambda: found)
        app = make_treeless_app()
    else:
        app = make_app(tree, real_tree, ukl_overlay)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=SCENES[scene])
