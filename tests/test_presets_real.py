"""Presets and rules on Debian's real linux-source-6.1 tree plus the UKL stand-in, checked
against the kernel's own C tools: ``make olddefconfig``, ``make tinyconfig`` and
``scripts/kconfig/merge_config.sh``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.oracle import differences, values
from ukl_tui.cli import main
from ukl_tui.kconfig import load_tree
from ukl_tui.kconfig.dotconfig import parse_text
from ukl_tui.presets import SOURCE_DIR, apply_presets, combine, fragment_text, load_presets
from ukl_tui.rules import Context, apply_fixes, check, failing

pytestmark = pytest.mark.realtree

#: What the issue says qemu-smoke must turn on.
SMOKE = (
    "64BIT PRINTK TTY SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_INITRD RD_GZIP BINFMT_ELF "
    "BINFMT_SCRIPT DEVTMPFS DEVTMPFS_MOUNT PROC_FS SYSFS NET INET IP_PNP PCI E1000"
).split()


@pytest.fixture(autouse=True)
def _no_user_presets(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture(params=["ukl_overlay", "ukl_overlay_no_archive"])
def overlay(request) -> Path:
    """Both stand-ins: the 6.3 fork's Kconfig.ukl and a newer one without UKL_ARCHIVE_PATH."""
    return request.getfixturevalue(request.param)


def _defconfig(real_tree: Path) -> str:
    return (real_tree / "arch/x86/configs/x86_64_defconfig").read_text()


def merge_config(oracle, real_tree: Path, base: str, fragment: str, top: str) -> str:
    """The kernel's own merge: ``merge_config.sh -m`` in the oracle's O= directory (its
    temporary files go to the working directory), then ``make olddefconfig``.
    """
    objdir: Path = oracle.objdir
    (objdir / "base.config").write_text(base)
    (objdir / "fragment.config").write_text(fragment)
    script = real_tree / "scripts/kconfig/merge_config.sh"
    done = subprocess.run(
        ["sh", str(script), "-m", "-O", str(objdir), "base.config", "fragment.config"],
        cwd=objdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return oracle.olddefconfig((objdir / ".config").read_text(), kconfig=top)


# ----- the scenario, through the command line ---------------------------------------


def test_defconfig_check_apply_check_matches_olddefconfig(
    real_tree, tmp_path, oracle, overlay, capsys
) -> None:
    config = tmp_path / ".config"
    config.write_text(_defconfig(real_tree))
    args = ["--tree", str(real_tree), "--overlay", str(overlay), "--config", str(config)]

    assert main(["check", *args]) == 1
    out = capsys.readouterr().out
    assert "error    kaslr:" in out and "RANDOMIZE_BASE=y" in out
    assert "error    pti:" in out and "PAGE_TABLE_ISOLATION=y" in out
    assert "fix: set RANDOMIZE_BASE=n" in out and "fix: set PAGE_TABLE_ISOLATION=n" in out

    assert main(["apply", *args, "--out", str(config), "--preset", "ukl-base"]) == 0
    out = capsys.readouterr().out
    assert "applied      UNIKERNEL_LINUX=y (was n)  [ukl-base]" in out
    has_archive = overlay.parent.name == "ukl"
    if has_archive:
        assert "applied      UKL_ARCHIVE_PATH=../UKL.a" in out
    else:
        assert "not in tree  UKL_ARCHIVE_PATH (optional, skipped)  [ukl-base]" in out

    assert main(["check", *args]) == 0
    assert "no conflicts" in capsys.readouterr().out

    text = config.read_text()
    assert "CONFIG_UNIKERNEL_LINUX=y" in text.splitlines()
    assert 'CONFIG_UKL_NAME="/UKL"' in text.splitlines()
    assert ('CONFIG_UKL_ARCHIVE_PATH="../UKL.a"' in text) == has_archive
    top = load_tree(real_tree, overlays=[overlay]).top
    assert differences(text, oracle.olddefconfig(text, kconfig=top)) == []  # nothing changes


# ----- export-fragment + merge_config.sh == apply ---------------------------------------------


@pytest.mark.parametrize("name", ["ukl-base", "ukl-saved", "ukl-debug"])
def test_fragment_merged_by_the_kernel_equals_apply(
    real_tree, tmp_path, oracle, overlay, capsys, name
) -> None:
    start = tmp_path / "start.config"
    start.write_text(_defconfig(real_tree))
    out = tmp_path / "out.config"
    tree_args = ["--tree", str(real_tree), "--overlay", str(overlay)]
    code = main(["apply", *tree_args, "--config", str(start), "--out", str(out), "--preset", name])
    assert code == 0, capsys.readouterr().out
    assert main(["export-fragment", name, *tree_args]) == 0
    fragment = capsys.readouterr().out
    assert "# CONFIG_RANDOMIZE_BASE is not set" in fragment
    top = load_tree(real_tree, overlays=[overlay]).top
    theirs = merge_config(oracle, real_tree, _defconfig(real_tree), fragment, top)
    assert differences(out.read_text(), theirs) == []


def test_qemu_smoke_is_tinyconfig_plus_its_fragment(real_tree, tmp_path, oracle, capsys) -> None:
    tiny = oracle.make("tinyconfig")
    start = tmp_path / "tiny.config"
    start.write_text(tiny)
    out = tmp_path / "smoke.config"
    tree_args = ["--tree", str(real_tree)]
    code = main(
        ["apply", *tree_args, "--config", str(start), "--out", str(out), "--preset", "qemu-smoke"]
        + ["--base"]
    )
    report = capsys.readouterr().out
    assert code == 0, report
    assert "base: tinyconfig" in report and "NOT STUCK" not in report
    assert main(["export-fragment", "qemu-smoke", *tree_args]) == 0
    fragment = capsys.readouterr().out
    ours = out.read_text()
    assert differences(ours, merge_config(oracle, real_tree, tiny, fragment, "Kconfig")) == []
    # every value the preset asks for is in the result, the list included
    got = values(ours)
    (smoke,) = load_presets(["qemu-smoke"])
    for name, value in smoke.kconfig().items():
        expected = "n" if value == "n" else value
        assert got.get(name, "n") == expected, name
    for name in SMOKE:
        assert got[name] == "y", name


def test_qemu_smoke_with_ukl_base_on_the_standin(real_tree, oracle, ukl_overlay) -> None:
    """tinyconfig + qemu-smoke + ukl-base: every value sticks, and the C tools agree."""
    tree = load_tree(real_tree, overlays=[ukl_overlay])
    tree.reset("tinyconfig")
    presets = load_presets(["qemu-smoke", "ukl-base"])
    report = apply_presets(tree, presets)
    assert report.ok, [o.line() for o in report.failed]
    assert {o.status for o in report.outcomes} <= {"applied", "already"}
    ours = tree.config_text()
    assert "CONFIG_UNIKERNEL_LINUX=y" in ours.splitlines()
    fragment, missing = fragment_text(combine(presets), tree)
    assert missing == []
    tiny = oracle.make("tinyconfig", kconfig=tree.top)
    assert differences(ours, merge_config(oracle, real_tree, tiny, fragment, tree.top)) == []


# ----- every shipped preset on its own base --------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.stem for p in SOURCE_DIR.glob("*.toml")))
def test_every_shipped_preset_applies_cleanly(real_tree, ukl_overlay, name) -> None:
    tree = load_tree(real_tree, overlays=[ukl_overlay])
    (preset,) = load_presets([name])
    tree.reset(preset.base or "defconfig")
    report = apply_presets(tree, [preset])
    assert report.ok, [o.line() for o in report.failed]
    assert all(o.status != "not-in-tree" for o in report.outcomes), [
        o.line() for o in report.outcomes
    ]
    wants_ukl = preset.kconfig().get("UNIKERNEL_LINUX") == "y"
    ctx = Context.for_report(tree, report, wanted_ukl=wants_ukl)
    assert failing(check(ctx), strict=True) == []


# ----- rules on real configurations --------------------------------------------------------------


def test_tinyconfig_without_pti_line_is_fine(real_tree, tmp_path, oracle, ukl_overlay) -> None:
    tiny = oracle.make("tinyconfig")
    assert "PAGE_TABLE_ISOLATION" not in tiny and "RANDOMIZE_BASE" not in tiny
    scan = parse_text(tiny, tmp_path / "tiny.config")
    ids = [c.id for c in check(Context(config=scan, wanted_ukl=True))]
    assert "kaslr" not in ids and "pti" not in ids
    config = tmp_path / "tiny.config"
    config.write_text(tiny)
    tree = load_tree(real_tree, config=config, overlays=[ukl_overlay])
    ids = [c.id for c in check(Context(tree=tree))]
    assert "kaslr" not in ids and "pti" not in ids
    assert "ukl-off" in ids  # UNIKERNEL_LINUX itself is still off: that one is real


def test_ukl_makefile_style_config_is_caught_and_fixed(
    real_tree, tmp_path, oracle, ukl_overlay
) -> None:
    """ukl's Makefile appends unquoted strings; the C tool ignores them; the fix sticks."""
    appended = (
        "# CONFIG_RANDOMIZE_BASE is not set\n# CONFIG_PAGE_TABLE_ISOLATION is not set\n"
        "CONFIG_UNIKERNEL_LINUX=y\nCONFIG_UKL_TLS=y\nCONFIG_UKL_ARCHIVE_PATH=../app/UKL.a\n"
        "CONFIG_UKL_NAME=/app\nCONFIG_UKL_SAME_STACK=y\n"
    )
    text = _defconfig(real_tree) + appended
    config = tmp_path / ".config"
    config.write_text(text)
    tree = load_tree(real_tree, config=config, overlays=[ukl_overlay])
    c_values = values(oracle.olddefconfig(text, kconfig=tree.top))
    assert c_values["UKL_NAME"] == '"/UKL"'  # the kernel's own tool dropped /app silently
    assert tree.value("UKL_NAME") == "/UKL"  # and so does the model: same values

    ctx = Context(tree=tree, trigger="/app")
    conflicts = check(ctx)
    by_id: dict[str, list] = {}
    for conflict in conflicts:
        by_id.setdefault(conflict.id, []).append(conflict)
    lines = len(_defconfig(real_tree).splitlines())
    unquoted = {c.subject: c for c in by_id["unquoted-string"]}
    assert set(unquoted) == {"UKL_NAME", "UKL_ARCHIVE_PATH"}
    assert unquoted["UKL_NAME"].message.startswith(f"{config}:{lines + 6}: CONFIG_UKL_NAME=/app")
    assert [c.subject for c in by_id["ukl-name"]] == ["UKL_NAME"]
    assert [c.subject for c in by_id["old-ukl-symbol"]] == ["UKL_SAME_STACK"]

    apply_fixes(ctx, conflicts)
    tree.write_config(config)
    fixed = config.read_text()
    assert differences(fixed, oracle.olddefconfig(fixed, kconfig=tree.top)) == []
    assert values(fixed)["UKL_NAME"] == '"/app"'
    assert values(fixed)["UKL_ARCHIVE_PATH"] == '"../app/UKL.a"'
    again = load_tree(real_tree, config=config, overlays=[ukl_overlay])
    assert failing(check(Context(tree=again, trigger="/app")), strict=True) == []
