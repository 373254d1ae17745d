"""The wizard end to end, as a newcomer walks it, and the steps around the browser.

The newcomer path loads the real tree through the app's own worker (no preloaded model),
applies ukl-base on the Preset step, saves, walks Application and Network and ends on
Review with the exact commands and a saved plan; the .config it wrote has UNIKERNEL_LINUX=y
and the plan file reopens the same session.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

from tests.support.gitrepos import clone_checkout, make_ukl_upstream
from tests.support.waiting import wait_for
from tests.support.wizard import defconfig_copy, make_app
from ukl_tui.app import UklApp
from ukl_tui.errors import UserError
from ukl_tui.session import Session, session_from_args
from ukl_tui.workspace import locate_tree


def wizard_args(tree_path: Path | None, config: Path | None, overlay: Path | None, plan=None):  # noqa: ANN001, ANN201
    return argparse.Namespace(
        wizard_tree=str(tree_path) if tree_path else None,
        wizard_config=str(config) if config else None,
        wizard_plan=str(plan) if plan else None,
        wizard_overlay=[str(overlay)] if overlay else [],
    )


@pytest.mark.realtree
async def test_newcomer_path_to_review(
    real_tree: Path, ukl_overlay: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = defconfig_copy(real_tree, tmp_path / "work")
    app = UklApp(session_from_args(wizard_args(real_tree, config, ukl_overlay)))
    async with app.run_test(size=(120, 40)) as pilot:
        # Welcome paints before the tree is loaded, then loads it in a worker.
        await wait_for(pilot, lambda: app.first_paint is not None)
        await wait_for(pilot, lambda: app.session.tree is not None, timeout=60)
        await wait_for(pilot, lambda: app.screen.ready)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_step() == "preset")
        listing = app.screen.query_one("#preset-list", OptionList)
        assert listing.highlighted_option.id == "ukl-base"  # the newcomer's default
        await pilot.pause(0.3)
        assert app.screen.report is not None
        assert not [c for c in app.screen.remaining if c.severity == "error"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_step() == "browser")
        tree = app.session.tree
        assert tree.value("UNIKERNEL_LINUX") == "y"
        assert app.session.choices.presets == ("ukl-base",)
        await pilot.press("ctrl+s")
        text = config.read_text()
        assert "CONFIG_UNIKERNEL_LINUX=y" in text
        assert "# CONFIG_RANDOMIZE_BASE is not set" in text
        assert 'CONFIG_UKL_NAME="/UKL"' in text
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.current_step() == "application")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.current_step() == "network")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.current_step() == "review")
        review = app.screen
        await wait_for(pilot, lambda: review.builds > 0)
        assert review.error is None, review.error
        assert not review.blocking()
        assert "--preset=ukl-base" in review.commands
        assert "clearcpuid=smap,smep" in review.commands
        assert not review.query_one("#run").disabled
        plan_file = tmp_path / "plan" / "ukl-tui.toml"
        plan_file.parent.mkdir()
        review.query_one("#plan-path", Input).value = str(plan_file)
        await pilot.press("ctrl+w")
        assert plan_file.is_file()
        # Escape walks back one step at a time.
        await pilot.press("escape")
        assert app.current_step() == "network"

    # The saved plan reopens the session: same tree, preset, values.
    again = session_from_args(wizard_args(None, None, None, plan=plan_file))
    assert again.choices.presets == ("ukl-base",) and again.tree_path == real_tree.resolve()
    app2 = UklApp(again)
    async with app2.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app2.session.tree is not None, timeout=60)
        assert app2.session.tree.value("UNIKERNEL_LINUX") == "y"
        assert app2.session.asked.boot is not None and app2.session.asked.boot.cmdline


@pytest.mark.realtree
async def test_review_blocks_run_until_conflicts_are_handled(
    tree, real_tree: Path, ukl_overlay: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.current_step() == "welcome")
        app.goto("review")
        await wait_for(pilot, lambda: app.current_step() == "review")
        review = app.screen
        await wait_for(pilot, lambda: review.builds > 0)
        ids = {c.id for c in review.blocking()}
        assert {"kaslr", "pti", "ukl-off"} <= ids  # defconfig, no preset: KASLR and PTI on
        assert review.query_one("#run").disabled
        await pilot.press("ctrl+r")
        assert "fix (f) or acknowledge (a)" in str(review.query_one("#message").render())
        conflicts = review.query_one("#review-conflicts", OptionList)
        conflicts.highlighted = [c.id for c in review.conflicts].index("ukl-off")
        await pilot.press("f")  # the fix of ukl-off sets KASLR, PTI and UKL at once
        assert tree.value("UNIKERNEL_LINUX") == "y"
        assert not {"kaslr", "pti", "ukl-off"} & {c.id for c in review.blocking()}
        for _ in range(len(review.blocking())):
            await pilot.press("a")  # acknowledge whatever is left (a warning at most)
        assert not review.blocking()
        assert not review.query_one("#run").disabled


@pytest.mark.realtree
async def test_network_validation_is_live(
    tree, real_tree: Path, ukl_overlay: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.current_step() == "welcome")
        app.goto("network")
        await wait_for(pilot, lambda: app.current_step() == "network")
        screen = app.screen
        await wait_for(pilot, lambda: bool(screen.query("#net-result")))
        await pilot.pause()
        assert screen.problem is None
        address = screen.query_one("#net-address", Input)
        address.value = "192.168.122.128/24"
        await pilot.pause()
        assert "bridge network" in screen.problem
        await pilot.press("ctrl+n")  # refused while invalid
        assert app.current_step() == "network"
        address.value = "10.0.2.15/24"
        screen.query_one("#net-forwards", Input).value = "8080:80, 8080:81"
        await pilot.pause()
        assert "forwarded twice" in screen.problem
        screen.query_one("#net-forwards", Input).value = "18080:80"
        screen.query_one("#boot-append", Input).value = "loglevel=7"
        await pilot.pause()
        assert screen.problem is None
        assert app.session.choices.append == ("loglevel=7",)
        assert "loglevel=7" in str(screen.query_one("#net-result").render())
        assert [str(f) for f in app.session.choices.network.forwards] == ["18080:80"]


async def test_application_step_on_a_ukl_checkout(tmp_path: Path) -> None:
    upstream = make_ukl_upstream(tmp_path / "up")
    checkout = clone_checkout(upstream, tmp_path / "ukl", init=True)
    app = UklApp(session_from_args(wizard_args(checkout, None, None)))
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.session.tree is not None, timeout=60)
        await wait_for(pilot, lambda: app.screen.ready)
        assert app.session.workspace.is_ukl
        app.goto("application")
        await wait_for(pilot, lambda: app.current_step() == "application")
        screen = app.screen
        await wait_for(pilot, lambda: bool(screen.query("#app-result")))
        await pilot.pause()
        listing = screen.query_one("#app-list", OptionList)
        names = [o.id for o in listing.options]
        assert {"hello", "memcached", "valkey"} <= set(names)
        listing.highlighted = names.index("memcached")
        await pilot.pause()
        assert app.session.choices.app == "memcached"
        info = str(screen.query_one("#app-info").render())
        assert "SSH" in info and "11211" in info
        screen.query_one("#opt-shortcuts").value = True
        await pilot.pause()
        result = str(screen.query_one("#app-result").render())
        assert "./configure --with-program=memcached --enable-shortcuts" in result
        assert "CONFIG_UKL_DEEP_SHORTCUT=y" in result
        assert app.session.choices.configure.shortcuts
        screen.query_one("#opt-ukl_trigger", Input).value = "no-slash"
        await pilot.pause()
        assert "absolute path" in screen.problem
        await pilot.press("ctrl+n")
        assert app.current_step() == "application"


async def test_no_tree_offers_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UKL_DIR", raising=False)
    assert locate_tree(None) == (None, "")
    app = UklApp(Session())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.ready)
        screen = app.screen
        assert screen.query_one("#no-tree").display
        assert screen.query_one("#continue").disabled
        await pilot.press("ctrl+n")  # nothing to go to without a tree
        assert app.current_step() == "welcome"


async def test_picker_checks_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UKL_DIR", raising=False)
    app = UklApp(Session())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.ready)
        await pilot.press("o")
        picker = app.screen
        field = picker.query_one("#pick-path", Input)
        field.value = str(tmp_path)
        await pilot.press("enter")
        assert app.screen is picker  # refused: not a tree
        assert "kernel tree" in str(picker.query_one("#pick-problem").render())
        await pilot.press("escape")
        assert app.current_step() == "welcome"


def test_session_from_args_rejects_a_missing_overlay(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such Kconfig overlay"):
        session_from_args(wizard_args(tmp_path, None, tmp_path / "nope"))


async def test_clone_dialog_clones_with_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.gitrepos import allow_file_protocol
    from ukl_tui.screens.obtain import CloneDialog

    allow_file_protocol(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UKL_DIR", raising=False)
    upstream = make_ukl_upstream(tmp_path / "up", programs=["hello"])
    app = UklApp(Session())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.ready)
        await pilot.click("#clone")
        dialog = app.screen
        assert isinstance(dialog, CloneDialog)
        dialog.query_one("#clone-url", Input).value = upstream.url
        dialog.query_one("#clone-dest", Input).value = str(tmp_path / "mine")
        await pilot.click("#start")
        await wait_for(pilot, lambda: app.session.tree is not None, timeout=120)
        assert app.session.tree_path == tmp_path / "mine"
        assert (tmp_path / "mine" / "linux" / "Kconfig").is_file()
        await wait_for(pilot, lambda: app.screen.ready)
        assert app.session.workspace.is_ukl


async def test_clone_dialog_reports_a_failure_and_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ukl_tui.screens.obtain import CloneDialog

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UKL_DIR", raising=False)
    app = UklApp(Session())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.ready)
        app.push_screen(CloneDialog(tmp_path / "x"))
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#clone-url", Input).value = f"file://{tmp_path}/no-such-repo"
        await pilot.click("#start")
        await wait_for(pilot, lambda: dialog.error is not None, timeout=60)
        assert app.screen is dialog
        assert "no-such-repo" in dialog.error
        assert not (tmp_path / "x").exists()


async def test_unpack_dialog_unpacks_into_the_cache(tmp_path: Path) -> None:
    import tarfile

    from tests.conftest import FIXTURES
    from ukl_tui.screens.obtain import unpack_dialog
    from ukl_tui.sources import is_unpacked, unpacked_dir

    tarball = tmp_path / "linux-source-9.9.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(FIXTURES / "mini", arcname="linux-source-9.9")
    app = UklApp(Session())
    async with app.run_test(size=(120, 40)) as pilot:
        results: list[Path | None] = []
        app.push_screen(unpack_dialog(tarball), results.append)
        await wait_for(pilot, lambda: bool(results), timeout=60)
    assert results[0] == unpacked_dir(tarball)
    assert (results[0] / "Kconfig").is_file()
    assert is_unpacked(tarball)


@pytest.mark.realtree
async def test_step_bar_and_buttons_work_with_the_mouse(
    tree, real_tree: Path, ukl_overlay: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ukl_tui.widgets.steps import StepBar

    monkeypatch.chdir(tmp_path)
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.current_step() == "welcome" and app.screen.ready)
        bar = app.screen.query_one(StepBar)
        config_step = next(w for w in bar.children if w.name == "browser")
        await pilot.click(config_step)
        await wait_for(pilot, lambda: app.current_step() == "browser")
        await pilot.pause()
        # A click on a tree line selects it, like Enter: a menu opens.
        menu = app.screen.menu
        first = menu.root.children[0]
        assert not first.is_expanded
        await pilot.click(menu, offset=(8, 0))
        await wait_for(pilot, lambda: first.is_expanded)
        back = next(w for w in app.screen.query_one(StepBar).children if w.name == "welcome")
        await pilot.click(back)
        await wait_for(pilot, lambda: app.current_step() == "welcome")
        await pilot.click("#continue")
        await wait_for(pilot, lambda: app.current_step() == "preset")


@pytest.mark.realtree
async def test_preset_asks_before_overriding_a_hand_edit(
    tree, real_tree: Path, ukl_overlay: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ukl_tui.screens.dialogs import Choose

    monkeypatch.chdir(tmp_path)
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.current_step() == "welcome")
        app.goto("browser")
        await wait_for(pilot, lambda: app.current_step() == "browser")
        await pilot.pause()
        browser = app.screen
        browser.change({"RANDOMIZE_BASE": "n", "PAGE_TABLE_ISOLATION": "n"}, "prereqs")
        browser.change({"UNIKERNEL_LINUX": "y", "UKL_NAME": "/other"}, "by hand")
        assert app.session.choices.edits["UKL_NAME"] == "/other"
        app.goto("preset")
        await wait_for(pilot, lambda: app.current_step() == "preset")
        await pilot.pause(0.3)
        preset = app.screen
        assert [c.symbol for c in preset.report.clashes] == ["UKL_NAME"]
        await pilot.press("enter")
        assert isinstance(app.screen, Choose)
        await pilot.press("k")  # keep mine
        await wait_for(pilot, lambda: app.current_step() == "browser")
        assert tree.value("UKL_NAME") == "/other"
        assert tree.value("UKL_TLS") == "y"  # the rest of the preset applied
        await pilot.press("ctrl+z")  # the preset is one undo step
        assert tree.value("UKL_TLS") == "n"
        assert tree.value("UKL_NAME") == "/other"
