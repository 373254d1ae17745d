"""End to end: the real linux-source-6.1 tree with the UKL stand-in, built and booted.

One ``ukl-tui run --no-tui`` per test session (the kernel build is the expensive part, and it
must not compete with itself): presets qemu-smoke + ukl-base on tinyconfig, ``make -jN
bzImage`` in an O= directory through ccache, ukl-tui's minimal initramfs, QEMU under TCG until
``UKL BOOTED``. ccache keeps its cache outside the clone (``$UKL_TUI_CI_CACHE/ccache``), so a
repeated CI run compiles from the cache; the first build takes about 4 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CI_CACHE
from tests.test_plan import PLAIN_TREE_STEPS
from tests.test_run_support import cli_env, pids_with_cmdline
from ukl_tui.plan import Plan

#: Generous: a cold build is ~4 minutes on 2 cores; the boot under TCG a few seconds.
HARD_TIMEOUT = 1800

# The per-test limit covers the session fixture's build (it runs inside the first test).
pytestmark = [pytest.mark.slow, pytest.mark.realtree, pytest.mark.timeout(HARD_TIMEOUT + 300)]


def ccache_dir() -> Path:
    """ccache's directory, outside the clone, kept between CI runs."""
    path = CI_CACHE / "ccache"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class E2E:
    """The one end-to-end run of this session and what it left."""

    result: subprocess.CompletedProcess[str]
    seconds: float
    base: Path
    build_dir: Path
    log_dir: Path
    plan_file: Path

    def summary(self) -> dict:
        return json.loads((self.log_dir / "summary.json").read_text())


@pytest.fixture(scope="session")
def e2e(real_tree: Path, ukl_overlay: Path, tmp_path_factory: pytest.TempPathFactory) -> E2E:
    base = tmp_path_factory.mktemp("e2e")
    build_dir = base / "build"
    plan = Plan(
        tree=real_tree,
        overlays=(ukl_overlay,),
        presets=("qemu-smoke", "ukl-base"),
        base="tinyconfig",  # the two presets name different bases: the smoke kernel's
        build_dir=build_dir,
        ccache=True,
        initrd="minimal",
        memory_mib=256,
    )
    plan_file = plan.save(base / "ukl-tui.toml")
    log_dir = base / "logs"
    env = cli_env(base)
    env["CCACHE_DIR"] = str(ccache_dir())
    start = time.monotonic()
    result = run_plan(plan_file, log_dir, env, HARD_TIMEOUT)
    seconds = time.monotonic() - start
    return E2E(result, seconds, base, build_dir, log_dir, plan_file)


def run_plan(
    plan_file: Path, log_dir: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """One ``ukl-tui run --plan --no-tui`` in the plan's directory (stdout kept beside it)."""
    base = plan_file.parent
    result = subprocess.run(
        [sys.executable, "-m", "ukl_tui.cli", "run", "--plan", str(plan_file), "--no-tui"]
        + ["--log-dir", str(log_dir), "--timeout", str(timeout - 60)],
        cwd=base,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    (base / "stdout.txt").write_text(result.stdout)
    return result


def test_builds_and_boots_to_ukl_booted(e2e: E2E, capsys):
    out = e2e.result.stdout
    assert e2e.result.returncode == 0, out[-4000:] + e2e.result.stderr
    assert "ukl-tui: OK: the boot reached UKL BOOTED" in out
    summary = e2e.summary()
    ids = [s["id"] for s in summary["steps"]]
    assert ids == list(PLAIN_TREE_STEPS)
    assert all(s["status"] == "ok" for s in summary["steps"]), summary["steps"]
    steps = {s["id"]: s for s in summary["steps"]}
    build = steps["bzImage"]
    assert build["objects"] > 100  # a real kernel build, counted from Kbuild's lines
    assert "CC=ccache gcc" in build["argv"] and f"O={e2e.build_dir}" in build["argv"]
    boot = steps["boot"]
    keys = [m["key"] for m in boot["milestones"]]
    assert keys.index("Linux version") < keys.index("Run /init") < keys.index("UKL BOOTED")
    with capsys.disabled():
        print(
            f"\ne2e: build {build['duration']:.0f} s ({build['objects']} objects), "
            f"boot to UKL BOOTED {boot['milestones'][-1]['elapsed']:.1f} s, "
            f"whole run {e2e.seconds:.0f} s"
        )


def test_the_kernel_is_the_one_the_plan_asked_for(e2e: E2E):
    assert e2e.result.returncode == 0
    bzimage = e2e.build_dir / "arch" / "x86" / "boot" / "bzImage"
    assert bzimage.is_file()
    config = (e2e.build_dir / ".config").read_text()
    assert "CONFIG_UNIKERNEL_LINUX=y" in config  # the stand-in's symbol, from ukl-base
    assert "CONFIG_UKL_TLS=y" in config
    assert 'CONFIG_UKL_NAME="/UKL"' in config
    assert "CONFIG_RANDOMIZE_BASE=y" not in config
    assert "CONFIG_SERIAL_8250_CONSOLE=y" in config  # qemu-smoke
    boot_log = (e2e.log_dir / "08-boot.log").read_text(errors="replace")
    assert "Linux version 6.1" in boot_log
    assert "UKL BOOTED" in boot_log
    # ukl-tui never wrote into the source tree.
    assert not (Path(os.environ["UKL_TUI_TEST_TREE"]) / ".config").exists()


def test_no_qemu_or_make_survives(e2e: E2E):
    assert e2e.result.returncode == 0
    assert pids_with_cmdline(str(e2e.build_dir)) == []
