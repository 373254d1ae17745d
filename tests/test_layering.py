"""The core never imports Textual, and the scriptable commands run without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FACE = {"app", "screens", "widgets"}
MINI_DEFCONFIG = "tests/fixtures/mini/arch/x86/configs/x86_64_defconfig"

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
