"""Benchmark the wizard headless with Pilot on the real tree (with the UKL stand-in).

Usage: python bench/bench_tui.py [TREE]   (default: $UKL_TUI_TEST_TREE)

1. Start to welcome painted: a fresh interpreter imports the app, starts it headless and
   stops at its first paint (imports included; the tree load does not block the paint).
2. Start to browser usable: from app start (headless, fresh interpreter) through the tree
   load to the browser screen mounted with its tree, conflicts and symbol panel, after
   Enter on Welcome and skipping the preset, once with an empty parse cache, once warm.
3. Search answer per keystroke: the search dialog, words typed one key at a time; each
   figure is from the key press until that query's results are on screen.
Figures are one run on whatever machine runs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
TREE = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ["UKL_TUI_TEST_TREE"])
OVERLAY = HERE / "tests" / "fixtures" / "ukl" / "Kconfig.ukl"
#: The query of each measured keystroke (filled by search_latencies, for the slowest list).
queries: list[str] = []

WORDS = [
    "unikernel",
    "virtio net",
    "e1000",
    "randomize base",
    "page table isolation",
    "serial 8250 console",
    "ip pnp",
    "devtmpfs mount",
    "initramfs",
]

PAINT = """
import time
start = time.perf_counter()
import argparse, asyncio, json
from ukl_tui.app import UklApp
from ukl_tui.session import session_from_args
args = argparse.Namespace(wizard_tree=TREE, wizard_config=CONFIG, wizard_plan=None,
                          wizard_overlay=[OVERLAY])
app = UklApp(session_from_args(args))
app.started = start
async def main():
    async with app.run_test(size=(120, 40)) as pilot:
        while app.first_paint is None:
            await asyncio.sleep(0.001)
        painted = app.first_paint
        while app.session.tree is None and app.session.load_error is None:
            await asyncio.sleep(0.005)
        loaded = time.perf_counter() - start
        await pilot.press("enter")
        while app.current_step() != "preset":
            await asyncio.sleep(0.005)
        await pilot.press("s")
        while app.current_step() != "browser":
            await asyncio.sleep(0.005)
        await pilot.pause()
        usable = time.perf_counter() - start
        print(json.dumps({"paint": painted, "loaded": loaded, "usable": usable,
                          "cache_hit": app.session.tree.cache_hit}))
asyncio.run(main())
"""


def start_run(config: Path, cache: Path) -> dict[str, float]:
    """One fresh interpreter: start, paint, load, browser."""
    code = f"TREE={str(TREE)!r}\nCONFIG={str(config)!r}\nOVERLAY={str(OVERLAY)!r}\n"
    code += textwrap.dedent(PAINT)
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), XDG_CONFIG_HOME=str(cache / "config"))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=HERE, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


async def search_latencies(config: Path) -> list[float]:
    """Type every word into the search dialog; seconds from each key to its results."""
    from textual import events

    from ukl_tui.app import UklApp
    from ukl_tui.kconfig import load_tree
    from ukl_tui.plan import Plan
    from ukl_tui.screens.search import SearchScreen
    from ukl_tui.session import Session

    tree = load_tree(TREE, config=config, overlays=[OVERLAY])
    tree.search("ukl")
    plan = Plan(tree=TREE, config=config, overlays=(OVERLAY,))
    app = UklApp(Session(plan, tree=tree))
    times: list[float] = []
    queries.clear()
    async with app.run_test(size=(120, 40)) as pilot:
        app.goto("browser")
        await pilot.pause()
        for word in WORDS:
            await pilot.press("slash")
            screen = app.screen
            assert isinstance(screen, SearchScreen)
            typed = ""
            for key in word:
                typed += key
                want = typed.strip()
                # The key goes in as the terminal driver would deliver it (Pilot.press
                # would also wait for the whole app to go idle, which is not what a user
                # waits for); the clock stops when the results have been painted.
                name = "space" if key == " " else key
                screen.painted.clear()
                start = time.perf_counter()
                app._driver.send_message(events.Key(name, key))
                while screen.shown_query != want:
                    screen.painted.clear()
                    await asyncio.wait_for(screen.painted.wait(), 5)
                times.append(time.perf_counter() - start)
                queries.append(want)
                await pilot.pause(0.15)  # a typist's pace: about 7 keys a second
            await pilot.press("escape")
            await pilot.pause()
    return times


def main() -> None:
    """Run the three measurements and print them."""
    work = Path(tempfile.mkdtemp(prefix="bench-tui-"))
    try:
        config = work / ".config"
        shutil.copy(TREE / "arch/x86/configs/x86_64_defconfig", config)
        cache = work / "cache"
        cold = start_run(config, cache)
        warm = [start_run(config, cache) for _ in range(3)]
        print(f"tree: {TREE} (+ {OVERLAY.name}), defconfig")
        print(
            f"start -> welcome painted:   {statistics.median(w['paint'] for w in warm):.3f} s "
            f"(median of 3; cold run {cold['paint']:.3f} s)"
        )
        print(
            f"start -> browser usable:    cold cache {cold['usable']:.2f} s "
            f"(tree loaded at {cold['loaded']:.2f} s), warm "
            f"{statistics.median(w['usable'] for w in warm):.2f} s "
            f"(loaded at {statistics.median(w['loaded'] for w in warm):.2f} s)"
        )
        os.environ["XDG_CACHE_HOME"] = str(cache)
        times = asyncio.run(search_latencies(config))
        ms = [t * 1000 for t in times]
        print(
            f"search per keystroke:       median {statistics.median(ms):.1f} ms, "
            f"max {max(ms):.1f} ms, p90 {statistics.quantiles(ms, n=10)[-1]:.1f} ms "
            f"over {len(ms)} keys"
        )
        from ukl_tui.kconfig import load_tree

        tree = load_tree(TREE, config=config, overlays=[OVERLAY])
        slow = sorted(zip(ms, queries, strict=True), reverse=True)[:5]
        parts = []
        for total, query in slow:
            start = time.perf_counter()
            tree.search(query, limit=60)
            core = (time.perf_counter() - start) * 1000
            parts.append(f"{query!r} {total:.0f} ms (model search {core:.0f} ms)")
        print("slowest keystrokes:         " + ", ".join(parts))
        print(f"load average (1 min):       {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
