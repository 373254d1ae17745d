"""Benchmark presets and rules on the loaded real tree: apply + check must feel instant.

Usage: python bench/bench_rules.py [TREE]   (default: $UKL_TUI_TEST_TREE)
The tree (with the UKL stand-in overlay and x86_64 defconfig) is loaded once; each round
restores the same starting values, so every round does the full work. Goal: check + apply
under 100 ms. Figures are one run on whatever machine runs it.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="bench-cache-"))
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="bench-config-")

from ukl_tui.kconfig import load_tree  # noqa: E402
from ukl_tui.presets import apply_presets, load_presets  # noqa: E402
from ukl_tui.rules import Context, check  # noqa: E402

TREE = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ["UKL_TUI_TEST_TREE"])
OVERLAY = REPO / "tests/fixtures/ukl/Kconfig.ukl"
ROUNDS = 15


def measure(label: str, body: Callable[[], object], reset: Callable[[], None]) -> float:
    """Median milliseconds of ``body`` over ROUNDS rounds (``reset`` runs untimed before each)."""
    times = []
    for _ in range(ROUNDS):
        reset()
        start = time.perf_counter()
        body()
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    print(f"{label:<58} median {median:7.1f} ms   min {min(times):7.1f}   max {max(times):7.1f}")
    return median


def main() -> int:
    """Load once, then time each operation; exit 1 when check + apply misses the goal."""
    start = time.perf_counter()
    tree = load_tree(TREE, config=TREE / "arch/x86/configs/x86_64_defconfig", overlays=[OVERLAY])
    print(f"tree: {tree.mainmenu}, {len(tree.kconf.unique_defined_syms)} symbols")
    print(
        f"load (parse cache {'hit' if tree.cache_hit else 'miss'}): "
        f"{(time.perf_counter() - start) * 1000:.0f} ms, not counted below\n"
    )
    snap = tree.snapshot()

    def restore() -> None:
        tree.restore(snap)

    presets = load_presets(["ukl-base"])
    measure("load_presets(ukl-base) (TOML, extends)", lambda: load_presets(["ukl-base"]), restore)
    measure(
        "check: defconfig (kaslr, pti, ukl-off found)", lambda: check(Context(tree=tree)), restore
    )

    def apply_only() -> None:
        apply_presets(tree, presets)

    measure("apply ukl-base onto defconfig", apply_only, restore)

    def apply_and_check() -> None:
        report = apply_presets(tree, load_presets(["ukl-base"]))
        conflicts = check(Context.for_report(tree, report))
        assert not conflicts, conflicts

    total = measure(
        "check + apply: load preset, apply, check (GOAL < 100 ms)", apply_and_check, restore
    )

    def apply_check_render() -> None:
        apply_and_check()
        tree.config_text()  # kconfiglib is lazy: rendering evaluates every symbol

    measure("check + apply + render the whole .config text", apply_check_render, restore)
    saved = load_presets(["ukl-saved"])
    measure(
        "apply ukl-saved + check",
        lambda: check(Context.for_report(tree, apply_presets(tree, saved))),
        restore,
    )
    smoke = load_presets(["qemu-smoke"])
    measure(
        "apply qemu-smoke with --base (tinyconfig reset) + check",
        lambda: check(
            Context.for_report(tree, apply_presets(tree, smoke, base=True), wanted_ukl=False)
        ),
        restore,
    )
    print(f"\ncheck + apply: {total:.1f} ms -> {'OK' if total < 100 else 'OVER'} the 100 ms goal")
    return 0 if total < 100 else 1


if __name__ == "__main__":
    sys.exit(main())
