"""Workspace detection, git status and submodules on real git repositories, and cloning."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support.gitrepos import (
    GIT_ENV,
    UklUpstream,
    allow_file_protocol,
    clone_checkout,
    file_url,
    git,
    make_bare_with_submodule,
    make_kernel_repo,
    make_ukl_upstream,
    write_kernel_tree,
)
from ukl_tui.errors import UserError
from ukl_tui.workspace import (
    DIRTY_CAP,
    clone_ukl,
    inspect_workspace,
    kernel_version,
    submodule_init_argv,
)


@pytest.fixture
def full_checkout(upstream: UklUpstream, tmp_path: Path) -> Path:
    return clone_checkout(upstream, tmp_path / "ukl-full", init=True)


def run_argv(argv: list[str]) -> None:
    subprocess.run(argv, env={**os.environ, **GIT_ENV}, check=True, capture_output=True)


# ------------------------------------------------------------------------------------------
# Detection of each kind


def test_ukl_checkout_with_uninitialised_submodules(checkout: Path, upstream: UklUpstream):
    ws = inspect_workspace(checkout)
    assert ws.kind == "ukl"
    assert ws.root == checkout.resolve()
    assert ws.kernel_tree is None and ws.kernel_version is None
    assert (checkout / "linux").is_dir() and not any((checkout / "linux").iterdir())
    states = {s.path: s for s in ws.submodules}
    assert set(states) == {"linux", "glibc", "dnsmasq/dnsmasq"}
    linux = states["linux"]
    assert linux.state == "not initialised"
    assert linux.recorded_sha == upstream.linux_commits[0]
    assert linux.actual_sha is None
    assert linux.url == file_url(upstream.linux)
    assert ws.linux_submodule is linux
    assert ws.git is not None
    assert ws.git.branch == "main" and not ws.git.detached
    assert ws.git.commit == git(checkout, "rev-parse", "--short", "HEAD")
    assert ws.git.subject == git(checkout, "log", "-1", "--format=%s")
    assert ws.git.dirty == [] and not ws.git.is_dirty
    assert ws.git.upstream == "origin/main" and (ws.git.ahead, ws.git.behind) == (0, 0)


def test_init_argv_initialises_submodules_when_run(checkout: Path, upstream: UklUpstream):
    ws = inspect_workspace(checkout)
    argv = submodule_init_argv(ws)
    assert argv == [
        "git",
        "-C",
        str(checkout.resolve()),
        "submodule",
        "update",
        "--init",
        "--",
        "linux",
        "glibc",
        "dnsmasq/dnsmasq",
    ]
    run_argv(argv)
    after = inspect_workspace(checkout)
    assert [s.state for s in after.submodules] == ["at recorded commit"] * 3
    assert after.linux_submodule is not None
    assert after.linux_submodule.actual_sha == upstream.linux_commits[0]
    assert after.kind == "ukl"
    assert after.kernel_tree == checkout.resolve() / "linux"
    assert after.kernel_version == "6.3.0"
    assert submodule_init_argv(after) is None


def test_init_argv_names_only_the_submodules_still_missing(checkout: Path):
    git(checkout, "submodule", "update", "--init", "--", "linux")
    ws = inspect_workspace(checkout)
    assert ws.kernel_tree is not None
    argv = submodule_init_argv(ws)
    assert argv is not None
    assert argv[argv.index("--") + 1 :] == ["glibc", "dnsmasq/dnsmasq"]


def test_initialised_checkout_is_also_a_kernel_tree(full_checkout: Path, upstream: UklUpstream):
    ws = inspect_workspace(full_checkout)
    assert ws.kind == "ukl"
    assert ws.kernel_tree == full_checkout.resolve() / "linux"
    assert ws.kernel_version == "6.3.0"
    assert submodule_init_argv(ws) is None


def test_submodule_moved_to_another_commit(full_checkout: Path, upstream: UklUpstream):
    git(full_checkout / "linux", "checkout", "-q", upstream.linux_commits[1])
    ws = inspect_workspace(full_checkout)
    linux = ws.linux_submodule
    assert linux is not None
    assert linux.state == "moved"
    assert linux.recorded_sha == upstream.linux_commits[0]
    assert linux.actual_sha == upstream.linux_commits[1]
    assert ws.git is not None and " M linux" in ws.git.dirty
    # Moving it back would throw away the user's choice: no init step for a moved submodule.
    assert submodule_init_argv(ws) is None


def test_deleted_submodule_is_missing_and_the_argv_restores_it(full_checkout: Path):
    shutil.rmtree(full_checkout / "linux")
    ws = inspect_workspace(full_checkout)
    assert ws.linux_submodule is not None and ws.linux_submodule.state == "missing"
    assert ws.kernel_tree is None
    argv = submodule_init_argv(ws)
    assert argv is not None and argv[-1] == "linux"
    run_argv(argv)
    assert inspect_workspace(full_checkout).linux_submodule.state == "at recorded commit"


def test_plain_kernel_tree_in_git(tmp_path: Path):
    root, commits = make_kernel_repo(tmp_path / "linux", (6, 1, 55, ""))
    ws = inspect_workspace(root)
    assert ws.kind == "kernel"
    assert ws.kernel_tree == root.resolve() == ws.root
    assert ws.kernel_version == "6.1.55"
    assert ws.git is not None and ws.git.commit == commits[1][:7]
    assert ws.submodules == []
    assert submodule_init_argv(ws) is None


def test_plain_kernel_tree_without_git(tmp_path: Path):
    root = write_kernel_tree(tmp_path / "src", (5, 15, 0, "-ukl"), ukl=False)
    ws = inspect_workspace(root)
    assert ws.kind == "kernel" and ws.git is None and ws.submodules == []
    assert ws.kernel_version == "5.15.0-ukl"
    assert submodule_init_argv(ws) is None


def test_kernel_tree_inside_an_unrelated_repository_reports_no_git(tmp_path: Path):
    outer = tmp_path / "home"
    outer.mkdir()
    git(outer, "init", "-q")
    tree = write_kernel_tree(outer / "src" / "linux")
    ws = inspect_workspace(tree)
    assert ws.kind == "kernel" and ws.git is None


def test_ukl_checkout_without_git(tmp_path: Path, upstream: UklUpstream):
    export = tmp_path / "export"
    shutil.copytree(upstream.root, export, ignore=shutil.ignore_patterns(".git"))
    ws = inspect_workspace(export)
    assert ws.kind == "ukl" and ws.git is None and ws.submodules == []
    assert ws.kernel_tree is not None  # the copy carried linux/'s files
    assert submodule_init_argv(ws) is None


# ------------------------------------------------------------------------------------------
# Version parsing


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["VERSION = 6", "PATCHLEVEL = 1", "SUBLEVEL = 192", "EXTRAVERSION ="], "6.1.192"),
        (["VERSION = 6", "PATCHLEVEL = 9", "SUBLEVEL = 0", "EXTRAVERSION = -rc3"], "6.9.0-rc3"),
        (["VERSION = 6", "PATCHLEVEL = 3", "SUBLEVEL =", "EXTRAVERSION = -ukl"], "6.3-ukl"),
        (["VERSION=5", "PATCHLEVEL=14", "SUBLEVEL=7", "EXTRAVERSION=  "], "5.14.7"),
    ],
)
def test_kernel_version_follows_kernelversion(tmp_path: Path, lines: list[str], expected: str):
    (tmp_path / "Makefile").write_text("# SPDX\n" + "\n".join(lines) + "\nNAME = x\n")
    assert kernel_version(tmp_path) == expected


# ------------------------------------------------------------------------------------------
# Dirty, branch, detached


def test_dirty_modified_staged_and_untracked(checkout: Path):
    (checkout / "configure.ac").write_text("dnl edited\n" + (checkout / "configure.ac").read_text())
    (checkout / "notes.txt").write_text("scratch\n")
    (checkout / "staged.c").write_text("int x;\n")
    git(checkout, "add", "staged.c")
    ws = inspect_workspace(checkout)
    assert ws.git is not None
    assert sorted(ws.git.dirty) == sorted([" M configure.ac", "?? notes.txt", "A  staged.c"])
    assert ws.git.dirty_count == 3 and ws.git.is_dirty and not ws.git.dirty_truncated


def test_dirty_list_is_capped_but_counted(checkout: Path):
    for i in range(DIRTY_CAP + 15):
        (checkout / f"junk{i:03}.o.txt").write_text("x")
    ws = inspect_workspace(checkout)
    assert ws.git is not None
    assert len(ws.git.dirty) == DIRTY_CAP
    assert ws.git.dirty_count == DIRTY_CAP + 15
    assert ws.git.dirty_truncated


def test_branch_detached_and_ahead(checkout: Path):
    git(checkout, "checkout", "-q", "-b", "my-app")
    assert inspect_workspace(checkout).git.branch == "my-app"

    git(checkout, "checkout", "-q", "main")
    (checkout / "hello" / "extra.c").write_text("int y;\n")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "hello: extra")
    status = inspect_workspace(checkout).git
    assert (status.ahead, status.behind) == (1, 0)
    assert status.subject == "hello: extra"

    git(checkout, "checkout", "-q", "--detach", "HEAD~1")
    status = inspect_workspace(checkout).git
    short = git(checkout, "rev-parse", "--short", "HEAD")
    assert status.detached and status.branch == f"detached at {short}"
    assert status.upstream is None and status.ahead is None


# ------------------------------------------------------------------------------------------
# Errors


def test_neither_kind_says_what_was_expected(tmp_path: Path):
    (tmp_path / "README").write_text("not a tree\n")
    with pytest.raises(UserError) as err:
        inspect_workspace(tmp_path)
    assert str(err.value) == (
        f"{tmp_path.resolve()} is neither a kernel tree (no Kconfig/Makefile) "
        "nor a ukl checkout (no configure.ac)"
    )
    assert "\n" not in str(err.value)


def test_kernel_tree_without_x86_is_named(tmp_path: Path):
    root = write_kernel_tree(tmp_path / "t")
    shutil.rmtree(root / "arch" / "x86")
    with pytest.raises(UserError, match=r"no arch/x86/Kconfig \(UKL is x86_64 only\)"):
        inspect_workspace(root)


def test_makefile_without_version_and_foreign_configure(tmp_path: Path):
    (tmp_path / "Kconfig").write_text("config A\n\tbool\n")
    (tmp_path / "Makefile").write_text("all:\n\ttrue\n")
    (tmp_path / "configure.ac").write_text("AC_INIT([hello], 1.0)\nAC_OUTPUT\n")
    with pytest.raises(UserError) as err:
        inspect_workspace(tmp_path)
    assert "Makefile has no VERSION/PATCHLEVEL" in str(err.value)
    assert "configure.ac does not mention UKL" in str(err.value)


def test_ukl_configure_without_linux_submodule(tmp_path: Path, upstream: UklUpstream):
    shutil.copy(upstream.root / "configure.ac", tmp_path / "configure.ac")
    with pytest.raises(UserError, match="declares no linux submodule"):
        inspect_workspace(tmp_path)


def test_missing_path_and_file(tmp_path: Path):
    with pytest.raises(UserError, match=r"/nowhere does not exist"):
        inspect_workspace(tmp_path / "nowhere")
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UserError, match="is not a directory"):
        inspect_workspace(f)


# ------------------------------------------------------------------------------------------
# The real tree


@pytest.mark.realtree
def test_real_linux_6_1_tree_is_detected():
    tree = os.environ.get("UKL_TUI_TEST_TREE")
    if not tree:
        pytest.skip("UKL_TUI_TEST_TREE is not set")
    ws = inspect_workspace(tree)
    assert ws.kind == "kernel"
    assert ws.kernel_tree == Path(tree).resolve()
    assert ws.kernel_version is not None and ws.kernel_version.startswith("6.1.")


# ------------------------------------------------------------------------------------------
# Cloning


def test_clone_with_submodules_reports_progress_and_logs(tmp_path: Path, monkeypatch):
    allow_file_protocol(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bare, commits = make_bare_with_submodule(tmp_path / "server")
    events = []
    dest = clone_ukl(file_url(bare), tmp_path / "work" / "ukl", events.append)
    assert dest == tmp_path / "work" / "ukl"
    ws = inspect_workspace(dest)
    assert ws.kind == "ukl" and ws.kernel_version == "6.3.0"
    assert ws.linux_submodule.state == "at recorded commit"
    assert ws.linux_submodule.actual_sha == commits[0]
    stages = {e.stage for e in events}
    assert {"Cloning", "Receiving objects"} <= stages
    assert "linux" in {e.repository for e in events}
    fractions = [e.fraction for e in events if e.fraction is not None]
    assert fractions and all(0.0 <= f <= 1.0 for f in fractions)
    logs = list((tmp_path / "cache" / "ukl-tui" / "logs").glob("clone-*.log"))
    assert len(logs) == 1
    text = logs[0].read_text()
    assert "git clone --progress --recurse-submodules" in text and "Cloning into" in text
    assert text.rstrip().endswith("[exit 0]")


def test_clone_unreachable_url_fails_with_one_line(tmp_path: Path):
    url = "http://127.0.0.1:9/ukl.git"  # nothing listens on the discard port
    with pytest.raises(UserError) as err:
        clone_ukl(url, tmp_path / "ukl", log_path=tmp_path / "clone.log")
    assert str(err.value) == f"cannot reach {url}: no network?"
    assert not (tmp_path / "ukl").exists()
    assert "Failed to connect" in (tmp_path / "clone.log").read_text()


def test_clone_of_a_missing_repository_is_not_called_a_network_problem(tmp_path: Path):
    url = file_url(tmp_path / "no-such-repo")
    with pytest.raises(UserError) as err:
        clone_ukl(url, tmp_path / "ukl", log_path=tmp_path / "clone.log")
    message = str(err.value)
    assert message.startswith(f"git clone {url} failed: fatal:")
    assert "does not appear to be a git repository" in message
    assert "no network" not in message and "\n" not in message


def test_submodule_failure_keeps_the_checkout_and_names_the_submodule(tmp_path: Path, monkeypatch):
    allow_file_protocol(monkeypatch)
    up = make_ukl_upstream(tmp_path / "src", programs=["hello"])
    bad = "http://127.0.0.1:9/glibc.git"
    git(up.root, "config", "-f", ".gitmodules", "submodule.glibc.url", bad)
    git(up.root, "commit", "-q", "-am", "glibc moved")
    dest = tmp_path / "ukl"
    with pytest.raises(UserError) as err:
        clone_ukl(up.url, dest, log_path=tmp_path / "clone.log")
    assert str(err.value).startswith(f"cannot reach {bad}: no network?; {dest} is kept")
    assert (dest / ".git").exists()


def test_clone_into_non_empty_directory_is_refused(tmp_path: Path):
    (tmp_path / "ukl").mkdir()
    (tmp_path / "ukl" / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="already exists and is not empty"):
        clone_ukl("http://127.0.0.1:9/ukl.git", tmp_path / "ukl", log_path=tmp_path / "l")
    assert (tmp_path / "ukl" / "mine.txt").read_text() == "keep me"


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers: a hanging remote."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/ukl.git"
    sock.close()


def test_clone_cancel_kills_the_hanging_git(tmp_path: Path, silent_server: str):
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(UserError, match="cancelled"):
        clone_ukl(silent_server, tmp_path / "ukl", log_path=tmp_path / "l", cancel=cancel)
    assert not (tmp_path / "ukl").exists()


def test_clone_timeout_is_reported_as_unreachable(tmp_path: Path, silent_server: str):
    with pytest.raises(UserError) as err:
        clone_ukl(silent_server, tmp_path / "ukl", log_path=tmp_path / "l", timeout=0.5)
    assert str(err.value) == f"cannot reach {silent_server}: no network? (no result after 0.5 s)"


def test_the_linux_submodule_itself_is_a_kernel_tree_with_git(
    full_checkout: Path, upstream: UklUpstream
):
    ws = inspect_workspace(full_checkout / "linux")  # its .git is a file pointing elsewhere
    assert ws.kind == "kernel" and ws.kernel_version == "6.3.0"
    assert ws.git is not None and ws.git.detached
    assert ws.git.commit == upstream.linux_commits[0][:7]
    assert ws.git.branch == f"detached at {ws.git.commit}"


def test_git_status_failure_is_reported_not_raised(checkout: Path):
    (checkout / ".git" / "index").write_bytes(b"garbage, not an index")
    ws = inspect_workspace(checkout)
    assert ws.kind == "ukl"
    assert ws.git is not None and ws.git.error and "index" in ws.git.error
