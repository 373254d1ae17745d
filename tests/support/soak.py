"""Soak rounds for the run: an interruption at a random moment, then every promise checked.

One round runs short real steps (a flood of numbered lines, a grandchild in the same process
group, sometimes a leader and grandchild that ignore SIGTERM) and interrupts them with one of
``KINDS`` at one of ``MOMENTS``. Afterwards it checks what issue 9 asks of every ending:

- it ended within ``BOUND`` seconds of the interruption;
- no process of the run's groups is left (read from /proc, not with the runner's own code);
- the log holds every line the program wrote, in order, and summary.json is final and agrees
  with the log;
- no task is left on the event loop;
- the signal handlers are the ones from before.

``tests/test_soak.py`` runs every kind at every moment once; ``bench/soak_run.py`` runs
hundreds of random rounds and reports the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.boot_fixtures import live_group
from ukl_tui.run_session import STOP_SIGNALS, RunJob, RunSession, StopSignals
from ukl_tui.runner import OutputLines, StepFinished, StepStarted
from ukl_tui.steps import Step

#: What interrupts a run. The screen's ``quit`` is the runner's ``exception``'s sibling: both
#: end the face while the run is going.
KINDS = ("stop", "signal", "exception", "quit")
#: When: as the step is announced (before its process exists), while it floods output,
#: while its group is being killed (after a first stop, in the grace period), after it exited.
MOMENTS = ("before-start", "flood", "killing", "after-exit")
#: Seconds from the interruption to the end, at most (kill grace 1 s, SIGKILL, reaping).
BOUND = 20.0
#: The runner's grace period in soak rounds: long enough to interrupt inside it.
KILL_GRACE = 1.0

PROGRAM = r"""
import os, signal, subprocess, sys, time
pidfile, side, lines, stubborn, then = sys.argv[1:6]
if stubborn == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the grandchild
child = subprocess.Popen(["sleep", "300"])
with open(pidfile, "w") as fh:
    fh.write(f"{os.getpid()} {child.pid}")
out = open(side, "w")
for i in range(int(lines)):
    text = f"line {i}\n"
    sys.stdout.write(text)
    sys.stdout.flush()
    out.write(text)
    out.flush()
if then == "exit":
    sys.exit(0)
time.sleep(300)
"""


@dataclass
class Round:
    """One round's set-up and what came of it."""

    kind: str
    moment: str
    face: str  # "session" (the headless face's way) or "screen" (the Run screen)
    seed: int
    stubborn: bool = False
    signum: int = signal.SIGTERM
    stop_to_end: float | None = None
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for a report."""
        extra = f" {signal.Signals(self.signum).name}" if self.kind == "signal" else ""
        stub = " stubborn" if self.stubborn else ""
        took = "-" if self.stop_to_end is None else f"{self.stop_to_end:.2f} s"
        return f"{self.face} {self.kind}{extra} at {self.moment}{stub} (seed {self.seed}): {took}"


def make_round(face: str, kind: str, moment: str, seed: int) -> Round:
    """A round with its random details (stubbornness, which signal) drawn from ``seed``."""
    rng = random.Random(seed)
    stubborn = moment == "killing" or rng.random() < 0.3
    return Round(kind, moment, face, seed, stubborn, rng.choice(STOP_SIGNALS))


def _step(sid: str, workdir: Path, lines: int, stubborn: bool, then: str) -> Step:
    argv = (
        sys.executable,
        "-c",
        PROGRAM,
        str(workdir / f"{sid}.pids"),
        str(workdir / f"{sid}.side"),
        str(lines),
        "1" if stubborn else "0",
        then,
    )
    return Step(sid, sid, argv, str(workdir), {}, "build", 120)


def job_for(rnd: Round, workdir: Path) -> RunJob:
    """``after-exit``: a step that floods and exits, then one that waits; else one flood that
    waits (a flood long enough to interrupt, short enough not to dominate the round).
    """
    rng = random.Random(rnd.seed + 1)
    if rnd.moment == "after-exit":
        return RunJob(
            steps=(
                _step("first", workdir, rng.randint(10, 3000), rnd.stubborn, "exit"),
                _step("second", workdir, 10, rnd.stubborn, "wait"),
            )
        )
    return RunJob(steps=(_step("flood", workdir, rng.randint(2000, 40000), rnd.stubborn, "wait"),))


# ----- checks ----------------------------------------------------------------------------------


def check_ending(rnd: Round, job: RunJob, log_dir: Path, workdir: Path) -> None:
    """Groups, log and summary (see the module docstring); problems go to ``rnd.problems``."""
    for step in job.steps:
        pids = workdir / f"{step.id}.pids"
        if pids.exists() and pids.read_text().strip():
            leader, child = (int(p) for p in pids.read_text().split())
            left = live_group(leader)
            if left:
                rnd.problems.append(f"{step.id}: group {leader} still has {left}")
                for pid in left:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
    summary_path = log_dir / "summary.json"
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as exc:
        rnd.problems.append(f"summary.json unreadable: {exc}")
        return
    if summary["status"] in ("pending", "running"):
        rnd.problems.append(f"summary.json not final: {summary['status']}")
    for entry in summary["steps"]:
        if entry["status"] == "running":
            rnd.problems.append(f"{entry['id']}: still 'running' in the summary")
        log = log_dir / entry["log"]
        if entry["status"] == "not-run":
            continue
        if not log.exists():
            rnd.problems.append(f"{entry['id']}: no log")
            continue
        text = log.read_text()
        *full, tail = text.split("\n")
        if full != [f"line {i}" for i in range(len(full))]:
            rnd.problems.append(f"{entry['id']}: the log's lines are not consecutive")
        if tail and not f"line {len(full)}".startswith(tail):
            rnd.problems.append(f"{entry['id']}: the log ends in {tail!r}")
        lines = text.splitlines()
        side = workdir / f"{entry['id']}.side"
        written = side.read_text().count("\n") if side.exists() else 0
        if text.count("\n") < written:
            rnd.problems.append(
                f"{entry['id']}: the program wrote {written} lines, the log has "
                f"{text.count(chr(10))}"
            )
        if entry["lines"] != len(lines):
            rnd.problems.append(
                f"{entry['id']}: summary says {entry['lines']} lines, the log has {len(lines)}"
            )


def check_handlers(rnd: Round, before: dict[int, Any]) -> None:
    """The stop signals have the handlers they had before the round."""
    for sig, handler in before.items():
        if signal.getsignal(sig) is not handler:
            rnd.problems.append(f"{signal.Signals(sig).name}: handler not restored")


def check_tasks(rnd: Round) -> None:
    """No task but the caller's is left on the running loop."""
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    if left:
        rnd.problems.append(f"{len(left)} task(s) left on the loop: {left[:3]}")


# ----- the headless face: a RunSession under StopSignals -----------------------------------------


async def session_round(rnd: Round, workdir: Path) -> Round:
    """A RunSession as ``ukl-tui run --no-tui`` drives it (StopSignals installed)."""
    job = job_for(rnd, workdir)
    log_dir = workdir / "logs"
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    loop = asyncio.get_running_loop()
    rng = random.Random(rnd.seed + 2)
    boom = asyncio.Event()
    interrupted: list[float] = []
    lines_seen = 0
    threshold = rng.randint(1, 1500)
    session: RunSession

    def interrupt() -> None:
        if interrupted:
            return
        interrupted.append(time.monotonic())
        if rnd.kind == "stop":
            session.stop("soak: stop")
        elif rnd.kind == "signal":
            os.kill(os.getpid(), rnd.signum)
        else:  # exception or quit: the face ends under the run
            boom.set()

    def on_event(event: object) -> None:
        nonlocal lines_seen
        if rnd.moment == "before-start" and isinstance(event, StepStarted):
            interrupt()
        elif isinstance(event, OutputLines):
            lines_seen += len(event.lines)
            if rnd.moment in ("flood", "killing") and lines_seen >= threshold and not interrupted:
                if rnd.moment == "flood":
                    interrupt()
                else:
                    session.stop("soak: first stop")
                    loop.call_later(rng.uniform(0.0, KILL_GRACE * 0.8), interrupt)
        elif (
            rnd.moment == "after-exit"
            and isinstance(event, StepFinished)
            and event.step_id == "first"
        ):
            loop.call_soon(interrupt)

    session = RunSession(job, log_dir, on_event, kill_grace=KILL_GRACE, boot_silence=None)

    async def face_fails() -> None:
        await boom.wait()
        raise RuntimeError("soak: the face failed")

    with StopSignals():
        run = asyncio.ensure_future(session.run())
        failing = asyncio.ensure_future(face_fails())
        try:
            await asyncio.wait({run, failing}, return_when=asyncio.FIRST_COMPLETED)
            if failing.done():  # the face died: its run is cancelled, as a worker would be
                run.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(run), BOUND + 30)
            except (asyncio.CancelledError, TimeoutError):
                pass
        finally:
            failing.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await failing
    end = time.monotonic()
    if not run.done():
        rnd.problems.append("the run did not end")
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
    if interrupted:
        rnd.stop_to_end = end - interrupted[0]
        if rnd.stop_to_end > BOUND:
            rnd.problems.append(f"ended {rnd.stop_to_end:.1f} s after the interruption")
    elif rnd.moment != "after-exit":
        rnd.problems.append("never interrupted")
    check_ending(rnd, job, log_dir, workdir)
    check_handlers(rnd, before)
    check_tasks(rnd)
    return rnd


# ----- the Run screen -------------------------------------------------------------------------


async def screen_round(rnd: Round, workdir: Path) -> Round:
    """The Run screen's app under Pilot, interrupted like a user, a bug or the system would."""
    from ukl_tui.screens.run import RunApp

    job = job_for(rnd, workdir)
    log_dir = workdir / "logs"
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    rng = random.Random(rnd.seed + 3)
    app = RunApp(job, log_dir, runner_options={"kill_grace": KILL_GRACE})
    interrupted: list[float] = []

    def broken() -> None:
        raise RuntimeError("soak: a bug in the display")

    async def interrupt(pilot: Any) -> None:
        interrupted.append(time.monotonic())
        if rnd.kind == "stop":
            await pilot.press("ctrl+s")
        elif rnd.kind == "signal":
            os.kill(os.getpid(), rnd.signum)
        elif rnd.kind == "exception":
            app.call_later(broken)
        else:
            await pilot.press("ctrl+q")

    async def until(predicate: Any, seconds: float = BOUND) -> bool:
        end = time.monotonic() + seconds
        while not predicate():
            if time.monotonic() > end or not app.is_running:
                return False
            await asyncio.sleep(0.01)
        return True

    def lines(step_id: str) -> int:
        side = workdir / f"{step_id}.side"
        return side.read_text().count("\n") if side.exists() else 0

    with contextlib.suppress(RuntimeError):
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.run_screen
            if rnd.moment == "before-start":
                await interrupt(pilot)
            elif rnd.moment == "flood":
                threshold = rng.randint(1, 1500)
                await until(lambda: lines("flood") >= threshold)
                await interrupt(pilot)
            elif rnd.moment == "killing":
                await until(lambda: lines("flood") >= 1)
                await pilot.press("ctrl+s")
                await asyncio.sleep(rng.uniform(0.0, KILL_GRACE * 0.8))
                await interrupt(pilot)
            else:
                await until(
                    lambda: screen.state.views["first"].status != "running" and lines("first")
                )
                await until(lambda: screen.state.current is not None)
                await interrupt(pilot)
            if rnd.kind == "stop":  # the run ends, the app stays: then the user quits
                if not await until(lambda: not screen.state.running):
                    rnd.problems.append("the run did not end after Stop")
                rnd.stop_to_end = time.monotonic() - interrupted[0]
                await pilot.press("ctrl+q")
            end = time.monotonic() + BOUND
            while app.is_running and time.monotonic() < end:
                await asyncio.sleep(0.02)
    if app.is_running:
        rnd.problems.append("the app did not exit")
    if rnd.stop_to_end is None and interrupted:
        rnd.stop_to_end = time.monotonic() - interrupted[0]
    if rnd.stop_to_end is not None and rnd.stop_to_end > BOUND:
        rnd.problems.append(f"ended {rnd.stop_to_end:.1f} s after the interruption")
    # The worker's cancellation finishes on the loop: give it the bound to do so.
    end = time.monotonic() + BOUND
    while (log_dir / "summary.json").exists() and time.monotonic() < end:
        summary = json.loads((log_dir / "summary.json").read_text() or "{}")
        if summary.get("status") not in ("pending", "running"):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0)
    check_ending(rnd, job, log_dir, workdir)
    check_handlers(rnd, before)
    check_tasks(rnd)
    return rnd
