"""``ukl-tui verify``: the tree's own C configurator against ukl-tui, at use time."""

from __future__ import annotations

import json
import os

import pytest

from tests.test_kconfig_semantics import INPUT_A, SEMANTICS
from ukl_tui.cli import main
from ukl_tui.kconfig import compat
from ukl_tui.kconfig.verify import Difference, compare, shadow_tree, written_values


def test_compare_sees_values_and_presence() -> None:
    ours = 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S="x"\nCONFIG_I=\nCONFIG_ONLY_OURS=m\n'
    theirs = 'CONFIG_A=m\n# CONFIG_B is not set\nCONFIG_S="x"\nCONFIG_I=0\n# comment\n'
    assert compare(ours, theirs) == [
        Difference("A", "y", "m"),
        Difference("I", "", "0"),  # an empty int is a value, not garbage to skip
        Difference("ONLY_OURS", "m", None),
    ]
    assert Difference("ONLY_OURS", "m", None).line() == (
        "ONLY_OURS: ukl-tui m, the tree's tool (not written)"
    )
    assert written_values(theirs) == {"A": "m", "B": "n", "S": '"x"', "I": "0"}


def test_shadow_leaves_out_build_state_and_copies_the_makefile(mini_tree, tmp_path) -> None:
    tree = tmp_path / "tree"
    shadow_tree(mini_tree, tree)  # a "user tree" configured in place
    (tree / ".config").write_text("CONFIG_INET=y\n")
    (tree / "include" / "config").mkdir(parents=True)
    (tree / "include" / "linux").mkdir()
    shadow = shadow_tree(tree, tmp_path / "shadow")
    assert not (shadow / ".config").exists() and not (shadow / "include" / "config").exists()
    assert (shadow / "include" / "linux").is_symlink()
    assert (shadow / "Makefile").is_file() and not (shadow / "Makefile").is_symlink()
    assert (shadow / "Kconfig").resolve() == (tree / "Kconfig").resolve()


def test_missing_host_tool_is_one_line_and_exit_2(mini_tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["verify", "--tree", str(mini_tree)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "gcc not found" in err and "(Debian package: gcc)" in err


@pytest.mark.realtree
def test_verify_agrees_on_defconfig_and_touches_nothing(real_tree_612, tmp_path, capsys):
    # a user's tree, configured in place (the C tool would refuse it: "not clean")
    tree = shadow_tree(real_tree_612, tmp_path / "tree")
    dot = tree / ".config"
    dot.write_text((real_tree_612 / "arch/x86/configs/x86_64_defconfig").read_text())
    before = sorted(p.name for p in tree.iterdir()), dot.read_text(), dot.stat().st_mtime_ns
    assert main(["verify", "--tree", str(tree)]) == 0
    out = capsys.readouterr().out
    assert "agree on all" in out and str(dot) in out
    assert (sorted(p.name for p in tree.iterdir()), dot.read_text(), dot.stat().st_mtime_ns) == (
        before
    )
    assert not (real_tree_612 / ".config").exists()


@pytest.mark.realtree
def test_verify_reports_every_difference_with_both_values(
    real_tree, tmp_path, monkeypatch, capsys
) -> None:
    """A model that does not follow the tree (kconfiglib's own imply rule) is caught."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # a parse with those rules
    monkeypatch.setattr(compat, "read_c_rules", lambda _srctree: (compat.KCONFIGLIB_RULES, []))
    config = tmp_path / "input.config"
    config.write_text(INPUT_A)
    args = ["verify", "--tree", str(real_tree), "--config", str(config)]
    args += ["--overlay", str(SEMANTICS)]
    assert main([*args, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["equal"] and report["config"] == str(config)
    by_name = {d["name"]: d for d in report["differences"]}
    assert by_name["SEM_TARGET"] == {"name": "SEM_TARGET", "ours": "y", "theirs": "m"}
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "DIFFERS    SEM_TARGET: ukl-tui y, the tree's tool m" in out
    assert "symbols differ between ukl-tui and the tree's own make olddefconfig" in out
    assert config.read_text() == INPUT_A
    assert not any(name.startswith(".config") for name in os.listdir(tmp_path))


def test_make_sees_no_foreign_kbuild_settings(monkeypatch, tmp_path) -> None:
    """ARCH=arm or KCONFIG_CONFIG in the user's shell must not reach the C tool."""
    from ukl_tui.kconfig import verify as verify_mod

    seen: dict[str, str] = {}
    monkeypatch.setattr(verify_mod, "_run", lambda argv, env, timeout: seen.update(env))
    for name, value in (("ARCH", "arm"), ("KCONFIG_CONFIG", "x"), ("OLDPWD", "/kept")):
        monkeypatch.setenv(name, value)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "Makefile").write_text("")
    tool = verify_mod.CConfigurator(tree, tmp_path / "work")
    (tool.objdir / ".config").write_text("")
    tool.make("olddefconfig", "", env={"KCONFIG_SEED": "1"})
    assert "ARCH" not in seen and "KCONFIG_CONFIG" not in seen
    assert seen["OLDPWD"] == "/kept" and seen["KCONFIG_SEED"] == "1"
