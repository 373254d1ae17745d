"""``ukl-tui run --no-tui`` with real processes: make projects, exit codes, logs, cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.boot_fixtures import alive
from tests.test_run_support import (
    cli_env,
    make_project,
    run_cli,
    start_cli,
    step_dict,
    write_steps,
)

PY = sys.executable


def _make_steps(tmp_path: Path, project: Path) -> Path:
    """clean, build, then run the program: what a plan's steps look like for a make project."""
    return write_steps(
        tmp_path / "steps.json",
        [
            step_dict("clean", ["make", "clean"], project, kind="prep"),
            step_dict("build", ["make", "-j2"], project),
            step_dict("program", ["./hello"], project, kind="prep"),
        ],
    )


def test_make_project_that_succeeds(tmp_path):
    project = make_project(tmp_path / "proj")
    steps = _make_steps(tmp_path, project)
    logs = tmp_path / "logs"
    result = run_cli(["run", "--steps", str(steps), "--no-tui", "--log-dir", str(logs)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # The programs' own output, each step announced with its exact command line.
    assert "==> [2/3] build: step build" in out
    assert f"$ cd {project} && make -j2" in out
    assert "  CC      build/unit0.o" in out
    assert "hello from make" in out
    assert "<== program: ok" in out
    assert "ukl-tui: OK: all 3 steps ok" in out
    assert f"logs and summary.json in {logs}" in out
    # Same output in the logs; the summary says what ran.
    assert "hello from make" in (logs / "03-program.log").read_text()
    summary = json.loads((logs / "summary.json").read_text())
    assert summary["status"] == "ok"
    assert [s["status"] for s in summary["steps"]] == ["ok", "ok", "ok"]
    assert summary["steps"][1]["objects"] == 8  # six units, main, the link (LD)
    assert (project / "hello").is_file()


def test_make_project_that_fails_stops_the_chain_and_names_the_error(tmp_path):
    project = make_project(tmp_path / "proj", broken=True)
    steps = _make_steps(tmp_path, project)
    logs = tmp_path / "logs"
    result = run_cli(["run", "--steps", str(steps), "--no-tui", "--log-dir", str(logs)], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    build_log = (logs / "02-build.log").read_text().splitlines()
    # gcc's error, found in the output and located by its line in the step's log.
    error_no = next(i for i, line in enumerate(build_log, 1) if "error:" in line)
    assert "unit3.c" in build_log[error_no - 1]
    assert f"!!! build:{error_no}: " in out
    # The diagnosis at the end: the first compiler error with its file, its lines, the fix.
    unit3 = project / "src" / "unit3.c"
    assert f"ukl-tui: FAILED: step build: C compile error at {unit3}:2: expected" in out
    assert f"ukl-tui:   evidence: {logs / '02-build.log'}:{error_no - 1}-" in out
    assert f" {error_no} | src/unit3.c:2:13: error:" in out
    assert f"ukl-tui:   fix: fix the source at {unit3}:2" in out
    assert f"log: {logs / '02-build.log'}" in out
    # The chain stopped: the program step never ran.
    assert "==> [3/3]" not in out
    assert not (logs / "03-program.log").exists()
    summary = json.loads((logs / "summary.json").read_text())
    assert [s["status"] for s in summary["steps"]] == ["ok", "failed", "not-run"]
    assert any("unit3.c" in e for e in summary["errors"])
    assert summary["diagnosis"]["cause_id"] == "compile-error"
    assert summary["diagnosis"]["evidence"]["log"] == str(logs / "02-build.log")
    assert summary["steps"][1]["diagnosis"] == summary["diagnosis"]


def test_json_events_and_verdict(tmp_path):
    project = make_project(tmp_path / "proj")
    steps = _make_steps(tmp_path, project)
    result = run_cli(["run", "--steps", str(steps), "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "StepStarted" and kinds[-2:] == ["RunFinished", "Verdict"]
    assert kinds.count("StepStarted") == kinds.count("StepFinished") == 3
    lines = [ln for e in events if e["event"] == "OutputLines" for ln in e["lines"]]
    assert "hello from make" in lines
    progress = [e for e in events if e["event"] == "Progress"]
    assert progress[-1]["done"] == 8
    verdict = events[-1]
    assert verdict["ok"] is True and verdict["exit_code"] == 0
    # Without --log-dir the run gets its own directory under the cache's runs/.
    log_dir = Path(verdict["log_dir"])
    assert log_dir.parent == tmp_path / "xdg-cache" / "ukl-tui" / "runs"
    assert (log_dir / "summary.json").is_file()


def test_progress_total_comes_from_the_previous_run(tmp_path):
    project = make_project(tmp_path / "proj")
    steps = _make_steps(tmp_path, project)
    first = run_cli(["run", "--steps", str(steps), "--no-tui"], tmp_path)
    assert first.returncode == 0
    assert "objects (" not in first.stdout  # no estimate without an earlier run
    second = run_cli(["run", "--steps", str(steps), "--no-tui"], tmp_path)
    assert second.returncode == 0
    assert "--- build: 8/8 objects (100%)" in second.stdout
    runs = sorted((tmp_path / "xdg-cache" / "ukl-tui" / "runs").iterdir())
    assert len(runs) == 2


def test_bad_input_exits_2_with_one_line(tmp_path):
    cases = {
        "missing": ["run", "--steps", str(tmp_path / "nope.json"), "--no-tui"],
        "not json": ["run", "--steps", str(tmp_path / "bad.json"), "--no-tui"],
        "shell line": ["run", "--steps", str(tmp_path / "shell.json"), "--no-tui"],
        "timeout": ["run", "--steps", str(tmp_path / "ok.json"), "--no-tui", "--timeout", "0"],
        "plan": ["run", "--plan", str(tmp_path / "plan.toml"), "--no-tui"],
        "no source": ["run", "--no-tui"],
    }
    (tmp_path / "bad.json").write_text("{steps: [")
    write_steps(tmp_path / "shell.json", [step_dict("x", "make all", tmp_path)])  # type: ignore[arg-type]
    write_steps(tmp_path / "ok.json", [step_dict("x", ["true"], tmp_path)])
    (tmp_path / "plan.toml").write_text(f'tree = "{tmp_path / "no-such-tree"}"\n')
    for what, args in cases.items():
        result = run_cli(args, tmp_path)
        assert result.returncode == 2, (what, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (what, result.stderr)
        assert result.stderr.startswith("ukl-tui: "), (what, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "xdg-cache" / "ukl-tui" / "runs").exists()


def _pid_from(path: Path, deadline: float = 20.0) -> int:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} was never written")


def _sleeper_steps(tmp_path: Path) -> tuple[Path, Path]:
    """A step that starts a grandchild (sleep) and waits: both must die with the run."""
    pidfile = tmp_path / "sleep.pid"
    code = (
        "import subprocess, pathlib, sys\n"
        "p = subprocess.Popen(['sleep', '300'])\n"
        f"pathlib.Path({str(pidfile)!r}).write_text(str(p.pid))\n"
        "print('waiting', flush=True)\n"
        "p.wait()\n"
    )
    steps = write_steps(
        tmp_path / "steps.json",
        [step_dict("wait", [PY, "-c", code], tmp_path), step_dict("after", ["true"], tmp_path)],
    )
    return steps, pidfile


def test_timeout_kills_the_whole_group(tmp_path):
    steps, pidfile = _sleeper_steps(tmp_path)
    result = run_cli(["run", "--steps", str(steps), "--no-tui", "--timeout", "2"], tmp_path)
    assert result.returncode == 1
    assert "ukl-tui: FAILED: stopped after the --timeout of 2 s during step wait" in result.stdout
    assert not alive(int(pidfile.read_text()))


def test_ctrl_c_kills_the_whole_group(tmp_path):
    steps, pidfile = _sleeper_steps(tmp_path)
    proc = start_cli(["run", "--steps", str(steps), "--no-tui"], tmp_path)
    try:
        sleeper = _pid_from(pidfile)
        assert alive(sleeper)
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130  # 128 + SIGINT, as a shell reports it
    assert "FAILED: interrupted by SIGINT during step wait" in out
    assert "==> [2/2]" not in out
    assert not alive(sleeper)


def test_stay_forwards_stdin_lines_to_the_guest(tmp_path):
    """--stay keeps the booted guest running; lines read from stdin go to its console."""
    guest = (
        "import sys\n"
        "print('UKL BOOTED', flush=True)\n"
        "line = sys.stdin.readline().strip()\n"
        "print(f'guest got {line!r}', flush=True)\n"
    )
    steps = write_steps(
        tmp_path / "steps.json",
        [
            step_dict(
                "boot",
                [PY, "-c", guest],
                tmp_path,
                kind="boot",
                interactive=True,
                success_markers=["UKL BOOTED"],
            )
        ],
    )
    result = subprocess.run(
        [sys.executable, "-m", "ukl_tui.cli", "run", "--steps", str(steps), "--no-tui", "--stay"],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        input="hello guest\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "guest got 'hello guest'" in result.stdout
    assert "ukl-tui: OK: the boot reached UKL BOOTED" in result.stdout


@pytest.mark.realtree
def test_a_plan_with_error_conflicts_does_not_run(real_tree, ukl_overlay, tmp_path):
    """Like the Review screen, run refuses a plan the conflict rules mark as an error."""
    from ukl_tui.plan import Plan

    plan = Plan(
        tree=real_tree,
        overlays=(ukl_overlay,),
        presets=("qemu-smoke", "ukl-base"),
        base="tinyconfig",
        edits={"RANDOMIZE_BASE": "y"},  # KASLR turns UNIKERNEL_LINUX off silently
        build_dir=tmp_path / "build",
        initrd="minimal",
    )
    plan_file = plan.save(tmp_path / "ukl-tui.toml")
    result = run_cli(["run", "--plan", str(plan_file), "--no-tui"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "RANDOMIZE_BASE" in result.stderr and "fix:" in result.stderr
    assert "not running: the plan has conflicts marked error" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "build").exists()
