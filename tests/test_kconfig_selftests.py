"""The kernel's own Kconfig tests (scripts/kconfig/tests/ of 6.1 and 6.12), run on ukl-tui.

Each case is a small Kconfig with what the C tool must write. Here ukl-tui's model reads the
same Kconfig (in a scratch tree whose scripts/ is the real tree's, so the compat layer takes
the rules of that tree's C code) and must write what the case expects, compared the way the
kernel's own conftest.py compares (``config_contains`` / ``config_matches``). Cases that
check something ukl-tui does not have (conf's interactive questions, its stdout/stderr) are
skipped with the reason; a test checks the table covers every case directory of each tree.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ukl_tui.errors import UserError
from ukl_tui.kconfig import load_tree

pytestmark = pytest.mark.realtree

_INTERACTIVE = "interactive: checks the questions conf prints on stdout, no expected config"
_STDERR = "checks conf's stdout/stderr text ($(info), $(warning-if), error messages)"


@dataclass(frozen=True)
class Case:
    """One test function of one case directory, and how ukl-tui runs it."""

    path: str  # the case directory, relative to scripts/kconfig/tests
    test: str  # the kernel's test function
    kind: str  # all | config | answers | fixed-point | refused | skip
    target: str = ""  # reset target ("all") or input file ("config", "answers")
    expected: tuple[str, ...] = ()
    exact: bool = False  # config_matches (whole file) rather than config_contains
    answers: dict[str, str] = field(default_factory=dict)
    why: str = ""  # skip reason, or the text a refusal must contain


def _all(path: str, mode: str) -> Case:
    return Case(path, f"test_{mode}", "all", f"{mode}config", (f"{mode}_expected_config",))


_COMMON = [
    Case("auto_submenu", "test", "skip", why=_INTERACTIVE + " (menu indentation)"),
    Case("choice", "test_oldask0", "skip", why=_INTERACTIVE),
    *(_all("choice", mode) for mode in ("allyes", "allmod", "allno", "alldef")),
    Case("err_recursive_dep", "test", "refused", why="Dependency loop"),
    Case("err_recursive_inc", "test", "refused", why="recursive 'source'"),
    Case("new_choice_with_dep", "test", "skip", why=_INTERACTIVE + " ((NEW) choice values)"),
    # oldaskconfig('config', 'n'): the one question asked is A, answered n; the point of the
    # case (no "is not set" lines for the now invisible choice) is in the written file
    Case(
        "no_write_if_dep_unmet",
        "test",
        "answers",
        "config",
        ("expected_config",),
        exact=True,
        answers={"A": "n"},
    ),
    Case("preprocess/builtin_func", "test", "skip", why=_STDERR),
    Case("preprocess/circular_expansion", "test", "refused", why="recursively references itself"),
    Case("preprocess/escape", "test", "skip", why=_STDERR),
    Case("preprocess/variable", "test", "skip", why=_STDERR),
]

CASES = {
    "6.1": [
        *_COMMON,
        Case("choice", "test_oldask1", "skip", why=_INTERACTIVE),
        Case(
            "choice_value_with_m_dep",
            "test",
            "skip",
            why="interactive: the choice's mode (m to y) is answered at conf's prompt, a "
            "question ukl-tui has no equivalent of",
        ),
        Case("inter_choice", "test", "config", "defconfig", ("expected_config",)),
    ],
    "6.12": [
        *_COMMON,
        # randconfig's output must be one of these; ukl-tui has no random generator, but
        # each valid pattern must come back unchanged from ukl-tui
        *(
            Case(path, "test", "fixed-point", expected=tuple(f"expected_config{i}" for i in "012"))
            for path in ("choice_randomize", "choice_randomize2")
        ),
    ],
}


def _scratch_tree(real: Path, case_dir: Path, root: Path) -> Path:
    """The case's Kconfig as a tree ukl-tui can load, with the real tree's C code."""
    shutil.copytree(case_dir, root)
    shutil.copyfile(real / "Makefile", root / "Makefile")
    (root / "arch" / "x86").mkdir(parents=True)
    (root / "arch" / "x86" / "Kconfig").write_text("")
    (root / "scripts").symlink_to(real / "scripts")
    return root


def _tree_for(request: pytest.FixtureRequest, version: str) -> Path:
    return request.getfixturevalue("real_tree" if version == "6.1" else "real_tree_612")


@pytest.mark.parametrize("version", sorted(CASES))
def test_every_case_directory_is_covered(request, version) -> None:
    tests = _tree_for(request, version) / "scripts" / "kconfig" / "tests"
    on_disk = {str(p.parent.relative_to(tests)) for p in tests.rglob("__init__.py")}
    on_disk.discard(".")
    assert on_disk == {case.path for case in CASES[version]}


@pytest.mark.parametrize(
    ("version", "case"),
    [(v, c) for v in sorted(CASES) for c in CASES[v]],
    ids=lambda x: x if isinstance(x, str) else f"{x.path}::{x.test}",
)
def test_kernel_kconfig_case(request, tmp_path, version, case: Case) -> None:
    if case.kind == "skip":
        pytest.skip(case.why)
    real = _tree_for(request, version)
    case_dir = real / "scripts" / "kconfig" / "tests" / case.path
    srctree = _scratch_tree(real, case_dir, tmp_path / "tree")
    if case.kind == "refused":
        with pytest.raises(UserError) as err:
            load_tree(srctree, config=None, use_cache=False)
        assert case.why in str(err.value) and "\n" not in str(err.value)
        return
    if case.kind == "fixed-point":
        for name in case.expected:
            expected = (case_dir / name).read_text()
            tree = load_tree(srctree, config=case_dir / name, use_cache=False)
            assert tree.config_text() == expected, name
        return
    config = case_dir / case.target if case.kind in ("config", "answers") else None
    tree = load_tree(srctree, config=config, use_cache=False)
    if case.kind == "all":
        tree.reset(case.target)  # type: ignore[arg-type]
    results = tree.set_many(case.answers)
    assert all(r.took for r in results), [r.line() for r in results]
    (name,) = case.expected
    expected = (case_dir / name).read_text()
    written = tree.config_text()
    if case.exact:
        assert written == expected
    else:
        assert expected in written, written
