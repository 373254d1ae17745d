"""Where kconfiglib 14.1.0 and the kernel's C configurator part ways, on a fixture.

tests/fixtures/semantics/Kconfig.semantics is sourced on top of the small tree. With no
scripts/kconfig in the tree the compat layer follows the newest C code it knows (6.12's);
``linux_6_1_rules_tree`` makes it follow 6.1's. The expected values below are what the
real C tools write for the same inputs: tests/test_kconfig_real.py checks that on both
Debian trees.
"""

from __future__ import annotations

from pathlib import Path

import kconfiglib
import pytest

from tests.conftest import FIXTURES
from tests.support.trees import linux_6_1_rules_tree
from ukl_tui.kconfig import load_tree
from ukl_tui.kconfig.compat import KCONFIGLIB_RULES, CRules, read_c_rules
from ukl_tui.kconfig.verify import written_values

SEMANTICS = FIXTURES / "semantics" / "Kconfig.semantics"

#: The imply case and a choice whose default is set to n.
INPUT_A = (
    "CONFIG_MODULES=y\nCONFIG_SEM_SOURCE=y\nCONFIG_SEM_TARGET=m\nCONFIG_SEM_MOD_DEP=m\n"
    "CONFIG_SEM_CHOICE_DEP=m\n# CONFIG_SEM_MODE_A is not set\nCONFIG_SEM_RANGED=99\n"
)
#: A member that selects a tristate, under a choice that depends on an m symbol.
INPUT_B = (
    "CONFIG_MODULES=y\nCONFIG_SEM_SOURCE=y\nCONFIG_SEM_MOD_DEP=m\nCONFIG_SEM_CHOICE_DEP=m\n"
    "CONFIG_SEM_MODE_B=y\n"
)

#: What the C tools write (SEM_* symbols only) for each input; None: not written.
EXPECTED = {
    "6.12": {
        "A": {
            "SEM_TARGET": "m",
            "SEM_LIMITED": "m",
            "SEM_UNMET": "n",
            "SEM_MODE_A": "n",
            "SEM_MODE_B": "y",
            "SEM_SELECTED": "m",
            "SEM_NO_DEFAULT": "0",
            "SEM_NO_DEFAULT_HEX": "0x0",
            "SEM_RANGED": "20",
        },
        "B": {"SEM_TARGET": "y", "SEM_MODE_B": "y", "SEM_SELECTED": "m", "SEM_RANGED": "15"},
    },
    "6.1": {
        "A": {
            "SEM_TARGET": "m",
            "SEM_LIMITED": "m",
            "SEM_UNMET": "n",
            "SEM_MODE_A": "y",
            "SEM_MODE_B": "n",
            "SEM_SELECTED": None,
            "SEM_NO_DEFAULT": "",
            "SEM_NO_DEFAULT_HEX": "",
            "SEM_RANGED": "15",
        },
        "B": {"SEM_TARGET": "y", "SEM_MODE_B": "y", "SEM_SELECTED": "y", "SEM_RANGED": "15"},
    },
}


def _tree(srctree: Path, tmp_path: Path, text: str):
    config = tmp_path / "input.config"
    config.write_text(text)
    return load_tree(srctree, config=config, overlays=[SEMANTICS], use_cache=False)


@pytest.fixture(params=["6.12", "6.1"])
def rules_tree(request, mini_tree: Path, tmp_path: Path) -> tuple[str, Path]:
    """The small tree following 6.12's C code (as is) or 6.1's (marker copy)."""
    if request.param == "6.12":
        return request.param, mini_tree
    return request.param, linux_6_1_rules_tree(mini_tree, tmp_path / "tree61")


def test_rules_are_read_from_the_trees_c_code(mini_tree, tmp_path) -> None:
    assert read_c_rules(mini_tree) == (CRules(), [])  # no C code: the newest rules
    rules, sources = read_c_rules(linux_6_1_rules_tree(mini_tree, tmp_path / "t"))
    assert rules == CRules(
        imply_keeps_m=True,
        choice_priority=False,
        choice_deps_direct=False,
        int_hex_zero=False,
        clamp_user_value=False,
    )
    assert [Path(s).name for s in sources] == ["symbol.c", "confdata.c", "menu.c"]


@pytest.mark.parametrize("case", ["A", "B"])
def test_values_follow_the_trees_rules(rules_tree, tmp_path, case) -> None:
    version, srctree = rules_tree
    tree = _tree(srctree, tmp_path, INPUT_A if case == "A" else INPUT_B)
    written = written_values(tree.config_text())
    for name, value in EXPECTED[version][case].items():
        assert written.get(name) == value, name


def test_implied_tristate_offers_n_m_y(rules_tree, tmp_path) -> None:
    _, srctree = rules_tree
    tree = _tree(srctree, tmp_path, INPUT_A)
    exp = tree.why("SEM_TARGET")
    assert exp.assignable == ("n", "m", "y")
    assert "can be set:  n / m / y" in "\n".join(exp.lines())
    # a value the user picks from that range sticks, in both directions
    assert tree.set("SEM_TARGET", "y").status == "set"
    assert tree.set("SEM_TARGET", "m").after == "m"


def test_kconfiglib_alone_promotes_the_implied_m(mini_tree, tmp_path) -> None:
    """The difference the compat layer closes: kconfiglib's own rule turns m into y."""
    tree = _tree(mini_tree, tmp_path, INPUT_A)
    kconf = tree.kconf
    kconf.c_rules = KCONFIGLIB_RULES
    kconf._invalidate_all()
    assert tree.value("SEM_TARGET") == "y"
    assert tree.kconf.syms["SEM_TARGET"].assignable == (0, 2)


def test_choice_member_set_to_n_picks_another_on_6_12(rules_tree, tmp_path) -> None:
    version, srctree = rules_tree
    tree = _tree(srctree, tmp_path, "CONFIG_MODULES=y\nCONFIG_SEM_CHOICE_DEP=y\n")
    assert tree.value("SEM_MODE_A") == "y"
    res = tree.set("SEM_MODE_A", "n")
    if version == "6.12":
        assert res.took and tree.value("SEM_MODE_B") == "y"
        # undo brings back the ranking too: A wins again once it is y
        snap = tree.snapshot()
        tree.set("SEM_MODE_C", "y")
        tree.restore(snap)
        assert tree.value("SEM_MODE_B") == "y" and tree.value("SEM_MODE_C") == "n"
    else:
        assert not res.took and "choice" in res.reason


def test_last_choice_member_read_wins(mini_tree, tmp_path) -> None:
    """confdata.c list_move: of two y members, the later line of the .config wins."""
    tree = _tree(
        mini_tree,
        tmp_path,
        "CONFIG_SEM_CHOICE_DEP=y\nCONFIG_SEM_MODE_C=y\nCONFIG_SEM_MODE_B=y\n",
    )
    assert tree.value("SEM_MODE_B") == "y"
    assert isinstance(tree.kconf.syms["SEM_MODE_B"], kconfiglib.Symbol)


def test_every_member_n_picks_the_least_recently_set(mini_tree, tmp_path) -> None:
    tree = _tree(
        mini_tree,
        tmp_path,
        "CONFIG_SEM_CHOICE_DEP=y\n# CONFIG_SEM_MODE_B is not set\n"
        "# CONFIG_SEM_MODE_A is not set\n# CONFIG_SEM_MODE_C is not set\n",
    )
    assert tree.value("SEM_MODE_B") == "y"
