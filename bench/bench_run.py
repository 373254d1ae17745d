"""Benchmarks of ``ukl-tui run``: a flood of output through the Run screen, and overhead.

flood (default)
    A real child process prints 200,000 build-like lines as fast as it can; the Runner feeds
    them to the Run screen (headless ``run_test``, 160x45). Measured: lines/s through the pane
    (from the step's start until the pane holds the last line), key-press latency meanwhile (a
    key event posted every 50 ms, answered when its binding's action runs), the pane's lines
    (bounded by ``max_lines``), RSS growth, and the log file on disk (all lines).

e2e (``--e2e``, needs the real tree)
    The end-to-end plan (presets qemu-smoke + ukl-base, tinyconfig, ccache, minimal initramfs,
    TCG boot to ``UKL BOOTED``) run twice from empty O= directories: once with its commands run
    by hand (subprocess, output to a file, QEMU terminated at the marker) and once through
    ``ukl-tui run --no-tui``, alternating which goes first. Reported: both wall times and the
    ratio of their medians (goal <= 1.05).

Usage: ``python bench/bench_run.py [--lines N] [--e2e --tree DIR --overlay FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from textual.binding import Binding  # noqa: E402
from textual.events import Key  # noqa: E402

from ukl_tui.run_session import RunJob  # noqa: E402
from ukl_tui.screens.run import RunApp  # noqa: E402
from ukl_tui.steps import Step  # noqa: E402
from ukl_tui.widgets.logpane import PaneLog  # noqa: E402

FLOOD = r"""
import sys
n = int(sys.argv[1])
out = sys.stdout
dirs = ["drivers/net/ethernet/intel/e1000", "fs/ext4", "kernel/sched", "mm", "net/ipv4"]
buf = []
for i in range(n):
    if i % 997 == 0:
        buf.append(f"{dirs[i % 5]}/file{i}.c:{i % 400}:7: warning: unused variable 'x{i}'")
    else:
        buf.append(f"  CC      {dirs[i % 5]}/file{i}.o")
    if len(buf) == 2000:
        out.write("\n".join(buf) + "\n")
        buf = []
out.write("\n".join(buf) + ("\n" if buf else ""))
out.flush()
"""


def rss_mib() -> float:
    """This process's resident set size now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class BenchApp(RunApp):
    """The Run app plus a key whose action records when it ran."""

    BINDINGS = [Binding("f12", "ping", "ping", priority=True, show=False)]

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.answered: list[float] = []

    def action_ping(self) -> None:
        self.answered.append(time.perf_counter())


async def flood(lines: int, size: tuple[int, int]) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="ukl-tui-bench-"))
    step = Step(
        "flood", "flood", (sys.executable, "-c", FLOOD, str(lines)), str(tmp), {}, "build", None
    )
    app = BenchApp(RunJob(steps=(step,)), tmp / "logs", autostart=False)
    async with app.run_test(size=size) as pilot:
        screen = app.run_screen
        log = screen.query_one("#build-log", PaneLog)
        await pilot.pause(0.2)
        rss0 = rss_mib()
        sent: list[float] = []
        start = time.perf_counter()
        screen.start()

        loop = asyncio.get_running_loop()

        def keys() -> None:
            # Like a terminal: the driver's thread hands each key to the app's loop.
            while screen.state.running:
                sent.append(time.perf_counter())
                key = Key("f12", None)
                key.set_sender(app)
                asyncio.run_coroutine_threadsafe(app._post_message(key), loop)
                time.sleep(0.05)

        key_thread = threading.Thread(target=keys, daemon=True)
        key_thread.start()
        # Until the pane holds the last line: the 2 header lines plus every output line.
        while log.written < lines + 2:
            await asyncio.sleep(0.005)
        through = time.perf_counter() - start
        while screen.state.running:
            await asyncio.sleep(0.01)
        key_thread.join()
        await pilot.pause(0.3)
        rss1 = rss_mib()
        latencies = [a - s for s, a in zip(sent, app.answered, strict=False)]
        log_file = tmp / "logs" / "01-flood.log"
        with log_file.open("rb") as fh:
            on_disk = sum(1 for _ in fh)
        shutil.rmtree(tmp, ignore_errors=True)
        return {
            "lines": lines,
            "seconds": round(through, 3),
            "lines_per_s": round(lines / through),
            "keys_sent": len(sent),
            "keys_answered": len(app.answered),
            "key_latency_ms_median": round(statistics.median(latencies) * 1000, 1),
            "key_latency_ms_p95": round(
                sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000, 1
            ),
            "key_latency_ms_max": round(max(latencies) * 1000, 1),
            "pane_lines": len(log.lines),
            "pane_max_lines": log.max_lines,
            "rss_growth_mib": round(rss1 - rss0, 1),
            "log_file_lines": on_disk,
            "problems_listed": screen.query_one("#run-problems").option_count,
            "status": screen.state.verdict().headline,
        }


# ----- end to end -------------------------------------------------------------------------------


def plan_steps(tree: Path, overlay: Path, base: Path, env: dict[str, str]) -> list[dict]:
    from ukl_tui.plan import Plan

    plan = Plan(
        tree=tree,
        overlays=(overlay,),
        presets=("qemu-smoke", "ukl-base"),
        base="tinyconfig",
        build_dir=base / "build",
        ccache=True,
        initrd="minimal",
        memory_mib=256,
    )
    plan_file = plan.save(base / "ukl-tui.toml")
    out = subprocess.run(
        [sys.executable, "-m", "ukl_tui.cli", "plan", "--plan", str(plan_file), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)["steps"]


def by_hand(steps: list[dict], base: Path, env: dict[str, str]) -> float:
    """The plan's commands as a user would type them: one after the other, QEMU until booted."""
    start = time.perf_counter()
    with (base / "by-hand.log").open("wb") as log:
        for step in steps:
            full = dict(env, **step["env"])
            if step["kind"] != "boot":
                subprocess.run(
                    step["argv"],
                    cwd=step["cwd"],
                    env=full,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    check=True,
                )
                continue
            qemu = subprocess.Popen(
                step["argv"],
                cwd=step["cwd"],
                env=full,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE,
            )
            assert qemu.stdout is not None
            for line in qemu.stdout:
                log.write(line)
                if b"UKL BOOTED" in line:
                    break
            qemu.terminate()
            qemu.wait(10)
    return time.perf_counter() - start


def e2e(tree: Path, overlay: Path, rounds: int) -> dict:
    results: dict[str, list[float]] = {"by_hand": [], "ukl_tui": []}
    ccache = Path(os.environ.get("UKL_TUI_CI_CACHE", "/var/cache/ukl-tui-ci")) / "ccache"
    for round_no in range(rounds):
        # Alternate who goes first: the second build of a round finds warmer caches.
        order = ("by_hand", "ukl_tui") if round_no % 2 == 0 else ("ukl_tui", "by_hand")
        for how in order:
            base = Path(tempfile.mkdtemp(prefix=f"ukl-tui-bench-{how}-"))
            env = dict(
                os.environ,
                CCACHE_DIR=str(ccache),
                XDG_CACHE_HOME=str(base / "xdg"),
                PYTHONPATH=str(REPO),
            )
            steps = plan_steps(tree, overlay, base, env)
            if how == "by_hand":
                seconds = by_hand(steps, base, env)
            else:
                start = time.perf_counter()
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "ukl_tui.cli",
                        "run",
                        "--plan",
                        str(base / "ukl-tui.toml"),
                        "--no-tui",
                        "--log-dir",
                        str(base / "logs"),
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stdin=subprocess.DEVNULL,
                    check=True,
                )
                seconds = time.perf_counter() - start
            results[how].append(round(seconds, 1))
            print(f"  {how}: {seconds:.1f} s", file=sys.stderr)
            shutil.rmtree(base, ignore_errors=True)  # a kernel build: hundreds of MB
    hand = statistics.median(results["by_hand"])
    tool = statistics.median(results["ukl_tui"])
    return {**results, "ratio": round(tool / hand, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--size", default="160x45")
    parser.add_argument("--e2e", action="store_true")
    parser.add_argument(
        "--tree",
        type=Path,
        default=Path(os.environ.get("UKL_TUI_TEST_TREE", "/var/cache/ukl-tui-ci/linux-source-6.1")),
    )
    parser.add_argument("--overlay", type=Path, default=REPO / "tests/fixtures/ukl/Kconfig.ukl")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if args.e2e:
        print(json.dumps({"e2e": e2e(args.tree, args.overlay, args.rounds)}, indent=2))
        return
    width, height = (int(x) for x in args.size.split("x"))
    print(json.dumps({"flood": asyncio.run(flood(args.lines, (width, height)))}, indent=2))


if __name__ == "__main__":
    main()
