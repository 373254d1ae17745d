"""The parse cache: used when valid, never when anything the parse read has changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.boot_fixtures import children_of
from ukl_tui.kconfig import cache, load_tree


@pytest.fixture
def tree_copy(mini_tree: Path, tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    dest = tmp_path / "tree"
    shutil.copytree(mini_tree, dest)
    return dest


def _load(path: Path):
    tree = load_tree(path)
    cache.wait_for_writers()
    return tree


def test_second_load_comes_from_the_cache(tree_copy) -> None:
    assert not _load(tree_copy).cache_hit
    again = _load(tree_copy)
    assert again.cache_hit
    assert again.value("INET") == "y" and "OLD_NAME" in again.kconf.transitional_syms


def test_edited_kconfig_file_invalidates(tree_copy) -> None:
    _load(tree_copy)
    kfile = tree_copy / "arch/x86/Kconfig"
    kfile.write_text(kfile.read_text().replace("default y", "default n", 1))
    fresh = _load(tree_copy)
    assert not fresh.cache_hit
    assert fresh.value("RANDOMIZE_BASE") == "n"


def test_new_file_in_a_kconfig_directory_invalidates(tree_copy) -> None:
    _load(tree_copy)
    (tree_copy / "arch/x86/Kconfig.extra").write_text("config EXTRA\n\tbool\n")
    assert not _load(tree_copy).cache_hit


def test_environment_change_invalidates(tree_copy, monkeypatch, tmp_path) -> None:
    _load(tree_copy)
    assert _load(tree_copy).cache_hit
    # a different compiler on PATH: the probes could give other values
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_gcc = bindir / "gcc"
    fake_gcc.write_text('#!/bin/sh\nexec /usr/bin/gcc "$@"\n')
    fake_gcc.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    assert not _load(tree_copy).cache_hit


def test_overlay_change_invalidates(tree_copy, tmp_path) -> None:
    overlay = tmp_path / "Kconfig.extra"
    overlay.write_text('config EXTRA\n\tbool "extra"\n\tdefault y\n')
    assert load_tree(tree_copy, overlays=[overlay]).value("EXTRA") == "y"
    cache.wait_for_writers()
    overlay.write_text('config EXTRA\n\tbool "extra"\n\tdefault n\n')
    fresh = load_tree(tree_copy, overlays=[overlay])
    assert not fresh.cache_hit and fresh.value("EXTRA") == "n"


def test_corrupt_cache_is_a_miss(tree_copy) -> None:
    _load(tree_copy)
    for entry in (Path(os.environ["XDG_CACHE_HOME"]) / "ukl-tui" / "kconfig").iterdir():
        data = entry.read_bytes()
        entry.write_bytes(data[: len(data) // 2])
    tree = _load(tree_copy)
    assert not tree.cache_hit and tree.value("INET") == "y"


def test_the_cache_writer_leaves_no_process_or_thread_behind(tree_copy) -> None:
    import threading

    before = set(children_of(os.getpid()))
    threads = threading.active_count()
    tree = load_tree(tree_copy)  # a miss: written in the background
    assert not tree.cache_hit
    assert set(children_of(os.getpid())) <= before  # no fork, nothing to reap
    cache.wait_for_writers()
    assert threading.active_count() == threads
    entries = list((Path(os.environ["XDG_CACHE_HOME"]) / "ukl-tui" / "kconfig").iterdir())
    assert [e.suffix for e in entries] == [".pickle"]  # whole, no temporary file left
    assert load_tree(tree_copy).cache_hit


def test_a_command_that_exits_at_once_still_leaves_a_whole_entry(tree_copy, tmp_path) -> None:
    """The writer is not a daemon: the interpreter finishes it before exiting."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from ukl_tui.kconfig import load_tree\n"
        f"assert not load_tree({str(tree_copy)!r}).cache_hit\n"
        "sys.exit(0)\n"
    )
    env = dict(os.environ)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=100)
    assert _load(tree_copy).cache_hit


def test_pickling_a_deep_tree_does_not_need_a_deep_main_thread_stack(tmp_path) -> None:
    """A parsed Linux tree pickles ~55,000 levels deep; on the caller's 8 MiB stack that
    came close enough to the end that CI's run died of SIGSEGV in pickle.dumps. The child
    here gets a 2 MiB main stack and a 60,000-deep chain: pickled on the caller's stack it
    crashes, on the pickling thread's own stack it is stored."""
    import resource
    import subprocess
    import sys

    code = (
        "import pickle, sys\n"
        "from ukl_tui.kconfig import cache\n"
        "class Node:\n"
        "    pass\n"
        "head = node = Node()\n"
        "for _ in range(60_000):\n"
        "    node.next = Node()\n"
        "    node = node.next\n"
        "head._readline, head._functions = print, {'f': print}\n"
        "data = cache._serialise(head)\n"
        "assert head._readline is print and head._functions == {'f': print}\n"
        "copy = pickle.loads(data)\n"
        "depth = 0\n"
        "while hasattr(copy, 'next'):\n"
        "    copy, depth = copy.next, depth + 1\n"
        "print(depth)\n"
    )

    def small_stack() -> None:
        resource.setrlimit(resource.RLIMIT_STACK, (2 * 1024 * 1024, 2 * 1024 * 1024))

    done = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=small_stack,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["60000"]
