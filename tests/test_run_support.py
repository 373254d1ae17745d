"""Shared pieces of the ``ukl-tui run`` tests (no tests here): real projects, CLI, /proc.

The /proc scans are written independently of the runner's own process-group code, so a test
does not check the runner's cleanup with the runner's code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.boot_fixtures import alive
from ukl_tui.boot import BootSpec
from ukl_tui.host import KvmStatus

REPO = Path(__file__).resolve().parent.parent
TCG = KvmStatus(False, "forced TCG for the test")

#: A small C project whose Makefile prints Kbuild-style quiet lines ("  CC      x.o"),
#: so the runner counts objects as it does for a kernel.
MAKEFILE = """\
SRCS := $(wildcard src/*.c)
OBJS := $(SRCS:src/%.c=build/%.o)
hello: $(OBJS)
\t@echo "  LD      $@"
\t@$(CC) -o $@ $(OBJS)
build/%.o: src/%.c
\t@mkdir -p build
\t@echo "  CC      $@"
\t@$(CC) -Wall -c -o $@ $<
clean:
\trm -rf build hello
"""


def make_project(root: Path, *, broken: bool = False, units: int = 6) -> Path:
    """Write the C project; ``broken`` puts a syntax error in one unit (gcc fails there)."""
    src = root / "src"
    src.mkdir(parents=True)
    (root / "Makefile").write_text(MAKEFILE)
    for i in range(units):
        (src / f"unit{i}.c").write_text(f"int unit{i}(void) {{ return {i}; }}\n")
    main = '#include <stdio.h>\nint main(void) { puts("hello from make"); return 0; }\n'
    if broken:
        (src / "unit3.c").write_text("int unit3(void) {\n    return 3\n}\n")  # missing ';'
    (src / "main.c").write_text(main)
    return root


def step_dict(sid: str, argv: list[str], cwd: Path, kind: str = "build", **kw: object) -> dict:
    """One step as a plan's JSON holds it."""
    data = {"id": sid, "title": f"step {sid}", "argv": argv, "cwd": str(cwd), "kind": kind}
    data.update(kw)
    return data


def write_steps(path: Path, steps: list[dict], **extra: object) -> Path:
    """A steps file in the shape 'ukl-tui plan --json' prints."""
    path.write_text(json.dumps({"steps": steps, **extra}, indent=1))
    return path


def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment for a ukl-tui child: private XDG dirs, this checkout importable."""
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NO_COLOR", None)
    return env


def run_cli(
    args: list[str], tmp_path: Path, timeout: float = 120, **kw: object
) -> subprocess.CompletedProcess[str]:
    """``ukl-tui ARGS`` as a child process (stdin closed, output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "ukl_tui.cli", *args],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,  # type: ignore[arg-type]
    )


def start_cli(args: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    """``ukl-tui ARGS`` started as a child (stdin closed, stdout and stderr piped, text)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ukl_tui.cli", *args],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def pids_with_cmdline(needle: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains ``needle``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if needle.encode() in cmdline and alive(int(entry)):
            found.append(int(entry))
    return found


def boot_step_dict(bzimage: Path, tmp_path: Path, **kw: object) -> dict:
    """A TCG boot of ``bzimage`` with the minimal initramfs, copied into ``tmp_path``.

    The initramfs lives under ``tmp_path`` so this test's QEMU can be told apart from any
    other QEMU on the machine by its command line.
    """
    from ukl_tui.initramfs import build_minimal_initramfs

    initrd = tmp_path / "test-initramfs.cpio.gz"
    shutil.copyfile(build_minimal_initramfs(), initrd)
    spec = BootSpec(kernel=str(bzimage), initrd=str(initrd), memory_mib=512, accel="tcg")
    step = spec.to_step(TCG, str(tmp_path), timeout=120, success_markers=("UKL BOOTED",))
    return step.to_dict()
