"""Regenerate screenshots/*.svg: every wizard screen and the Run screen, 80x24 and 200x50.

Usage: python bench/screenshots.py [TREE] [--out DIR] [--no-runs]
TREE defaults to $UKL_TUI_TEST_TREE (Debian's linux-source-6.1 in CI); the UKL stand-in
overlay is added. The wizard's scenes are the snapshot tests' own (tests/support/wizard.py),
so the screenshots show exactly what the snapshot tests check. The .config is a defconfig
copy in a temporary directory that is the working directory meanwhile (shown as
work/.config).

The Run screen is shown on real runs, made first with ``ukl-tui run --steps --no-tui`` under
/tmp/ukl-tui-shots (a fixed place, so the paths on screen stay the same) and then opened
read-only, as the welcome screen's ``r`` opens a past run:

- ``run-failed``: a C program with a syntax error, built by make (the diagnosis names the
  file and line);
- ``run-booted``: Debian's kernel (.ci/setup's) with ukl-tui's minimal initramfs, to
  ``UKL BOOTED``;
- ``run-oops``: the LKDTM kernel of tests/test_locate_kernel.py (.ci's cache) dereferencing
  NULL on purpose: the oops decoded from vmlinux and where gdb found the vCPUs.

A run whose kernel is missing is left out with a note.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

SIZES = {"80x24": (80, 24), "200x50": (200, 50)}


async def shoot(tree, snapshot, text: str, work: Path, out: Path) -> list[Path]:  # noqa: ANN001
    """Drive a fresh app to each scene and save its SVG."""
    from tests.support.wizard import SCENES, TREELESS, make_app, make_treeless_app, pin_tarballs
    from ukl_tui import sources

    overlay = HERE / "tests" / "fixtures" / "ukl" / "Kconfig.ukl"
    written = []
    pinned = pin_tarballs(work / "src")  # once: a second call would find the stand-in
    for scene, run in SCENES.items():
        for label, size in SIZES.items():
            tree.restore(snapshot)
            config = work / "work" / ".config"
            config.write_text(text)
            tree.config_path = tree.loaded_from = config
            tree.mark_saved(text)
            if scene in TREELESS:
                os.environ.pop("UKL_DIR", None)
                sources.debian_tarballs = pinned  # type: ignore[assignment]
                app = make_treeless_app()
            else:
                app = make_app(tree, tree.srctree, overlay)
            async with app.run_test(size=size) as pilot:
                await run(pilot)
                await pilot.pause(0.3)
                name = f"{scene}-{label}.svg"
                app.save_screenshot(filename=name, path=str(out))
                written.append(out / name)
    return written


RUNS = Path("/tmp/ukl-tui-shots")
CI_CACHE = Path(os.environ.get("UKL_TUI_CI_CACHE", "/var/cache/ukl-tui-ci"))
BROKEN_C = "int main(void)\n{\n\treturn 0\n}\n"


def _run(name: str, steps: list[dict]) -> Path | None:
    """``ukl-tui run --steps --no-tui`` into RUNS/name; the run's directory."""
    import json
    import subprocess

    steps_file = RUNS / f"{name}.json"
    steps_file.write_text(json.dumps({"steps": steps, "title": name}, indent=1))
    log_dir = RUNS / name
    shutil.rmtree(log_dir, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "ukl_tui.cli", "run", "--steps", str(steps_file), "--no-tui"]
        + ["--log-dir", str(log_dir)],
        cwd=RUNS,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        timeout=600,
        check=False,
    )
    return log_dir if (log_dir / "summary.json").is_file() else None


def real_runs() -> dict[str, Path]:
    """Make the runs the Run screen's screenshots show (see the module docstring)."""
    from tests.support.lkdtm_kernel import lkdtm_initramfs
    from tests.test_run_support import TCG, boot_step_dict
    from ukl_tui.boot import BootSpec

    shutil.rmtree(RUNS, ignore_errors=True)
    app = RUNS / "app"
    app.mkdir(parents=True)
    (app / "hello.c").write_text(BROKEN_C)
    (app / "Makefile").write_text("hello: hello.c\n\t$(CC) -O2 -o $@ $<\n")
    build = {"id": "build", "title": "Build the application (make)", "argv": ["make"]}
    runs = {"run-failed": [{**build, "cwd": str(app), "env": {}, "kind": "build"}]}
    debian = Path(os.environ.get("UKL_TUI_TEST_BZIMAGE", CI_CACHE / "debian-kernel" / "vmlinuz"))
    if debian.is_file():
        runs["run-booted"] = [boot_step_dict(debian, RUNS)]  # the boot tests' own
    else:
        print(f"run-booted left out: no {debian} (run .ci/setup)")
    lkdtm = CI_CACHE / "kbuild-lkdtm" / "arch" / "x86" / "boot" / "bzImage"
    if lkdtm.is_file():
        initrd = lkdtm_initramfs(RUNS / "lkdtm.cpio.gz")
        spec = BootSpec(
            kernel=str(lkdtm),
            initrd=str(initrd),
            memory_mib=256,
            accel="tcg",
            extra_params=("lkdtm=ACCESS_NULL",),
        )
        step = spec.to_step(TCG, str(RUNS), timeout=180, success_markers=("UKL BOOTED",))
        runs["run-oops"] = [step.to_dict()]
    else:
        print(f"run-oops left out: no {lkdtm} (tests/test_locate_kernel.py builds it)")
    made = {}
    for name, steps in runs.items():
        run = _run(name, steps)
        if run is None:
            print(f"{name} left out: the run wrote no summary.json")
        else:
            made[name] = run
    return made


async def shoot_runs(runs: dict[str, Path], out: Path) -> list[Path]:
    """Each past run read-only on the Run screen, as the welcome screen's ``r`` shows it."""
    from ukl_tui.history import replay
    from ukl_tui.screens.run import RunApp

    written = []
    for scene, run in runs.items():
        for label, size in SIZES.items():
            job, events = replay(run)
            app = RunApp(job, run, autostart=False, replay=events)
            async with app.run_test(size=size) as pilot:
                await pilot.pause(0.5)
                name = f"{scene}-{label}.svg"
                app.save_screenshot(filename=name, path=str(out))
                written.append(out / name)
    return written


def main() -> None:
    """Load the tree once, then write every screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=os.environ.get("UKL_TUI_TEST_TREE"))
    parser.add_argument("--out", default=str(HERE / "screenshots"))
    parser.add_argument("--no-runs", action="store_true", help="only the wizard's screens")
    args = parser.parse_args()
    if not args.tree:
        parser.error("give the kernel tree (or set UKL_TUI_TEST_TREE)")
    out = Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    from ukl_tui.kconfig import load_tree

    work = Path(tempfile.mkdtemp(prefix="ukl-tui-shots-"))
    try:
        os.chdir(work)
        (work / "work").mkdir()
        config = work / "work" / ".config"
        shutil.copy(Path(args.tree) / "arch/x86/configs/x86_64_defconfig", config)
        overlay = HERE / "tests" / "fixtures" / "ukl" / "Kconfig.ukl"
        tree = load_tree(args.tree, config=config, overlays=[overlay])
        tree.search("ukl")
        # No past runs: Welcome would show this machine's last run of the tree.
        from ukl_tui import history

        history.runs_dir = lambda: work / "runs"  # type: ignore[assignment]
        written = asyncio.run(shoot(tree, tree.snapshot(), config.read_text(), work, out))
        if not args.no_runs:
            written += asyncio.run(shoot_runs(real_runs(), out))
    finally:
        os.chdir(HERE)
        shutil.rmtree(work, ignore_errors=True)
    for path in written:
        print(path.relative_to(HERE) if path.is_relative_to(HERE) else path)


if __name__ == "__main__":
    main()
