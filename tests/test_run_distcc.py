"""Jobs per distcc host in the Run screen, the headless stream and summary.json.

A real make project compiled with ``CC="distcc gcc"`` through two distccd on 127.0.0.1
(started and stopped by the tests); the counts the faces show come from distcc's client log
and must agree with each daemon's own log.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.distccd import daemons, free_port
from tests.test_run_support import cli_env, make_project, step_dict, write_steps
from ukl_tui.cli_run import RunJob
from ukl_tui.screens.run import RunApp
from ukl_tui.steps import Step

pytestmark = pytest.mark.timeout(180)

UNITS = 6  # plus main.c: 7 compiles, and the link, which distcc runs (and logs) on localhost


def distcc_env(hosts: str, log: Path) -> dict[str, str]:
    return {"DISTCC_HOSTS": hosts, "DISTCC_LOG": str(log)}


async def test_build_title_and_summary_show_jobs_per_host(tmp_path: Path):
    project = make_project(tmp_path / "proj", units=UNITS)
    log = tmp_path / "distcc.log"
    with daemons(tmp_path, 2) as (one, two):
        hosts = f"{one.host} {two.host}"
        build = Step(
            id="build",
            title="compile through distcc",
            argv=("make", "-j4", "CC=distcc gcc"),
            cwd=str(project),
            env=distcc_env(hosts, log),
            kind="build",
            timeout=120,
        )
        app = RunApp(RunJob(steps=(build,)), tmp_path / "logs")
        async with app.run_test(size=(200, 50)) as pilot:
            screen = app.run_screen
            deadline = time.monotonic() + 120
            while screen.state.running:
                assert time.monotonic() < deadline, "timed out waiting"
                await pilot.pause(0.05)
            await pilot.pause(0.2)
            title = str(screen.query_one("#build-title").render())
            pane = "\n".join(str(line) for line in screen.query_one("#build-log").lines)
        daemon_jobs = [one.jobs(), two.jobs()]
    assert screen.exit_code() == 0
    expected = f"distcc jobs: 127.0.0.1:{one.port} {daemon_jobs[0]}, "
    expected += f"127.0.0.1:{two.port} {daemon_jobs[1]}, localhost 1"
    assert sum(daemon_jobs) == UNITS + 1
    assert title.endswith(" · " + expected), title
    assert expected in pane
    summary = json.loads((tmp_path / "logs" / "summary.json").read_text())
    report = summary["steps"][0]["distcc"]
    assert report["jobs"] == {
        f"127.0.0.1:{one.port}": daemon_jobs[0],
        f"127.0.0.1:{two.port}": daemon_jobs[1],
        "localhost": 1,
    }
    assert report["hosts"] == hosts and report["problems"] == []


def test_headless_stream_names_a_host_that_refused(tmp_path: Path):
    project = make_project(tmp_path / "proj", units=UNITS)
    log = tmp_path / "distcc.log"
    dead = free_port()
    with daemons(tmp_path, 1) as (one,):
        hosts = f"127.0.0.1:{dead}/2 {one.host}"  # a steps file is run as written: no probe
        steps = write_steps(
            tmp_path / "steps.json",
            [
                step_dict(
                    "build",
                    ["make", "-j2", "CC=distcc gcc"],
                    project,
                    env=distcc_env(hosts, log),
                )
            ],
        )
        done = subprocess.run(
            [sys.executable, "-m", "ukl_tui.cli", "run", "--steps", str(steps), "--no-tui"]
            + ["--log-dir", str(tmp_path / "logs")],
            env=cli_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=150,
        )
        daemon_jobs = one.jobs()
    assert done.returncode == 0, done.stdout + done.stderr
    jobs = re.search(r"^--- distcc jobs: (.*)$", done.stdout, re.MULTILINE)
    assert jobs is not None, done.stdout
    # every compile the dead host refused went on to the live one; the link ran locally
    counts = dict(part.rsplit(" ", 1) for part in jobs.group(1).split(", "))
    assert counts == {f"127.0.0.1:{dead}": "0", f"127.0.0.1:{one.port}": "7", "localhost": "1"}
    assert daemon_jobs == UNITS + 1
    refused = re.search(
        rf"^!!! warning: distcc host 127.0.0.1:{dead} refused (\d+) connection\(s\) during the "
        r"build \(Connection refused\)$",
        done.stdout,
        re.MULTILINE,
    )
    assert refused is not None and int(refused.group(1)) >= 1, done.stdout
