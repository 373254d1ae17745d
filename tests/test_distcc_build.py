"""The qemu-smoke kernel of the end-to-end test, compiled by two real distccd on 127.0.0.1.

Two daemons on two loopback ports (``--listen 127.0.0.1 --allow 127.0.0.1``, each with its
own log, stopped at the end whatever happens) plus a third port nothing listens on. One
``ukl-tui run --plan --no-tui`` builds the kernel through ccache and distcc and boots it to
``UKL BOOTED``. ccache gets a private, empty directory: a warm cache answers every compile
itself and no job would ever reach a daemon, so this build misses on every file and hands
each compile to distcc (``CCACHE_PREFIX=distcc``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.distccd import daemons, free_port
from tests.test_e2e import run_plan
from tests.test_run_support import cli_env
from ukl_tui.plan import Plan

pytestmark = [pytest.mark.slow, pytest.mark.realtree, pytest.mark.timeout(3000)]

#: A cold build is ~4-5 minutes on 2 cores; distcc over loopback adds its own overhead.
HARD_TIMEOUT = 2700


def test_kernel_builds_through_two_loopback_daemons_and_boots(
    real_tree: Path, ukl_overlay: Path, tmp_path: Path, capsys
):
    base = tmp_path
    build_dir = base / "build"
    dead = free_port()
    with daemons(base, 2) as (one, two):
        plan = Plan(
            tree=real_tree,
            overlays=(ukl_overlay,),
            presets=("qemu-smoke", "ukl-base"),
            base="tinyconfig",
            build_dir=build_dir,
            ccache=True,
            distcc=f"127.0.0.1:{dead}/2 {one.host} {two.host}",
            initrd="minimal",
            memory_mib=256,
        )
        plan_file = plan.save(base / "ukl-tui.toml")
        env = cli_env(base)
        env["CCACHE_DIR"] = str(base / "ccache-empty")  # every compile misses: see above
        env.pop("DISTCC_HOSTS", None)
        log_dir = base / "logs"
        result = run_plan(plan_file, log_dir, env, HARD_TIMEOUT)
        daemon_jobs = {f"127.0.0.1:{d.port}": d.jobs() for d in (one, two)}
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert "ukl-tui: OK: the boot reached UKL BOOTED" in result.stdout
    # the dead port is named and left out; the build still ran through the other two
    warning = f"ukl-tui: warning: distcc host 127.0.0.1:{dead} left out: connection refused"
    assert warning in result.stderr
    summary = json.loads((log_dir / "summary.json").read_text())
    build = next(s for s in summary["steps"] if s["id"] == "bzImage")
    assert "CC=ccache gcc" in build["argv"] and "-j4" in build["argv"]  # 2 + 2 slots
    assert build["env"]["CCACHE_PREFIX"] == "distcc"
    assert build["env"]["DISTCC_HOSTS"] == f"{one.host} {two.host}"
    report = build["distcc"]
    # both daemons really compiled, and the client's log agrees with each daemon's own log
    # (a daemon may also have run the compiler probes of olddefconfig, before the log began)
    for name, jobs in daemon_jobs.items():
        assert jobs > 50, (name, daemon_jobs)
        assert 50 < report["jobs"][name] <= jobs, (report, daemon_jobs)
    assert report["problems"] == [] and report["failed"] == {} and report["refused"] == {}
    config = (build_dir / ".config").read_text()
    assert "CONFIG_UNIKERNEL_LINUX=y" in config
    with capsys.disabled():
        print(
            f"\ndistcc build: {build['duration']:.0f} s, {build['objects']} objects; "
            f"jobs per daemon (client log / daemon log): "
            + ", ".join(f"{n} {report['jobs'][n]}/{j}" for n, j in daemon_jobs.items())
            + f"; localhost {report['jobs'].get('localhost', 0)}"
        )
