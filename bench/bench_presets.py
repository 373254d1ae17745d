"""Benchmark the user's own presets and the diff on a real tree.

Figures for the closing note of issue 14: the size of a saved preset (assignments, file
lines) against the full ``.config`` and against ``make savedefconfig`` of the same
configuration; the time of ``ukl-tui diff`` on two full configurations, warm (parse cache
filled), in process and as the whole command.

Usage: python bench/bench_presets.py [TREE]   (default: $UKL_TUI_TEST_TREE)
The random and full default configurations come from the tree's own ``make randconfig`` /
``make defconfig``, and the savedefconfig sizes from its own ``make savedefconfig`` (ARCH=x86_64,
always in a temporary O= directory: make never runs inside the tree). A preset's file lines
include its header comments and, for the boot/network row, its [boot] and [network] tables.
One run on whatever machine runs it; medians of a few repeats.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ukl_tui.boot import NetworkSpec  # noqa: E402
from ukl_tui.kconfig import load_tree  # noqa: E402
from ukl_tui.kconfig.compare import compare  # noqa: E402
from ukl_tui.preset_save import BaseChoice, make_preset  # noqa: E402
from ukl_tui.presets import Boot  # noqa: E402

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


def make(objdir: Path, target: str, **env: str) -> None:
    """The tree's own make for a kconfig target, with every output in ``objdir`` (O=)."""
    subprocess.run(
        ["make", "-s", "-C", str(TREE), f"O={objdir}", "ARCH=x86_64", target],
        check=True,
        capture_output=True,
        env=dict(os.environ, **env),
        timeout=600,
    )


def randconfig(objdir: Path, seed: str) -> str:
    """The kernel's own ``make randconfig`` for one seed."""
    make(objdir, "randconfig", KCONFIG_SEED=seed)
    return (objdir / ".config").read_text()


def full_defconfig(objdir: Path) -> str:
    """The kernel's own ``make defconfig``: the full .config, not the short defconfig file."""
    make(objdir, "defconfig")
    return (objdir / ".config").read_text()


def make_savedefconfig_lines(objdir: Path, config_text: str) -> int:
    """Lines of the kernel's own ``make savedefconfig`` for this configuration (a copy of
    it in ``objdir``; kconfig's conf reads .config and writes ``defconfig`` there).
    """
    (objdir / ".config").write_text(config_text)
    make(objdir, "savedefconfig")
    return len((objdir / "defconfig").read_text().splitlines())


def median_seconds(fn, repeats: int = 5) -> float:  # noqa: ANN001
    """Median wall time of ``fn()``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


#: Boot and network settings for the row that shows a preset's [boot] and [network] tables.
BOOT = Boot(("console=ttyS0", "clearcpuid=smap,smep", "mitigations=off", "loglevel=7"))
NETWORK = NetworkSpec.user(["8080:80", "2222:22"], nic="virtio-net-pci")


def sizes(
    work: Path,
    objdir: Path,
    name: str,
    text: str,
    extends: list[str],
    overlays: list[Path],
    boot: bool = False,
) -> str:
    """One table row: preset assignments and file lines, .config and savedefconfig lines
    (the kernel's ``make savedefconfig``; for an overlay row, which the kernel's make cannot
    read, kconfiglib's, marked ``*``).
    """
    config = work / f"{name}.config"
    config.write_text(text)
    tree = load_tree(TREE, config=config, overlays=overlays)
    kw = {"boot": BOOT, "network": NETWORK} if boot else {}
    saved = make_preset(tree, "bench", BaseChoice.parse("defconfig"), extends, **kw)
    seconds = median_seconds(
        lambda: make_preset(tree, "bench", BaseChoice.parse("defconfig"), extends, **kw), 3
    )
    if overlays:
        minimal = f"{saved.savedefconfig_lines}*"
    else:  # kconfiglib's count (what the preset file's header says) beside make's
        made = make_savedefconfig_lines(objdir, tree.config_text())
        minimal = f"{made} (kconfiglib {saved.savedefconfig_lines})"
    on = f"defconfig + {', '.join(extends)}" if extends else "defconfig"
    return (
        f"| {name} | {on} | {saved.lines} | {len(saved.text.splitlines())} | "
        f"{saved.config_lines} | {minimal} | {seconds * 1000:.0f} ms |"
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
        full = full_defconfig(objdir)
        print(f"tree: {TREE}")
        print(
            "| configuration | base | preset assignments | preset file lines | .config lines "
            "| savedefconfig lines | save time |"
        )
        print("|---|---|---|---|---|---|---|")
        print(sizes(work, objdir, "defconfig + 4 changes", defconfig + TUNED, [], []))
        print(
            sizes(work, objdir, "same + [boot] + [network]", defconfig + TUNED, [], [], boot=True)
        )
        print(sizes(work, objdir, "UKL + E1000E off", defconfig + UKL, ["ukl-base"], [OVERLAY]))
        print(sizes(work, objdir, "randconfig 0x5eed", rand_a, [], []))
        print(sizes(work, objdir, "randconfig 0xc0ffee", rand_b, [], []))
        print("(* kconfiglib's savedefconfig: the kernel's make cannot read the UKL overlay)")

        print()
        print("| diff of two full configs | differences | choices | in process | command |")
        print("|---|---|---|---|---|")
        for label, one, two in (
            ("defconfig -> randconfig 0x5eed", full, rand_a),
            ("randconfig 0x5eed -> 0xc0ffee", rand_a, rand_b),
        ):
            a, b = work / "a.config", work / "b.config"
            a.write_text(one)
            b.write_text(two)
            tree = load_tree(TREE)  # warm: the parse cache is filled by now
            result = compare(tree, a, b)
            in_process = median_seconds(partial(compare, tree, a, b), 7)
            argv = [sys.executable, "-m", "ukl_tui.cli", "diff", str(a), str(b)]
            argv += ["--tree", str(TREE)]
            command = partial(
                subprocess.run, argv, check=True, capture_output=True, timeout=120, cwd=ROOT
            )
            command()  # warm the command's own caches too
            whole = median_seconds(command, 7)
            print(
                f"| {label} | {len(result.differences)} | {len(result.choices)} | "
                f"{in_process * 1000:.0f} ms | {whole * 1000:.0f} ms |"
            )
        print("(medians of 7 warm runs; 'command' is the whole ukl-tui diff process)")
        print(f"machine load (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
