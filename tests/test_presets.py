"""Presets: the file format, its errors, extends, user overrides, applying, fragments, the wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.trees import renamed_pti_tree
from ukl_tui.boot import NetworkSpec
from ukl_tui.cli import main
from ukl_tui.errors import UserError
from ukl_tui.kconfig import load_tree
from ukl_tui.presets import (
    SOURCE_DIR,
    Catalogue,
    apply_presets,
    choose_base,
    combine,
    fragment_text,
    load_presets,
    network_spec,
    other_names,
    preview,
    resolve_name,
)

REPO = Path(__file__).resolve().parent.parent


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def _tree(mini_tree: Path, overlay: Path | None = None):
    return load_tree(mini_tree, config=None, overlays=[overlay] if overlay else [], use_cache=False)


# ----- the shipped presets ------------------------------------------------------------------


def test_shipped_presets_load_and_say_what_the_issue_asks(user_presets) -> None:
    good, bad = Catalogue().load_all()
    assert bad == []
    by_name = {p.name: p for p in good}
    expected = {"ukl-base", "ukl-saved", "ukl-shortcut", "ukl-ret", "ukl-debug", "qemu-smoke"}
    assert expected <= set(by_name)
    assert all(p.shipped and Path(p.source).parent == SOURCE_DIR for p in good)

    base = by_name["ukl-base"]
    kconfig = base.kconfig()
    for name, value in {
        "RANDOMIZE_BASE": "n",
        "PAGE_TABLE_ISOLATION": "n",
        "INET": "y",
        "UNIKERNEL_LINUX": "y",
        "UKL_TLS": "y",
        "UKL_NAME": "/UKL",
        "UKL_ARCHIVE_PATH": "../UKL.a",
    }.items():
        assert kconfig[name] == value, name
    assert "UNIKERNEL_LINUX" in base.required and "UKL_ARCHIVE_PATH" not in base.required
    assert {"console=ttyS0", "clearcpuid=smap,smep", "mitigations=off"} <= set(base.boot.cmdline)
    assert set(base.boot.qemu_cpu_flags) == {"-smap", "-smep"}

    saved = by_name["ukl-saved"].kconfig()
    assert "ukl-base" in by_name["ukl-saved"].chain
    for name in ("MODULES", "RETPOLINE", "SLS", "X86_KERNEL_IBT"):
        assert saved[name] == "n", name
    for name in ("BLK_DEV_INITRD", "RD_LZMA", "RD_XZ", "DEVTMPFS", "DEVTMPFS_MOUNT", "E1000"):
        assert saved[name] == "y", name
    for name in ("SERIAL_8250_CONSOLE", "VIRTIO_NET", "VIRTIO_PCI", "IP_PNP"):
        assert saved[name] == "y", name
    assert by_name["ukl-shortcut"].kconfig()["UKL_DEEP_SHORTCUT"] == "y"
    assert by_name["ukl-shortcut"].kconfig()["INET"] == "y"
    assert by_name["ukl-ret"].kconfig()["UKL_USE_RET"] == "y"
    debug = by_name["ukl-debug"]
    assert debug.boot.gdb and debug.kconfig()["GDB_SCRIPTS"] == "y"
    for name in ("ukl-shortcut", "ukl-ret", "ukl-debug"):
        assert by_name[name].chain[-2:] == ("ukl-base", name)
    smoke = by_name["qemu-smoke"]
    assert smoke.base == "tinyconfig"
    assert smoke.kconfig()["RANDOMIZE_BASE"] == "n"  # the UKL prerequisites
    assert "UNIKERNEL_LINUX" not in smoke.kconfig()  # needs an application: ukl-base adds it


# ----- format errors: one line naming file and line -------------------------------------------


GOOD = 'summary = "fine"\n[kconfig]\nINET = "y"\n'


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('summary = "x"\n[kconfig]\nINET = \n', 3, "TOML syntax"),
        ('summary = "x"\ncolour = "red"\n', 2, "unknown key 'colour'"),
        ('summary = "x"\n\n[boot]\ncmdline = ["a"]\nkvm = true\n', 5, "unknown key 'kvm'"),
        ('summary = "x"\n[kconfig]\nINET = "y"\nLOG = ["1"]\n', 4, "not a list"),
        ('summary = "x"\n[kconfig]\nA = { value = "y", requird = true }\n', 3, "'requird'"),
        ('summary = "x"\n[kconfig]\nA = { required = true }\n', 3, "missing 'value'"),
        ('summary = "x"\n[kconfig]\nCONFIG_A = "y"\n', 3, "without the CONFIG_ prefix"),
        ('summary = "x"\n[boot]\ncmdline = "console=ttyS0"\n', 3, "list of strings"),
        ('summary = "x"\n[boot]\ncmdline = ["a b"]\n', 3, "one word"),
        ('summary = "x"\n[boot]\nqemu_cpu_flags = ["smap"]\n', 3, "-smap"),
        ('summary = "x"\nbase = "allyesconfig"\n', 2, "'base' must be one of"),
        ('name = "other"\nsummary = "x"\n', 1, "must match the file name"),
        ("summary = 3\n", 1, "'summary' must be one non-empty line"),
        ('summary = "x"\n\nextends = ["nope"]\n', 3, "extends unknown preset 'nope'"),
        ('summary = "x"\n[network]\nmode = "user"\nspeed = 10\n', 4, "unknown key 'speed'"),
        ('summary = "x"\n[network]\naddress = "10.0.2.300/24"\n', 3, "bad guest address"),
        ('summary = "x"\n[network]\nforwards = ["8080:99999"]\n', 3, "outside 1-65535"),
        ('summary = "x"\n[network]\nforwards = "8080:80"\n', 3, "a list of forwards"),
        ('summary = "x"\n[network]\nmode = "bridge"\n', 3, "one of user, tap, none"),
        ('summary = "x"\n[network]\nmac = "01:00:00:00:00:01"\n', 3, "multicast"),
        ('summary = "x"\nnetwork = "user"\n', 2, "'network' must be a table"),
        # each value is fine alone; together they are not a network (validate's own words)
        (
            'summary = "x"\n\n[network]\nmode = "tap"\nforwards = ["80"]\n',
            3,
            "[network]: port forwards only apply to user networking",
        ),
        ('summary = "x"\n[network]\naddress = "192.168.122.9/24"\n', 2, "bridge network"),
    ],
)
def test_malformed_preset_is_one_error_with_file_and_line(user_presets, text, line, words) -> None:
    path = _write(user_presets, "broken", text)
    with pytest.raises(UserError) as info:
        Catalogue().get("broken")
    message = info.value.message
    assert message.startswith(f"{path}:{line}:"), message
    assert words.replace("not a list", "a value must be") in message or words in message
    assert "\n" not in message


def test_extends_cycle_is_named(user_presets) -> None:
    _write(user_presets, "a", 'summary = "a"\nextends = ["b"]\n')
    path = _write(user_presets, "b", 'summary = "b"\n# loops back\nextends = ["a"]\n')
    with pytest.raises(UserError) as info:
        Catalogue().get("a")
    assert info.value.message == f"{path}:3: 'extends' makes a cycle: a -> b -> a"


def test_malformed_preset_changes_nothing(user_presets, mini_tree, ukl_overlay) -> None:
    path = _write(
        user_presets, "bad-value", 'summary = "x"\n[kconfig]\nINET = "n"\nLOG_SHIFT = 99\n'
    )
    tree = _tree(mini_tree, ukl_overlay)
    before = tree.config_text()
    with pytest.raises(UserError) as info:
        apply_presets(tree, load_presets(["bad-value"]))
    assert info.value.message == f"{path}:4: LOG_SHIFT=99 is out of range 12..25"
    assert tree.config_text() == before  # INET=n, valid on its own, was not applied either


def test_cli_reports_a_malformed_preset_in_one_line(user_presets, mini_tree, capsys) -> None:
    path = _write(user_presets, "oops", 'summary = "x"\n[kconfig\n')
    code = main(["apply", "--tree", str(mini_tree), "--preset", "oops", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"ukl-tui: {path}:2:") and err.count("\n") == 1


# ----- extends, overrides, combining -------------------------------------------------------------


def test_extends_order_values_and_required_inheritance(user_presets) -> None:
    _write(
        user_presets,
        "parent",
        'summary = "p"\nbase = "defconfig"\n[kconfig]\nA = { value = "y", required = true }\n'
        'B = "n"\nC = { value = "y", required = true }\n[boot]\ncmdline = ["console=ttyS0"]\n'
        'qemu_cpu_flags = ["+smap"]\n',
    )
    _write(
        user_presets,
        "child",
        'summary = "c"\nextends = ["parent"]\n[kconfig]\nB = true\nA = "n"\n'
        'C = { value = "y", required = false }\nD = 17\n[boot]\ncmdline = ["console=ttyS0", '
        '"quiet"]\nqemu_cpu_flags = ["-smap"]\ngdb = true\n',
    )
    child = Catalogue().get("child")
    assert child.chain == ("parent", "child")
    assert child.base == "defconfig"  # inherited
    assert child.kconfig() == {"B": "y", "A": "n", "C": "y", "D": "17"}
    assert child.values["A"].required is True  # not restated: inherited
    assert child.values["C"].required is False  # explicitly dropped
    assert child.values["A"].preset == "child" and child.values["A"].line == 5
    assert child.boot.cmdline == ("console=ttyS0", "quiet")
    assert child.boot.qemu_cpu_flags == ("-smap",)  # the later setting of the flag wins
    assert child.boot.gdb is True


def test_network_keys_replace_the_parents_and_a_mode_switch_starts_afresh(user_presets) -> None:
    _write(
        user_presets,
        "web",
        'summary = "w"\n[network]\nforwards = ["8080:80", "5353/udp"]\nnic = "virtio-net-pci"\n'
        'mac = "52:54:00:AB:CD:EF"\n',
    )
    _write(
        user_presets,
        "web2",
        'summary = "w2"\nextends = ["web"]\n[network]\nforwards = ["9090:90"]\n',
    )
    _write(user_presets, "bridged", 'summary = "b"\nextends = ["web"]\n[network]\nmode = "tap"\n')
    _write(user_presets, "plain", 'summary = "p"\nextends = ["web"]\n[kconfig]\nINET = "y"\n')
    web = Catalogue().get("web").boot
    assert web.network_text() == {
        "forwards": ["8080:80", "5353:5353/udp"],
        "mac": "52:54:00:ab:cd:ef",  # parsed like a plan file's: normalised
        "nic": "virtio-net-pci",
    }
    # forwards is one key: the child's list replaces the parent's; the rest is inherited
    web2 = Catalogue().get("web2").boot
    assert web2.network_text() == {**web.network_text(), "forwards": ["9090:90"]}
    assert {s.key: s.preset for s in web2.network} == {
        "forwards": "web2",
        "mac": "web",
        "nic": "web",
    }
    # another mode drops what belonged to user networking (the forwards would be an error)
    assert Catalogue().get("bridged").boot.network_text() == {"mode": "tap"}
    assert network_spec(Catalogue().get("bridged").boot.network) == NetworkSpec.tap_on_bridge()
    # a child without [network] inherits the whole table
    assert Catalogue().get("plain").boot.network == web.network
    # several presets at once: the later preset's keys win the same way
    both = combine(load_presets(["web", "web2"]))
    assert both.boot.network_text()["forwards"] == ["9090:90"]
    assert combine(load_presets(["web2", "web"])).boot.network_text()["forwards"] == [
        "8080:80",
        "5353:5353/udp",
    ]


def test_merged_network_that_is_not_valid_names_the_child(user_presets) -> None:
    _write(user_presets, "tapped", 'summary = "t"\n[network]\nmode = "tap"\n')
    path = _write(
        user_presets,
        "kid",
        'summary = "k"\nextends = ["tapped"]\n\n[network]\nforwards = ["8080:80"]\n',
    )
    with pytest.raises(UserError) as info:
        Catalogue().get("kid")
    assert info.value.message == (
        f"{path}:4: [network]: port forwards only apply to user networking; on a tap the guest "
        "is reached at its own address"
    )


def test_apply_reports_the_network_for_the_plan(user_presets, mini_tree, capsys) -> None:
    _write(user_presets, "web", 'summary = "w"\n[network]\nforwards = ["8080:80"]\n')
    argv = ["apply", "--tree", str(mini_tree), "--preset", "web", "--dry-run"]
    assert main(argv) == 0
    assert "network (for plan/run --preset): forwards=8080:80" in capsys.readouterr().out
    assert main([*argv, "--json"]) == 0
    import json

    boot = json.loads(capsys.readouterr().out)["boot"]
    assert boot["network"] == {"forwards": ["8080:80"]} and boot["cmdline"] == []
    assert main(["presets", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)["presets"]}
    assert listed["web"]["boot"]["network"] == {"forwards": ["8080:80"]}
    assert listed["ukl-base"]["boot"]["network"] == {}


def test_user_preset_overrides_shipped_and_says_so(user_presets, capsys) -> None:
    mine = _write(user_presets, "ukl-base", 'summary = "my own base"\n[kconfig]\nINET = "y"\n')
    preset = Catalogue().get("ukl-base")
    assert not preset.shipped and preset.source == str(mine)
    assert preset.overrides == str(SOURCE_DIR / "ukl-base.toml")
    # presets extending ukl-base now build on the user's file
    assert "UNIKERNEL_LINUX" not in Catalogue().get("ukl-saved").kconfig()
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert f"user: {mine}" in out and "overrides the shipped" in out
    assert main(["presets", "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    entry = next(p for p in data["presets"] if p["name"] == "ukl-base")
    assert entry["overrides"].endswith("ukl-base.toml") and entry["shipped"] is False


def test_presets_lists_good_ones_and_reports_broken_ones(user_presets, capsys) -> None:
    path = _write(user_presets, "broken", "summary = \n")
    assert main(["presets"]) == 2
    captured = capsys.readouterr()
    assert "ukl-base" in captured.out and "qemu-smoke" in captured.out
    assert captured.err.startswith(f"ukl-tui: {path}:1:")


def test_combining_presets_and_choosing_the_base(user_presets) -> None:
    smoke, base = load_presets(["qemu-smoke,ukl-base"])
    both = combine([smoke, base])
    assert both.kconfig()["UNIKERNEL_LINUX"] == "y" and both.kconfig()["E1000"] == "y"
    assert both.base is None  # tinyconfig vs defconfig: no common base
    with pytest.raises(UserError, match="different bases.*--base NAME"):
        choose_base([smoke, base], True)
    assert choose_base([smoke, base], "tinyconfig") == "tinyconfig"
    assert choose_base([smoke], True) == "tinyconfig"
    assert choose_base([smoke], False) is None
    with pytest.raises(UserError, match="unknown base 'allyes'"):
        choose_base([smoke], "allyes")
    with pytest.raises(UserError, match="unknown preset 'nope'"):
        load_presets(["nope"])


# ----- applying on a small tree --------------------------------------------------------------


def test_apply_reports_each_symbol(user_presets, mini_tree, ukl_overlay) -> None:
    tree = _tree(mini_tree, ukl_overlay)
    report = apply_presets(tree, load_presets(["ukl-base"]))
    status = {o.name: o.status for o in report.outcomes}
    assert status["RANDOMIZE_BASE"] == "applied" and status["PAGE_TABLE_ISOLATION"] == "applied"
    assert status["INET"] == "already"
    assert status["NET"] == "not-in-tree"  # the small tree has no NET: optional, fine
    assert status["UNIKERNEL_LINUX"] == "applied" and tree.value("UNIKERNEL_LINUX") == "y"
    assert tree.value("UKL_NAME") == "/UKL" and tree.value("UKL_TLS") == "y"
    assert report.ok and report.clashes == []
    assert report.wanted["UNIKERNEL_LINUX"] == "y" and "NET" not in report.wanted
    # applying again: everything is already there
    again = apply_presets(tree, load_presets(["ukl-base"]))
    assert {o.status for o in again.outcomes} == {"already", "not-in-tree"}


def test_optional_symbol_missing_is_fine_required_missing_is_not(
    user_presets, mini_tree, ukl_overlay_no_archive
) -> None:
    tree = _tree(mini_tree, ukl_overlay_no_archive)
    report = apply_presets(tree, load_presets(["ukl-base"]))
    archive = next(o for o in report.outcomes if o.name == "UKL_ARCHIVE_PATH")
    assert archive.status == "not-in-tree" and not archive.failed
    assert "not in tree  UKL_ARCHIVE_PATH (optional, skipped)" in archive.line()
    assert report.ok and tree.value("UKL_NAME") == "/UKL"

    plain = _tree(mini_tree)
    report = apply_presets(plain, load_presets(["ukl-base"]))
    assert not report.ok
    assert {o.name for o in report.failed} == {"UNIKERNEL_LINUX", "UKL_TLS", "UKL_NAME"}
    assert report.failed[0].line().startswith("MISSING      UNIKERNEL_LINUX: required")
    assert plain.value("RANDOMIZE_BASE") == "n"  # the rest was still applied and reported


def test_value_that_does_not_stick_comes_with_its_blocker(user_presets, mini_tree) -> None:
    _write(user_presets, "driver", 'summary = "d"\n[kconfig]\nINET = "n"\nDRIVER = "y"\n')
    tree = _tree(mini_tree)
    report = apply_presets(tree, load_presets(["driver"]))
    driver = next(o for o in report.outcomes if o.name == "DRIVER")
    assert driver.status == "not-stuck" and driver.failed
    assert [(t.expr, t.value) for t in driver.blockers] == [("INET", "n")]
    assert driver.line().startswith("NOT STUCK    DRIVER=y (is n): DRIVER cannot be y")


def test_hand_edits_win_and_come_back_as_clashes(user_presets, mini_tree, ukl_overlay) -> None:
    tree = _tree(mini_tree, ukl_overlay)
    report = apply_presets(
        tree, load_presets(["ukl-base"]), hand_edits={"UKL_NAME": "/app", "LOG_SHIFT": "14"}
    )
    assert tree.value("UKL_NAME") == "/app" and tree.value("LOG_SHIFT") == "14"
    assert [(c.symbol, c.preset, c.preset_value, c.your_value) for c in report.clashes] == [
        ("UKL_NAME", "ukl-base", "/UKL", "/app")
    ]
    name = next(o for o in report.outcomes if o.name == "UKL_NAME")
    assert name.origin == "yours" and name.overrode == ("ukl-base", "/UKL")
    assert "[--set, overrides ukl-base's /UKL]" in name.line()
    shift = next(o for o in report.outcomes if o.name == "LOG_SHIFT")
    assert shift.origin == "yours" and shift.status == "applied"
    # the same hand value as the preset is no clash
    same = apply_presets(tree, load_presets(["ukl-base"]), hand_edits={"UKL_NAME": "/UKL"})
    assert same.clashes == []


def test_preview_leaves_the_tree_alone(user_presets, mini_tree, ukl_overlay) -> None:
    tree = _tree(mini_tree, ukl_overlay)
    before = tree.config_text()
    report = preview(tree, load_presets(["ukl-base"]))
    assert any(o.status == "applied" for o in report.outcomes)
    assert tree.config_text() == before


def test_base_resets_first_and_keeps_hand_edits(user_presets, mini_tree, ukl_overlay) -> None:
    tree = _tree(mini_tree, ukl_overlay)
    tree.set("MODULES", "n")
    report = apply_presets(
        tree, load_presets(["ukl-base"]), hand_edits={"LOG_SHIFT": "13"}, base=True
    )
    assert report.base == "defconfig"
    assert tree.value("MODULES") == "y"  # the fixture's defconfig has MODULES=y
    assert tree.value("LOG_SHIFT") == "13" and tree.value("UNIKERNEL_LINUX") == "y"


# ----- renamed symbols -------------------------------------------------------------------------


@pytest.fixture
def renamed_tree(mini_tree: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The small tree as Linux 6.9+ spells PTI, with a UKL stand-in that uses the new name."""
    root = renamed_pti_tree(mini_tree, tmp_path / "tree69")
    overlay = tmp_path / "Kconfig.ukl69"
    overlay.write_text(
        'config UNIKERNEL_LINUX\n\tbool "Unikernel Linux"\n\tdepends on X86_64 && '
        "!RANDOMIZE_BASE && !MITIGATION_PAGE_TABLE_ISOLATION\n"
        'config UKL_TLS\n\tbool "TLS"\n\tdepends on UNIKERNEL_LINUX\n'
        'config UKL_NAME\n\tstring "name"\n\tdepends on UNIKERNEL_LINUX\n\tdefault "/UKL"\n'
    )
    return root, overlay


def test_renamed_symbols_resolve_per_tree(user_presets, renamed_tree) -> None:
    root, overlay = renamed_tree
    assert other_names("PAGE_TABLE_ISOLATION") == ("MITIGATION_PAGE_TABLE_ISOLATION",)
    assert other_names("MITIGATION_RETPOLINE") == ("RETPOLINE",)
    tree = load_tree(root, overlays=[overlay], use_cache=False)
    assert resolve_name("PAGE_TABLE_ISOLATION", tree.has) == "MITIGATION_PAGE_TABLE_ISOLATION"
    report = apply_presets(tree, load_presets(["ukl-base"]))
    pti = next(o for o in report.outcomes if o.name == "PAGE_TABLE_ISOLATION")
    assert pti.symbol == "MITIGATION_PAGE_TABLE_ISOLATION" and pti.status == "applied"
    assert "PAGE_TABLE_ISOLATION (MITIGATION_PAGE_TABLE_ISOLATION)=n" in pti.line()
    assert tree.value("UNIKERNEL_LINUX") == "y"
    text, missing = fragment_text(load_presets(["ukl-base"])[0], tree)
    assert "# CONFIG_MITIGATION_PAGE_TABLE_ISOLATION is not set" in text.splitlines()
    assert "# CONFIG_PAGE_TABLE_ISOLATION is not set" not in text
    assert [v.name for v in missing] == []


# ----- fragments -------------------------------------------------------------------------------


def test_fragment_without_a_tree_guesses_types(user_presets) -> None:
    _write(
        user_presets,
        "kinds",
        'summary = "k"\n[kconfig]\nA = "y"\nB = "n"\nC = "m"\nD = 42\nE = "0x1000"\n'
        "F = 'say \"hi\" \\o/'\nPAGE_TABLE_ISOLATION = false\n",
    )
    text, missing = fragment_text(load_presets(["kinds"])[0])
    lines = [line for line in text.splitlines() if not line.startswith("# ukl-tui")]
    assert lines[1:] == [
        "CONFIG_A=y",
        "# CONFIG_B is not set",
        "CONFIG_C=m",
        "CONFIG_D=42",
        "CONFIG_E=0x1000",
        'CONFIG_F="say \\"hi\\" \\\\o/"',
        "# CONFIG_PAGE_TABLE_ISOLATION is not set",
        "#   (MITIGATION_PAGE_TABLE_ISOLATION in other kernels: pass --tree to resolve the name)",
    ]
    assert missing == []


def test_export_fragment_cli_types_by_the_tree(user_presets, mini_tree, ukl_overlay, capsys):
    _write(user_presets, "str", 'summary = "s"\n[kconfig]\nGREETING = "y"\nLOG_SHIFT = "14"\n')
    assert main(["export-fragment", "str", "--tree", str(mini_tree)]) == 0
    out = capsys.readouterr().out
    assert 'CONFIG_GREETING="y"' in out  # a string symbol, typed by the tree, not guessed
    assert "CONFIG_LOG_SHIFT=14" in out
    assert main(["export-fragment", "ukl-base", "--tree", str(mini_tree)]) == 1
    captured = capsys.readouterr()
    assert "# UNIKERNEL_LINUX: required, but not in this tree (skipped)" in captured.out
    assert "UNIKERNEL_LINUX, UKL_TLS, UKL_NAME" in captured.err
    assert main(["export-fragment", "nope"]) == 2


# ----- the wheel ---------------------------------------------------------------------------------


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy: setuptools writes build/ and egg-info next to the sources."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("ukl_tui", "presets"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "-w", str(out), "--no-deps", "-q"],
        check=True,
        capture_output=True,
        timeout=300,
        cwd=tmp_path,
    )
    (wheel,) = out.glob("ukl_tui-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.mark.slow
def test_wheel_ships_every_preset_file(wheel) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(p.name for p in SOURCE_DIR.glob("*.toml"))
    assert len(shipped) >= 6
    packaged = sorted(Path(n).name for n in names if n.endswith(".toml"))
    assert packaged == shipped
    assert "ukl_tui/presets.py" in names


def test_wheel_ships_every_module_and_the_stylesheet(wheel) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    package_root = SOURCE_DIR.parent / "ukl_tui"
    sources = {
        "ukl_tui/" + str(p.relative_to(package_root))
        for p in package_root.rglob("*")
        if p.suffix in (".py", ".tcss") and "__pycache__" not in p.parts
    }
    assert sources - names == set()
    assert "ukl_tui/kconfig/model.py" in names


@pytest.mark.slow
def test_installed_wheel_lists_the_shipped_presets(wheel, tmp_path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
        + [str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    probe = (
        "import ukl_tui.presets as p; c = p.Catalogue(); "
        "print(p.__file__); print(' '.join(c.names()))"
    )
    # -S: no site-packages, so the editable install of the checkout cannot answer instead
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(target), "XDG_CONFIG_HOME": str(tmp_path / "cfg")},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    module, names = done.stdout.splitlines()
    assert module.startswith(str(target))
    assert {"ukl-base", "qemu-smoke"} <= set(names.split())
