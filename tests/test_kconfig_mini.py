"""The Kconfig model on a small fixture tree: compat syntax, set/validate, why, search, writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ukl_tui.errors import UserError
from ukl_tui.kconfig import load_tree
from ukl_tui.kconfig.compat import rewrite_kconfig


@pytest.fixture
def tree(mini_tree: Path, tmp_path: Path):
    return _load(mini_tree, tmp_path)


def _load(mini_tree: Path, tmp_path: Path, text: str | None = None):
    config = tmp_path / ".config"
    if text is not None:
        config.write_text(text)
    t = load_tree(mini_tree, config=config if text is not None else None, use_cache=False)
    t.config_path = config
    return t


def test_modules_attribute_marks_the_modules_symbol(tree) -> None:
    assert tree.kconf.modules is tree.kconf.syms["MODULES"]
    assert tree.set("MODULES", "y").status == "set"
    assert tree.set("DRIVER", "m").after == "m"
    assert tree.set("MODULES", "n").status == "set"
    # with modules off, a tristate at m is promoted to y (as in the C tools)
    assert tree.value("DRIVER") == "y"


def test_help_text_reading_modules_stays_text() -> None:
    text = (
        'config A\n\tbool "a"\n\thelp\n\t  modules\n\t  transitional\n'
        "\nconfig B\n\tbool\n\tmodules\n"
    )
    out, transitional = rewrite_kconfig(text)
    lines = out.splitlines()
    assert lines[3] == "\t  modules" and lines[4] == "\t  transitional"
    assert lines[8] == "\toption modules"
    assert transitional == []
    assert len(lines) == len(text.splitlines())  # line numbers are kept


def test_transitional_symbol_feeds_defaults_and_is_never_written(mini_tree, tmp_path) -> None:
    t = _load(mini_tree, tmp_path, "CONFIG_OLD_NAME=y\n")
    assert "OLD_NAME" in t.kconf.transitional_syms
    assert t.value("NEW_NAME") == "y"  # migrated from the old name
    text = t.config_text()
    assert "CONFIG_NEW_NAME=y" in text
    assert "OLD_NAME" not in text
    t2 = _load(mini_tree, tmp_path, "# nothing\n")
    assert t2.value("NEW_NAME") == "n"


def test_kernelversion_and_arch_come_from_the_tree(tree) -> None:
    assert tree.mainmenu == "Linux/x86_64 6.18.0-mini Kernel Configuration"
    assert tree.value("64BIT") == "y"  # ARCH=x86_64 keeps 64BIT promptless and on
    assert tree.value("X86_64") == "y"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("INET", "maybe", "INET is a bool: 'maybe' is not y or n"),
        ("INET", "m", "INET is a bool: 'm' is not y or n"),
        ("LOG_SHIFT", "40", "LOG_SHIFT=40 is out of range 12..25"),
        ("LOG_SHIFT", "abc", "LOG_SHIFT is an int: 'abc' is not a whole number"),
        ("BASE_ADDR", "0xZZ", "BASE_ADDR is hex: '0xZZ' is not a hexadecimal number"),
        ("NO_SUCH", "y", "unknown symbol NO_SUCH"),
        ("GREETING", "a\nb", "GREETING: a value cannot contain a line break"),
    ],
)
def test_bad_values_are_refused_with_one_clear_line(tree, name, value, message) -> None:
    before = tree.snapshot()
    with pytest.raises(UserError) as err:
        tree.set_many({"INET": "n", name: value})
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert tree.snapshot() == before  # nothing was changed, not even INET


def test_values_of_every_type(tree) -> None:
    assert tree.set("LOG_SHIFT", "20").after == "20"
    assert tree.set("BASE_ADDR", "2000000").after == "0x2000000"
    assert tree.set("GREETING", '"hi there"').after == "hi there"
    assert tree.set("COMP_XZ", "y").status == "set"
    assert tree.value("COMP_GZIP") == "n"
    # the tree follows 6.12's choice rules: n on the selected member hands the choice on
    # (6.1's rule, where it does not stick: tests/test_kconfig_semantics.py)
    res = tree.set("COMP_XZ", "n")
    assert res.status == "set" and tree.value("COMP_GZIP") == "y"
    assert 'CONFIG_GREETING="hi there"' in tree.config_text()


def test_set_many_settles_before_verifying(tree) -> None:
    # DRIVER depends on INET; asking for DRIVER first and INET later still works.
    tree.set("INET", "n")
    results = tree.set_many({"DRIVER": "y", "INET": "y"})
    assert [r.status for r in results] == ["set", "set"]
    assert tree.value("DRIVER") == "y"


def test_did_not_stick_names_the_blocking_term(tree) -> None:
    tree.set("INET", "n")
    res = tree.set("DRIVER", "y")
    assert res.status == "not-stuck"
    assert [t.expr for t in res.blockers] == ["INET"]
    assert res.blockers[0].symbols == (("INET", "n"),)
    assert res.blockers[0].fix == (("INET", "y"),)
    assert "depends on INET (INET is n)" in res.reason


def test_selected_symbol_cannot_be_turned_off(tree) -> None:
    tree.set("SELECTOR", "y")
    res = tree.set("HELPER", "n")
    assert res.status == "not-stuck"
    assert "SELECTOR" in res.blockers[0].expr
    exp = tree.why("HELPER")
    assert [r.symbol for r in exp.selected_by] == ["SELECTOR"] and exp.selected_by[0].active
    # the fix for a select is turning the selector off, not on
    assert res.blockers[0].fix == (("SELECTOR", "n"),)
    assert tree.why("HELPER", "n").fixes() == {"SELECTOR": "n"}


def test_reset_to_defconfig_without_one_is_a_clear_error(tmp_path, mini_tree) -> None:
    import shutil

    copy = tmp_path / "tree"
    shutil.copytree(mini_tree, copy)
    (copy / "arch/x86/configs/x86_64_defconfig").unlink()
    tree = load_tree(copy, use_cache=False)
    with pytest.raises(UserError, match="no arch/x86/configs/x86_64_defconfig"):
        tree.reset("defconfig")


def test_diff_is_recomputed_after_each_save(mini_tree, tmp_path) -> None:
    t = _load(mini_tree, tmp_path, "CONFIG_INET=y\n")
    t.set("INET", "n")
    assert any(c.name == "INET" for c in t.diff())
    t.write_config()
    assert t.diff() == []
    t.set("INET", "y")
    assert {c.name: (c.old, c.new) for c in t.diff()}["INET"] == ("n", "y")


def test_search_ranks_name_over_prompt_over_help(tree) -> None:
    names = [h.name for h in tree.search("inet")]
    assert names[0] == "INET"
    assert "DRIVER" not in names
    assert [h.name for h in tree.search("networking")] == ["INET"]
    assert tree.search("must stay text")[0].field == "help"
    assert tree.search("") == []


def test_write_is_atomic_and_keeps_old(tree, tmp_path) -> None:
    target = tmp_path / ".config"
    target.write_text("CONFIG_INET=y\n")
    tree.set("LOG_SHIFT", "21")
    tree.write_config(target)
    assert (tmp_path / ".config.old").read_text() == "CONFIG_INET=y\n"
    assert "CONFIG_LOG_SHIFT=21" in target.read_text()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert tree.diff() == []


def test_unwritable_output_is_a_clear_error_and_touches_nothing(tree, tmp_path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        tree.write_config(tmp_path / "missing" / ".config")
    # /proc refuses new files even to root
    with pytest.raises(UserError, match="cannot write /proc/.config"):
        tree.write_config(Path("/proc/.config"))
    # the target is a directory: refused before anything is written, the old backup kept
    target = tmp_path / "out" / ".config"
    target.mkdir(parents=True)
    (target / "keep").write_text("x")
    (tmp_path / "out" / ".config.old").write_text("previous\n")
    with pytest.raises(UserError, match="is not a regular file"):
        tree.write_config(target)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".config", ".config.old"]
    assert (tmp_path / "out" / ".config.old").read_text() == "previous\n"
    assert (target / "keep").read_text() == "x"


def test_failed_rename_leaves_no_temporary_files(tree, tmp_path, monkeypatch) -> None:
    target = tmp_path / ".config"
    target.write_text("CONFIG_INET=y\n")
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(dst) == target:
            raise PermissionError(13, "Permission denied")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(UserError, match="Permission denied"):
        tree.write_config(target)
    assert target.read_text() == "CONFIG_INET=y\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".config", ".config.old"]


def test_diff_against_saved_config(mini_tree, tmp_path) -> None:
    t = _load(mini_tree, tmp_path, "CONFIG_INET=y\n")
    t.write_config()
    assert t.diff() == []
    t.set("INET", "n")
    changes = {c.name: (c.old, c.new) for c in t.diff()}
    assert changes["INET"] == ("y", "n")
    assert changes["DRIVER"] == ("n", None)  # hidden now: no longer written


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CONFIG_INET=y\nthis is garbage\n", ".config:2: not a .config line"),
        ("CONFIG_INET=maybe\n", ".config:1: 'maybe' is not a valid bool value for INET"),
        ("CONFIG_LOG_SHIFT=ten\n", "'ten' is not a valid int value for LOG_SHIFT"),
        # the C tools ignore these (sym_string_valid), kconfiglib would take them
        ("CONFIG_LOG_SHIFT=017\n", "'017' is not a valid int value for LOG_SHIFT"),
        ("CONFIG_LOG_SHIFT=+17\n", "'+17' is not a valid int value for LOG_SHIFT"),
    ],
)
def test_garbage_config_is_refused(mini_tree, tmp_path, text, message) -> None:
    config = tmp_path / ".config"
    config.write_text(text)
    with pytest.raises(UserError) as err:
        load_tree(mini_tree, config=config, use_cache=False)
    assert message in str(err.value)


def test_unquoted_string_is_kept_for_the_rules_and_ignored_like_kconfig(
    mini_tree, tmp_path
) -> None:
    t = _load(mini_tree, tmp_path, "CONFIG_GREETING=/UKL\n")
    assert t.value("GREETING") == "hello"  # kconfig ignores it: the default stays
    a = t.dotconfig.assignments["GREETING"]
    assert not a.quoted and a.line == 1


def test_not_a_tree_and_missing_paths(tmp_path) -> None:
    with pytest.raises(UserError, match="no such directory"):
        load_tree(tmp_path / "nope")
    with pytest.raises(UserError, match="not a kernel tree"):
        load_tree(tmp_path)


def test_kconfig_syntax_error_is_one_line(tmp_path, mini_tree) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(mini_tree, broken)
    with open(broken / "Kconfig", "a") as handle:
        handle.write('\nconfig BROKEN\n\tbool "x"\n\tdepends on (A\n')
    with pytest.raises(UserError) as err:
        load_tree(broken, use_cache=False)
    assert str(err.value).startswith("Kconfig error:")
    assert "\n" not in str(err.value)


def test_snapshot_restore_round_trip(tree) -> None:
    snap = tree.snapshot()
    text = tree.config_text()
    tree.set_many({"INET": "n", "COMP_XZ": "y", "LOG_SHIFT": "13"})
    assert tree.config_text() != text
    tree.restore(snap)
    assert tree.config_text() == text
