"""``ukl-tui run``: execute a plan, live, in the Run screen or as a plain stream on stdout.

This module is the command's face: its arguments, the headless stream and the JSON lines.
What a run is and how it is judged (``RunJob``, ``RunState``, ``RunSession``, the verdict)
lives in ``run_session.py``, shared with the Run screen, which is imported only when the
command opens it.

Headless output is the programs' own lines, with ukl-tui's lines marked (``==>`` a step,
``>>>`` a milestone, ``!!!`` an error) so a log reader can grep for them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from ukl_tui.errors import UserError
from ukl_tui.history import run_times
from ukl_tui.lines import strip_sgr
from ukl_tui.run_session import (
    ProbeResult,
    RunEvent,
    RunJob,
    RunSession,
    StopSignals,
    Verdict,
    new_run_dir,
    ran_as,
)
from ukl_tui.runner import (
    Located,
    Milestone,
    OutputLines,
    Problem,
    Progress,
    StepFinished,
    StepStarted,
    event_as_dict,
)

# ----- the headless stream ---------------------------------------------------------------------


class StreamPrinter:
    """Write a run's events as text: program output as is, ukl-tui's lines marked.

    With ``color`` (a terminal) the programs' colours stay and a console prompt without a
    newline is shown until its line completes.
    """

    def __init__(self, out: TextIO, job: RunJob, *, color: bool) -> None:
        """Print to ``out``."""
        self.out = out
        self.job = job
        self.color = color
        self._partial = ""
        self._tenth: dict[str, int] = {}
        self._boot_id = job.boot_step.id if job.boot_step else None

    def _mark(self, text: str, sgr: str) -> str:
        return f"\x1b[{sgr}m{text}\x1b[0m" if self.color else text

    def __call__(self, event: RunEvent) -> None:
        """Print one event."""
        out = self.out
        if self._partial and (not isinstance(event, OutputLines) or event.lines):
            out.write("\r\x1b[K")
            self._partial = ""
        if isinstance(event, OutputLines):
            if event.lines:
                lines = event.lines if self.color else [strip_sgr(line) for line in event.lines]
                out.write("\n".join(lines) + "\n")
            if self.color and event.partial and event.partial != self._partial:
                out.write(("\r\x1b[K" if self._partial else "") + event.partial)
                self._partial = event.partial
        elif isinstance(event, StepStarted):
            step = self.job.step(event.step_id)
            out.write(
                self._mark(f"==> [{event.index}/{event.total}] {event.step_id}: {event.title}", "1")
                + "\n"
            )
            if step is not None:
                out.write(self._mark(f"$ {ran_as(step, event).shell_line()}", "2") + "\n")
        elif isinstance(event, Milestone):
            out.write(self._mark(f">>> {event.key} ({event.elapsed:.1f} s)", "1;32") + "\n")
        elif isinstance(event, Problem):
            if event.severity == "error":
                out.write(self._mark(f"!!! {event.step_id}:{event.line_no}: {event.text}", "1;31"))
                out.write("\n")
                if event.hint:
                    out.write(self._mark(f"!!!   hint: {event.hint}", "31") + "\n")
            elif event.severity == "warning" and event.step_id == self._boot_id:
                # Build warnings are in the output already; a silent boot is news.
                out.write(self._mark(f"!!! warning: {event.text}", "33") + "\n")
                if event.hint:
                    out.write(self._mark(f"!!!   hint: {event.hint}", "33") + "\n")
        elif isinstance(event, Progress):
            if event.total:
                tenth = min(10, event.done * 10 // event.total)
                if tenth > self._tenth.get(event.step_id, 0):
                    self._tenth[event.step_id] = tenth
                    out.write(
                        self._mark(
                            f"--- {event.step_id}: {event.done}/{event.total} objects "
                            f"({tenth * 10}%)",
                            "2",
                        )
                        + "\n"
                    )
        elif isinstance(event, StepFinished):
            sgr = "32" if event.status == "ok" else "1;31"
            rc = "" if event.returncode is None else f", exit status {event.returncode}"
            out.write(
                self._mark(f"<== {event.step_id}: {event.status} ({event.duration:.1f} s{rc})", sgr)
                + "\n"
            )
            step = self.job.step(event.step_id)
            if step is not None and "DISTCC_LOG" in step.env:
                from ukl_tui.distcc import report_lines

                jobs, *problems = report_lines(step.env)
                out.write(self._mark(f"--- {jobs}", "2") + "\n")
                for line in problems:
                    out.write(self._mark(f"!!! warning: {line}", "33") + "\n")
        elif isinstance(event, Located):
            out.write(self._mark(f">>> where the guest is ({event.reason}):", "1") + "\n")
            for line in event.report.get("lines", []):
                out.write(self._mark(f">>>   {line}", "1") + "\n")
        elif isinstance(event, ProbeResult):
            word = "answered" if event.ok else "did not answer"
            sgr = "1;32" if event.ok else "1;31"
            out.write(self._mark(f">>> {event.host}:{event.port} {word}", sgr) + "\n")
        out.flush()

    def verdict(self, verdict: Verdict, log_dir: Path, times: str = "") -> None:
        """The closing lines: the verdict, its explanation, the steps' times against the
        last run of the same plan (``history.run_times``), where the logs are.
        """
        if self._partial:
            self.out.write("\n")
            self._partial = ""
        word, sgr = ("OK", "1;32") if verdict.ok else ("FAILED", "1;31")
        self.out.write(self._mark(f"ukl-tui: {word}: {verdict.headline}", sgr) + "\n")
        details = verdict.details
        if verdict.diagnosis is not None:
            # The evidence itself, so a CI log shows the cause without opening the step log.
            details = tuple(verdict.diagnosis.text_lines()[1:]) + tuple(
                d for d in details if not d.startswith(("evidence: ", "fix: "))
            )
        for line in details:
            self.out.write(f"ukl-tui:   {line}\n")
        if times:
            self.out.write(f"ukl-tui: times: {times}\n")
        self.out.write(f"ukl-tui: logs and summary.json in {log_dir}\n")
        self.out.flush()


class JsonPrinter:
    """One JSON object per line: every event, then the verdict (for scripts)."""

    def __init__(self, out: TextIO) -> None:
        """Print to ``out``."""
        self.out = out

    def __call__(self, event: RunEvent) -> None:
        """Print one event."""
        if isinstance(event, ProbeResult):
            data = asdict(event)
            data["event"] = "ProbeResult"
        else:
            data = event_as_dict(event)
        self.out.write(json.dumps(data) + "\n")
        self.out.flush()

    def verdict(self, verdict: Verdict, log_dir: Path, times: str = "") -> None:
        """The last line."""
        data = {
            "event": "Verdict",
            "ok": verdict.ok,
            "exit_code": verdict.exit_code,
            "headline": verdict.headline,
            "details": list(verdict.details),
            "diagnosis": None if verdict.diagnosis is None else verdict.diagnosis.to_dict(),
            "log_dir": str(log_dir),
            "times": times,
        }
        self.out.write(json.dumps(data) + "\n")
        self.out.flush()


# ----- the command -----------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add ``run``."""
    p = sub.add_parser(
        "run",
        help="build and boot: run a plan's steps live (Run screen, or --no-tui)",
        description="Run a plan's steps in order (build, initramfs, QEMU boot), stopping at the "
        "first failure; every step's full output goes to a log file with a summary.json beside "
        "it. Exit 0 when the boot reached its success marker (for a server: when its forwarded "
        "port answered), 1 otherwise, 2 on bad input, 128+N when signal N stopped it (130 "
        "Ctrl+C, 143 SIGTERM, 129 SIGHUP: the run's process groups are stopped and its "
        "summary written first; a second signal while stopping kills them at once). No make "
        "or QEMU outlives the command.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--plan", metavar="FILE", help="a plan file (ukl-tui.toml)")
    src.add_argument("--steps", metavar="FILE", help="steps as JSON ('ukl-tui plan --json' output)")
    p.add_argument(
        "--no-tui",
        action="store_true",
        help="stream the output to stdout instead of opening the Run screen (automatic when "
        "stdout is not a terminal)",
    )
    from ukl_tui.cli_plan import add_distcc_options

    add_distcc_options(p)
    p.add_argument("--json", action="store_true", help="with --no-tui: events as JSON lines")
    p.add_argument("--timeout", type=float, metavar="S", help="stop the whole run after S seconds")
    p.add_argument(
        "--log-dir",
        metavar="DIR",
        help="this run's log directory (default: a new one under ~/.cache/ukl-tui/runs)",
    )
    p.add_argument(
        "--ignore-conflicts",
        action="store_true",
        help="run even when the conflict rules find errors in the plan",
    )
    p.add_argument(
        "--stay",
        action="store_true",
        help="with --no-tui: keep QEMU running after the boot succeeded (stdin lines go to the "
        "guest console) until it exits, Ctrl+C or --timeout",
    )
    p.add_argument(
        "--boot-silence",
        type=float,
        default=60.0,
        metavar="S",
        help="a boot silent this long is reported (and, with --no-tui, stopped); default 60",
    )
    p.add_argument(
        "--probe-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="how long a server has to answer on its forwarded port; default 60",
    )
    p.set_defaults(func=cmd_run)


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise UserError(f"{name} must be a positive number of seconds, not {value:g}")


def load_job(args: argparse.Namespace) -> RunJob:
    """The job ``--plan`` or ``--steps`` names (``--distcc`` changes the plan's hosts)."""
    from ukl_tui.cli_plan import distcc_change

    if args.distcc is not None or args.no_distcc:
        if not args.plan:
            raise UserError("--distcc and --no-distcc apply to --plan (steps are fixed)")
        from dataclasses import replace

        from ukl_tui.plan import Plan

        plan = Plan.load(args.plan)
        plan = replace(plan, **distcc_change(args))
        return RunJob.from_built(plan.build(), title=str(plan.source or args.plan))
    if args.plan:
        return RunJob.from_plan_file(args.plan)
    return RunJob.from_steps_file(args.steps)


def run_log_dir(given: str | None) -> Path:
    """``--log-dir`` (created), or a new directory under :func:`runs_dir`."""
    if not given:
        return new_run_dir()
    path = Path(given).expanduser().absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create log directory {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"log directory {path} is not writable")
    return path


def cmd_run(args: argparse.Namespace) -> int:
    """Check the input, then run headless or in the Run screen."""
    for name in ("timeout", "boot_silence", "probe_timeout"):
        _positive("--" + name.replace("_", "-"), getattr(args, name))
    headless = args.no_tui or args.json or not (sys.stdout.isatty() and sys.stdin.isatty())
    if args.stay and not headless:
        raise UserError("--stay applies to --no-tui (the Run screen always keeps QEMU running)")
    job = load_job(args)
    for warning in job.warnings:
        sys.stderr.write(f"ukl-tui: warning: {warning}\n")
    for conflict in job.conflicts:
        for line in conflict.lines():
            sys.stderr.write(f"ukl-tui: {line}\n")
    if any(c.severity == "error" for c in job.conflicts) and not args.ignore_conflicts:
        sys.stderr.write(
            "ukl-tui: not running: the plan has conflicts marked error (above, with their "
            "fixes); fix them or pass --ignore-conflicts\n"
        )
        return 1
    if args.ignore_conflicts:
        from ukl_tui.settled import IGNORE_ENV

        os.environ[IGNORE_ENV] = "1"  # the plan's settled-.config check reports, then goes on
    log_dir = run_log_dir(args.log_dir)
    if not headless:
        from ukl_tui.screens.run import run_app

        return run_app(
            job,
            log_dir,
            timeout=args.timeout,
            boot_silence=args.boot_silence,
            probe_timeout=args.probe_timeout,
        )
    if not args.no_tui and not args.json:
        sys.stderr.write("ukl-tui: not on a terminal: streaming instead of the Run screen\n")
    return asyncio.run(_headless(job, log_dir, args))


async def _headless(job: RunJob, log_dir: Path, args: argparse.Namespace) -> int:
    out = sys.stdout
    color = out.isatty() and not os.environ.get("NO_COLOR") and not args.json
    printer: StreamPrinter | JsonPrinter = (
        JsonPrinter(out) if args.json else StreamPrinter(out, job, color=color)
    )
    session = RunSession(
        job,
        log_dir,
        printer,
        stop_after_success=not args.stay,
        timeout=args.timeout,
        probe_timeout=args.probe_timeout,
        boot_silence=args.boot_silence,
        kill_on_silence=not args.stay,
    )
    if not args.json:
        out.write(f"ukl-tui: running {len(job.steps)} steps of {job.title}; logs in {log_dir}\n")
        out.flush()
    loop = asyncio.get_running_loop()
    stdin_fd: int | None = None
    with StopSignals() as signals:  # a signal stops the session (run_session.StopSignals)
        if args.stay:
            stdin_fd = _forward_stdin(loop, session)
        try:
            verdict = await session.run()
        finally:
            if stdin_fd is not None:
                loop.remove_reader(stdin_fd)
    printer.verdict(verdict, log_dir, run_times(log_dir))
    return signals.exit_status or verdict.exit_code


def _forward_stdin(loop: asyncio.AbstractEventLoop, session: RunSession) -> int | None:
    """``--stay``: each line read from stdin goes to the guest console.

    Lines read before the guest is up (piped input arrives at once) wait for it.
    """
    try:
        fd = sys.stdin.fileno()
    except (OSError, ValueError):
        return None
    buffer = bytearray()
    waiting: list[str] = []

    def deliver() -> None:
        while waiting and session.send_input(waiting[0]):
            waiting.pop(0)
        if waiting and session.state.running:
            loop.call_later(0.2, deliver)

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            return
        buffer.extend(data)
        had = bool(waiting)
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            waiting.append(line.decode("utf-8", "replace"))
        if not had:
            deliver()

    loop.add_reader(fd, readable)
    return fd
