"""Shared pieces of the TUI tests: the real tree loaded once, sessions, fixed host facts.

Imported by the other ``test_tui_*`` modules (it holds no tests itself). The real tree is
parsed once per session and each test gets it back at the values of a fresh load, with its
``.config`` in the test's own tmp_path (never inside the extracted tree).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ukl_tui.app import Session, UklApp
from ukl_tui.host import Prereq

#: Host facts for snapshots: real Prereq records, fixed so screenshots do not depend on
#: what this machine has installed.
FIXED_PREREQS = [
    Prereq("gcc", True, "/usr/bin/gcc", "gcc"),
    Prereq("make", True, "/usr/bin/make", "make"),
    Prereq("flex", True, "/usr/bin/flex", "flex"),
    Prereq("bison", True, "/usr/bin/bison", "bison"),
    Prereq("bc", False, "bc not found on PATH", "bc"),
    Prereq("libelf headers", True, "/usr/include/libelf.h", "libelf-dev"),
    Prereq("openssl headers", True, "/usr/include/openssl/ssl.h", "libssl-dev"),
    Prereq("autoconf", True, "/usr/bin/autoconf", "autoconf"),
    Prereq("automake", True, "/usr/bin/automake", "automake"),
    Prereq("qemu-system-x86_64", True, "/usr/bin/qemu-system-x86_64", "qemu-system-x86"),
    Prereq("busybox (static)", True, "/bin/busybox", "busybox-static"),
    Prereq(
        "docker",
        False,
        "docker not found on PATH (only needed for ukl's own initrd)",
        "docker.io",
        optional=True,
    ),
    Prereq(
        "KVM",
        False,
        "the CPU flags show neither vmx nor svm; QEMU will use TCG (slower)",
        "qemu-system-x86",
        optional=True,
    ),
]


def defconfig_copy(real_tree: Path, directory: Path) -> Path:
    """A writable .config to start from: the tree's x86_64 defconfig, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / ".config"
    shutil.copy(real_tree / "arch" / "x86" / "configs" / "x86_64_defconfig", target)
    return target


@pytest.fixture(scope="session")
def loaded_tree(real_tree: Path, ukl_overlay: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The real tree with the UKL stand-in and defconfig, parsed once; plus its fresh state."""
    from ukl_tui.kconfig import load_tree

    config = defconfig_copy(real_tree, tmp_path_factory.mktemp("tui-start"))
    tree = load_tree(real_tree, config=config, overlays=[ukl_overlay])
    tree.search("ukl")
    return tree, tree.snapshot(), config.read_text()


@pytest.fixture
def tree(loaded_tree, tmp_path: Path):  # noqa: ANN201
    """The shared tree at fresh-load values, saving to ``tmp_path/work/.config``."""
    tree, snapshot, text = loaded_tree
    tree.restore(snapshot)
    config = tmp_path / "work" / ".config"
    config.parent.mkdir(parents=True)
    config.write_text(text)
    tree.config_path = config
    tree.loaded_from = config  # the same text as the file the shared tree was loaded from
    tree.mark_saved(text)
    return tree


def make_app(tree, real_tree: Path, ukl_overlay: Path) -> UklApp:  # noqa: ANN001
    """An app whose session already holds the loaded tree (the welcome screen skips loading)."""
    session = Session(
        tree_path=real_tree,
        config=tree.config_path,
        overlays=[ukl_overlay],
        tree_source="argument",
        tree=tree,
        prereqs=list(FIXED_PREREQS),
    )
    return UklApp(session)


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:  # noqa: ANN001
    """Let the app run until ``condition()`` holds (workers and messages included)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)
    await asyncio.sleep(0)


# ----- scenes: each drives a fresh app to one screen (snapshots and screenshots) ---------------


async def _to(pilot, step: str) -> None:  # noqa: ANN001
    app = pilot.app
    await wait_for(pilot, lambda: app.current_step() is not None and app.session.tree is not None)
    if step != app.current_step():
        app.goto(step)
        await wait_for(pilot, lambda: app.current_step() == step)
    await pilot.pause(0.2)


async def _preset(pilot, name: str = "ukl-base") -> None:  # noqa: ANN001
    """Apply a preset the way a user does on the Preset step."""
    from textual.widgets import OptionList

    await _to(pilot, "preset")
    listing = pilot.app.screen.query_one("#preset-list", OptionList)
    listing.highlighted = [o.id for o in listing.options].index(name)
    await pilot.pause(0.2)
    await pilot.press("enter")
    await wait_for(pilot, lambda: pilot.app.current_step() == "browser")
    await pilot.pause(0.2)


async def scene_welcome(pilot) -> None:  # noqa: ANN001
    await _to(pilot, "welcome")
    await wait_for(pilot, lambda: pilot.app.screen.ready)


async def scene_preset(pilot) -> None:  # noqa: ANN001
    await _to(pilot, "preset")
    await pilot.pause(0.3)


async def scene_browser(pilot) -> None:  # noqa: ANN001
    await _to(pilot, "browser")
    pilot.app.screen.jump_to("UNIKERNEL_LINUX")
    await pilot.pause(0.3)


async def scene_browser_fixed(pilot) -> None:  # noqa: ANN001
    await _preset(pilot)
    pilot.app.screen.jump_to("UKL_NAME")
    await pilot.pause(0.3)


async def scene_search(pilot) -> None:  # noqa: ANN001
    await _to(pilot, "browser")
    await pilot.press("slash", *"virtio net")
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "shown_query", None) == "virtio net")


async def scene_edit(pilot) -> None:  # noqa: ANN001
    await _to(pilot, "browser")
    pilot.app.screen.jump_to("NR_CPUS")
    await pilot.pause(0.3)
    await pilot.press("enter", *"9999")
    await pilot.pause(0.2)


async def scene_diff(pilot) -> None:  # noqa: ANN001
    await _preset(pilot)
    await pilot.press("d")
    await pilot.pause(0.3)


async def scene_quit(pilot) -> None:  # noqa: ANN001
    await _preset(pilot)
    await pilot.press("ctrl+q")
    await pilot.pause(0.3)


async def scene_application(pilot) -> None:  # noqa: ANN001
    await _to(pilot, "application")


async def scene_network(pilot) -> None:  # noqa: ANN001
    from textual.widgets import Input

    await _to(pilot, "network")
    # Show the live validation: a bridge address under user networking.
    pilot.app.screen.query_one("#net-address", Input).value = "192.168.122.128/24"
    await pilot.pause(0.3)


async def scene_review(pilot) -> None:  # noqa: ANN001
    await _preset(pilot)
    await _to(pilot, "review")
    mask_review(pilot.app.screen)
    await pilot.pause(0.2)


async def scene_no_tree(pilot) -> None:  # noqa: ANN001
    await wait_for(pilot, lambda: pilot.app.current_step() == "welcome")
    await wait_for(pilot, lambda: pilot.app.screen.ready)
    await pilot.pause(0.2)


#: Scenes that start without any tree (the app is made by ``make_treeless_app``).
TREELESS = {"welcome-no-tree"}


def make_treeless_app() -> UklApp:
    """An app started where there is no tree: no --tree, no $UKL_DIR, cwd not a tree."""
    return UklApp(Session(prereqs=list(FIXED_PREREQS)))


SCENES = {
    "welcome": scene_welcome,
    "welcome-no-tree": scene_no_tree,
    "preset": scene_preset,
    "browser": scene_browser,
    "browser-fixed": scene_browser_fixed,
    "search": scene_search,
    "edit": scene_edit,
    "diff": scene_diff,
    "quit": scene_quit,
    "application": scene_application,
    "network": scene_network,
    "review": scene_review,
}


def mask_review(screen) -> None:  # noqa: ANN001
    """Machine-specific prefixes in the commands become what a user's machine shows."""
    import sys

    from textual.widgets import Input, TextArea

    from ukl_tui.paths import cache_dir

    def mask(text: str) -> str:
        # The interpreter first: in CI it lives inside the clone (.venv/bin/python), so the
        # clone's path must not be replaced before it.
        text = text.replace(sys.executable, "python3")
        text = text.replace(str(cache_dir()), "~/.cache/ukl-tui")
        text = text.replace(str(Path(__file__).resolve().parent.parent), "~/ukl-tui")
        text = text.replace(str(Path.cwd()), "~")
        # the overlay wrapper's directory is a hash of the overlay's absolute path
        return re.sub(r"/overlays/[0-9a-f]{24}/", "/overlays/0123456789abcdef01234567/", text)

    area = screen.query_one("#review-commands", TextArea)
    area.text = mask(area.text)
    field = screen.query_one("#plan-path", Input)
    field.value = mask(field.value)
