"""Benchmarks of distcc and ccache for the kernel build, and of the hosts' probe.

probe (always, a second)
    ``ukl_tui.distcc.probe`` on a list of one live loopback listener plus one dead host, in
    its two kinds: a closed port (refused at once) and a port whose connects hang (a listener
    with a full backlog: what a firewalled or powered-off machine looks like). Median of 20.

build (``--build``, needs the real tree; each mode is a kernel build, minutes each)
    The qemu-smoke kernel of the end-to-end test (presets qemu-smoke + ukl-base, tinyconfig,
    the UKL stand-in overlay), its plan's olddefconfig and bzImage commands run from an empty
    O= directory, the bzImage step timed:

    - ``local``: plain gcc, ``make -j2``;
    - ``ccache``: through ccache with a private, empty cache (filled: timed as "cold"), then
      again from an empty O= directory (timed as "warm": every object is a hit); with
      ``--ccache-dir`` an already warm cache is used and only the warm build is timed;
    - ``distcc``: ``CC="distcc gcc"`` through two distccd on 127.0.0.1 (``/2`` each, so -j4),
      no ccache; reported with the jobs each daemon logged.

    On one 2-core machine the daemons share the client's two cores: the distcc figure is
    distcc's overhead (local preprocessing, loopback transfer, daemon scheduling), not the
    speed-up a farm of other machines would give.

Usage: ``python bench/bench_distcc.py [--build [--modes local,ccache,distcc]] [--tree DIR]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.distccd import daemons, free_port  # noqa: E402
from ukl_tui.distcc import parse_hosts, probe, read_job_counts  # noqa: E402
from ukl_tui.host import KvmStatus  # noqa: E402
from ukl_tui.plan import Plan  # noqa: E402

CI_CACHE = Path(os.environ.get("UKL_TUI_CI_CACHE", "/var/cache/ukl-tui-ci"))
NO_KVM = KvmStatus(False, "bench")


def bench_probe(rounds: int = 20) -> None:
    with socket.socket() as live, socket.socket() as silent:
        live.bind(("127.0.0.1", 0))
        live.listen(64)
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        fill = []
        for _ in range(3):  # a full accept queue: later connects hang
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(silent.getsockname())
            fill.append(client)
        up = f"127.0.0.1:{live.getsockname()[1]}"
        cases = {
            "all up": f"{up}/2",
            "one dead (refused)": f"{up}/2 127.0.0.1:{free_port()}/2",
            "one dead (silent)": f"{up}/2 127.0.0.1:{silent.getsockname()[1]}/2",
        }
        for name, hosts in cases.items():
            parsed = parse_hosts(hosts)
            runs = 3 if "silent" in name else rounds
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                probe(parsed)
                times.append(time.perf_counter() - start)
            print(
                f"probe, {name:20}: median {statistics.median(times) * 1000:8.1f} ms ({runs} runs)"
            )
        for client in fill:
            client.close()


def kernel_steps(tree: Path, overlay: Path, build: Path, **plan: object) -> list:
    steps = (
        Plan(
            tree=tree,
            overlays=(overlay,),
            presets=("qemu-smoke", "ukl-base"),
            base="tinyconfig",
            build_dir=build,
            initrd="minimal",
            **plan,  # type: ignore[arg-type]
        )
        .build(NO_KVM, check_ports=False)
        .steps
    )
    return [s for s in steps if s.kind != "boot" and s.id != "initramfs"]


def timed_build(steps: list, env: dict[str, str], out: Path) -> float:
    """Run the steps in order (logs to ``out``); the seconds of the bzImage step."""
    seconds = 0.0
    with open(out, "ab") as log:
        for step in steps:
            start = time.monotonic()
            subprocess.run(
                list(step.argv),
                cwd=step.cwd,
                env={**env, **step.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )
            if step.id == "bzImage":
                seconds = time.monotonic() - start
    return seconds


def bench_build(tree: Path, overlay: Path, modes: list[str], ccache_dir: Path | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-distcc-"))
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = str(work / "xdg")
    env.pop("DISTCC_HOSTS", None)
    try:
        if "local" in modes:
            steps = kernel_steps(tree, overlay, work / "local", ccache=False, jobs=2)
            print(f"build, local gcc -j2          : {timed_build(steps, env, work / 'log'):6.0f} s")
        if "ccache" in modes:
            cenv = {**env, "CCACHE_DIR": str(ccache_dir or work / "ccache")}
            if ccache_dir is None:
                steps = kernel_steps(tree, overlay, work / "cc1", ccache=True, jobs=2)
                cold = timed_build(steps, cenv, work / "log")
                print(f"build, ccache -j2, cold (fill): {cold:6.0f} s")
            steps = kernel_steps(tree, overlay, work / "cc2", ccache=True, jobs=2)
            warm = timed_build(steps, cenv, work / "log")
            print(f"build, ccache -j2, warm       : {warm:6.0f} s")
        if "distcc" in modes:
            with daemons(work, 2) as (one, two):
                hosts = f"{one.host} {two.host}"
                steps = kernel_steps(tree, overlay, work / "dc", ccache=False, distcc=hosts)
                seconds = timed_build(steps, env, work / "log")
                jobs = {f"127.0.0.1:{d.port}": d.jobs() for d in (one, two)}
            counts = read_job_counts(work / "dc" / "distcc.log")
            print(f"build, distcc 2 loopback -j4  : {seconds:6.0f} s (overhead, not speed-up)")
            for name, n in jobs.items():
                print(f"  jobs on {name}: {n} (daemon log), {counts.host(name).compiled} (client)")
            print(f"  jobs on localhost: {counts.host('localhost').compiled} (client)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--build", action="store_true", help="also time kernel builds")
    parser.add_argument("--modes", default="local,ccache,distcc")
    parser.add_argument(
        "--ccache-dir",
        type=Path,
        help="an already warm ccache (e.g. the e2e test's): time only the warm build",
    )
    parser.add_argument("--tree", type=Path, default=CI_CACHE / "linux-source-6.1")
    parser.add_argument(
        "--overlay", type=Path, default=REPO / "tests" / "fixtures" / "ukl" / "Kconfig.ukl"
    )
    args = parser.parse_args()
    bench_probe()
    if args.build:
        bench_build(args.tree, args.overlay, args.modes.split(","), args.ccache_dir)


if __name__ == "__main__":
    main()
