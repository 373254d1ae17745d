"""Regenerate screenshots/*.svg: every wizard screen at 80x24 and 200x50, headless.

Usage: python bench/screenshots.py [TREE] [--out DIR]
TREE defaults to $UKL_TUI_TEST_TREE (Debian's linux-source-6.1 in CI); the UKL stand-in
overlay is added. The scenes are the snapshot tests' own (tests/support/wizard.py), so the
screenshots show exactly what the snapshot tests check. The .config is a defconfig copy in a
temporary directory that is the working directory meanwhile (shown as work/.config).
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


def main() -> None:
    """Load the tree once, then write every screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=os.environ.get("UKL_TUI_TEST_TREE"))
    parser.add_argument("--out", default=str(HERE / "screenshots"))
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
    finally:
        os.chdir(HERE)
        shutil.rmtree(work, ignore_errors=True)
    for path in written:
        print(path.relative_to(HERE) if path.is_relative_to(HERE) else path)


if __name__ == "__main__":
    main()
