"""One run of a plan, UI-free: what to run, what it showed, how it is judged, how it ends.

The Runner (``runner.py``) owns processes, logs and milestones. What both faces (the Run screen
and ``ukl-tui run --no-tui``) add on top of it lives here, so they judge a run identically:

- :class:`RunJob`: the steps plus what success means (the ports a server must answer on),
  from a checked plan, a plan file or a steps file (``ukl-tui plan --json``'s output).
- :class:`RunState`: everything a run has shown so far, built from its events alone, and the
  :class:`Verdict` (did the boot reach its marker, which step failed and why, with the hint).
  Being a pure function of the events, a screen can replay a recorded run into it.
- :class:`RunSession`: one Runner plus the server probe, the whole-run timeout, "stop once
  booted" for scripts, and a last sweep that no process group outlives the run.
- Run directories: one per run under the cache, the oldest pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import sys
import termios
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ukl_tui.ccache_stats import counters, difference, step_env, uses_ccache
from ukl_tui.diagnose import Diagnosis, diagnose_step
from ukl_tui.errors import UserError
from ukl_tui.fsutil import read_input
from ukl_tui.locate import inspect_boot, with_gdb_stub
from ukl_tui.procs import kill_group, kill_live_groups
from ukl_tui.runner import (
    Event,
    Located,
    Milestone,
    OutputLines,
    Problem,
    Progress,
    RunFinished,
    Runner,
    StepFinished,
    StepStarted,
    probe_tcp,
)
from ukl_tui.steps import Step

if TYPE_CHECKING:
    from ukl_tui.plan import Built

#: How many run directories ``runs/`` keeps (the oldest go when a new run starts).
KEEP_RUNS = 50
#: And how many bytes of logs at most: a kernel build with V=1 or a chatty guest writes a lot.
KEEP_BYTES = 2 << 30
#: How run directories are named: ``YYYYmmdd-HHMMSS``, ``-N`` for a second run in that second.
RUN_DIR_RE = re.compile(r"^\d{8}-\d{6}(?:-\d+)?$")


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
    #: The tree or ukl checkout the plan builds, and its application: recorded in
    #: summary.json so the wizard can show a tree's last run ("" when not known).
    tree: str = ""
    application: str = ""

    def about(self) -> dict[str, str]:
        """What summary.json records of the job beyond its steps (see ``Runner(about=...)``)."""
        return {"title": self.title, "tree": self.tree, "application": self.application}

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
            tree=str(built.workspace.root),
            application=built.app.name if built.app is not None else "",
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

        Besides ``steps`` the object may carry ``probe_ports``, ``probe_host``, ``title``,
        ``tree`` and ``application``.
        """
        source = Path(path).expanduser()
        raw = read_input(source, "steps file")
        try:
            data = json.loads(raw.decode("utf-8"))
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
        tree, application = data.get("tree") or "", data.get("application") or ""
        if not isinstance(tree, str) or not isinstance(application, str):
            raise UserError(f"{source}: tree and application must be strings")
        return cls(
            steps=steps,
            title=title,
            probe_ports=tuple(ports),
            probe_host=host,
            warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
            tree=tree,
            application=application,
        )


def runs_dir() -> Path:
    """Where runs are kept by default: one directory per run under the cache.

    Runs share one parent on purpose: the Runner estimates build progress from the sibling
    runs' ``summary.json``.
    """
    from ukl_tui.paths import cache_dir

    return cache_dir() / "runs"


def run_key(name: str) -> tuple[str, int]:
    """Order of run directory names: by time stamp, then by the ``-N`` of a same-second run."""
    parts = name.split("-")  # YYYYmmdd, HHMMSS and, for a second run in that second, N
    return "-".join(parts[:2]), int(parts[2]) if len(parts) > 2 else 1


def new_run_dir(
    parent: Path | None = None, keep: int = KEEP_RUNS, keep_bytes: int = KEEP_BYTES
) -> Path:
    """A fresh ``<parent>/<YYYYmmdd-HHMMSS>`` directory; the oldest runs beyond ``keep``, or
    beyond ``keep_bytes`` of logs in all, go (the newest are kept).

    Only directories named like runs are ever removed.
    """
    parent = parent or runs_dir()
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the runs directory {parent}: {exc.strerror}") from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = sorted((run_key(p.name), p) for p in parent.iterdir() if RUN_DIR_RE.match(p.name))
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
    cut = max(0, len(old) + 1 - keep)
    total = 0
    for index in range(len(old) - 1, cut - 1, -1):  # newest first, until the cap
        total += _tree_bytes(old[index])
        if total > keep_bytes:
            cut = index + 1
            break
    for stale in old[:cut]:
        shutil.rmtree(stale, ignore_errors=True)
    return candidate


def _tree_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (a run directory: a few logs and a summary)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


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
    diagnosis: Diagnosis | None = None


@dataclass(frozen=True)
class Verdict:
    """How a run ended, in words: ``headline`` is one line, ``details`` explain and hint."""

    ok: bool
    headline: str
    details: tuple[str, ...] = ()
    #: Why the failed step failed (cause, evidence, fix), when its log was read.
    diagnosis: Diagnosis | None = None

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
        self.located: list[Located] = []
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
            if event.diagnosis is not None:
                view.diagnosis = Diagnosis.from_dict(event.diagnosis)
            if self.current == event.step_id:
                self.current = None
        elif isinstance(event, RunFinished):
            self.finished = event
            if not self.log_dir:
                self.log_dir = str(Path(event.summary_path).parent)
        elif isinstance(event, ProbeResult):
            self.probes.append(event)
        elif isinstance(event, Located):
            self.located.append(event)

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
        diagnosis = failed.diagnosis if failed is not None and not stopped else None
        if server and any(not p.ok for p in self.probes):
            diagnosis = None  # the boot worked; the server's silence is the news
        # A cause from the table leads; the fallback (an exit status and the log's tail) adds
        # its evidence to what the runner's error lines say.
        specific = diagnosis is not None and diagnosis.cause_id != "exit-status"
        if specific:
            assert diagnosis is not None
            headline = f"step {diagnosis.step_id}: {diagnosis.cause}"
        elif failed is not None and failed.step.kind == "boot" and boot_errors:
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
        if failed is not None and not specific:
            if failed.first_error is not None and failed.step.kind != "boot":
                err = failed.first_error
                details.append(f"first error (log line {err.line_no}): {err.text}")
                if err.hint:
                    details.append(f"hint: {err.hint}")
            if failed.step.kind == "boot":
                for problem in self.boot_problems:
                    if problem.severity != "error" and problem.hint:
                        details.append(f"{problem.text}: {problem.hint}")
        if diagnosis is not None:
            if diagnosis.evidence is not None:
                details.append(f"evidence: {diagnosis.where()}")
            details.append(f"fix: {diagnosis.fix}")
        if failed is not None and failed.step.kind == "boot":
            missing = self.markers_missing(failed.step.id)
            if missing:
                details.append("not printed: " + ", ".join(missing))
            for located in self.located:
                if located.step_id == failed.step.id:
                    said = {f"not located: {n}" for n in (diagnosis.notes if diagnosis else ())}
                    details += [
                        f"where ({located.reason}): {line}"
                        for line in located.report.get("lines", [])
                        # each vCPU's place, not its backtrace; a missing vmlinux said once
                        if not line.startswith("  ") and line not in said
                    ]
        if failed is not None and failed.log_path:
            details.append(f"log: {failed.log_path}")
        details.extend(self._probe_lines())
        return Verdict(False, headline, tuple(details), diagnosis)

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


def ran_as(step: Step, started: StepStarted) -> Step:
    """The step with the argv it really ran with (the session adds QEMU's gdb stub)."""
    if started.argv and tuple(started.argv) != step.argv:
        return dataclasses.replace(step, argv=tuple(started.argv))
    return step


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
        boot = job.boot_step
        if boot is not None and "qemu-system" in os.path.basename(boot.argv[0]):
            # QEMU's gdb stub on a port of its own, so a panic or a hang can be located.
            staged = dataclasses.replace(boot, argv=with_gdb_stub(boot.argv))
            job = dataclasses.replace(
                job, steps=tuple(staged if s is boot else s for s in job.steps)
            )
        self.job = job
        self.state = RunState(job)
        self.on_event = on_event
        self.stop_after_success = stop_after_success
        self.timeout = timeout
        self.probe_timeout = probe_timeout
        runner_options.setdefault("diagnose", diagnose_step)
        runner_options.setdefault("inspect", self._inspect)
        self.runner: Runner = Runner(
            job.steps,
            log_dir,
            self._event,
            stop_boot_on_success=stop_after_success and not job.probe_ports,
            artifacts=job.artifacts,
            about=job.about(),
            **runner_options,
        )
        self._probe_task: asyncio.Task[None] | None = None
        self._ccache_before: dict[str, dict[str, int] | None] = {}

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

    def abandon(self, reason: str) -> None:
        """A forced exit is coming: SIGKILL the run's groups now and write what it has."""
        if self.state.stop_reason is None:
            self.state.stop_reason = reason
        self.runner.kill_now()

    def verdict(self) -> Verdict:
        """See :meth:`RunState.verdict`."""
        return self.state.verdict()

    def locate_now(self) -> None:
        """Say where the running guest's vCPUs are (a ``Located`` event follows)."""
        self.runner.inspect_now()

    async def _inspect(self, step: Step, reason: str) -> dict[str, Any] | None:
        if "qemu-system" not in os.path.basename(step.argv[0]):
            return None  # a stand-in boot (tests, scripts): nothing to attach to
        return await asyncio.to_thread(inspect_boot, step.argv, reason)

    async def run(self) -> Verdict:
        """Run the job to its end and judge it."""
        loop = asyncio.get_running_loop()
        timer = None
        if self.timeout is not None:
            timer = loop.call_later(
                self.timeout, self.stop, f"stopped after the --timeout of {self.timeout:g} s"
            )
        _running.add(self)
        try:
            await self.runner.run()
        finally:
            _running.discard(self)
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
        for pgid in self.runner.live_groups():
            kill_group(pgid, grace=1.0)

    def _measure_ccache(self, event: RunEvent) -> None:
        """Read ccache's counters around each build step that compiles through it."""
        if not isinstance(event, StepStarted | StepFinished):
            return
        step = self.job.step(event.step_id)
        if step is None or not uses_ccache(step):
            return
        now = counters(step_env(step))
        if isinstance(event, StepStarted):
            self._ccache_before[step.id] = now
            return
        before = self._ccache_before.pop(step.id, None)
        if before is not None and now is not None:
            self.runner.annotate(step.id, "ccache", difference(before, now))

    def _event(self, event: RunEvent) -> None:
        self._measure_ccache(event)
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
        host = self.job.probe_host
        for port in self.job.probe_ports:
            start = time.monotonic()
            ok = await probe_tcp(host, port, timeout=self.probe_timeout)
            result = ProbeResult(step_id, host, port, ok, round(time.monotonic() - start, 3))
            self._event(result)
        if self.stop_after_success:
            self.stop("done")


# ----- signals -------------------------------------------------------------------------------

#: The signals that stop a run: Ctrl+C, ``kill``, a closed terminal (QEMU runs in a session of
#: its own, so nobody else would stop it).
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

#: The sessions running now, for whoever handles a signal (one face per process).
_running: set[RunSession] = set()


def runs_in_progress() -> bool:
    """Whether a session is running (or still stopping) in this process."""
    return bool(_running)


async def runs_ended(timeout: float) -> bool:
    """Wait until no session is running (a face that is going lets its runs finish stopping:
    groups ended, logs drained, summaries written); False if some still run after ``timeout``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while _running and loop.time() < deadline:
        await asyncio.sleep(0.02)
    return not _running


def signal_exit_status(signum: int) -> int:
    """The exit status after signal ``signum`` stopped a face: 128 + N, as shells report it
    (130 Ctrl+C, 143 SIGTERM, 129 SIGHUP).
    """
    return 128 + signum


#: What a full-screen face leaves the terminal with on a forced exit: main screen back,
#: cursor shown, no mouse reporting or bracketed paste.
_LEAVE_SCREEN = "\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l"


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP for exactly as long as a face runs; the one place for both.

    The headless command holds it around its run; the Textual apps from their Load to their
    Unmount. While installed:

    - the first signal stops every running :class:`RunSession` (each stops its process groups
      and writes its summary), then calls ``on_signal`` (the app exits, which restores the
      terminal); the face then exits with :func:`signal_exit_status`;
    - a second signal while that is under way forces it: SIGKILL to every group at once, the
      summaries written as they stand, the terminal restored, exit with that status at once;
    - once the face has gone (``alive`` says no) a signal gets its previous handling back.

    :meth:`restore` puts back the handlers that were there before (``signal.getsignal``), not
    the defaults. Install and restore in the main thread, inside the running event loop.
    """

    def __init__(
        self,
        on_signal: Callable[[int], None] | None = None,
        *,
        alive: Callable[[], bool] | None = None,
        full_screen: bool = False,
    ) -> None:
        """``full_screen``: the face owns the terminal (restored on a forced exit)."""
        self.on_signal = on_signal
        self.alive = alive
        self.full_screen = full_screen
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tty: tuple[int, list[Any]] | None = None

    @property
    def exit_status(self) -> int | None:
        """:func:`signal_exit_status` of the signal received, None without one."""
        return None if self.received is None else signal_exit_status(self.received)

    def install(self) -> None:
        """Catch the signals in the running loop, remembering the handlers they had."""
        if self._loop is not None:
            return
        loop = asyncio.get_running_loop()
        self._tty = _terminal_state()
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            loop.add_signal_handler(sig, self._signalled, sig)
        self._loop = loop

    def restore(self) -> None:
        """Give every signal back the handler it had before :meth:`install`."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        for sig, previous in self._previous.items():
            if not loop.is_closed():
                loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)
        self._previous.clear()

    def __enter__(self) -> StopSignals:
        """Install (see the class docstring)."""
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        """Restore."""
        self.restore()

    def _signalled(self, sig: int) -> None:
        if self.received is not None:
            self._force(sig)
            return
        if self.alive is not None and not self.alive():
            self.restore()  # the face is gone: what was there before decides
            os.kill(os.getpid(), sig)
            return
        self.received = sig
        reason = f"interrupted by {signal.Signals(sig).name}"
        for session in list(_running):
            session.stop(reason)
        if self.on_signal is not None:
            self.on_signal(sig)

    def _force(self, sig: int) -> None:
        """The second signal: no more grace periods."""
        reason = f"interrupted by {signal.Signals(sig).name} (twice: killed at once)"
        for session in list(_running):
            session.abandon(reason)
        kill_live_groups(grace=0)
        if self.full_screen:
            _restore_terminal(self._tty)
        with contextlib.suppress(OSError):
            os.write(2, b"ukl-tui: a second signal while stopping: killed at once\n")
        self.restore()
        os._exit(signal_exit_status(self.received or sig))


def _terminal_state() -> tuple[int, list[Any]] | None:
    """The terminal's settings as the face found them (a full-screen face changes them)."""
    try:
        fd = sys.stdin.fileno()
        return (fd, termios.tcgetattr(fd)) if os.isatty(fd) else None
    except (OSError, ValueError, termios.error):
        return None


def _restore_terminal(saved: tuple[int, list[Any]] | None) -> None:
    if saved is None:
        return
    fd, attrs = saved
    with contextlib.suppress(OSError, termios.error):
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    with contextlib.suppress(OSError):
        os.write(1 if os.isatty(1) else fd, _LEAVE_SCREEN.encode())
