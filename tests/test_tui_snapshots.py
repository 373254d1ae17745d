"""Snapshots of every screen at 80x24 and 200x50 (pytest-textual-snapshot).

Deterministic by construction: the real tree at its CI path, the .config in the test's own
directory shown relative to it, fixed host facts (and installed source tarballs), no past
runs, machine-specific paths in the commands masked (``mask_review``). Update after a
deliberate change with ``--snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.wizard import SCENES, TREELESS, make_app, make_treeless_app, pin_tarballs

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
    # No past runs: Welcome shows the tree's last run, and other tests of the session run
    # plans. (Only the runs: the loaded tree's overlay wrapper lives in the session's cache.)
    from ukl_tui import history

    monkeypatch.setattr(history, "runs_dir", lambda: tmp_path / "runs")
    if scene in TREELESS:
        from ukl_tui import sources

        monkeypatch.setattr(sources, "debian_tarballs", pin_tarballs(tmp_path / "src"))
        app = make_treeless_app()
    else:
        app = make_app(tree, real_tree, ukl_overlay)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=SCENES[scene])
