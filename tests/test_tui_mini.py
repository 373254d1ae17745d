"""The wizard's flows over the small fixture tree (tests/fixtures/mini + the UKL stand-in).

What the wizard does is tested here without Debian's 6.1 tree, as esp-idf-kconfig tests its
menuconfig over tiny Kconfig files: the tree loads in the app's own worker, a preset is
applied, values are toggled, refused and fixed, undone and redone, saved; Review's one-key
fix puts kernel parameters and QEMU CPU flags where they belong, and the Network and boot
step shows the result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from textual.widgets import OptionList

from tests.support.waiting import wait_for
from tests.support.wizard import FIXED_PREREQS, jump
from tests.test_session import MY_BOOT, SMAP
from ukl_tui.app import UklApp
from ukl_tui.screens.browser import BrowserScreen
from ukl_tui.session import session_from_args


def mini_app(mini_copy: Path, ukl_overlay: Path, config: Path) -> UklApp:
    """The wizard as ``ukl-tui --tree MINI --config CONFIG --overlay UKL`` starts it."""
    args = argparse.Namespace(
        wizard_tree=str(mini_copy),
        wizard_config=str(config),
        wizard_plan=None,
        wizard_overlay=[str(ukl_overlay)],
    )
    session = session_from_args(args)
    session.prereqs = list(FIXED_PREREQS)
    return UklApp(session)


@pytest.fixture
def config(tmp_path: Path, mini_copy: Path) -> Path:
    """The .config the wizard starts from: the small tree's defconfig, outside the tree."""
    path = tmp_path / "work" / ".config"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((mini_copy / "arch/x86/configs/x86_64_defconfig").read_text())
    return path


async def apply_preset(pilot, name: str) -> None:  # noqa: ANN001
    """Welcome -> Preset -> the preset named, applied with Enter -> the browser."""
    app = pilot.app
    await wait_for(pilot, lambda: app.session.tree is not None and app.screen.ready, 30)
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.current_step() == "preset")
    listing = app.screen.query_one("#preset-list", OptionList)
    listing.highlighted = [o.id for o in listing.options].index(name)
    await wait_for(pilot, lambda: app.screen.report is not None)
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.current_step() == "browser")


async def test_preset_toggle_fix_undo_save_on_the_small_tree(
    mini_copy: Path,
    ukl_overlay: Path,
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    app = mini_app(mini_copy, ukl_overlay, config)
    async with app.run_test(size=(140, 40)) as pilot:
        await apply_preset(pilot, "ukl-base")
        session, tree = app.session, app.session.tree
        browser = app.screen
        assert isinstance(browser, BrowserScreen)
        assert tree.value("UNIKERNEL_LINUX") == "y" and tree.value("UKL_TLS") == "y"
        assert session.choices.presets == ("ukl-base",)
        # The preset needs NET, which this tree lacks: the browser says so, like Review.
        assert "not-in-tree" in {c.id for c in browser.conflicts}

        # Turn KASLR back on: UNIKERNEL_LINUX falls, the conflicts panel says why at once.
        await jump(pilot, "RANDOMIZE_BASE")
        await pilot.press("y")
        assert tree.value("RANDOMIZE_BASE") == "y" and tree.value("UNIKERNEL_LINUX") == "n"
        assert session.choices.edits["RANDOMIZE_BASE"] == "y"
        assert "kaslr" in {c.id for c in browser.conflicts}
        # Refused, then fixed with one key.
        await jump(pilot, "UNIKERNEL_LINUX")
        await pilot.press("space")
        assert tree.value("UNIKERNEL_LINUX") == "n" and "Press f" in browser.last_message
        await pilot.press("f")
        assert tree.value("UNIKERNEL_LINUX") == "y" and tree.value("RANDOMIZE_BASE") == "n"
        # Three undo steps back: the fix, the toggle, the preset.
        await pilot.press("ctrl+z", "ctrl+z")
        assert (
            tree.value("UNIKERNEL_LINUX") == "y" and "RANDOMIZE_BASE" not in session.choices.edits
        )
        await pilot.press("ctrl+z")
        assert tree.value("UNIKERNEL_LINUX") == "n" and session.choices.presets == ()
        assert "Undone: preset ukl-base" in browser.last_message
        await pilot.press("ctrl+y")
        assert tree.value("UNIKERNEL_LINUX") == "y" and session.choices.presets == ("ukl-base",)

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "CONFIG_UNIKERNEL_LINUX=y" in config.read_text())
        assert (config.parent / ".config.old").is_file()
        await wait_for(pilot, lambda: not browser.changed)
        assert "saved" in str(browser.query_one("#status").render())


async def test_review_fixes_boot_settings_where_they_belong(
    mini_copy: Path,
    ukl_overlay: Path,
    config: Path,
    user_presets: Path,
    tmp_path: Path,
    monkeypatch,
) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    (user_presets / "my-boot.toml").write_text(MY_BOOT)
    app = mini_app(mini_copy, ukl_overlay, config)
    async with app.run_test(size=(160, 45)) as pilot:
        await apply_preset(pilot, "my-boot")
        session = app.session
        app.goto("review")
        await wait_for(pilot, lambda: app.current_step() == "review")
        review = app.screen
        await wait_for(pilot, lambda: review.builds > 0)
        assert review.error is None, review.error
        assert SMAP <= {c.id for c in review.blocking()}
        assert "clearcpuid=pku " in review.commands and "+smap" in review.commands
        listing = review.query_one("#review-conflicts", OptionList)
        for name in sorted(SMAP):
            listing.highlighted = [c.id for c in review.conflicts].index(name)
            await pilot.press("f")
            assert "fixed" in str(review.query_one("#message").render())
        assert not SMAP & {c.id for c in review.conflicts}
        assert "clearcpuid=pku,smap,smep" in review.commands
        assert "clearcpuid=pku " not in review.commands
        assert ",+pdpe1gb,-smap,-smep " in review.commands
        assert session.cmdline() in review.commands
        assert session.choices.cpu_flags == ("-smap", "-smep")

        # The Network and boot step shows the same boot, from the same plan.
        app.goto("network")
        await wait_for(pilot, lambda: app.current_step() == "network")
        network = app.screen
        await wait_for(pilot, lambda: bool(network.query("#net-result")))
        await pilot.pause()
        result = str(network.query_one("#net-result").render())
        assert "clearcpuid=pku,smap,smep" in result and "+pdpe1gb,-smap,-smep" in result
        assert network.query_one("#boot-append").value == "clearcpuid=pku,smap,smep"

        # Undo in the browser takes the CPU flags fix back; Review rebuilds on its next visit.
        app.goto("browser")
        await wait_for(pilot, lambda: app.current_step() == "browser")
        await pilot.press("ctrl+z")
        assert session.choices.cpu_flags == ()
        assert "smap-smep-cpu" in {c.id for c in app.screen.conflicts}
        app.goto("review")
        await wait_for(pilot, lambda: app.current_step() == "review")
        await wait_for(pilot, lambda: "smap-smep-cpu" in {c.id for c in review.conflicts})


async def test_run_from_review_and_back(
    mini_copy: Path,
    ukl_overlay: Path,
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review hands the checked plan over with StartRun; the app runs it on the Run screen
    (here it fails fast: the small tree has no kernel Makefile) and Escape comes back.
    """
    from ukl_tui.screens.run import RunScreen

    monkeypatch.chdir(tmp_path)
    app = mini_app(mini_copy, ukl_overlay, config)
    async with app.run_test(size=(160, 45)) as pilot:
        await apply_preset(pilot, "ukl-base")
        app.goto("review")
        await wait_for(pilot, lambda: app.current_step() == "review")
        review = app.screen
        await wait_for(pilot, lambda: review.builds > 0)
        for _ in range(len(review.blocking())):
            await pilot.press("a")  # NET is not in this tree: acknowledged
        assert not review.blocking() and not review.query_one("#run").disabled
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.screen
        await wait_for(pilot, lambda: not run.state.running, 60, what="the run to fail")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.current_step() == "review")
        assert app.last_run_code == 1
