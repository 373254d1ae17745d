"""Shared fixtures: an isolated cache/config home, the real and the small trees, the wizard's
loaded trees, the C-tool oracle.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


#: The time limit of a test marked slow (a QEMU boot under TCG on a loaded machine), unless it
#: sets its own with ``pytest.mark.timeout``; every other test has pyproject's default.
SLOW_TIMEOUT = 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests get SLOW_TIMEOUT instead of the tight default."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))


@pytest.fixture(autouse=True)
def _no_animations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps made in tests start with animations off (``TEXTUAL_ANIMATIONS=none``).

    No test here is about an animation, and Pilot's ``press`` waits until every animation
    is complete: one started while the app shuts down (Tabs moves its underline on a timer)
    never completes, and the press would wait forever (issue 9). A test that wants
    animations sets ``app.animation_level`` itself.
    """
    import textual.constants

    monkeypatch.setattr(textual.constants, "TEXTUAL_ANIMATIONS", "none")


#: Where .ci/setup puts the real trees and Debian's kernel image.
CI_CACHE = Path(os.environ.get("UKL_TUI_CI_CACHE", "/var/cache/ukl-tui-ci"))
#: The real trees by version, each named by its own environment variable.
REAL_TREES = {"6.1": "UKL_TUI_TEST_TREE", "6.12": "UKL_TUI_TEST_TREE_612"}
for _var, _default in (
    ("UKL_TUI_TEST_TREE", CI_CACHE / "linux-source-6.1"),
    ("UKL_TUI_TEST_TREE_612", CI_CACHE / "linux-source-6.12"),
    ("UKL_TUI_TEST_BZIMAGE", CI_CACHE / "debian-kernel" / "vmlinuz"),
):
    if not os.environ.get(_var) and _default.exists():
        os.environ[_var] = str(_default)


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep every test away from the real ~/.cache, ~/.config and /usr/src tarballs; one
    parse cache a session.
    """
    base = tmp_path_factory.mktemp("home")
    os.environ["XDG_CACHE_HOME"] = str(base / "cache")
    os.environ["XDG_CONFIG_HOME"] = str(base / "config")
    # no linux-source tarballs unless a test puts some there (not the host's /usr/src)
    os.environ["UKL_TUI_SOURCES"] = str(base / "src")
    # no distcc hosts unless a test gives some (not the host's $DISTCC_HOSTS or ~/.distcc)
    os.environ.pop("DISTCC_HOSTS", None)
    # (distcc's client keeps its lock files there too, so the directory must exist)
    (base / "distcc").mkdir()
    os.environ["DISTCC_DIR"] = str(base / "distcc")


def _configured_tree(var: str) -> Path:
    """The tree an environment variable names (skipped only when not configured)."""
    value = os.environ.get(var)
    if not value:
        if os.environ.get("CI"):
            pytest.fail(f"{var} is not set and .ci/setup did not extract the tree")
        pytest.skip(f"{var} is not set (run: bash .ci/setup)")
    path = Path(value)
    assert (path / "Kconfig").is_file(), f"{var}={path} is not a kernel tree"
    return path


@pytest.fixture(scope="session")
def real_tree() -> Path:
    """Debian's linux-source-6.1, extracted by .ci/run."""
    return _configured_tree("UKL_TUI_TEST_TREE")


@pytest.fixture(scope="session")
def real_tree_612() -> Path:
    """Debian's linux-source-6.12 (the 6.9 MITIGATION_ renames, 6.11 choices)."""
    return _configured_tree("UKL_TUI_TEST_TREE_612")


@pytest.fixture(scope="session", params=sorted(REAL_TREES))
def kernel_tree(request: pytest.FixtureRequest) -> Path:
    """Each real tree in turn (6.1, then 6.12): for tests that must hold on both."""
    return _configured_tree(REAL_TREES[request.param])


@pytest.fixture(scope="session")
def ukl_overlay() -> Path:
    """The UKL stand-in Kconfig (the fork's kernel/Kconfig.ukl, from UKL.md's table)."""
    return FIXTURES / "ukl" / "Kconfig.ukl"


@pytest.fixture(scope="session")
def ukl_overlay_no_archive() -> Path:
    """A stand-in from a newer fork commit: no UKL_ARCHIVE_PATH."""
    return FIXTURES / "ukl-no-archive" / "Kconfig.ukl"


@pytest.fixture(scope="session")
def mini_tree() -> Path:
    """A small kernel-shaped tree with 'modules' and 'transitional' attributes."""
    return FIXTURES / "mini"


@pytest.fixture
def user_presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user preset directory, as ukl_tui.paths finds it (this test's own)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    directory = tmp_path / "config" / "ukl-tui" / "presets"
    directory.mkdir(parents=True)
    return directory


@pytest.fixture(scope="session")
def oracle(real_tree: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The kernel's C kconfig tools on the 6.1 tree."""
    from tests.support.oracle import COracle

    return COracle(real_tree, tmp_path_factory.mktemp("oracle-build"))


@pytest.fixture(scope="session")
def kernel_oracle(kernel_tree: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The kernel's C kconfig tools on ``kernel_tree`` (one build directory per tree)."""
    from tests.support.oracle import COracle

    return COracle(kernel_tree, tmp_path_factory.mktemp(f"oracle-{kernel_tree.name}"))


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A realistic ukl repository with its submodules, to clone from (one per test module)."""
    from tests.support.gitrepos import make_ukl_upstream

    return make_ukl_upstream(tmp_path_factory.mktemp("upstream"))


@pytest.fixture
def checkout(upstream, tmp_path: Path) -> Path:  # noqa: ANN001
    """A fresh clone whose submodules are not initialised (what `git clone` gives)."""
    from tests.support.gitrepos import clone_checkout

    return clone_checkout(upstream, tmp_path / "ukl")


@pytest.fixture(scope="session")
def loaded_tree(real_tree: Path, ukl_overlay: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The real tree with the UKL stand-in and defconfig, parsed once; plus its fresh state."""
    from tests.support.wizard import defconfig_copy
    from ukl_tui.kconfig import load_tree

    config = defconfig_copy(real_tree, tmp_path_factory.mktemp("tui-start"))
    tree = load_tree(real_tree, config=config, overlays=[ukl_overlay])
    tree.search("ukl")
    return tree, tree.snapshot(), config.read_text()


@pytest.fixture
def tree(loaded_tree, tmp_path: Path):  # noqa: ANN001, ANN201
    """The shared real tree at fresh-load values, saving to ``tmp_path/work/.config``."""
    tree, snapshot, text = loaded_tree
    tree.restore(snapshot)
    config = tmp_path / "work" / ".config"
    config.parent.mkdir(parents=True)
    config.write_text(text)
    tree.config_path = config
    tree.loaded_from = config  # the same text as the file the shared tree was loaded from
    tree.mark_saved(text)
    return tree


@pytest.fixture
def mini_copy(mini_tree: Path, tmp_path: Path) -> Path:
    """A writable copy of the small tree (clean: no .config inside, as O= builds want)."""
    import shutil

    root = tmp_path / "mini"
    shutil.copytree(mini_tree, root)
    return root


@pytest.fixture
def mini_loaded(mini_copy: Path, ukl_overlay: Path, tmp_path: Path):  # noqa: ANN201
    """The small tree with the UKL stand-in, loaded from its defconfig copied to
    ``tmp_path/work/.config`` (milliseconds: the small tree has no compiler probes).
    """
    import shutil

    from ukl_tui.kconfig import load_tree

    config = tmp_path / "work" / ".config"
    config.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(mini_copy / "arch/x86/configs/x86_64_defconfig", config)
    return load_tree(mini_copy, config=config, overlays=[ukl_overlay])
