"""RunSession and RunState with real processes: server probe, stop once done, verdicts.

The "boot" steps here are small Python programs that behave like a guest on a serial
console (print ``UKL BOOTED``, then serve or not): the session and its verdicts are what is
tested, with real sockets and real process groups.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from tests.support.boot_fixtures import alive
from ukl_tui.errors import UserError
from ukl_tui.run_session import ProbeResult, RunJob, RunSession, RunState, new_run_dir
from ukl_tui.runner import Milestone, OutputLines, RunFinished
from ukl_tui.steps import Step

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def guest(sid: str, code: str, cwd: Path, markers=("UKL BOOTED",)) -> Step:
    return Step(
        id=sid,
        title=sid,
        argv=(PY, "-u", "-c", code),
        cwd=str(cwd),
        env={},
        kind="boot",
        timeout=60,
        success_markers=markers,
        interactive=True,
    )


def server_code(port: int, pidfile: Path) -> str:
    return (
        "import os, socket, time, pathlib\n"
        f"pathlib.Path({str(pidfile)!r}).write_text(str(os.getpid()))\n"
        "print('Linux version 6.1 (stand-in)')\n"
        "time.sleep(0.3)\n"
        "print('UKL BOOTED')\n"
        "time.sleep(0.5)\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('127.0.0.1', {port})); s.listen()\n"
        "while True:\n"
        "    c, _ = s.accept(); time.sleep(2); c.close()\n"
    )


async def test_server_answers_then_the_session_stops_it(tmp_path):
    port = free_port()
    pidfile = tmp_path / "guest.pid"
    job = RunJob(steps=(guest("boot", server_code(port, pidfile), tmp_path),), probe_ports=(port,))
    events: list = []
    session = RunSession(job, tmp_path / "run", events.append, stop_after_success=True)
    verdict = await asyncio.wait_for(session.run(), 60)
    assert verdict.ok and verdict.exit_code == 0
    assert verdict.headline == f"the server answered on 127.0.0.1:{port}"
    (probe,) = [e for e in events if isinstance(e, ProbeResult)]
    assert probe.ok and probe.port == port
    # The probe started after the marker, and the session ended the guest afterwards.
    kinds = [type(e).__name__ for e in events]
    boot_marker = next(
        i for i, e in enumerate(events) if isinstance(e, Milestone) and e.key == "UKL BOOTED"
    )
    assert boot_marker < kinds.index("ProbeResult") < kinds.index("RunFinished")
    assert not alive(int(pidfile.read_text()))


async def test_server_that_never_listens_fails_with_the_reason(tmp_path):
    port = free_port()
    code = "import time\nprint('UKL BOOTED')\ntime.sleep(60)\n"
    job = RunJob(steps=(guest("boot", code, tmp_path),), probe_ports=(port,))
    session = RunSession(job, tmp_path / "run", stop_after_success=True, probe_timeout=1.5)
    verdict = await asyncio.wait_for(session.run(), 60)
    assert not verdict.ok and verdict.exit_code == 1
    assert verdict.headline == f"the server did not answer on 127.0.0.1:{port}"
    assert any("is the server listening" in d for d in verdict.details)


async def test_boot_failure_is_explained_with_its_hint(tmp_path):
    code = (
        "import time\n"
        "print('Linux version 6.1')\n"
        "print('VFS: Unable to mount root fs on unknown-block(0,0)')\n"
        "print('Kernel panic - not syncing: VFS: Unable to mount root fs')\n"
        "time.sleep(60)\n"
    )
    job = RunJob(steps=(guest("boot", code, tmp_path),))
    session = RunSession(job, tmp_path / "run", stop_after_success=True, panic_grace=0.2)
    verdict = await asyncio.wait_for(session.run(), 30)
    assert not verdict.ok
    assert verdict.headline == "step boot: no root file system: the kernel could not mount one"
    assert any(d.startswith("fix: ") and "#38" in d for d in verdict.details)
    assert f"evidence: {tmp_path / 'run' / '01-boot.log'}:2-3" in verdict.details
    assert any(d == "not printed: UKL BOOTED" for d in verdict.details)


async def test_silent_boot_is_stopped_headless(tmp_path):
    code = "import time\nprint('Linux version 6.1')\ntime.sleep(60)\n"
    job = RunJob(steps=(guest("boot", code, tmp_path),))
    session = RunSession(
        job, tmp_path / "run", stop_after_success=True, boot_silence=1.0, kill_on_silence=True
    )
    verdict = await asyncio.wait_for(session.run(), 30)
    assert not verdict.ok
    assert verdict.headline == (
        "step boot: the guest went silent after log line 1: a hang in the kernel or the app"
    )
    assert any(d.startswith("fix: ") and "gdb" in d for d in verdict.details)


async def test_console_line_reaches_the_guest_and_stays_running_without_stop(tmp_path):
    code = (
        "import sys\n"
        "print('UKL BOOTED')\n"
        "sys.stdout.write('/ # '); sys.stdout.flush()\n"
        "line = sys.stdin.readline().strip()\n"
        "print(line); print(f'answer:{len(line)}')\n"
        "sys.stdout.write('/ # '); sys.stdout.flush()\n"
        "sys.stdin.readline()\n"
    )
    job = RunJob(steps=(guest("boot", code, tmp_path),))
    events: list = []
    session = RunSession(job, tmp_path / "run", events.append)  # the TUI's way: no auto stop
    task = asyncio.ensure_future(session.run())

    def lines() -> list[str]:
        return [ln for e in events if isinstance(e, OutputLines) for ln in e.lines]

    async def until(predicate) -> None:
        while not predicate():
            assert not task.done(), lines()
            await asyncio.sleep(0.02)

    await asyncio.wait_for(
        until(lambda: any(e.partial == "/ # " for e in events if isinstance(e, OutputLines))), 20
    )
    assert session.send_input("hello guest")
    await asyncio.wait_for(until(lambda: "answer:11" in lines()), 20)
    await asyncio.sleep(0.3)
    assert not task.done()  # booted, but nothing stops it: the console stays live
    session.stop("stopped by you")
    verdict = await asyncio.wait_for(task, 20)
    assert verdict.ok  # it printed its marker before the stop
    assert session.state.stop_reason == "stopped by you"
    assert not session.send_input("too late")


def test_state_replays_to_the_same_verdict(tmp_path):
    """RunState is a function of the events: a replay judges like the live session."""
    steps = (
        Step("a", "a", (PY, "-c", "print('fine')"), str(tmp_path), {}, "prep", 30),
        Step("b", "b", (PY, "-c", "raise SystemExit(4)"), str(tmp_path), {}, "build", 30),
    )
    events: list = []
    session = RunSession(RunJob(steps=steps), tmp_path / "run", events.append)
    verdict = asyncio.run(session.run())
    assert verdict.headline == "step b failed (exit status 4)"
    assert verdict.diagnosis is not None and verdict.diagnosis.cause_id == "exit-status"
    assert isinstance(events[-1], RunFinished)
    state = RunState(RunJob(steps=steps))
    for event in events:
        state.add(event)
    assert state.verdict() == verdict


def test_job_checks_and_run_dirs(tmp_path):
    step = Step("a", "a", ("true",), str(tmp_path), {}, "prep", 30)
    with pytest.raises(UserError):
        RunJob(steps=())
    with pytest.raises(UserError):
        RunJob(steps=(step, step))
    with pytest.raises(UserError):
        RunJob(steps=(step,), probe_ports=(70000,))
    parent = tmp_path / "runs"
    made = [new_run_dir(parent, keep=3) for _ in range(5)]
    assert len(set(made)) == 5
    kept = sorted(p.name for p in parent.iterdir())
    assert kept == sorted(p.name for p in made[-3:])
    (parent / "not-a-run").mkdir()
    new_run_dir(parent, keep=1)
    assert (parent / "not-a-run").is_dir()  # only run-named directories are ever removed


def test_run_dirs_are_bounded_by_the_size_of_their_logs(tmp_path):
    parent = tmp_path / "runs"
    made = []
    for size in (300, 300, 300):  # three runs' logs, oldest first
        run = new_run_dir(parent, keep=50, keep_bytes=700)
        (run / "01-build.log").write_bytes(b"x" * size)
        made.append(run)
    newest = new_run_dir(parent, keep=50, keep_bytes=700)
    # The newest runs whose logs fit in 700 bytes stay (two of 300); the oldest goes.
    assert sorted(p.name for p in parent.iterdir()) == sorted(p.name for p in [*made[1:], newest])
