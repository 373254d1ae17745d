"""The welcome screen's last run of the tree, and ``r`` opening it on the Run screen.

The runs are real runs of the small fixture tree's plan (``ukl-tui plan --save`` then
``ukl-tui run --plan``, as in tests/test_history.py), kept in this test's own cache; the
wizard is the one ``ukl-tui --tree MINI`` starts, reading that cache.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from tests.support.waiting import wait_for
from tests.support.wizard import FIXED_PREREQS
from tests.test_history import FIXTURES, plan_of, run_plan, runs_parent
from ukl_tui.app import UklApp
from ukl_tui.screens.run import RunScreen
from ukl_tui.session import session_from_args


def wizard(tree: Path) -> UklApp:
    """``ukl-tui --tree TREE`` (the tree's own defaults: no --config)."""
    args = argparse.Namespace(
        wizard_tree=str(tree), wizard_config=None, wizard_plan=None, wizard_overlay=[]
    )
    session = session_from_args(args)
    session.prereqs = list(FIXED_PREREQS)
    return UklApp(session)


def text_of(app: UklApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_welcome_shows_the_trees_last_run_and_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", tree)
    plan = plan_of(tree, tmp_path)
    run_plan(plan, tmp_path)
    run_plan(plan, tmp_path)
    last = sorted(runs_parent(tmp_path).iterdir())[-1]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # the runs above
    app = wizard(tree)
    async with app.run_test(size=(120, 40)) as pilot:
        welcome = app.screen
        await wait_for(pilot, lambda: app.current_step() == "welcome" and welcome.ready, 30)
        assert welcome.last_run is not None and welcome.last_run.run == last
        shown = text_of(app, "#last-run")
        lines = shown.splitlines()
        assert lines[0].startswith("Last run 20") and "no application  ✗ failed" in lines[0]
        assert lines[1].startswith("Times    build-dir ") and "s last time)" in lines[1]
        assert "Cause    make cannot build olddefconfig" in shown
        assert welcome.check_action("last_run", ()) is True

        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.screen
        await pilot.pause()
        assert run.session is None and not run.state.running  # shown, not run again
        assert run.check_action("stop", ()) is False  # read-only: nothing to stop
        assert run.log_dir == last
        verdict = text_of(app, "#run-verdict").splitlines()
        assert verdict[0] == "✗ step olddefconfig: make cannot build olddefconfig"
        assert verdict[1] == f"  times: {welcome.last_run.times}"

        await pilot.press("escape")
        await wait_for(pilot, lambda: app.current_step() == "welcome")
    assert len(list(runs_parent(tmp_path).iterdir())) == 2  # opening it ran nothing


async def test_welcome_shows_nothing_for_a_tree_never_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = tmp_path / "ran"
    shutil.copytree(FIXTURES / "mini", ran)
    run_plan(plan_of(ran, tmp_path), tmp_path)  # a run, of another tree
    fresh = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", fresh)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    app = wizard(fresh)
    async with app.run_test(size=(120, 40)) as pilot:
        welcome = app.screen
        await wait_for(pilot, lambda: app.current_step() == "welcome" and welcome.ready, 30)
        assert welcome.last_run is None
        assert not welcome.query_one("#last-run").display
        assert welcome.check_action("last_run", ()) is False
        await pilot.press("r")
        await pilot.pause()
        assert app.current_step() == "welcome"
