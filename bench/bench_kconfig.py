"""Benchmark the Kconfig model on a real tree: load time and peak RSS against bare kconfiglib
and the kernel's own ``make olddefconfig``; warm (cached) loads; search latency.

Usage: python bench/bench_kconfig.py [TREE]   (default: $UKL_TUI_TEST_TREE)
Each load runs in a fresh child process so peak RSS and timings are per operation.
Figures are one run on whatever machine runs it; ratios are what to compare.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TREE = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ["UKL_TUI_TEST_TREE"])
DEFCONFIG = TREE / "arch/x86/configs/x86_64_defconfig"

CHILD_PRELUDE = """
import resource, sys, time, json
start = time.perf_counter()
"""
CHILD_REPORT = """
elapsed = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "rss_mb": rss}))
"""

BARE = """
import os, io, re, tempfile, kconfiglib
from ukl_tui.kconfig.env import kconfig_env
os.environ.update(kconfig_env(__import__("pathlib").Path(TREE)))
os.chdir(tempfile.mkdtemp())
class Bare(kconfiglib.Kconfig):
    # the minimum that lets kconfiglib 14.1.0 parse Linux >= 5.13 at all
    def _open(self, filename, mode):
        if mode == "r" and self._parsing_kconfigs:
            text = open(filename).read()
            return io.StringIO(re.sub(r"(?m)^(\\s+)modules\\s*$", r"\\1option modules", text))
        return super()._open(filename, mode)
kconf = Bare("Kconfig", warn_to_stderr=False)
kconf.load_config(DEFCONFIG)
"""

OURS = """
from ukl_tui.kconfig import load_tree, cache
tree = load_tree(TREE, config=DEFCONFIG)
hit = tree.cache_hit
"""


def child(body: str, env: dict[str, str]) -> dict[str, float]:
    """Run one measured body in a fresh interpreter; return its timing and peak RSS."""
    code = (
        f"TREE = {str(TREE)!r}\nDEFCONFIG = {str(DEFCONFIG)!r}\n"
        + CHILD_PRELUDE
        + textwrap.dedent(body)
        + CHILD_REPORT
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    return __import__("json").loads(out.strip().splitlines()[-1])


def c_olddefconfig(objdir: Path) -> tuple[float, float]:
    """Time the kernel's own olddefconfig (conf already built), with its peak RSS."""
    shutil.copy(DEFCONFIG, objdir / ".config")
    argv = ["make", "-s", "-C", str(TREE), f"O={objdir}", "ARCH=x86_64", "olddefconfig"]
    start = time.perf_counter()
    res = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, check=True
    )
    return time.perf_counter() - start, int(res.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    """Print the figures."""
    cache_home = tempfile.mkdtemp(prefix="ukl-bench-cache-")
    env = dict(os.environ, XDG_CACHE_HOME=cache_home)
    objdir = Path(tempfile.mkdtemp(prefix="ukl-bench-obj-"))
    c_olddefconfig(objdir)  # builds scripts/kconfig/conf once
    runs = 3
    bare = [child(BARE, env) for _ in range(runs)]
    cold = []
    for _ in range(runs):
        shutil.rmtree(cache_home, ignore_errors=True)
        cold.append(child(OURS, env))  # the child's cache writer finishes before it exits
    warm = [child(OURS, env) for _ in range(runs)]
    c_runs = [c_olddefconfig(objdir) for _ in range(runs)]

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    b, c, w = med(bare, "seconds"), med(cold, "seconds"), med(warm, "seconds")
    cs = statistics.median(t for t, _ in c_runs)
    print(f"tree: {TREE}  (median of {runs} runs, defconfig loaded)")
    print(f"bare kconfiglib parse+load   {b:6.2f} s  peak RSS {med(bare, 'rss_mb'):6.1f} MB")
    print(
        f"ukl-tui cold (cache written) {c:6.2f} s  peak RSS {med(cold, 'rss_mb'):6.1f} MB"
        f"  = {c / b:.2f}x bare"
    )
    print(
        f"ukl-tui warm (parse cache)   {w:6.2f} s  peak RSS {med(warm, 'rss_mb'):6.1f} MB"
        f"  = {w / b:.2f}x bare"
    )
    print(
        f"C make olddefconfig          {cs:6.2f} s  peak RSS "
        f"{statistics.median(r for _, r in c_runs):6.1f} MB  (ukl-tui cold = {c / cs:.2f}x, "
        f"warm = {w / cs:.2f}x)"
    )

    # Whole-command timing, as a user sees it.
    cli = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ukl_tui.cli",
                "explain",
                "--tree",
                str(TREE),
                "--config",
                str(DEFCONFIG),
                "RANDOMIZE_BASE",
            ],
            env=env,
            capture_output=True,
            check=True,
        )
        cli.append(time.perf_counter() - start)
    print(
        f"warm `ukl-tui explain` wall  {statistics.median(cli):6.2f} s  "
        f"= {statistics.median(cli) / cs:.2f}x make olddefconfig"
    )

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ["XDG_CACHE_HOME"] = cache_home
    from ukl_tui.kconfig import load_tree

    tree = load_tree(TREE, config=DEFCONFIG)
    queries = [
        "kaslr",
        "RANDOMIZE_BASE",
        "page table",
        "virtio",
        "e1000",
        "serial console",
        "initrd",
        "xz",
        "smap",
        "tls",
        "debug info",
        "gdb",
        "mitigation",
        "retpoline",
        "devtmpfs",
        "ip_pnp",
        "kernel level autoconfiguration",
        "ext4",
        "tcp",
        "zz_no_match",
    ]
    start = time.perf_counter()
    tree.search("warm the index")
    index = time.perf_counter() - start
    times = []
    for q in queries:
        start = time.perf_counter()
        tree.search(q)
        times.append((time.perf_counter() - start) * 1000)
    print(
        f"search: index build {index * 1000:.0f} ms (first query), then over {len(queries)} "
        f"queries median {statistics.median(times):.1f} ms, max {max(times):.1f} ms"
    )
    shutil.rmtree(cache_home, ignore_errors=True)
    shutil.rmtree(objdir, ignore_errors=True)


if __name__ == "__main__":
    main()
