"""Shared pieces of the wizard's tests: apps over a loaded tree, fixed host facts, scenes.

The trees themselves are fixtures (``tests/conftest.py``: the real tree parsed once per
session, the small fixture tree per test), each at the values of a fresh load with its
``.config`` in the test's own tmp_path (never inside the extracted tree).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.support.waiting import wait_for
from ukl_tui.app import UklApp
from ukl_tui.host import Prereq
from ukl_tui.plan import Plan
from ukl_tui.session import Session

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


def make_app(tree, tree_path: Path, overlay: Path) -> UklApp:  # noqa: ANN001
    """An app whose session already holds the loaded tree (the welcome screen skips loading)."""
    plan = Plan(tree=tree_path, config=tree.config_path, overlays=(overlay,))
    session = Session(plan, tree_source="argument", tree=tree, prereqs=list(FIXED_PREREQS))
    app = UklApp(session)
    # A toast stays up until the snapshot is taken, however loaded the machine is (the
    # scenes after a preset show its "Preset applied"; it expires after 5 s otherwise).
    app.NOTIFICATION_TIMEOUT = 600
    return app


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


def _cursor_symbol(screen) -> str | None:  # noqa: ANN001
    node = screen.menu.cursor_node
    item = getattr(getattr(getattr(node, "data", None), "node", None), "item", None)
    return getattr(item, "name", None)


async def jump(pilot, name: str) -> None:  # noqa: ANN001
    """Put the browser's cursor on ``name`` and wait until it is there, centred.

    The menu moves its cursor after the next refresh and centres it after the layout that
    follows; a key pressed before that lands on the row the cursor was on, and a picture
    taken before shows the row elsewhere (races a loaded machine loses).
    """
    screen = pilot.app.screen
    assert screen.jump_to(name)
    await wait_for(pilot, lambda: _cursor_symbol(screen) == name and screen.menu.settled)


async def scene_preset(pilot) -> None:  # noqa: ANN001
    await _to(pilot, "preset")
    await pilot.pause(0.3)


async def scene_browser(pilot) -> None:  # noqa: ANN001
    await _to(pilot, "browser")
    await jump(pilot, "UNIKERNEL_LINUX")
    await pilot.pause(0.3)


async def scene_browser_fixed(pilot) -> None:  # noqa: ANN001
    await _preset(pilot)
    await jump(pilot, "UKL_NAME")
    await pilot.pause(0.3)


async def scene_search(pilot) -> None:  # noqa: ANN001
    await _to(pilot, "browser")
    await pilot.press("slash", *"virtio net")
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "shown_query", None) == "virtio net")


async def scene_edit(pilot) -> None:  # noqa: ANN001
    await _to(pilot, "browser")
    await jump(pilot, "NR_CPUS")
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


def pin_tarballs(directory: Path) -> Callable[[], list[Path]]:
    """A stand-in for ``sources.debian_tarballs``: one installed linux-source-6.1 tarball
    (an empty file in ``directory``), so the no-tree scene never shows what the host has in
    /usr/src.
    """
    from ukl_tui import sources

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "linux-source-6.1.tar.xz").touch()
    found = sources.debian_tarballs(directory)
    return lambda: found


def make_treeless_app() -> UklApp:
    """An app started where there is no tree: no --tree, no $UKL_DIR, cwd not a tree."""
    return UklApp(Session(prereqs=list(FIXED_PREREQS)))


def _still_cursors(scene):  # noqa: ANN001, ANN202
    """The scene, then every Input's cursor held still (drawn) for the picture.

    Textual blinks a focused Input's cursor on a 0.5 s wall-clock timer, so which phase a
    snapshot catches was a race (edit-80x24 failed now and then under load); the app itself
    still blinks for users.
    """

    async def run(pilot) -> None:  # noqa: ANN001
        from textual.widgets import Input

        await scene(pilot)
        for screen in pilot.app.screen_stack:
            for field in screen.query(Input):
                field.cursor_blink = False
        await pilot.pause()

    return run


_SCENES = {
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
SCENES = {name: _still_cursors(scene) for name, scene in _SCENES.items()}


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
        text = text.replace(str(Path(__file__).resolve().parents[2]), "~/ukl-tui")
        text = text.replace(str(Path.cwd()), "~")
        # the overlay wrapper's directory is a hash of the overlay's absolute path
        return re.sub(r"/overlays/[0-9a-f]{24}/", "/overlays/0123456789abcdef01234567/", text)

    area = screen.query_one("#review-commands", TextArea)
    area.text = mask(area.text)
    field = screen.query_one("#plan-path", Input)
    field.value = mask(field.value)
