"""Signals during a run, for both faces: what they stop, what they leave, what comes back.

SIGINT, SIGTERM and SIGHUP stop the run's process groups, the summary is written and the face
exits with 128 + N; a second signal while stopping kills at once; the handlers that were there
before are back afterwards (checked with ``signal.getsignal``), so no later signal to the
process is swallowed. One class does it for both faces: ``run_session.StopSignals``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.boot_fixtures import alive
from tests.test_run_support import cli_env, start_cli, step_dict, write_steps
from ukl_tui import cli_run
from ukl_tui.run_session import STOP_SIGNALS, RunJob
from ukl_tui.screens.run import RunApp
from ukl_tui.steps import Step

PY = sys.executable


def _waiting_step(tmp_path: Path) -> Step:
    code = "import time\nprint('ready', flush=True)\ntime.sleep(300)\n"
    return Step("wait", "wait", (PY, "-c", code), str(tmp_path), {}, "build", 120)


class Previous:
    """Handlers of our own on the stop signals for the test's duration, to see them come back."""

    def __init__(self) -> None:
        self.called: list[int] = []
        self.saved = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def __call__(self, signum: int, frame: object) -> None:
        self.called.append(signum)

    def __enter__(self) -> Previous:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)

    def back(self) -> bool:
        return all(signal.getsignal(sig) is self for sig in STOP_SIGNALS)


def _kill_self_when(path: Path, text: str, sig: int) -> threading.Thread:
    """Send ``sig`` to this process once ``path`` holds ``text`` (from a helper thread)."""

    def watch() -> None:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if path.exists() and text in path.read_text(errors="replace"):
                os.kill(os.getpid(), sig)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_headless_sigterm_stops_the_run_and_gives_the_handlers_back(tmp_path, capsys):
    job = RunJob(steps=(_waiting_step(tmp_path),))
    log_dir = tmp_path / "logs"
    args = argparse.Namespace(
        json=True, stay=False, timeout=None, probe_timeout=60.0, boot_silence=60.0
    )
    with Previous() as previous:
        watcher = _kill_self_when(log_dir / "01-wait.log", "ready", signal.SIGTERM)
        status = asyncio.run(cli_run._headless(job, log_dir, args))
        watcher.join()
        assert previous.back() and previous.called == []  # the run's handler took it
    assert status == 128 + signal.SIGTERM
    summary = json.loads((log_dir / "summary.json").read_text())
    assert summary["status"] == "cancelled"
    assert summary["steps"][0]["status"] == "cancelled"
    verdict = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert verdict["headline"] == "interrupted by SIGTERM during step wait"


async def test_the_run_app_holds_the_handlers_exactly_while_it_runs(tmp_path):
    job = RunJob(steps=(_waiting_step(tmp_path),))
    with Previous() as previous:
        app = RunApp(job, tmp_path / "logs")
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.run_screen
            while screen.state.current != "wait":
                await pilot.pause(0.05)
            assert not any(signal.getsignal(sig) is previous for sig in STOP_SIGNALS)
            os.kill(os.getpid(), signal.SIGHUP)  # the terminal went away
            while app.is_running:
                await asyncio.sleep(0.05)
        assert previous.back() and previous.called == []
    assert app.return_value == 128 + signal.SIGHUP
    summary = json.loads((tmp_path / "logs" / "summary.json").read_text())
    assert summary["status"] == "cancelled"


async def test_the_handlers_come_back_after_the_app_crashed(tmp_path):
    job = RunJob(steps=(_waiting_step(tmp_path),))

    def broken() -> None:
        raise RuntimeError("a bug in the display")

    with Previous() as previous:
        app = RunApp(job, tmp_path / "logs")
        with pytest.raises(RuntimeError, match="a bug in the display"):
            async with app.run_test(size=(100, 30)) as pilot:
                while app.run_screen.state.current != "wait":
                    await pilot.pause(0.05)
                app.call_later(broken)
                await pilot.pause(1.0)
        assert previous.back()


async def test_the_wizard_holds_the_handlers_while_it_runs():
    from tests.support.wizard import make_treeless_app

    with Previous() as previous:
        app = make_treeless_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert not any(signal.getsignal(sig) is previous for sig in STOP_SIGNALS)
            os.kill(os.getpid(), signal.SIGINT)  # no run: the wizard just exits
            while app.is_running:
                await asyncio.sleep(0.05)
        assert previous.back() and previous.called == []
    assert app.return_value == 128 + signal.SIGINT


def test_a_second_signal_while_stopping_kills_at_once(tmp_path):
    """The first SIGTERM starts the grace period (the step ignores SIGTERM); the second ends it."""
    script = (
        "trap 'echo got-term' TERM\n"
        "sh -c 'trap \"\" TERM; echo stubborn=$$; exec sleep 300' &\n"
        "while :; do wait; done\n"
    )
    steps = write_steps(
        tmp_path / "steps.json", [step_dict("hold", ["sh", "-c", script], tmp_path)]
    )
    logs = tmp_path / "logs"
    proc = start_cli(["run", "--steps", str(steps), "--no-tui", "--log-dir", str(logs)], tmp_path)
    try:
        assert proc.stdout is not None
        stubborn = None
        for line in proc.stdout:
            if line.startswith("stubborn="):
                stubborn = int(line.split("=")[1])
                proc.send_signal(signal.SIGTERM)  # stop: SIGTERM to the group, then a grace period
            elif line.strip() == "got-term":
                proc.send_signal(signal.SIGTERM)  # while stopping: no more grace
                break
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM
    assert "a second signal while stopping: killed at once" in err
    assert "ukl-tui: FAILED" not in out  # no verdict: it did not wait for the run to end
    assert stubborn is not None and not alive(stubborn)
    summary = json.loads((logs / "summary.json").read_text())
    assert summary["status"] == "cancelled" and summary["steps"][0]["status"] == "cancelled"
    log = (logs / "01-hold.log").read_text()
    assert f"stubborn={stubborn}" in log and "got-term" in log  # the log has it all


@pytest.mark.parametrize("signals", [1, 2])
def test_the_run_screen_in_a_terminal_stops_on_signals(tmp_path, signals):
    """``ukl-tui run`` on a real terminal (a pty): one SIGTERM stops the run and exits 143;
    a second one while the stubborn step is being stopped kills it at once. Either way the
    summary is final, the step's group is gone and the terminal gets its main screen back.
    """
    import pty
    import select

    stub_pid = tmp_path / "stub.pid"
    script = f"trap '' TERM; echo $$ > {stub_pid}; exec sleep 300"
    hold = step_dict("hold", ["sh", "-c", script], tmp_path)
    steps = write_steps(tmp_path / "steps.json", [hold])
    logs = tmp_path / "logs"
    fd, tty = pty.openpty()
    proc = subprocess.Popen(
        [PY, "-m", "ukl_tui.cli", "run", "--steps", str(steps), "--log-dir", str(logs)],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdin=tty,
        stdout=tty,
        stderr=tty,
        start_new_session=True,
    )
    os.close(tty)
    pid = proc.pid
    screen = b""
    sent = 0
    end = time.monotonic() + 60
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:
                    break  # the child closed the terminal
                if not data:
                    break
                screen += data
            if not sent and stub_pid.exists() and stub_pid.read_text().strip():
                os.kill(pid, signal.SIGTERM)
                sent = 1
            elif sent == 1 and signals == 2 and (logs / "01-hold.log").exists():
                os.kill(pid, signal.SIGTERM)
                sent = 2
        proc.wait(timeout=60)
    finally:
        os.close(fd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM
    assert b"\x1b[?1049l" in screen  # the main screen is back
    forced = b"killed at once" in screen
    assert forced == (signals == 2)
    assert not alive(int(stub_pid.read_text()))
    summary = json.loads((logs / "summary.json").read_text())
    assert summary["status"] == "cancelled" and summary["steps"][0]["status"] == "cancelled"
