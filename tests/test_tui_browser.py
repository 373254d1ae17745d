"""Pilot flows through the config browser on the real Linux 6.1 tree with the UKL stand-in.

What a user does: open menus, search and jump, toggle, get refused and press the fix, undo
and redo, edit values with range errors, pick a choice option, look at the diff, save, quit
with unsaved changes. Every assertion reads the model or the file, not only the screen.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.waiting import wait_for
from tests.support.wizard import make_app
from ukl_tui.screens.browser import BrowserScreen
from ukl_tui.screens.dialogs import AskValue, Choose
from ukl_tui.screens.diff import DiffScreen
from ukl_tui.screens.search import SearchScreen
from ukl_tui.widgets.menu_tree import MenuTree

pytestmark = pytest.mark.realtree


async def open_browser(pilot) -> BrowserScreen:  # noqa: ANN001
    """Welcome -> Enter -> Preset -> s (skip) -> the browser, ready."""
    app = pilot.app
    await wait_for(pilot, lambda: app.current_step() == "welcome")
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.current_step() == "preset")
    await pilot.press("s")
    await wait_for(pilot, lambda: app.current_step() == "browser")
    screen = app.screen
    assert isinstance(screen, BrowserScreen)
    await pilot.pause()
    return screen


async def jump(pilot, screen: BrowserScreen, name: str) -> None:  # noqa: ANN001
    """Jump with the search dialog, as a user would."""
    await pilot.press("slash")
    search = pilot.app.screen
    assert isinstance(search, SearchScreen)
    await pilot.press(*name.lower())
    await wait_for(pilot, lambda: search.shown_query == name.lower())
    assert search.hits and search.hits[0].name == name
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen.menu.current is not None and _name(screen) == name)


def _name(screen: BrowserScreen) -> str | None:
    node = screen.menu.current
    return getattr(node.item, "name", None) if node is not None else None


async def test_tree_is_built_lazily(tree, real_tree: Path, ukl_overlay: Path) -> None:
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_browser(pilot)
        menu = screen.query_one(MenuTree)
        total = sum(1 for _ in tree.kconf.node_iter())
        top = menu.built_count()
        assert total > 15000
        assert 10 < top < 200, top
        # Open "Device Drivers": its children are built, not the whole tree.
        drivers = next(c for c in menu.root.children if "Device Drivers" in c.label.plain)
        menu.move_cursor(drivers)
        await pilot.press("right")
        await wait_for(pilot, lambda: menu.built_count() > top)
        assert menu.built_count() < 2000
        assert any("Network device support" in line for line in menu.visible_lines())


async def test_search_jump_refusal_fix_undo_redo(tree, real_tree: Path, ukl_overlay: Path) -> None:
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_browser(pilot)
        await jump(pilot, screen, "UNIKERNEL_LINUX")
        # Hidden under defconfig (KASLR and PTI are on): the jump shows just its path, greyed.
        assert not screen.menu.show_all
        assert "shown greyed" in screen.last_message
        assert "RANDOMIZE_BASE" in screen.query_one("#info").plain

        await pilot.press("space")  # refused: the message says why and offers the fix
        assert tree.value("UNIKERNEL_LINUX") == "n"
        assert "!RANDOMIZE_BASE" in screen.last_message
        assert "Press f" in screen.last_message

        await pilot.press("f")
        assert tree.value("UNIKERNEL_LINUX") == "y"
        assert tree.value("RANDOMIZE_BASE") == "n"
        assert tree.value("PAGE_TABLE_ISOLATION") == "n"
        assert {"UNIKERNEL_LINUX", "RANDOMIZE_BASE"} <= screen.changed
        # The tree is live: UKL_NAME, hidden before, is now a child of UNIKERNEL_LINUX.
        await pilot.press("right")
        await pilot.pause()
        assert any("UKL Exec target" in line for line in screen.menu.visible_lines())

        await pilot.press("ctrl+z")
        assert tree.value("UNIKERNEL_LINUX") == "n"
        assert tree.value("RANDOMIZE_BASE") == "y"
        assert not screen.changed
        await pilot.press("ctrl+y")
        assert tree.value("UNIKERNEL_LINUX") == "y"
        assert tree.value("PAGE_TABLE_ISOLATION") == "n"


async def test_edit_values_with_range_errors(tree, real_tree: Path, ukl_overlay: Path) -> None:
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_browser(pilot)
        await jump(pilot, screen, "NR_CPUS")
        before = tree.value("NR_CPUS")
        await pilot.press("enter")
        dialog = app.screen
        assert isinstance(dialog, AskValue)
        await pilot.press("9", "9", "9", "9", "9")
        error = str(dialog.query_one("#value-error").render())
        assert "out of range" in error
        await pilot.press("enter")  # refused while invalid
        assert app.screen is dialog
        assert tree.value("NR_CPUS") == before
        await pilot.press("end", *["backspace"] * 8, "x")
        assert "not a whole number" in str(dialog.query_one("#value-error").render())
        await pilot.press("backspace", "1", "6", "enter")
        await wait_for(pilot, lambda: app.screen is screen)
        assert tree.value("NR_CPUS") == "16"
        await pilot.press("ctrl+z")
        assert tree.value("NR_CPUS") == before


async def test_choice_option_and_tristate(tree, real_tree: Path, ukl_overlay: Path) -> None:
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_browser(pilot)
        await jump(pilot, screen, "KERNEL_XZ")
        assert tree.value("KERNEL_XZ") == "n"
        await pilot.press("space")
        assert tree.value("KERNEL_XZ") == "y"
        assert tree.value("KERNEL_GZIP") == "n"
        assert "(X)" in next(x for x in screen.menu.visible_lines() if "KERNEL_XZ" in x)
        # A tristate takes m directly.
        await jump(pilot, screen, "E1000")
        await pilot.press("m")
        assert tree.value("E1000") == "m"


async def test_show_all_toggle(tree, real_tree: Path, ukl_overlay: Path) -> None:
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_browser(pilot)
        before = set(screen.menu.visible_lines())
        await pilot.press("a")
        assert screen.menu.show_all
        after = set(screen.menu.visible_lines())
        assert any("UNIKERNEL_LINUX" in line for line in after - before)
        await pilot.press("a")
        assert set(screen.menu.visible_lines()) == before


async def test_diff_save_and_config_old(tree, real_tree: Path, ukl_overlay: Path) -> None:
    app = make_app(tree, real_tree, ukl_overlay)
    config = tree.config_path
    original = config.read_text()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_browser(pilot)
        await jump(pilot, screen, "UNIKERNEL_LINUX")
        await pilot.press("f")
        await pilot.press("d")
        diff = app.screen
        assert isinstance(diff, DiffScreen)
        names = {c.name for c in diff.changes if c.old is not None or c.new is not None}
        assert {"UNIKERNEL_LINUX", "RANDOMIZE_BASE"} <= names
        await pilot.press("escape")
        await pilot.press("ctrl+s")
        assert "CONFIG_UNIKERNEL_LINUX=y" in config.read_text()
        assert (config.parent / ".config.old").read_text() == original
        assert not screen.changed


async def test_quit_with_unsaved_changes_asks(tree, real_tree: Path, ukl_overlay: Path) -> None:
    app = make_app(tree, real_tree, ukl_overlay)
    config = tree.config_path
    original = config.read_text()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_browser(pilot)
        await jump(pilot, screen, "KERNEL_XZ")
        await pilot.press("space")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, Choose)
        await pilot.press("c")  # cancel: still running, nothing written
        assert app.is_running and app.screen is screen
        await pilot.press("ctrl+q")
        await pilot.press("d")  # discard
        await wait_for(pilot, lambda: not app.is_running)
    assert config.read_text() == original


async def test_quit_save_answer_writes(tree, real_tree: Path, ukl_overlay: Path) -> None:
    app = make_app(tree, real_tree, ukl_overlay)
    config = tree.config_path
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_browser(pilot)
        await jump(pilot, screen, "KERNEL_XZ")
        await pilot.press("space")
        await pilot.press("ctrl+q", "s")
        await wait_for(pilot, lambda: not app.is_running)
    assert "CONFIG_KERNEL_XZ=y" in config.read_text()


async def test_quit_without_changes_does_not_ask(tree, real_tree: Path, ukl_overlay: Path) -> None:
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_browser(pilot)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_command_palette_jumps_by_fuzzy_name(
    tree, real_tree: Path, ukl_overlay: Path
) -> None:
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_browser(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"serial8250cons")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: _name(screen) == "SERIAL_8250_CONSOLE")
        assert app.screen is screen


async def test_conflicts_panel_is_live_and_fixes(tree, real_tree: Path, ukl_overlay: Path) -> None:
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_browser(pilot)
        ids = [c.id for c in screen.conflicts]
        assert {"kaslr", "pti", "ukl-off"} <= set(ids)
        await pilot.press("c")
        panel = screen.query_one("#conflicts")
        assert panel.has_focus
        panel.highlighted = ids.index("ukl-off")
        await pilot.press("enter")  # the ukl-off fix sets everything UKL needs at once
        assert tree.value("UNIKERNEL_LINUX") == "y"
        assert tree.value("RANDOMIZE_BASE") == "n"
        remaining = {c.id for c in screen.conflicts}
        assert not {"kaslr", "pti", "ukl-off"} & remaining
        assert screen.session.choices.edits["UNIKERNEL_LINUX"] == "y"
        await pilot.press("ctrl+z")  # one undo step, edits included
        assert {"kaslr", "pti"} <= {c.id for c in screen.conflicts}
        assert "UNIKERNEL_LINUX" not in screen.session.choices.edits


async def test_a_fix_that_would_not_work_is_not_offered(
    tree, real_tree: Path, ukl_overlay: Path
) -> None:
    # PERF_EVENTS is forced on by X86 (a select): no single assignment turns it off, so the
    # panel must not offer one, and f must say so instead of changing anything.
    app = make_app(tree, real_tree, ukl_overlay)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_browser(pilot)
        await jump(pilot, screen, "PERF_EVENTS")
        assert tree.value("PERF_EVENTS") == "y"
        info = screen.query_one("#info").plain
        assert "forced on by" in info and "press f" not in info
        before = tree.snapshot()
        await pilot.press("f")
        assert "No one-key fix" in screen.last_message
        assert tree.snapshot() == before
