"""Saving, importing and comparing configurations on the small fixture tree; bad input.

The real-tree round trips against the kernel's C tools are in test_preset_save_real.py.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from ukl_tui.boot import NetworkSpec
from ukl_tui.cli import main
from ukl_tui.kconfig import load_tree
from ukl_tui.kconfig.compare import compare
from ukl_tui.kconfig.minimal import config_values
from ukl_tui.preset_save import BaseChoice, base_snapshot, make_preset
from ukl_tui.presets import Catalogue, load_presets

#: defconfig of the fixture tree plus: a select (HELPER follows), a choice, a string, and a
#: dependency turned off (DRIVER follows).
TUNED = """CONFIG_MODULES=y
CONFIG_SELECTOR=y
CONFIG_HELPER=y
CONFIG_COMP_XZ=y
CONFIG_GREETING="hi there"
# CONFIG_INET is not set
"""


@pytest.fixture
def presets_dir(tmp_path, monkeypatch) -> Path:
    """The user preset directory ($XDG_CONFIG_HOME honoured), not created yet."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "ukl-tui" / "presets"


@pytest.fixture
def tuned(tmp_path) -> Path:
    path = tmp_path / "tuned.config"
    path.write_text(TUNED)
    return path


def test_saved_preset_has_the_choices_only_and_round_trips(mini_tree, tuned, presets_dir) -> None:
    tree = load_tree(mini_tree, config=tuned)
    want = config_values(tree.config_text())
    saved = make_preset(tree, "tuned", BaseChoice.parse("defconfig"), source=str(tuned))
    # HELPER is selected by SELECTOR and DRIVER's dependency is off: neither is a choice.
    assert saved.assignments == {
        "INET": "n",
        "GREETING": "hi there",
        "SELECTOR": "y",
        "COMP_XZ": "y",
    }
    data = tomllib.loads(saved.text)
    assert data["base"] == "defconfig" and data["kernel"] == "6.18.0-mini"
    assert data["summary"].startswith("defconfig + 4 changes: INET=n")
    assert '"hi there"  # Greeting' in saved.text
    # Applied to its base, through the catalogue like any preset, it gives the same values.
    path = presets_dir / "tuned.toml"
    presets_dir.mkdir(parents=True)
    path.write_text(saved.text)
    fresh = load_tree(mini_tree)
    from ukl_tui.presets import apply_presets

    report = apply_presets(fresh, load_presets(["tuned"]), base=True)
    assert report.ok and config_values(fresh.config_text()) == want


def test_save_leaves_the_tree_as_it_was(mini_tree, tuned) -> None:
    tree = load_tree(mini_tree, config=tuned)
    before, changes = tree.config_text(), tree.diff()
    make_preset(tree, "x", BaseChoice.parse("tinyconfig"))
    assert tree.config_text() == before and tree.diff() == changes


def test_a_value_kept_against_a_changed_default_is_a_choice(mini_tree, tmp_path) -> None:
    """COMP_GZIP is the default option either way; the hex value is held explicitly."""
    config = tmp_path / "c.config"
    config.write_text("CONFIG_MODULES=y\nCONFIG_BASE_ADDR=0x2000\nCONFIG_LOG_SHIFT=17\n")
    tree = load_tree(mini_tree, config=config)
    saved = make_preset(tree, "x", BaseChoice.parse("defconfig"))
    assert saved.assignments == {"BASE_ADDR": "0x2000"}  # LOG_SHIFT=17 is the default anyway


def test_extends_leaves_the_parents_values_out(mini_tree, ukl_overlay, tmp_path) -> None:
    config = tmp_path / "c.config"
    config.write_text(
        "CONFIG_MODULES=y\n# CONFIG_RANDOMIZE_BASE is not set\n"
        "# CONFIG_PAGE_TABLE_ISOLATION is not set\nCONFIG_UNIKERNEL_LINUX=y\n"
        'CONFIG_UKL_TLS=y\nCONFIG_UKL_NAME="/data/UKL"\nCONFIG_SELECTOR=y\n'
    )
    tree = load_tree(mini_tree, config=config, overlays=[ukl_overlay])
    want = config_values(tree.config_text())
    saved = make_preset(tree, "mine", BaseChoice.parse("defconfig"), ["ukl-base"])
    assert saved.assignments == {"SELECTOR": "y", "UKL_NAME": "/data/UKL"}
    assert tomllib.loads(saved.text)["extends"] == ["ukl-base"]
    snap = base_snapshot(tree, BaseChoice.parse("defconfig"), load_presets(["ukl-base"]))
    tree.restore(snap)
    tree.set_many(saved.assignments)
    assert config_values(tree.config_text()) == want


def test_boot_settings_beyond_the_parents_go_in(mini_tree, tuned) -> None:
    from ukl_tui.presets import Boot

    tree = load_tree(mini_tree, config=tuned)
    boot = Boot(("console=ttyS0", "clearcpuid=smap,smep", "mitigations=off", "quiet"), ("-smap",))
    saved = make_preset(tree, "b", BaseChoice.parse("defconfig"), ["ukl-prereqs"], boot=boot)
    data = tomllib.loads(saved.text)
    assert data["boot"] == {"cmdline": ["quiet"]}  # the rest comes from ukl-prereqs
    alone = tomllib.loads(make_preset(tree, "b", BaseChoice.parse("defconfig"), boot=boot).text)
    assert alone["boot"]["qemu_cpu_flags"] == ["-smap"]


def test_cli_save_writes_into_the_user_dir_and_lists_it(
    mini_tree, tuned, presets_dir, capsys
) -> None:
    argv = ["preset", "save", "tuned", "--tree", str(mini_tree), "--config", str(tuned)]
    assert main([*argv, "--dry-run"]) == 0
    assert "SELECTOR = " in capsys.readouterr().out and not presets_dir.exists()
    assert main(argv) == 0
    assert "4 assignment(s)" in capsys.readouterr().out
    assert (presets_dir / "tuned.toml").is_file()
    assert "tuned" in Catalogue().names()
    assert main(["presets"]) == 0
    listing = capsys.readouterr().out
    assert (
        "defconfig + 4 changes" in listing
        and "base defconfig; made on Linux 6.18.0-mini" in listing
    )
    # A second save with the same name needs --force; the old file is kept as .old.
    assert main(argv) == 2
    assert "exists (--force replaces it)" in capsys.readouterr().err
    assert main([*argv, "--force", "--summary", "mine"]) == 0
    assert (presets_dir / "tuned.toml.old").is_file()
    assert tomllib.loads((presets_dir / "tuned.toml").read_text())["summary"] == "mine"


def test_cli_save_against_a_file_base(mini_tree, tuned, tmp_path, presets_dir, capsys) -> None:
    base = tmp_path / "base.config"
    base.write_text("CONFIG_MODULES=y\nCONFIG_SELECTOR=y\n")
    argv = ["preset", "save", "f", "--tree", str(mini_tree), "--config", str(tuned)]
    assert main([*argv, "--base", str(base), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["assignments"] == {"INET": "n", "GREETING": "hi there", "COMP_XZ": "y"}
    text = (presets_dir / "f.toml").read_text()
    assert "base =" not in text and f"Made against {base}" in text


def _boot_of(name: str, tree: Path):  # noqa: ANN202
    """The boot a fresh plan gets from preset ``name`` (what ``plan --preset`` boots with)."""
    from ukl_tui.plan import Plan
    from ukl_tui.presets import combine

    plan = Plan(tree=tree, presets=(name,))
    return plan.boot_spec(combine(plan.load_presets()).boot)


def test_cli_save_with_boot_and_network_round_trips(
    mini_tree, tuned, presets_dir, tmp_path, monkeypatch
) -> None:
    from ukl_tui.plan import Plan

    monkeypatch.chdir(tmp_path)  # neither the current directory nor $UKL_DIR is a tree
    monkeypatch.delenv("UKL_DIR", raising=False)

    argv = ["preset", "save", "web", "--tree", str(mini_tree), "--config", str(tuned)]
    argv += ["--extends", "ukl-prereqs", "--cmdline", "loglevel=7 nokaslr", "--gdb"]
    argv += ["--qemu-cpu-flags", "+pdpe1gb", "--forward", "8080:80", "--forward", "5353/udp"]
    argv += ["--nic", "virtio-net-pci", "--mac", "52:54:00:AA:BB:CC"]
    assert main(argv) == 0
    data = tomllib.loads((presets_dir / "web.toml").read_text())
    # only what ukl-prereqs does not already give
    assert data["boot"] == {
        "cmdline": ["loglevel=7", "nokaslr"],
        "qemu_cpu_flags": ["+pdpe1gb"],
        "gdb": True,
    }
    assert data["network"] == {
        "forwards": ["8080:80", "5353:5353/udp"],
        "mac": "52:54:00:aa:bb:cc",
        "nic": "virtio-net-pci",
    }
    boot = _boot_of("web", mini_tree)
    assert boot.cmdline_base[-2:] == ("loglevel=7", "nokaslr")
    assert "clearcpuid=smap,smep" in boot.cmdline_base  # from ukl-prereqs
    assert boot.qemu_cpu_flags == ("-smap", "-smep", "+pdpe1gb") and boot.gdb
    want = replace(
        NetworkSpec.user(["8080:80", "5353/udp"]), nic="virtio-net-pci", mac="52:54:00:aa:bb:cc"
    )
    assert boot.network == want
    # saved again from a plan that uses it: nothing beyond the preset itself
    plan = Plan(tree=mini_tree, presets=("web",))
    plan.save(mini_plan := presets_dir.parent / "p.toml")
    argv = ["preset", "save", "again", "--tree", str(mini_tree), "--config", str(tuned)]
    assert main([*argv, "--extends", "web", "--plan", str(mini_plan)]) == 0
    again = tomllib.loads((presets_dir / "again.toml").read_text())
    assert "boot" not in again and "network" not in again
    # and alone, from that plan, everything (the full command line, the whole network);
    # the tree is the plan's when --tree is not given
    alone = ["preset", "save", "alone", "--config", str(tuned), "--plan", str(mini_plan)]
    assert main(alone) == 0
    assert _boot_of("alone", mini_tree).network == want
    assert _boot_of("alone", mini_tree).cmdline_base == boot.cmdline_base


def test_save_switching_mode_writes_the_new_mode_whole(mini_tree, tuned, presets_dir) -> None:
    presets_dir.mkdir(parents=True)
    (presets_dir / "fwd.toml").write_text(
        'summary = "f"\n[network]\nforwards = ["8080:80"]\nnic = "virtio-net-pci"\n'
    )
    argv = ["preset", "save", "t", "--tree", str(mini_tree), "--config", str(tuned)]
    assert main([*argv, "--extends", "fwd", "--net", "tap", "--tap", "tap4"]) == 0
    data = tomllib.loads((presets_dir / "t.toml").read_text())
    # the parent's user-networking settings are dropped by the mode switch: the tap
    # defaults (virtio-net-pci among them) are what the mode gives, nothing to restate
    assert data["network"] == {"mode": "tap", "tap": "tap4"}
    assert _boot_of("t", mini_tree).network == NetworkSpec.tap_on_bridge(tap="tap4")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--forward", "8080:99999"], "--forward '8080:99999': port 99999"),
        (["--ip", "10.0.2.300/24"], "--ip '10.0.2.300/24': bad guest address"),
        (["--ip", "192.168.122.5/24"], "belongs to the bridge network"),
        (["--net", "tap", "--forward", "80"], "port forwards only apply to user networking"),
        (["--mac", "01:00:00:00:00:01"], "multicast"),
        (["--cmdline", 'a"b'], "single word"),
        (["--qemu-cpu-flags", "smap"], "smap"),
        (["--plan", "/nonexistent/p.toml"], "does not exist"),
    ],
)
def test_bad_boot_or_network_option(mini_tree, tuned, presets_dir, capsys, options, words):
    argv = ["preset", "save", "x", "--tree", str(mini_tree), "--config", str(tuned), *options]
    _bad(argv, words, capsys, presets_dir)


# ----- bad input: one line, exit 2, nothing written ----------------------------------------


def _bad(argv: list[str], words: str, capsys, presets_dir: Path) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert not presets_dir.exists() or not any(presets_dir.iterdir())


@pytest.mark.parametrize("name", ["My Preset", "../up", "x/y", "Upper", "_x", "a.toml"])
def test_name_that_is_not_a_plain_word(mini_tree, tuned, presets_dir, capsys, name) -> None:
    argv = ["preset", "save", name, "--tree", str(mini_tree), "--config", str(tuned)]
    _bad(argv, "use a plain word", capsys, presets_dir)


def test_base_that_does_not_exist(mini_tree, tuned, presets_dir, capsys) -> None:
    argv = ["preset", "save", "x", "--tree", str(mini_tree), "--config", str(tuned)]
    _bad([*argv, "--base", "nosuch.config"], "no such file", capsys, presets_dir)
    _bad([*argv, "--extends", "nosuch"], "unknown preset 'nosuch'", capsys, presets_dir)
    _bad([*argv, "--extends", "x"], "unknown preset 'x'", capsys, presets_dir)


def test_config_that_does_not_exist(mini_tree, tmp_path, presets_dir, capsys) -> None:
    argv = ["preset", "save", "x", "--tree", str(mini_tree), "--config", str(tmp_path / "no")]
    _bad(argv, "no such", capsys, presets_dir)


def test_file_that_is_neither_fragment_nor_config(mini_tree, tmp_path, presets_dir, capsys) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("# my notes\nturn on e1000\n")
    _bad(
        ["preset", "import", str(junk)],
        "neither a config fragment nor a .config",
        capsys,
        presets_dir,
    )
    empty = tmp_path / "empty.config"
    empty.write_text("# nothing here\n")
    argv = ["preset", "import", str(empty), "--tree", str(mini_tree)]
    _bad(argv, "no CONFIG_ assignments", capsys, presets_dir)
    binary = tmp_path / "vmlinux"
    binary.write_bytes(b"\x7fELF\x00\x01")
    _bad(["preset", "import", str(binary)], "binary file", capsys, presets_dir)
    argv = ["diff", str(junk), str(empty), "--tree", str(mini_tree)]
    _bad(argv, "not a .config line", capsys, presets_dir)


def test_two_configs_from_different_architectures(mini_tree, tuned, tmp_path, presets_dir, capsys):
    arm = tmp_path / "arm64.config"
    arm.write_text(
        "#\n# Linux/arm64 6.1.0 Kernel Configuration\n#\nCONFIG_ARM64=y\nCONFIG_MODULES=y\n"
    )
    _bad(
        ["diff", str(tuned), str(arm), "--tree", str(mini_tree)], "Linux/arm64", capsys, presets_dir
    )
    argv = ["preset", "save", "x", "--tree", str(mini_tree), "--config", str(tuned)]
    _bad([*argv, "--base", str(arm)], "one architecture", capsys, presets_dir)
    i386 = tmp_path / "i386.config"
    i386.write_text("CONFIG_X86_32=y\n")
    _bad(["diff", str(i386), str(tuned), "--tree", str(mini_tree)], "i386", capsys, presets_dir)


# ----- import ----------------------------------------------------------------------------------


def test_import_reports_unknown_symbols_by_line(mini_tree, tmp_path, presets_dir, capsys) -> None:
    fragment = tmp_path / "net.config"
    fragment.write_text(
        "# a merge_config.sh fragment\nCONFIG_SELECTOR=y\nCONFIG_NOPE=y\n"
        "CONFIG_GREETING=hello-unquoted\n# CONFIG_ALSO_NOPE is not set\n"
    )
    assert main(["preset", "import", str(fragment), "--tree", str(mini_tree)]) == 0
    err = capsys.readouterr().err
    assert f"{fragment}:3: CONFIG_NOPE is not defined by this tree" in err
    assert f"{fragment}:5: CONFIG_ALSO_NOPE is not defined by this tree" in err
    text = (presets_dir / "net.toml").read_text()
    data = tomllib.loads(text)
    assert data["kconfig"] == {"SELECTOR": "y", "GREETING": "hello-unquoted"}
    assert "# line 3: NOPE is not defined by" in text
    (preset,) = load_presets(["net"])
    assert preset.kconfig() == data["kconfig"]


def test_import_without_a_tree_keeps_every_value(tmp_path, presets_dir, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    fragment = tmp_path / "mine_defconfig"
    fragment.write_text('CONFIG_E1000=y\n# CONFIG_IPV6 is not set\nCONFIG_NAME="/UKL"\n')
    assert main(["preset", "import", str(fragment), "--name", "m", "--base", "tinyconfig"]) == 0
    data = tomllib.loads((presets_dir / "m.toml").read_text())
    assert data["kconfig"] == {"E1000": "y", "IPV6": "n", "NAME": "/UKL"}
    assert data["base"] == "tinyconfig"


def test_import_of_a_full_config_saves_the_choices(mini_tree, tmp_path, tuned, presets_dir) -> None:
    full = tmp_path / "full.config"
    full.write_text(load_tree(mini_tree, config=tuned).config_text())
    assert main(["preset", "import", str(full), "--tree", str(mini_tree), "--name", "f"]) == 0
    data = tomllib.loads((presets_dir / "f.toml").read_text())
    assert set(data["kconfig"]) == {"INET", "GREETING", "SELECTOR", "COMP_XZ"}


# ----- diff --------------------------------------------------------------------------------------


def test_diff_marks_choices_and_hangs_consequences_under_them(mini_tree, tuned, tmp_path) -> None:
    a = tmp_path / "a.config"
    a.write_text("CONFIG_MODULES=y\nCONFIG_DRIVER=m\n")
    tree = load_tree(mini_tree)
    result = compare(tree, a, tuned)
    by = {d.name: d for d in result.differences}
    assert by["SELECTOR"].kind == "choice" and by["INET"].kind == "choice"
    assert by["HELPER"].kind == "consequence" and by["HELPER"].reason == "selected by SELECTOR"
    assert by["HELPER"] in by["SELECTOR"].children
    assert by["DRIVER"].reason == "dependency turned off (INET)" and (
        by["DRIVER"].old,
        by["DRIVER"].new,
    ) == ("m", None)
    assert by["COMP_GZIP"].reason == "choice: COMP_XZ selected instead"
    assert by["COMP_GZIP"] in by["COMP_XZ"].children
    assert result.choices == {"INET": "n", "GREETING": "hi there", "SELECTOR": "y", "COMP_XZ": "y"}
    assert "DRIVER" not in result.choices  # it followed; not set directly
    assert tree.config_text() == load_tree(mini_tree).config_text()  # the tree is restored


def test_diff_cli_text_fragment_json(mini_tree, tuned, tmp_path, capsys) -> None:
    a = tmp_path / "a.config"
    a.write_text("CONFIG_MODULES=y\n")
    argv = ["diff", str(a), str(tuned), "--tree", str(mini_tree)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    selector = next(i for i, line in enumerate(lines) if "choice" in line and "SELECTOR" in line)
    assert "consequence HELPER" in lines[selector + 1] and lines[selector + 1].startswith("    ")
    assert lines[-1] == "7 difference(s): 4 choice(s), 3 consequence(s)"
    assert main([*argv, "--format", "fragment"]) == 0
    fragment = capsys.readouterr().out
    assert fragment.splitlines()[1:] == [
        "# CONFIG_INET is not set",
        'CONFIG_GREETING="hi there"',
        "CONFIG_SELECTOR=y",
        "CONFIG_COMP_XZ=y",
    ]
    # a + the fragment, merged as merge_config.sh would, is the tuned configuration.
    merged = load_tree(mini_tree, config=a)
    frag = tmp_path / "frag.config"
    frag.write_text(fragment)
    merged.load_fragment(frag)
    assert config_values(merged.config_text()) == config_values(
        load_tree(mini_tree, config=tuned).config_text()
    )
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    helper = next(d for d in data["differences"] if d["name"] == "HELPER")
    assert helper["kind"] == "consequence" and helper["causes"] == ["SELECTOR"]


def test_diff_of_identical_configs_is_empty(mini_tree, tuned, capsys) -> None:
    assert main(["diff", str(tuned), str(tuned), "--tree", str(mini_tree)]) == 0
    assert capsys.readouterr().out.strip() == "0 difference(s): 0 choice(s), 0 consequence(s)"


def test_an_out_of_range_base_value_is_overridden_explicitly(mini_tree, tmp_path) -> None:
    """LOG_SHIFT=99 is out of its range (12..25). Linux 6.1's C tools reset it to the default
    only after its dependents were computed with it, so the fragment restates the value; since
    6.11 the value is clamped to 25 (the fixture tree follows the newest rules: compat.py),
    a real difference from 17 that is set directly. Either way the preset names LOG_SHIFT."""
    base = tmp_path / "base.config"
    base.write_text("CONFIG_MODULES=y\nCONFIG_LOG_SHIFT=99\n")
    target = tmp_path / "target.config"
    target.write_text("CONFIG_MODULES=y\nCONFIG_SELECTOR=y\n")
    tree = load_tree(mini_tree, config=target)
    saved = make_preset(tree, "x", BaseChoice.parse(str(base)))
    assert saved.assignments == {"LOG_SHIFT": "17", "SELECTOR": "y"}
    result = compare(tree, base, target)
    assert result.choices == {"LOG_SHIFT": "17", "SELECTOR": "y"}
    (log,) = [d for d in result.differences if d.name == "LOG_SHIFT"]
    clamped = tree.kconf.c_rules.clamp_user_value
    assert log.kind == "choice" and log.reason == (
        "set directly" if clamped else "restated (A's value is out of its range)"
    )
