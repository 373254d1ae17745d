"""Benchmark the user's own presets and the diff on a real tree.

Figures for the closing note of issue 14: the size of a saved preset (assignments, file
lines) against the full ``.config`` and against ``make savedefconfig`` of the same
configuration; the time of ``ukl-tui diff`` on two full configurations, warm (parse cache
filled), in process and as the whole command.

Usage: python bench/bench_presets.py [TREE]   (default: $UKL_TUI_TEST_TREE)
The random configurations come from the tree's own ``make randconfig`` (ARCH=x86_64, in a
temporary O= directory). One run on whatever machine runs it; medians of a few repeats.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ukl_tui.kconfig import load_tree  # noqa: E402
from ukl_tui.kconfig.compare import compare  # noqa: E402
from ukl_tui.preset_save import BaseChoice, make_preset  # noqa: E402

TREE = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ["UKL_TUI_TEST_TREE"])
OVERLAY = ROOT / "tests/fixtures/ukl/Kconfig.ukl"
TUNED = (
    "# CONFIG_NET_VENDOR_INTEL is not set\nCONFIG_LOG_BUF_SHIFT=16\n"
    "# CONFIG_IPV6 is not set\nCONFIG_DEBUG_INFO_DWARF5=y\n"
)
UKL = (
    "# CONFIG_RANDOMIZE_BASE is not set\n# CONFIG_PAGE_TABLE_ISOLATION is not set\n"
    'CONFIG_UNIKERNEL_LINUX=y\nCONFIG_UKL_TLS=y\nCONFIG_UKL_NAME="/UKL"\nCONFIG_E1000E=n\n'
)


def randconfig(objdir: Path, seed: str) -> str:
    """The kernel's own ``make randconfig`` for one seed."""
    subprocess.run(
        ["make", "-s", "-C", str(TREE), f"O={objdir}", "ARCH=x86_64", "randconfig"],
        check=True,
        capture_output=True,
        env=dict(os.environ, KCONFIG_SEED=seed),
        timeout=600,
    )
    return (objdir / ".config").read_text()


def median_seconds(fn, repeats: int = 5) -> float:  # noqa: ANN001
    """Median wall time of ``fn()``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sizes(work: Path, name: str, text: str, extends: list[str], overlays: list[Path]) -> str:
    """One table row: preset assignments and file lines, .config and savedefconfig lines."""
    config = work / f"{name}.config"
    config.write_text(text)
    tree = load_tree(TREE, config=config, overlays=overlays)
    saved = make_preset(tree, "bench", BaseChoice.parse("defconfig"), extends)
    seconds = median_seconds(
        lambda: make_preset(tree, "bench", BaseChoice.parse("defconfig"), extends), 3
    )
    on = f"defconfig + {', '.join(extends)}" if extends else "defconfig"
    return (
        f"| {name} | {on} | {saved.lines} | {len(saved.text.splitlines())} | "
        f"{saved.config_lines} | {saved.savedefconfig_lines} | {seconds * 1000:.0f} ms |"
    )


def main() -> None:
    """Print the two tables."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        objdir = work / "o"
        objdir.mkdir()
        defconfig = (TREE / "arch/x86/configs/x86_64_defconfig").read_text()
        rand_a = randconfig(objdir, "0x5eed")
        rand_b = randconfig(objdir, "0xc0ffee")
        print(f"tree: {TREE}")
        print(
            "| configuration | base | preset assignments | preset file lines | .config lines "
            "| savedefconfig lines | save time |"
        )
        print("|---|---|---|---|---|---|---|")
        print(sizes(work, "defconfig + 4 changes", defconfig + TUNED, [], []))
        print(sizes(work, "UKL + E1000E off", defconfig + UKL, ["ukl-base"], [OVERLAY]))
        print(sizes(work, "randconfig 0x5eed", rand_a, [], []))

        a, b = work / "a.config", work / "b.config"
        a.write_text(rand_a)
        b.write_text(rand_b)
        tree = load_tree(TREE)  # warm: the parse cache is filled by now
        result = compare(tree, a, b)
        in_process = median_seconds(lambda: compare(tree, a, b))
        argv = [sys.executable, "-m", "ukl_tui.cli", "diff", str(a), str(b), "--tree", str(TREE)]

        def command() -> None:
            subprocess.run(argv, check=True, capture_output=True, timeout=120, cwd=ROOT)

        whole = median_seconds(command, 3)
        print()
        print("| diff of two full randconfigs | differences | choices | in process | command |")
        print("|---|---|---|---|---|")
        print(
            f"| 0x5eed -> 0xc0ffee | {len(result.differences)} | {len(result.choices)} | "
            f"{in_process * 1000:.0f} ms | {whole * 1000:.0f} ms |"
        )
        print(f"machine load (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
