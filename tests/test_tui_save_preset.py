"""Pilot: "Save as preset..." from the Config browser and Review, and the diff against any file.

Over the small fixture tree: what is tested is the dialog and what it writes, not Kconfig.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, OptionList, Select

from tests.support.wizard import FIXED_PREREQS, wait_for
from ukl_tui.app import UklApp
from ukl_tui.boot import NetworkSpec
from ukl_tui.kconfig import load_tree
from ukl_tui.plan import Plan
from ukl_tui.screens.compare import CompareScreen
from ukl_tui.screens.dialogs import AskValue
from ukl_tui.screens.diff import DiffScreen
from ukl_tui.screens.save_preset import SavePresetScreen
from ukl_tui.session import Session


@pytest.fixture
def presets_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "ukl-tui" / "presets"


@pytest.fixture
def app(mini_tree: Path, tmp_path: Path) -> UklApp:
    """The wizard over the fixture tree, its .config in tmp_path, SELECTOR turned on."""
    config = tmp_path / ".config"
    config.write_text("CONFIG_MODULES=y\n")
    tree = load_tree(mini_tree, config=config)
    tree.set_many({"SELECTOR": "y", "GREETING": "hi"})
    plan = Plan(tree=mini_tree, config=config, append=("quiet",))
    session = Session(plan, tree_source="argument", tree=tree, prereqs=list(FIXED_PREREQS))
    return UklApp(session)


async def _open(pilot, step: str) -> SavePresetScreen:  # noqa: ANN001
    app = pilot.app
    await wait_for(pilot, lambda: app.current_step() is not None)
    app.goto(step)
    await wait_for(pilot, lambda: app.current_step() == step)
    await pilot.pause()
    await pilot.press("p")
    await wait_for(pilot, lambda: isinstance(app.screen, SavePresetScreen))
    return app.screen  # type: ignore[return-value]


async def test_save_from_the_browser_writes_the_choices_and_boot(app, presets_dir) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await _open(pilot, "browser")
        assert dialog.query_one("#preset-base", Select).value == "defconfig"
        await pilot.press(*"my-net")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, SavePresetScreen))
        assert dialog.written == presets_dir / "my-net.toml"
    data = tomllib.loads((presets_dir / "my-net.toml").read_text())
    assert data["kconfig"] == {"GREETING": "hi", "SELECTOR": "y"}  # HELPER follows: not saved
    assert data["base"] == "defconfig"
    assert data["boot"]["cmdline"] == [
        "console=ttyS0",
        "clearcpuid=smap,smep",
        "mitigations=off",
        "quiet",
    ]
    assert data["boot"]["qemu_cpu_flags"] == ["-smap", "-smep"]


def _fresh_boot(name: str, tree: Path):  # noqa: ANN202
    """The boot a fresh plan gets from preset ``name`` (what ``plan --preset`` boots with)."""
    from ukl_tui.presets import combine

    plan = Plan(tree=tree, presets=(name,))
    return plan.boot_spec(combine(plan.load_presets()).boot)


async def test_save_writes_the_sessions_network(mini_tree, tmp_path, presets_dir) -> None:
    config = tmp_path / ".config"
    config.write_text("CONFIG_MODULES=y\n")
    tree = load_tree(mini_tree, config=config)
    network = NetworkSpec.user(["8080:80"], nic="virtio-net-pci")
    plan = Plan(tree=mini_tree, config=config, network=network, append=("quiet",))
    app = UklApp(Session(plan, tree_source="argument", tree=tree, prereqs=list(FIXED_PREREQS)))
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await _open(pilot, "review")
        await pilot.press(*"my-web", "enter")
        await wait_for(pilot, lambda: app.screen is not dialog)
    data = tomllib.loads((presets_dir / "my-web.toml").read_text())
    assert data["network"] == {"forwards": ["8080:80"], "nic": "virtio-net-pci"}
    boot = _fresh_boot("my-web", mini_tree)
    assert boot.network == network and boot.extra_params == ()
    assert boot.cmdline_base == app.session.boot_spec().cmdline_base + ("quiet",)


async def test_network_step_keeps_a_presets_value_that_was_not_changed(
    mini_tree, tmp_path, presets_dir
) -> None:
    """The form shows the preset's network; only the field changed becomes the user's, so
    the saved preset (building on that one) holds just that field, and a fresh plan from it
    boots with the same network as the session.
    """
    presets_dir.mkdir(parents=True)
    (presets_dir / "web.toml").write_text(
        'summary = "w"\n[network]\nforwards = ["8080:80"]\nnic = "virtio-net-pci"\n'
    )
    tree = load_tree(mini_tree)
    session = Session(Plan(tree=mini_tree), tree_source="argument", tree=tree)
    session.prereqs = list(FIXED_PREREQS)
    from ukl_tui.presets import Catalogue

    session.apply_preset(Catalogue().get("web"), False)
    app = UklApp(session)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.current_step() is not None)
        app.goto("network")
        await wait_for(pilot, lambda: app.current_step() == "network")
        screen = app.screen
        await wait_for(pilot, lambda: bool(screen.query("#net-result")))
        await pilot.pause()
        forwards = screen.query_one("#net-forwards", Input)
        assert forwards.value == "8080:80"
        assert screen.query_one("#net-nic", Select).value == "virtio-net-pci"
        assert app.session.choices.network_keys == ()  # shown, not chosen
        forwards.value = "18080:80"
        await pilot.pause()
        assert screen.problem is None
        assert app.session.choices.network_keys == ("forwards",)
        dialog = await _open(pilot, "review")
        assert dialog.query_one("#preset-extends", Select).value == "web"
        await pilot.press(*"mine", "enter")
        await wait_for(pilot, lambda: app.screen is not dialog)
    data = tomllib.loads((presets_dir / "mine.toml").read_text())
    assert data["extends"] == ["web"] and data["network"] == {"forwards": ["18080:80"]}
    want = NetworkSpec.user(["18080:80"], nic="virtio-net-pci")
    assert app.session.boot_spec().network == want
    assert _fresh_boot("mine", mini_tree).network == want


async def test_bad_name_and_existing_preset_stay_in_the_dialog(app, presets_dir) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await _open(pilot, "review")
        await pilot.press(*"My Net", "enter")
        await pilot.pause()
        error = str(dialog.query_one("#preset-error").render())
        assert "use a plain word" in error and app.screen is dialog
        assert not presets_dir.exists()
        dialog.query_one("#preset-name", Input).value = "ukl-base"  # a shipped preset
        dialog.query_one("#preset-extends", Select).value = "ukl-prereqs"
        await pilot.pause()
        dialog.query_one("#preset-name", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "is a shipped preset" in str(dialog.query_one("#preset-error").render())
        dialog.query_one("#preset-force", Checkbox).value = True
        await pilot.pause()
        dialog.query_one("#preset-name", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is not dialog)
    data = tomllib.loads((presets_dir / "ukl-base.toml").read_text())
    assert data["extends"] == ["ukl-prereqs"] and data["boot"] == {"cmdline": ["quiet"]}


async def test_escape_writes_nothing(app, presets_dir) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await _open(pilot, "browser")
        await pilot.press(*"x", "escape")
        await wait_for(pilot, lambda: app.screen is not dialog)
    assert not presets_dir.exists()


async def test_diff_against_any_file_shows_choices_and_consequences(app, tmp_path) -> None:
    other = tmp_path / "other.config"
    other.write_text("CONFIG_MODULES=y\n# CONFIG_INET is not set\n")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.current_step() is not None)
        app.goto("browser")
        await wait_for(pilot, lambda: app.current_step() == "browser")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, AskValue))
        await pilot.press(*str(tmp_path / "nosuch"))
        await pilot.press("enter")
        assert isinstance(app.screen, AskValue)  # refused while the file does not exist
        app.screen.query_one(Input).value = str(other)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        screen = app.screen
        by = {d.name: d for d in screen.result.differences}
        assert by["INET"].kind == "choice" and (by["INET"].old, by["INET"].new) == ("n", "y")
        assert by["HELPER"].reason == "selected by SELECTOR"
        listing = screen.query_one(OptionList)
        ids = [o.id for o in listing.options]
        assert ids.index("HELPER") == ids.index("SELECTOR") + 1  # under its cause
        listing.highlighted = ids.index("HELPER")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_step() == "browser")
        assert app.screen.menu.current.item.name == "HELPER"
        assert app.session.tree.value("INET") == "y"  # comparing changed nothing
