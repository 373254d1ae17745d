"""The model on Debian's real linux-source-6.1 tree, checked against the kernel's C tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.oracle import differences
from ukl_tui.kconfig import load_tree

pytestmark = pytest.mark.realtree

PREREQS = {"RANDOMIZE_BASE": "n", "PAGE_TABLE_ISOLATION": "n", "INET": "y"}


def _defconfig(real_tree: Path) -> str:
    return (real_tree / "arch/x86/configs/x86_64_defconfig").read_text()


def _ours(real_tree: Path, tmp_path: Path, text: str, overlays=()):
    config = tmp_path / "input.config"
    config.write_text(text)
    return load_tree(real_tree, config=config, overlays=overlays)


def test_tree_loads_with_all_symbols(real_tree, tmp_path) -> None:
    tree = load_tree(real_tree, config=None)
    assert len(tree.kconf.unique_defined_syms) > 16000
    assert tree.mainmenu.startswith("Linux/x86_64 6.1.")
    assert tree.kconf.modules.name == "MODULES"
    # the compiler probes ran in a writable place and saw the real toolchain
    assert tree.value("CC_IS_GCC") == "y"
    assert int(tree.value("GCC_VERSION")) > 100000
    assert "CONFIG_64BIT=y" in tree.config_text()


def test_defconfig_matches_make_olddefconfig(real_tree, tmp_path, oracle) -> None:
    text = _defconfig(real_tree)
    ours = _ours(real_tree, tmp_path, text).config_text()
    theirs = oracle.olddefconfig(text)
    assert differences(ours, theirs) == []
    # the C tool writes this one and kconfiglib alone does not (closed by the compat layer)
    assert "# CONFIG_IMA_SECURE_AND_OR_TRUSTED_BOOT is not set" in ours


def test_savedefconfig_is_byte_identical(real_tree, tmp_path, oracle) -> None:
    tree = _ours(real_tree, tmp_path, _defconfig(real_tree))
    tree.set_many(PREREQS)
    full = tree.config_text()
    assert tree.min_config_text() == oracle.savedefconfig(full)


def test_tinyconfig_matches(real_tree, tmp_path, oracle) -> None:
    tiny = oracle.make("tinyconfig")
    ours = _ours(real_tree, tmp_path, tiny).config_text()
    assert differences(ours, oracle.olddefconfig(tiny)) == []
    # and ukl-tui's own tinyconfig equals the kernel's
    tree = load_tree(real_tree, config=None)
    tree.reset("tinyconfig")
    assert differences(tree.config_text(), tiny) == []


def test_ukl_prerequisites_match(real_tree, tmp_path, oracle) -> None:
    tree = _ours(real_tree, tmp_path, _defconfig(real_tree))
    results = tree.set_many(PREREQS)
    assert all(r.took for r in results), [r.line() for r in results]
    ours = tree.config_text()
    appended = _defconfig(real_tree) + "".join(
        f"CONFIG_{k}={v}\n" if v != "n" else f"# CONFIG_{k} is not set\n"
        for k, v in PREREQS.items()
    )
    assert differences(ours, oracle.olddefconfig(appended)) == []
    # what ukl-tui writes is a fixed point of the C tool
    assert differences(ours, oracle.olddefconfig(ours)) == []


def test_ukl_standin_blocked_by_kaslr_and_pti(real_tree, tmp_path, oracle, ukl_overlay) -> None:
    tree = _ours(real_tree, tmp_path, _defconfig(real_tree), overlays=[ukl_overlay])
    res = tree.set("UNIKERNEL_LINUX", "y")
    assert res.status == "not-stuck"
    blocking = {name: value for term in res.blockers for name, value in term.symbols}
    assert blocking == {"RANDOMIZE_BASE": "y", "PAGE_TABLE_ISOLATION": "y"}
    why = tree.why("UNIKERNEL_LINUX", "y")
    assert "RANDOMIZE_BASE is y" in " ".join(why.lines())
    assert why.fixes() == {"RANDOMIZE_BASE": "n", "PAGE_TABLE_ISOLATION": "n"}
    tree.set_many({"RANDOMIZE_BASE": "n", "PAGE_TABLE_ISOLATION": "n"})
    assert tree.value("UNIKERNEL_LINUX") == "y"  # the earlier request takes effect now
    assert tree.value("UKL_TLS") == "n"  # 'default Y' is an undefined symbol: the trap
    assert tree.value("UKL_NAME") == "/UKL"
    ours = tree.config_text()
    assert "CONFIG_UNIKERNEL_LINUX=y" in ours
    assert differences(ours, oracle.olddefconfig(ours, kconfig=tree.top)) == []


def test_ukl_standin_without_archive_path(real_tree, tmp_path, ukl_overlay_no_archive) -> None:
    tree = _ours(real_tree, tmp_path, _defconfig(real_tree), overlays=[ukl_overlay_no_archive])
    assert tree.has("UNIKERNEL_LINUX") and not tree.has("UKL_ARCHIVE_PATH")
    tree.set_many({"RANDOMIZE_BASE": "n", "PAGE_TABLE_ISOLATION": "n", "UNIKERNEL_LINUX": "y"})
    assert tree.value("UKL_NAME") == "/data/UKL"


def test_search_finds_kaslr_by_prompt(real_tree) -> None:
    tree = load_tree(real_tree, config=None)
    hits = tree.search("kaslr")
    assert "RANDOMIZE_BASE" in [h.name for h in hits[:5]]
    assert tree.search("PAGE_TABLE_ISOLATION")[0].name == "PAGE_TABLE_ISOLATION"


@pytest.mark.parametrize("query", ["in", "se", "e1", "x8", "page table", "kasl", "tcp ip"])
def test_search_ranks_like_a_brute_force_scan(real_tree, query) -> None:
    tree = load_tree(real_tree, config=None)
    words = query.split()
    first = words[0]
    expected = []
    for sym in tree.kconf.unique_defined_syms:
        name = sym.name.lower()
        prompt = " / ".join(n.prompt[0] for n in sym.nodes if n.prompt).lower()
        helptext = " ".join(n.help for n in sym.nodes if n.help).lower()
        if not all(w in f"{name}\0{prompt}\0{helptext}" for w in words):
            continue
        score = (
            0
            if name == first
            else 1
            if name.startswith(first)
            else 2
            if first in name
            else 3
            if first in prompt
            else 4
        )
        expected.append((score, sym.name))
    expected.sort()
    got = [(h.score, h.name) for h in tree.search(query, limit=60)]
    assert got == expected[:60]
