"""The conflict rules on the small fixture tree and on bare .config scans: each rule fires on its
trap, stays quiet otherwise, and its fix, applied, makes the conflict go away."""

from __future__ import annotations

import gzip
import json
import lzma
from pathlib import Path

import pytest

from tests.support.trees import renamed_pti_tree, ukl_overlay_for
from ukl_tui.apps import ConfigureOptions
from ukl_tui.boot import NetworkSpec
from ukl_tui.cli import main
from ukl_tui.errors import UserError
from ukl_tui.kconfig import load_tree
from ukl_tui.kconfig.dotconfig import parse_text
from ukl_tui.presets import apply_presets, load_presets
from ukl_tui.rules import (
    Context,
    Fix,
    add_cpu_flags,
    apply_fixes,
    check,
    detect_compression,
    edit_cmdline,
    failing,
)

UKL_ON = {
    "RANDOMIZE_BASE": "n",
    "PAGE_TABLE_ISOLATION": "n",
    "UNIKERNEL_LINUX": "y",
    "UKL_TLS": "y",
}


@pytest.fixture(autouse=True)
def _no_user_presets(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _tree(mini_tree: Path, overlay: Path | None = None, config: Path | None = None):
    overlays = [overlay] if overlay else []
    return load_tree(mini_tree, config=config, overlays=overlays, use_cache=False)


def _ids(conflicts) -> list[str]:
    return [c.id for c in conflicts]


def _scan(text: str):
    return parse_text(text, Path("test.config"))


# ----- KASLR, PTI, UNIKERNEL_LINUX -------------------------------------------------------------


def test_kaslr_and_pti_block_ukl_and_the_fixes_clear_them(mini_tree, ukl_overlay) -> None:
    tree = _tree(mini_tree, ukl_overlay)
    ctx = Context(tree=tree)
    assert ctx.ukl_wanted  # the tree defines UNIKERNEL_LINUX
    conflicts = check(ctx)
    assert _ids(conflicts) == ["kaslr", "pti", "ukl-off"]
    assert all(c.severity == "error" for c in conflicts)
    kaslr, pti, off = conflicts
    assert kaslr.subject == "RANDOMIZE_BASE" and dict(kaslr.fix.kconfig) == {"RANDOMIZE_BASE": "n"}
    assert pti.subject == "PAGE_TABLE_ISOLATION"
    assert "!RANDOMIZE_BASE (RANDOMIZE_BASE is y)" in off.message
    assert "!PAGE_TABLE_ISOLATION (PAGE_TABLE_ISOLATION is y)" in off.message
    assert dict(off.fix.kconfig) == {
        "RANDOMIZE_BASE": "n",
        "PAGE_TABLE_ISOLATION": "n",
        "UNIKERNEL_LINUX": "y",
    }
    results = apply_fixes(ctx, conflicts)
    assert all(r.took for r in results)
    assert tree.value("UNIKERNEL_LINUX") == "y"
    # with UKL on, the fork's 'default Y' trap shows: UKL_TLS is n
    (tls,) = check(ctx)
    assert tls.id == "ukl-tls" and tls.severity == "warning"
    apply_fixes(ctx, [tls])
    assert check(ctx) == []


def test_words_follow_the_trees_pti_symbol(mini_tree, ukl_overlay, tmp_path) -> None:
    root = renamed_pti_tree(mini_tree, tmp_path / "tree69")
    overlay = ukl_overlay_for(root, ukl_overlay, tmp_path / "overlay")
    assert ukl_overlay_for(mini_tree, ukl_overlay, tmp_path / "unused") == ukl_overlay
    ctx = Context(tree=_tree(root, overlay))
    kaslr, pti, off = check(ctx)
    assert pti.subject == "MITIGATION_PAGE_TABLE_ISOLATION"
    assert "depends on !MITIGATION_PAGE_TABLE_ISOLATION," in pti.message
    assert "!MITIGATION_PAGE_TABLE_ISOLATION (MITIGATION_PAGE_TABLE_ISOLATION is y)" in (
        off.message
    )
    for conflict in (kaslr, pti, off):
        assert " !PAGE_TABLE_ISOLATION" not in conflict.message
    assert dict(off.fix.kconfig) == {
        "RANDOMIZE_BASE": "n",
        "MITIGATION_PAGE_TABLE_ISOLATION": "n",
        "UNIKERNEL_LINUX": "y",
    }


def test_plain_tree_without_ukl_is_not_judged_as_ukl(mini_tree) -> None:
    ctx = Context(tree=_tree(mini_tree), cmdline="console=ttyS0", qemu_cpu="max")
    assert not ctx.ukl_wanted
    assert check(ctx) == []
    # asked for explicitly: this tree is not a UKL kernel
    ctx.wanted_ukl = True
    conflicts = check(ctx)
    assert "ukl-missing" in _ids(conflicts) and "kaslr" in _ids(conflicts)
    missing = next(c for c in conflicts if c.id == "ukl-missing")
    assert "does not define UNIKERNEL_LINUX" in missing.message and not missing.fix.applicable


def test_absent_from_config_means_off(mini_tree) -> None:
    # tinyconfig writes no PAGE_TABLE_ISOLATION / RANDOMIZE_BASE line at all: that is fine
    tiny = _scan("CONFIG_64BIT=y\nCONFIG_UNIKERNEL_LINUX=y\nCONFIG_UKL_TLS=y\n")
    ctx = Context(config=tiny, wanted_ukl=True)
    assert check(ctx) == []
    on = _scan(
        "CONFIG_RANDOMIZE_BASE=y\nCONFIG_MITIGATION_PAGE_TABLE_ISOLATION=y\nCONFIG_UKL_TLS=y\n"
    )
    conflicts = check(Context(config=on, wanted_ukl=True))
    assert _ids(conflicts) == ["kaslr", "pti", "ukl-off"]
    assert conflicts[1].subject == "MITIGATION_PAGE_TABLE_ISOLATION"  # the 6.9+ name, found
    assert dict(conflicts[1].fix.kconfig) == {"MITIGATION_PAGE_TABLE_ISOLATION": "n"}
    # without a tree a fix edits the context's values
    ctx = Context(config=on, wanted_ukl=True)
    apply_fixes(ctx, conflicts)
    assert check(ctx) == []


# ----- SMAP/SMEP ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmdline", "clean", "fixed"),
    [
        ("console=ttyS0", False, "console=ttyS0 clearcpuid=smap,smep"),
        ("console=ttyS0 clearcpuid=smap,smep", True, None),
        ("nosmap nosmep quiet", True, None),
        ("clearcpuid=308,295", True, None),
        ("clearcpuid=pku,smap quiet", False, "quiet clearcpuid=pku,smap,smep"),
        (
            "quiet -- clearcpuid=smap,smep",
            False,
            "quiet clearcpuid=smap,smep -- clearcpuid=smap,smep",
        ),
    ],
)
def test_cmdline_must_clear_smap_and_smep(mini_tree, ukl_overlay, cmdline, clean, fixed) -> None:
    tree = _tree(mini_tree, ukl_overlay)
    tree.set_many(UKL_ON)
    ctx = Context(tree=tree, cmdline=cmdline)
    conflicts = check(ctx)
    if clean:
        assert conflicts == []
        return
    assert _ids(conflicts) == ["smap-smep-cmdline"]
    apply_fixes(ctx, conflicts)
    assert ctx.cmdline == fixed
    assert check(ctx) == []


@pytest.mark.parametrize(
    ("cpu", "fixed"),
    [
        ("max", "max,-smap,-smep"),
        ("host,+smap,-smep", "host,-smap,-smep"),
        ("max,smap=on", "max,-smap,-smep"),
        ("", "-smap,-smep"),
    ],
)
def test_qemu_cpu_must_drop_smap_and_smep(mini_tree, ukl_overlay, cpu, fixed) -> None:
    tree = _tree(mini_tree, ukl_overlay)
    tree.set_many(UKL_ON)
    ctx = Context(tree=tree, qemu_cpu=cpu)
    conflicts = check(ctx)
    assert _ids(conflicts) == ["smap-smep-cpu"]
    apply_fixes(ctx, conflicts)
    assert ctx.qemu_cpu == fixed
    assert check(ctx) == []
    assert check(Context(tree=tree, qemu_cpu="max,-smap,-smep")) == []


# ----- shortcuts, initrd, strings, trigger ------------------------------------------------------


def test_deep_shortcut_needs_inet(mini_tree, ukl_overlay) -> None:
    tree = _tree(mini_tree, ukl_overlay)
    tree.set_many({**UKL_ON, "INET": "n", "UKL_DEEP_SHORTCUT": "y"})
    ctx = Context(tree=tree, wanted={**UKL_ON, "INET": "n", "UKL_DEEP_SHORTCUT": "y"})
    conflicts = check(ctx)
    # one conflict for the shortcut, not a second generic "did not stick" for it
    assert [c.id for c in conflicts if c.subject == "UKL_DEEP_SHORTCUT"] == ["shortcut-inet"]
    shortcut = conflicts[_ids(conflicts).index("shortcut-inet")]
    assert dict(shortcut.fix.kconfig) == {"INET": "y", "UKL_DEEP_SHORTCUT": "y"}
    apply_fixes(ctx, [shortcut])
    assert tree.value("UKL_DEEP_SHORTCUT") == "y"
    ctx.wanted = {}
    assert check(ctx) == []
    # the configure option asks for it too
    tree.set("INET", "n")
    opts = ConfigureOptions(shortcuts=True)
    assert "shortcut-inet" in _ids(check(Context(tree=tree, app_options=opts)))


def test_detect_compression_from_real_archives(tmp_path) -> None:
    payload = b"070701" + b"0" * 200
    files = {
        "gzip": gzip.compress(payload),
        "xz": lzma.compress(payload, format=lzma.FORMAT_XZ),
        "lzma": lzma.compress(payload, format=lzma.FORMAT_ALONE),
        "none": payload,
    }
    for kind, data in files.items():
        path = tmp_path / f"initrd.{kind}"
        path.write_bytes(data)
        assert detect_compression(path) == kind
    (tmp_path / "junk").write_bytes(b"hello world")
    with pytest.raises(UserError, match="not a cpio archive"):
        detect_compression(tmp_path / "junk")
    with pytest.raises(UserError, match="cannot read"):
        detect_compression(tmp_path / "missing")


def test_initrd_needs_its_decompressor() -> None:
    ctx = Context(values={"BLK_DEV_INITRD": "y", "RD_GZIP": "y"}, initrd_compression="xz")
    conflicts = check(ctx)
    assert _ids(conflicts) == ["initrd"] and conflicts[0].subject == "RD_XZ"
    assert "xz-compressed" in conflicts[0].message
    apply_fixes(ctx, conflicts)
    assert check(ctx) == []
    assert check(Context(values={"BLK_DEV_INITRD": "y"}, initrd_compression="gzip"))
    assert check(Context(values={"BLK_DEV_INITRD": "y"}, initrd_compression="none")) == []
    none = check(Context(values={}, initrd_compression="none"))
    assert none[0].subject == "BLK_DEV_INITRD"


def test_unquoted_string_is_caught_with_its_line(mini_tree, ukl_overlay, tmp_path) -> None:
    config = tmp_path / ".config"
    config.write_text(
        "CONFIG_UNIKERNEL_LINUX=y\nCONFIG_UKL_TLS=y\n# CONFIG_RANDOMIZE_BASE is not set\n"
        "# CONFIG_PAGE_TABLE_ISOLATION is not set\nCONFIG_UKL_NAME=/myapp\n"
        "CONFIG_LOG_SHIFT=14\nCONFIG_BASE_ADDR=0x2000\n"
    )
    tree = _tree(mini_tree, ukl_overlay, config)
    assert tree.value("UKL_NAME") == "/UKL"  # what kconfig did with it: the default
    ctx = Context(tree=tree)
    conflicts = check(ctx)
    assert _ids(conflicts) == ["unquoted-string"]  # ints and hex are written unquoted anyway
    assert conflicts[0].message.startswith(f"{config}:5: CONFIG_UKL_NAME=/myapp has no quotes")
    assert '(now "/UKL")' in conflicts[0].message
    apply_fixes(ctx, conflicts)
    tree.write_config(config)
    assert 'CONFIG_UKL_NAME="/myapp"' in config.read_text()
    assert check(Context(tree=_tree(mini_tree, ukl_overlay, config))) == []
    # without a tree: a value that is not y/m/n, a number or hex is a string
    bare = check(Context(config=_scan("CONFIG_UKL_NAME=/UKL\nCONFIG_NR=4\nCONFIG_A=0x10\n")))
    assert _ids(bare) == ["unquoted-string"]


def test_ukl_name_must_be_the_trigger(mini_tree, ukl_overlay) -> None:
    tree = _tree(mini_tree, ukl_overlay)
    tree.set_many(UKL_ON)
    ctx = Context(tree=tree, trigger="/app")
    conflicts = check(ctx)
    assert _ids(conflicts) == ["ukl-name"]
    assert 'UKL_NAME is "/UKL" but the initrd runs /app' in conflicts[0].message
    apply_fixes(ctx, conflicts)
    assert check(ctx) == []
    assert check(Context(tree=tree, app_options=ConfigureOptions(ukl_trigger="/app"))) == []


# ----- symbols the tree lacks ---------------------------------------------------------------------


def test_unknown_old_and_renamed_symbols_in_a_config(mini_tree, tmp_path) -> None:
    root = renamed_pti_tree(mini_tree, tmp_path / "tree69")
    config = tmp_path / "old.config"
    config.write_text(
        "CONFIG_INET=y\n# CONFIG_PAGE_TABLE_ISOLATION is not set\nCONFIG_UKL_SAME_STACK=y\n"
        "CONFIG_FOO=y\nCONFIG_BAR=m\n# CONFIG_BAZ is not set\n"
    )
    tree = load_tree(root, config=config, use_cache=False)
    fragment = tmp_path / "frag.config"
    fragment.write_text("CONFIG_QUUX=y\n")
    tree.load_fragment(fragment)
    ctx = Context(tree=tree, fragments=[_scan_file(fragment)])
    conflicts = check(ctx)
    by_id = {c.id: c for c in conflicts}
    renamed = by_id["renamed-symbol"]
    assert renamed.subject == "PAGE_TABLE_ISOLATION"
    assert "called MITIGATION_PAGE_TABLE_ISOLATION in this tree (renamed in Linux 6.9)" in (
        renamed.message
    )
    assert dict(renamed.fix.kconfig) == {"MITIGATION_PAGE_TABLE_ISOLATION": "n"}
    assert f"{config}:3: CONFIG_UKL_SAME_STACK exists only in older 5.x" in (
        by_id["old-ukl-symbol"].message
    )
    unknown = [c for c in conflicts if c.id == "unknown-symbols"]
    assert [c.subject for c in unknown] == [str(config), str(fragment)]
    assert "2 symbol(s)" in unknown[0].message and "FOO, BAR" in unknown[0].message
    assert "QUUX" in unknown[1].message
    assert by_id["unknown-unset"].severity == "info"
    apply_fixes(ctx, [renamed])
    assert tree.value("MITIGATION_PAGE_TABLE_ISOLATION") == "n"
    assert "renamed-symbol" not in _ids(check(ctx))


def _scan_file(path: Path):
    from ukl_tui.kconfig.dotconfig import read_dotconfig

    return read_dotconfig(path)


def test_configure_options(mini_tree, ukl_overlay) -> None:
    tree = _tree(mini_tree, ukl_overlay)
    tree.set_many(UKL_ON)
    opts = ConfigureOptions(bypass=True, same_stack=True, use_ret=True)
    ctx = Context(tree=tree, app_options=opts)
    conflicts = check(ctx)
    assert sorted(_ids(conflicts)) == ["bypass", "option-kconfig", "option-no-effect"]
    assert all(c.severity == "warning" for c in conflicts)
    no_effect = next(c for c in conflicts if c.id == "option-no-effect")
    assert no_effect.subject == "--enable-same-stack"
    kconfig = next(c for c in conflicts if c.id == "option-kconfig")
    assert kconfig.subject == "UKL_USE_RET" and dict(kconfig.fix.kconfig) == {"UKL_USE_RET": "y"}
    apply_fixes(ctx, conflicts)
    assert not ctx.app_options.bypass and not ctx.app_options.same_stack
    assert ctx.app_options.use_ret and tree.value("UKL_USE_RET") == "y"
    assert check(ctx) == []


# ----- network and console ------------------------------------------------------------------------


def test_network_needs_ip_pnp_and_a_nic_driver() -> None:
    values = {"INET": "y", "E1000": "y"}
    ctx = Context(values=dict(values), network=NetworkSpec())
    conflicts = check(ctx)
    assert _ids(conflicts) == ["ip-pnp"]
    apply_fixes(ctx, conflicts)
    assert check(ctx) == []
    virtio = Context(values={"IP_PNP": "y"}, network=NetworkSpec(nic="virtio-net-pci"))
    nic = check(virtio)
    assert _ids(nic) == ["nic-driver"] and "VIRTIO_NET and VIRTIO_PCI are off" in nic[0].message
    bad = NetworkSpec(address="192.168.122.128/24", gateway="192.168.122.1")
    found = check(Context(values={"IP_PNP": "y", "E1000": "y"}, network=bad))
    assert _ids(found) == ["network"] and "bridge network" in found[0].message
    # ip= typed on the command line needs IP_PNP as much
    assert _ids(check(Context(values={}, cmdline="ip=10.0.2.15::10.0.2.2:255.255.255.0"))) == [
        "ip-pnp"
    ]
    assert check(Context(values={}, cmdline="quiet -- ip=1")) == []  # an init argument


def test_serial_console_needs_the_8250_console() -> None:
    ctx = Context(values={"SERIAL_8250": "y"}, cmdline="console=ttyS0")
    conflicts = check(ctx)
    assert _ids(conflicts) == ["serial-console"] and conflicts[0].severity == "warning"
    apply_fixes(ctx, conflicts)
    assert check(ctx) == []


# ----- presets through the engine ---------------------------------------------------------------


def test_preset_report_feeds_not_stuck_and_not_in_tree(mini_tree, ukl_overlay, tmp_path) -> None:
    presets = tmp_path / "config" / "ukl-tui" / "presets"
    presets.mkdir(parents=True)
    (presets / "driver.toml").write_text(
        'summary = "d"\nextends = ["ukl-base"]\n[kconfig]\nINET = "n"\nDRIVER = "y"\n'
        'WIDGET = { value = "y", required = true }\n'
    )
    tree = _tree(mini_tree, ukl_overlay)
    report = apply_presets(tree, load_presets(["driver"]))
    ctx = Context.for_report(tree, report)
    assert ctx.cmdline == "console=ttyS0 clearcpuid=smap,smep mitigations=off"
    assert ctx.qemu_cpu == "-smap,-smep"
    conflicts = check(ctx)
    by_subject = {c.subject: c for c in conflicts}
    assert by_subject["DRIVER"].id == "not-stuck"
    assert "blocked by INET (INET is n)" in by_subject["DRIVER"].message
    assert by_subject["WIDGET"].id == "not-in-tree" and by_subject["WIDGET"].severity == "error"
    assert by_subject["NET"].severity == "info"  # optional and missing: a note, not a failure
    assert {c.subject for c in failing(conflicts)} == {"DRIVER", "WIDGET"}


def test_rules_over_a_preset_alone(tmp_path) -> None:
    (shipped,) = load_presets(["ukl-base"])
    assert check(Context.for_preset(shipped)) == []
    (smoke,) = load_presets(["qemu-smoke"])
    assert not Context.for_preset(smoke).ukl_wanted and check(Context.for_preset(smoke)) == []
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'summary = "b"\n[kconfig]\nUNIKERNEL_LINUX = "y"\nRANDOMIZE_BASE = "y"\n'
        '[boot]\ncmdline = ["console=ttyS0"]\n'
    )
    conflicts = check(Context.for_preset(load_presets([str(bad)])[0]))
    assert _ids(conflicts) == ["kaslr", "smap-smep-cmdline"]


# ----- small helpers and the data shape -------------------------------------------------


def test_cmdline_and_cpu_editing() -> None:
    assert edit_cmdline("a b=1 -- x", ["c"], ["b="]) == "a c -- x"
    assert edit_cmdline("", ["c"]) == "c"
    assert add_cpu_flags("max,+smap", ["-smap"]) == "max,-smap"
    fix = Fix(kconfig={"A": "n"}, cmdline_add=("x",), cpu_flags=("-smap",), note="by hand")
    assert fix.describe() == "set A=n; add kernel parameter x; add QEMU -cpu flags -smap; by hand"
    assert json.loads(json.dumps(fix.to_dict()))["kconfig"] == {"A": "n"}
    assert not Fix(note="only words").applicable


# ----- the check command ------------------------------------------------------------------


def test_check_cli_exit_codes_and_json(mini_tree, ukl_overlay, tmp_path, capsys) -> None:
    base = ["check", "--tree", str(mini_tree), "--overlay", str(ukl_overlay)]
    assert main(base) == 1
    out = capsys.readouterr().out
    assert "error    kaslr:" in out and "fix: set RANDOMIZE_BASE=n" in out
    assert "not checked: kernel command line (--cmdline)" in out
    fixed = base + [f"--set={k}={v}" for k, v in UKL_ON.items()]
    assert main(fixed + ["--cmdline", "console=ttyS0 clearcpuid=smap,smep"]) == 0
    assert "no conflicts" in capsys.readouterr().out
    assert main(fixed + ["--qemu-cpu", "max", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert not data["ok"] and [c["id"] for c in data["conflicts"]] == ["smap-smep-cpu"]
    assert data["conflicts"][0]["fix"]["cpu_flags"] == ["-smap", "-smep"]
    # with a preset, in memory: the preset's own command line and CPU flags are checked
    assert main(base + ["--preset", "ukl-base"]) == 0
    capsys.readouterr()
    assert main(base + ["--initrd", str(tmp_path / "none")]) == 2
    assert "cannot read the initrd" in capsys.readouterr().err
    assert main(base + ["--preset", "qemu-smoke,ukl-base", "--base"]) == 2
    assert "different bases" in capsys.readouterr().err


def test_check_warnings_alone_pass_unless_strict(mini_tree, ukl_overlay, capsys) -> None:
    """Warnings are shown but exit 0; errors exit 1; --strict (CI) fails on warnings too."""
    base = ["check", "--tree", str(mini_tree), "--overlay", str(ukl_overlay)]
    base += [f"--set={k}={v}" for k, v in UKL_ON.items() if k != "UKL_TLS"]
    base += ["--cmdline", "console=ttyS0 clearcpuid=smap,smep", "--qemu-cpu", "max,-smap,-smep"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "warning  ukl-tls:" in out and "0 error(s), 1 warning(s)" in out
    assert main([*base, "--strict"]) == 1
    capsys.readouterr()
    assert main([*base, "--strict", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert main([*base, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main([*base, "--set=RANDOMIZE_BASE=y"]) == 1  # an error fails without --strict
