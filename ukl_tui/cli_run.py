"""``ukl-tui run``: execute a plan, live, in the Run screen or as a plain stream on stdout.

The Runner (``runner.py``) owns processes, logs and milestones. What both faces add on top of
it lives here, UI-free, so the TUI and the headless command judge a run identically:

- :class:`RunJob`: the steps plus what success means (the ports a server must answer on),
  from a plan file or from a steps file (``ukl-tui plan --json``'s output).
- :class:`RunState`: everything a run has shown so far, built from its events alone, and the
  :class:`Verdict` (did the boot reach its marker, which step failed and why, with the hint).
  Being a pure function of the events, a screen can replay a recorded run into it.
- :class:`RunSession`: one Runner plus the server probe, the whole-run timeout, "stop once
  booted" for scripts, and a last sweep that no process group outlives the run.

Headless output is the programs' own lines, with ukl-tui's lines marked (``==>`` a step,
``>>>`` a milestone, ``!!!`` an error) so a log reader can grep for them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ukl_tui.errors import UserError
from ukl_tui.runner import (
    Event,
    Milestone,
    OutputLines,
    Problem,
    Progress,
    RunFinished,
    StepFinished,
    StepStarted,
    event_as_dict,
    strip_sgr,
)
from ukl_tui.steps import Step

if TYPE_CHECKING:
    from ukl_tui.plan import Built
    from ukl_tui.runner import Runner

#: How many run directories ``runs/`` keeps (the oldest go when a new run starts).
KEEP_RUNS = 50
_RUN_DIR_RE = re.compile(r"^\d{8}-\d{6}(?:-\d+)?$")


# ----- what to run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunJob:
    """Steps to run and how to judge them.

    ``probe_ports`` are host ports (QEMU user-network forwards) a server must answer on once
    the boot printed its first success marker; without them the boot's markers decide.
    """

    steps: tuple[Step, ...]
    title: str = ""
    probe_ports: tuple[int, ...] = ()
    probe_host: str = "127.0.0.1"
    warnings: tuple[str, ...] = ()
    artifacts: Mapping[str, str] = field(default_factory=dict)
    #: What the conflict rules found in the plan (``rules.Conflict``; errors block a run).
    conflicts: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        """Refuse a job that cannot run, before any process starts."""
        if not self.steps:
            raise UserError("nothing to run: the plan has no steps")
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise UserError("step ids must be unique: they name the log files")
        for port in self.probe_ports:
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise UserError(f"probe port {port!r} is not a TCP port number")

    @property
    def boot_step(self) -> Step | None:
        """The step that boots QEMU (the last one of kind boot), if the job has one."""
        boots = [s for s in self.steps if s.kind == "boot"]
        return boots[-1] if boots else None

    def step(self, step_id: str) -> Step | None:
        """A step by id."""
        for step in self.steps:
            if step.id == step_id:
                return step
        return None

    @classmethod
    def from_built(cls, built: Built, title: str = "") -> RunJob:
        """The job a checked plan (``Plan.build()``) describes."""
        artifacts = {"kernel": str(built.kernel)}
        if built.initrd is not None:
            artifacts["initrd"] = str(built.initrd)
        return cls(
            steps=tuple(built.steps),
            title=title or str(built.workspace.root),
            probe_ports=tuple(built.probe_ports),
            probe_host=str(built.boot.network.forward_bind),
            warnings=tuple(built.warnings),
            artifacts=artifacts,
            conflicts=tuple(built.conflicts),
        )

    @classmethod
    def from_plan_file(cls, path: str | os.PathLike[str]) -> RunJob:
        """Load and check a plan file (``ukl-tui.toml``): any bad input is a UserError."""
        from ukl_tui.plan import Plan

        plan = Plan.load(path)
        return cls.from_built(plan.build(), title=str(plan.source or path))

    @classmethod
    def from_steps_file(cls, path: str | os.PathLike[str]) -> RunJob:
        """Read steps as ``ukl-tui plan --json`` writes them (or a bare JSON list of steps).

        Besides ``steps`` the object may carry ``probe_ports``, ``probe_host`` and ``title``.
        """
        source = Path(path).expanduser()
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"steps file {source} does not exist") from None
        except IsADirectoryError:
            raise UserError(f"steps file {source} is a directory") from None
        except OSError as exc:
            raise UserError(f"cannot read steps file {source}: {exc.strerror}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise UserError(f"{source}: not valid JSON: {exc}") from None
        if isinstance(data, list):
            data = {"steps": data}
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise UserError(f"{source}: expected an object with a 'steps' list")
        try:
            steps = tuple(Step.from_dict(entry) for entry in data["steps"])
        except UserError as exc:
            raise UserError(f"{source}: {exc.message}") from None
        ports = data.get("probe_ports") or []
        host = data.get("probe_host") or "127.0.0.1"
        title = data.get("title") or str(source)
        if not isinstance(ports, list) or not isinstance(host, str) or not isinstance(title, str):
            raise UserError(f"{source}: probe_ports must be a list, probe_host a string")
        warnings = data.get("warnings") or []
        return cls(
            steps=steps,
            title=title,
            probe_ports=tuple(ports),
            probe_host=host,
            warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
        )


def runs_dir() -> Path:
    """Where runs are kept by default: one directory per run under the cache.

    Runs share one parent on purpose: the Runner estimates build progress from the sibling
    runs' ``summary.json``.
    """
    from ukl_tui.paths import cache_dir

    return cache_dir() / "runs"


def _run_key(name: str) -> tuple[str, int]:
    """Order of run directory names: by time stamp, then by the ``-N`` of a same-second run."""
    parts = name.split("-")  # YYYYmmdd, HHMMSS and, for a second run in that second, N
    return "-".join(parts[:2]), int(parts[2]) if len(parts) > 2 else 1


def new_run_dir(parent: Path | None = None, keep: int = KEEP_RUNS) -> Path:
    """A fresh ``<parent>/<YYYYmmdd-HHMMSS>`` directory; the oldest runs beyond ``keep`` go.

    Only directories named like runs are ever removed.
    """
    parent = parent or runs_dir()
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the runs directory {parent}: {exc.strerror}") from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = sorted((_run_key(p.name), p) for p in parent.iterdir() if _RUN_DIR_RE.match(p.name))
    n = max((key[1] for key, _ in runs if key[0] == stamp), default=0) + 1
    for _ in range(1000):
        candidate = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            n += 1
            continue
        except OSError as exc:
            raise UserError(
                f"cannot create the run directory {candidate}: {exc.strerror}"
            ) from None
        break
    else:  # pragma: no cover - a thousand runs in one second
        raise UserError(f"cannot find a free run directory name in {parent}")
    old = [p for _, p in runs if p.is_dir()]
    for stale in old[: max(0, len(old) + 1 - keep)]:
        shutil.rmtree(stale, ignore_errors=True)
    return candidate


# ----- what a run showed ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    """Whether a server answered on a forwarded host port (after the boot's first marker)."""

    step_id: str
    host: str
    port: int
    ok: bool
    seconds: float


RunEvent = Event | ProbeResult


@dataclass
class StepView:
    """One step as the faces show it."""

    step: Step
    index: int
    status: str = "pending"  # pending, running, ok, failed, cancelled, timeout
    log_path: str = ""
    returncode: int | None = None
    duration: float = 0.0
    objects: int = 0
    objects_total: int | None = None
    errors: int = 0
    warnings: int = 0
    first_error: Problem | None = None


@dataclass(frozen=True)
class Verdict:
    """How a run ended, in words: ``headline`` is one line, ``details`` explain and hint."""

    ok: bool
    headline: str
    details: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 when the run did what it should, else 1."""
        return 0 if self.ok else 1


class RunState:
    """Everything a run has shown, from its events: steps, milestones, problems, probes.

    The faces display this and nothing else, so a live run and a replayed one look the same.
    ``stop_reason`` is set by whoever stopped the run (the user, a timeout, a signal);
    ``"done"`` means it was stopped because there was nothing left to wait for.
    """

    def __init__(self, job: RunJob) -> None:
        """Start empty: every step pending."""
        self.job = job
        self.views: dict[str, StepView] = {s.id: StepView(s, i) for i, s in enumerate(job.steps, 1)}
        self.current: str | None = None
        self.milestones: list[Milestone] = []
        self.probes: list[ProbeResult] = []
        self.boot_problems: list[Problem] = []
        self.finished: RunFinished | None = None
        self.stop_reason: str | None = None
        self.log_dir: str = ""

    def add(self, event: RunEvent) -> None:
        """Take one event into account."""
        if isinstance(event, OutputLines):
            return
        if isinstance(event, StepStarted):
            view = self.views[event.step_id]
            view.status = "running"
            view.log_path = event.log_path
            self.current = event.step_id
            if not self.log_dir:
                self.log_dir = str(Path(event.log_path).parent)
        elif isinstance(event, Progress):
            view = self.views[event.step_id]
            view.objects, view.objects_total = event.done, event.total
        elif isinstance(event, Milestone):
            self.milestones.append(event)
        elif isinstance(event, Problem):
            view = self.views[event.step_id]
            if event.severity == "warning":
                view.warnings += 1
            elif event.severity in ("error", "expected"):
                view.errors += 1
                if view.first_error is None and event.severity == "error":
                    view.first_error = event
            if view.step.kind == "boot" and event.severity != "expected":
                self.boot_problems.append(event)
        elif isinstance(event, StepFinished):
            view = self.views[event.step_id]
            view.status = event.status
            view.returncode = event.returncode
            view.duration = event.duration
            if self.current == event.step_id:
                self.current = None
        elif isinstance(event, RunFinished):
            self.finished = event
            if not self.log_dir:
                self.log_dir = str(Path(event.summary_path).parent)
        elif isinstance(event, ProbeResult):
            self.probes.append(event)

    # -- derived ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True until the run has finished."""
        return self.finished is None

    def reached(self, step_id: str) -> list[Milestone]:
        """The milestones a step printed, in order."""
        return [m for m in self.milestones if m.step_id == step_id]

    def markers_missing(self, step_id: str) -> list[str]:
        """The step's success markers not printed (yet)."""
        seen = {m.key for m in self.reached(step_id)}
        return [m for m in self.views[step_id].step.success_markers if m not in seen]

    def boot_started_marker(self) -> Milestone | None:
        """The boot's first success marker (``UKL BOOTED``), once printed."""
        boot = self.job.boot_step
        if boot is None or not boot.success_markers:
            return None
        for m in self.reached(boot.id):
            if m.key == boot.success_markers[0]:
                return m
        return None

    def elapsed(self) -> float:
        """Seconds the finished steps took (the running one is added by the face's clock)."""
        return sum(v.duration for v in self.views.values())

    def verdict(self) -> Verdict:
        """Success or failure, and why: what both faces print at the end."""
        job = self.job
        boot = job.boot_step
        server = bool(job.probe_ports) and boot is not None
        others_ok = all(v.status == "ok" for v in self.views.values() if v.step is not boot)
        if server:
            assert boot is not None
            answered = {p.port for p in self.probes if p.ok}
            if (
                answered >= set(job.probe_ports)
                and others_ok
                and self.views[boot.id].status != "failed"
            ):
                where = ", ".join(f"{job.probe_host}:{p}" for p in job.probe_ports)
                details = (self.booted_line(boot.id),) if self.boot_started_marker() else ()
                return Verdict(True, f"the server answered on {where}", details)
        if self.finished is None:
            return Verdict(False, "still running")
        if self.finished.status == "ok" and not server:
            if boot is not None:
                return Verdict(True, self.booted_line(boot.id))
            return Verdict(True, f"all {len(job.steps)} steps ok")
        return self._failure(boot, server)

    def _failure(self, boot: Step | None, server: bool) -> Verdict:
        assert self.finished is not None
        failed = self.views.get(self.finished.failed_step or "")
        if failed is None:
            failed = next(
                (v for v in self.views.values() if v.status not in ("ok", "pending")),
                self.views[boot.id] if boot is not None else None,
            )
        details: list[str] = []
        where = f" during step {failed.step.id}" if failed else ""
        boot_errors = [p for p in self.boot_problems if p.severity == "error"]
        stopped = self.stop_reason if self.stop_reason not in (None, "done") else None
        if failed is not None and failed.step.kind == "boot" and boot_errors:
            headline = f"the boot failed: {boot_errors[0].text}"
            if boot_errors[0].hint:
                details.append(f"hint: {boot_errors[0].hint}")
        elif stopped:
            headline = f"{stopped}{where}"
        elif server and failed is not None and failed.step is boot:
            missed = [p for p in self.probes if not p.ok]
            if missed:
                headline = f"the server did not answer on {missed[0].host}:{missed[0].port}"
            elif self.boot_started_marker() is None:
                headline = "the boot ended before printing " + boot.success_markers[0]  # type: ignore[union-attr]
            else:
                headline = "the boot ended before the server could be probed"
        elif failed is not None and failed.status == "timeout":
            headline = f"step {failed.step.id} timed out"
        elif failed is not None:
            headline = f"step {failed.step.id} failed"
            rc = failed.returncode
            if rc is not None and rc < 0:
                headline += f" (killed by signal {-rc})"
            elif rc not in (None, 0):
                headline += f" (exit status {rc})"
        else:
            headline = f"the run ended: {self.finished.status}"
        if failed is not None:
            if failed.first_error is not None and failed.step.kind != "boot":
                err = failed.first_error
                details.append(f"first error (log line {err.line_no}): {err.text}")
                if err.hint:
                    details.append(f"hint: {err.hint}")
            if failed.step.kind == "boot":
                for problem in self.boot_problems:
                    if problem.severity != "error" and problem.hint:
                        details.append(f"{problem.text}: {problem.hint}")
                missing = self.markers_missing(failed.step.id)
                if missing:
                    details.append("not printed: " + ", ".join(missing))
            if failed.log_path:
                details.append(f"log: {failed.log_path}")
        details.extend(self._probe_lines())
        return Verdict(False, headline, tuple(details))

    def booted_line(self, step_id: str) -> str:
        """Which success markers a boot printed, and when the last one came."""
        reached = self.reached(step_id)
        markers = self.views[step_id].step.success_markers
        hits = [m for m in reached if m.key in markers]
        if not hits:
            return f"step {step_id} ok"
        last = max(hits, key=lambda m: m.elapsed)
        names = ", ".join(m.key for m in hits)
        return f"the boot reached {names} ({last.elapsed:.1f} s after QEMU started)"

    def _probe_lines(self) -> tuple[str, ...]:
        lines = []
        for p in self.probes:
            if p.ok:
                lines.append(f"{p.host}:{p.port} answered after {p.seconds:.1f} s")
            else:
                lines.append(
                    f"{p.host}:{p.port} did not answer within {p.seconds:.0f} s after the boot "
                    "marker: is the server listening on the forwarded guest port?"
                )
        return tuple(lines)


# ----- running -------------------------------------------------------------------------------


class RunSession:
    """One run of a job: the Runner, the probe, the timeout and the final sweep.

    ``stop_after_success`` ends the boot once it reached its markers (and, for a server,
    once the port answered): what a script wants. The TUI keeps QEMU running for the console.
    """

    def __init__(
        self,
        job: RunJob,
        log_dir: Path,
        on_event: Callable[[RunEvent], None] | None = None,
        *,
        stop_after_success: bool = False,
        timeout: float | None = None,
        probe_timeout: float = 60.0,
        **runner_options: Any,
    ) -> None:
        """Prepare; nothing starts until :meth:`run`."""
        from ukl_tui.runner import Runner

        self.job = job
        self.state = RunState(job)
        self.on_event = on_event
        self.stop_after_success = stop_after_success
        self.timeout = timeout
        self.probe_timeout = probe_timeout
        self.runner: Runner = Runner(
            job.steps,
            log_dir,
            self._event,
            stop_boot_on_success=stop_after_success and not job.probe_ports,
            artifacts=job.artifacts,
            **runner_options,
        )
        self._probe_task: asyncio.Task[None] | None = None

    @property
    def log_dir(self) -> Path:
        """The directory of this run's logs and summary.json."""
        return self.runner.log_dir

    def stop(self, reason: str) -> None:
        """Stop the run (thread-safe); the first reason given is the one reported."""
        if self.state.stop_reason is None:
            self.state.stop_reason = reason
        self.runner.cancel()

    def send_input(self, text: str) -> bool:
        """A line for the guest console; False when no interactive step is running."""
        return self.runner.send_input(text)

    def verdict(self) -> Verdict:
        """See :meth:`RunState.verdict`."""
        return self.state.verdict()

    async def run(self) -> Verdict:
        """Run the job to its end and judge it."""
        loop = asyncio.get_running_loop()
        timer = None
        if self.timeout is not None:
            timer = loop.call_later(
                self.timeout, self.stop, f"stopped after the --timeout of {self.timeout:g} s"
            )
        try:
            await self.runner.run()
        finally:
            if timer is not None:
                timer.cancel()
            if self._probe_task is not None and not self._probe_task.done():
                self._probe_task.cancel()
            self._sweep()
        return self.verdict()

    def _sweep(self) -> None:
        """No process group outlives the run, whatever ended it (an exception included).

        The Runner kills on cancel and timeout; this also covers an unexpected exception out
        of the Runner, after which its groups would otherwise be forgotten.
        """
        from ukl_tui.runner import group_members, kill_group_sync

        for st in self.runner._states:  # the Runner keeps no public list of its groups
            if st.pgid is not None and group_members(st.pgid):
                kill_group_sync(st.pgid, grace=1.0)

    def _event(self, event: RunEvent) -> None:
        self.state.add(event)
        if self.on_event is not None:
            self.on_event(event)
        boot = self.job.boot_step
        if boot is None:
            return
        if isinstance(event, Milestone) and event.step_id == boot.id:
            if self.job.probe_ports and self._probe_task is None:
                if event.key == boot.success_markers[0]:
                    self._probe_task = asyncio.ensure_future(self._probe(boot.id))
        elif isinstance(event, StepFinished) and event.step_id == boot.id:
            if self._probe_task is not None and not self._probe_task.done():
                self._probe_task.cancel()

    async def _probe(self, step_id: str) -> None:
        from ukl_tui.runner import probe_tcp

        host = self.job.probe_host
        for port in self.job.probe_ports:
            start = time.monotonic()
            ok = await probe_tcp(host, port, timeout=self.probe_timeout)
            result = ProbeResult(step_id, host, port, ok, round(time.monotonic() - start, 3))
            self._event(result)
        if self.stop_after_success:
            self.stop("done")


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
                out.write(self._mark(f"$ {step.shell_line()}", "2") + "\n")
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
        elif isinstance(event, ProbeResult):
            word = "answered" if event.ok else "did not answer"
            sgr = "1;32" if event.ok else "1;31"
            out.write(self._mark(f">>> {event.host}:{event.port} {word}", sgr) + "\n")
        out.flush()

    def verdict(self, verdict: Verdict, log_dir: Path) -> None:
        """The closing lines: the verdict, its explanation, where the logs are."""
        if self._partial:
            self.out.write("\n")
            self._partial = ""
        word, sgr = ("OK", "1;32") if verdict.ok else ("FAILED", "1;31")
        self.out.write(self._mark(f"ukl-tui: {word}: {verdict.headline}", sgr) + "\n")
        for line in verdict.details:
            self.out.write(f"ukl-tui:   {line}\n")
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

    def verdict(self, verdict: Verdict, log_dir: Path) -> None:
        """The last line."""
        data = {
            "event": "Verdict",
            "ok": verdict.ok,
            "exit_code": verdict.exit_code,
            "headline": verdict.headline,
            "details": list(verdict.details),
            "log_dir": str(log_dir),
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
        "port answered), 1 otherwise, 2 on bad input. No make or QEMU outlives the command.",
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

    def interrupted(signum: int) -> None:
        session.stop(f"interrupted by {signal.Signals(signum).name}")

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for sig in sigs:
        loop.add_signal_handler(sig, interrupted, sig)
    stdin_fd: int | None = None
    if args.stay:
        stdin_fd = _forward_stdin(loop, session)
    try:
        verdict = await session.run()
    finally:
        for sig in sigs:
            loop.remove_signal_handler(sig)
        if stdin_fd is not None:
            loop.remove_reader(stdin_fd)
    printer.verdict(verdict, log_dir)
    return verdict.exit_code


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
