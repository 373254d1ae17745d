"""Sweep ``make randconfig`` seeds: ukl-tui against the kernel's own ``make olddefconfig``.

For each tree and seed, the tree's C tool writes ``make randconfig`` (KCONFIG_SEED=seed);
then that .config is settled twice, by ``make olddefconfig`` and by ukl-tui (loading it and
writing it back, as ``ukl-tui apply --config F`` with no ``--set`` does). Every symbol whose
value or presence differs is printed; the summary gives seeds, configs that differed and
differing symbols per tree. Exit status 1 when anything differed.

Usage:
  python bench/sweep_randconfig.py --tree T [--tree T2] [--seeds 100] [--first 1]
                                   [--targets] [--overlay K]
  --targets  also the fixed matrix: defconfig, tinyconfig, allnoconfig, allmodconfig,
             allyesconfig.
Default trees: $UKL_TUI_TEST_TREE and $UKL_TUI_TEST_TREE_612 (as .ci/setup extracts them).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ukl_tui.kconfig import Tree, load_tree  # noqa: E402
from ukl_tui.kconfig.verify import CConfigurator, Difference, compare  # noqa: E402

TARGETS = ("defconfig", "tinyconfig", "allnoconfig", "allmodconfig", "allyesconfig")


def settle_both(
    tree: Tree, tool: CConfigurator, text: str, scratch: Path
) -> tuple[list[Difference], float, float]:
    """ukl-tui's and the C tool's olddefconfig of ``text``; their differences and timings."""
    config = scratch / "input.config"
    config.write_text(text)
    start = time.perf_counter()
    tree.load_config(config)
    ours = tree.config_text()
    middle = time.perf_counter()
    theirs = tool.olddefconfig(text, top=tree.top)
    end = time.perf_counter()
    return compare(ours, theirs), middle - start, end - middle


def sweep_tree(
    srctree: Path, seeds: range, targets: bool, overlays: list[Path], scratch: Path
) -> tuple[int, int, Counter[str]]:
    """Run every case on one tree; return (cases, cases that differed, symbol counts)."""
    tree = load_tree(srctree, config=None, overlays=overlays)
    tool = CConfigurator(srctree, scratch / srctree.name)
    cases: list[tuple[str, dict[str, str]]] = []
    if targets:
        cases += [(target, {}) for target in TARGETS]
    cases += [("randconfig", {"KCONFIG_SEED": str(seed)}) for seed in seeds]
    failed = 0
    symbols: Counter[str] = Counter()
    ours_s = theirs_s = 0.0
    for target, env in cases:
        label = f"{target} seed={env['KCONFIG_SEED']}" if env else target
        text = tool.make(target, top=tree.top, env=env)
        diffs, ours_t, theirs_t = settle_both(tree, tool, text, scratch)
        ours_s += ours_t
        theirs_s += theirs_t
        print(f"{srctree.name} {label}: {len(diffs)} differing symbol(s)", flush=True)
        if diffs:
            failed += 1
            symbols.update(d.name for d in diffs)
            for diff in diffs:
                print(f"    {diff.line()}", flush=True)
    print(
        f"{srctree.name}: {len(cases)} configs, {failed} with differences, "
        f"{sum(symbols.values())} differing symbols; ukl-tui settle {ours_s / len(cases):.3f} s, "
        f"make olddefconfig {theirs_s / len(cases):.2f} s per config",
        flush=True,
    )
    return len(cases), failed, symbols


def main() -> int:
    """Parse arguments, sweep each tree, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", type=Path, default=[])
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds per tree")
    parser.add_argument("--first", type=int, default=1, help="the first seed")
    parser.add_argument("--targets", action="store_true", help="also the fixed targets")
    parser.add_argument("--overlay", action="append", type=Path, default=[])
    args = parser.parse_args()
    trees = args.tree or [
        Path(os.environ[var])
        for var in ("UKL_TUI_TEST_TREE", "UKL_TUI_TEST_TREE_612")
        if os.environ.get(var)
    ]
    if not trees:
        parser.error("no tree: pass --tree or set UKL_TUI_TEST_TREE / UKL_TUI_TEST_TREE_612")
    seeds = range(args.first, args.first + args.seeds)
    total_failed = 0
    with tempfile.TemporaryDirectory(prefix="ukl-tui-sweep-") as tmp:
        for srctree in trees:
            _, failed, symbols = sweep_tree(srctree, seeds, args.targets, args.overlay, Path(tmp))
            total_failed += failed
            if symbols:
                common = ", ".join(f"{name} ({n})" for name, n in symbols.most_common(15))
                print(f"{srctree.name}: most frequent: {common}")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
