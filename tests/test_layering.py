"""The one-way house: the core never imports Textual or a face, screens never import the
app or a step screen, the package has no import cycle, and the commands run without Textual.

The import graph is read from the source (``ast``), so it counts every import: at the top,
inside functions, and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FACE = {"app", "screens", "widgets"}
MINI_DEFCONFIG = "tests/fixtures/mini/arch/x86/configs/x86_64_defconfig"
#: The wizard's step screens: no screen may import one of them (or the app).
STEP_SCREENS = {
    f"ukl_tui.screens.{name}"
    for name in ("welcome", "preset", "browser", "application", "network", "review", "run")
}

CORE_MODULES = sorted(
    ".".join(("ukl_tui", *p.relative_to(ROOT / "ukl_tui").with_suffix("").parts)).removesuffix(
        ".__init__"
    )
    for p in (ROOT / "ukl_tui").rglob("*.py")
    if p.relative_to(ROOT / "ukl_tui").parts[0].removesuffix(".py") not in FACE
    and p.parts[-2] != "__pycache__"
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_core_modules_do_not_import_textual() -> None:
    assert "ukl_tui.kconfig.model" in CORE_MODULES and "ukl_tui.runner" in CORE_MODULES
    code = (
        "import importlib, sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "    bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "    assert not [m for m in bad if m.startswith('textual')], (name, bad[:3])\n"
        "print('ok')\n"
    )
    res = _run(code)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


@pytest.mark.parametrize(
    "argv",
    [
        ["explain", "--tree", "tests/fixtures/mini", "INET"],
        ["apply", "--tree", "tests/fixtures/mini", "--set", "INET=n", "--dry-run"],
        ["presets"],
        ["check", "--tree", "tests/fixtures/mini", "--no-ukl"],
        ["diff", MINI_DEFCONFIG, MINI_DEFCONFIG, "--tree", "tests/fixtures/mini"],
        ["preset", "save", "x", "--tree", "tests/fixtures/mini", "--config", MINI_DEFCONFIG]
        + ["--dry-run"],
    ],
)
def test_commands_run_without_textual(argv: list[str], tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        f"os.environ['XDG_CACHE_HOME'] = {str(tmp_path)!r}\n"
        "from ukl_tui.cli import main\n"
        f"rc = main({argv!r})\n"
        "assert not [m for m in sys.modules if m.startswith('textual')], 'textual imported'\n"
        "print('rc', rc)\n"
    )
    res = _run(code)
    assert "textual imported" not in res.stderr
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] in ("rc 0", "rc 1")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT / "ukl_tui").with_suffix("").parts
    return ".".join(("ukl_tui", *parts)).removesuffix(".__init__")


MODULES = {
    _module_name(p): p for p in (ROOT / "ukl_tui").rglob("*.py") if "__pycache__" not in p.parts
}


def _resolve(name: str) -> str | None:
    """The package module ``name`` is (or is inside): ``ukl_tui.kconfig.Tree`` -> kconfig."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str) -> set[str]:
    """The package modules ``name`` imports, wherever the import statement is."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(_resolve(a.name) for a in node.names if a.name.startswith("ukl_tui"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            if base.startswith("ukl_tui"):
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    found.add(full if full in MODULES else _resolve(base))
    found.discard(None)
    found.discard(name)
    return found  # type: ignore[return-value]


GRAPH = {name: imports_of(name) for name in MODULES}


def is_face(name: str) -> bool:
    """The TUI (app, screens, widgets) and the command line (cli*, __main__)."""
    first = name.split(".")[1] if "." in name else ""
    return first in FACE or first.startswith("cli") or first == "__main__"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), or a module importing
    itself.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_every_kind_of_import() -> None:
    # a lazy import inside a function, a relative-free "from package import name", a module
    assert "ukl_tui.kconfig" in GRAPH["ukl_tui.cli_common"]
    assert "ukl_tui.screens.run" in GRAPH["ukl_tui.app"]  # inside a method
    assert "ukl_tui.session" in GRAPH["ukl_tui.screens.browser"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_never_imports_a_face() -> None:
    bad = {
        name: sorted(n for n in deps if is_face(n))
        for name, deps in GRAPH.items()
        if not is_face(name) and any(is_face(n) for n in deps)
    }
    assert not bad, f"core modules importing the TUI or the CLI: {bad}"


def test_screens_never_import_the_app_or_a_step_screen() -> None:
    bad = {
        name: sorted(n for n in deps if n == "ukl_tui.app" or n in STEP_SCREENS)
        for name, deps in GRAPH.items()
        if name.startswith(("ukl_tui.screens.", "ukl_tui.widgets."))
    }
    bad = {name: deps for name, deps in bad.items() if deps}
    assert not bad, f"screens or widgets reaching up to the app or across to a step: {bad}"


def test_the_package_has_no_import_cycle() -> None:
    assert not cycles(GRAPH), cycles(GRAPH)


def test_the_run_screen_and_the_run_core_do_not_import_the_command() -> None:
    """The run's logic is core (run_session); the command and the screen are two faces on it."""
    import ast

    for module in ("screens/run.py", "run_session.py", "runner.py", "lines.py"):
        tree = ast.parse((ROOT / "ukl_tui" / module).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert not {m for m in imported if m and m.startswith("ukl_tui.cli")}, module
