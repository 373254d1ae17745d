"""Running plan steps: processes, output streaming, logs, progress, milestones, cancel.

One runner serves two faces. The Textual app runs it in its own event loop and receives
events through a callback; the headless CLI iterates over the same events and prints them.
Neither face ever touches a subprocess: the runner owns every child, starts each in its own
process group with stdin on a pipe (never the app's terminal, which QEMU would take over) and
kills the whole group on cancel, timeout or exit, so no compiler or QEMU outlives the app.

What the lines mean (progress, errors, boot milestones) is read by ``lines.py``; the Runner
keeps the per-step state (markers still missing, problems so far) and turns it into events.
Output is delivered in batches (at most every ``batch_interval`` seconds or ``batch_lines``
lines) because a Textual log widget is ~60x faster fed in batches than line by line
(MEASURED.md). The raw bytes go unchanged to ``<log_dir>/<NN>-<step id>.log``; displayed lines
are cleaned of terminal control sequences (QEMU resets the terminal) but keep colours.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ukl_tui.errors import UserError
from ukl_tui.fsutil import write_atomic
from ukl_tui.lines import (
    BOOT_MILESTONES,
    Severity,
    boot_failure,
    build_problem,
    clean_line,
    estimate_objects,
    is_object_line,
    needs_cleaning,
    strip_sgr,
)
from ukl_tui.procs import (
    group_members,
    kill_group,
    register_group,
    sigkill_groups,
    terminate_group,
    unregister_group,
)
from ukl_tui.steps import Step

StepStatus = Literal["ok", "failed", "cancelled", "timeout"]

# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepStarted:
    """A step's process is about to start (``index`` counts from 1)."""

    step_id: str
    index: int
    total: int
    title: str
    kind: str
    argv: tuple[str, ...]
    log_path: str


@dataclass(frozen=True)
class OutputLines:
    """Cleaned complete lines, in order; ``partial`` is an unterminated tail such as a prompt.

    A partial is shown provisionally: when its line completes it arrives again in ``lines``.
    """

    step_id: str
    lines: list[str]
    partial: str = ""


@dataclass(frozen=True)
class Milestone:
    """A line that marks progress of a boot (``Run /init``) or a success marker of any step."""

    step_id: str
    key: str
    line: str
    elapsed: float


@dataclass(frozen=True)
class Progress:
    """Objects compiled so far; ``total`` comes from a previous run and is None without one."""

    step_id: str
    done: int
    total: int | None


@dataclass(frozen=True)
class Problem:
    """An error or warning line (``line_no`` is its 1-based line in the step's log)."""

    step_id: str
    severity: Severity
    line_no: int
    text: str
    hint: str


@dataclass(frozen=True)
class StepFinished:
    """A step ended; ``returncode`` is negative for a signal and None if it never started.

    ``diagnosis`` is why a failed or timed-out step failed (``Diagnosis.to_dict()``), when the
    Runner was given a ``diagnose`` function.
    """

    step_id: str
    returncode: int | None
    duration: float
    status: StepStatus
    diagnosis: dict[str, Any] | None = None


@dataclass(frozen=True)
class Located:
    """Where a stuck or crashed guest's vCPUs were (``inspect``'s answer, as JSON data).

    ``reason`` is what triggered the look: ``panic`` (a fatal console line or an oops),
    ``silent`` (the boot watchdog) or ``asked`` (the user).
    """

    step_id: str
    reason: str
    report: dict[str, Any]


@dataclass(frozen=True)
class RunFinished:
    """The whole chain ended: ``status`` is that of the first step that was not ok."""

    status: str
    summary_path: str
    failed_step: str | None


#: ``diagnose(log_path, step, returncode, stopped_because)``: a failed step's diagnosis as data.
Diagnose = Callable[[Path, Step, int | None, str | None], dict[str, Any] | None]

#: ``inspect(step, reason)``: look inside a running boot (gdb on QEMU's stub) before it is killed.
Inspect = Callable[[Step, str], Awaitable[dict[str, Any] | None]]

Event = (
    StepStarted
    | OutputLines
    | Milestone
    | Progress
    | Problem
    | StepFinished
    | Located
    | RunFinished
)

#: Problems kept per step (a broken build can print millions of error lines).
_MAX_PROBLEMS = 1000

# --- the runner ------------------------------------------------------------------------------


@dataclass
class _StepState:
    step: Step
    index: int
    log_path: Path
    log: Any = None
    started: float = 0.0
    proc: asyncio.subprocess.Process | None = None
    pgid: int | None = None
    partial: str = ""
    emitted_partial: str = ""
    line_no: int = 0
    pending: list[str] = field(default_factory=list)
    pending_events: list[Event] = field(default_factory=list)
    flush_handle: asyncio.TimerHandle | None = None
    last_output: float = 0.0
    silence_reported: bool = False
    markers_left: list[str] = field(default_factory=list)
    milestones_left: list[str] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    problem_count: int = 0
    failure_seen: bool = False
    objects: int = 0
    objects_reported: int = -1
    objects_total: int | None = None
    stop_reason: str | None = None
    kill_task: asyncio.Task[None] | None = None
    returncode: int | None = None
    status: str = "not-run"
    duration: float = 0.0
    diagnosis: dict[str, Any] | None = None
    inspect_task: asyncio.Task[None] | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    located: list[dict[str, Any]] = field(default_factory=list)


class Runner:
    """Run steps in order, stop at the first failure, report everything as events.

    ``on_event`` (a plain callable) receives every event; ``events()`` yields the same events
    to an ``async for``. ``cancel()`` and ``send_input()`` may be called from any thread.
    """

    def __init__(
        self,
        steps: Sequence[Step],
        log_dir: Path,
        on_event: Callable[[Event], None] | None = None,
        *,
        batch_interval: float = 0.05,
        batch_lines: int = 1000,
        boot_silence: float | None = 60.0,
        kill_on_silence: bool = False,
        stop_boot_on_success: bool = False,
        kill_grace: float = 3.0,
        panic_grace: float = 2.0,
        artifacts: Mapping[str, str] | None = None,
        about: Mapping[str, str] | None = None,
        history: Sequence[Path] | None = None,
        env: Mapping[str, str] | None = None,
        diagnose: Diagnose | None = None,
        inspect: Inspect | None = None,
        inspect_timeout: float = 90.0,
    ) -> None:
        """Prepare a run; nothing starts until ``run()``.

        ``about`` are facts of the job summary.json records as they are (its title, the
        tree and the application: what run history shows); ``history`` are earlier run
        directories whose logs estimate build progress (default: the siblings of
        ``log_dir``); ``env`` replaces the inherited environment;
        ``diagnose`` reads a failed step's log once it is closed (``diagnose.diagnose_step``;
        passed in so reading output stays above the process layer); ``inspect`` looks into a
        boot that panicked, oopsed or went silent, and a kill waits for it (``inspect_timeout``).
        """
        ids = [s.id for s in steps]
        if len(set(ids)) != len(ids):
            raise UserError("step ids must be unique: they name the log files")
        self.steps = list(steps)
        self.log_dir = Path(log_dir)
        self.on_event = on_event
        self.batch_interval = batch_interval
        self.batch_lines = batch_lines
        self.boot_silence = boot_silence
        self.kill_on_silence = kill_on_silence
        self.stop_boot_on_success = stop_boot_on_success
        self.kill_grace = kill_grace
        self.panic_grace = panic_grace
        self.artifacts = dict(artifacts or {})
        self.about = dict(about or {})
        self.history = history
        self.env = dict(os.environ if env is None else env)
        self.diagnose = diagnose
        self.inspect = inspect
        self.inspect_timeout = inspect_timeout
        self.errors: list[str] = []
        self.status = "pending"
        self._states = [
            _StepState(s, i, self.log_dir / f"{i:02d}-{s.id}.log")
            for i, s in enumerate(self.steps, 1)
        ]
        self._current: _StepState | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cancelled = False
        self._queues: list[asyncio.Queue[Event | None]] = []
        self._started_at = ""
        self._ran = False

    # -- public control (any thread) --------------------------------------------------------

    @property
    def summary_path(self) -> Path:
        """Where ``summary.json`` is written, beside the step logs."""
        return self.log_dir / "summary.json"

    @property
    def running_step(self) -> Step | None:
        """The step whose process is running now, if any."""
        return self._current.step if self._current is not None else None

    def live_groups(self) -> list[int]:
        """The process groups of this run's steps that still have a live member."""
        return [st.pgid for st in self._states if st.pgid is not None and group_members(st.pgid)]

    def kill_now(self) -> None:
        """End the run at once for a process about to exit (a forced exit on a second signal).

        Synchronous and without grace periods: SIGKILL every live group, flush the running
        step's log, write the summary as it stands (the step and the run ``cancelled``).
        """
        sigkill_groups(self.live_groups())
        st = self._current
        if st is not None:
            st.stop_reason = st.stop_reason or "cancelled"
            st.status = "cancelled"
            st.duration = time.monotonic() - st.started
            if st.log is not None and not st.log.closed:
                st.log.flush()
        self._cancelled = True
        self.status = "cancelled"
        self._write_summary()

    def cancel(self) -> None:
        """Stop the running step (its whole process group) and run no further steps."""
        self._cancelled = True
        self._call_in_loop(self._cancel_now)

    def send_input(self, text: str) -> bool:
        """Write ``text`` and a newline to the running interactive step; False if there is none."""
        st = self._current
        if st is None or not st.step.interactive or st.proc is None or st.proc.stdin is None:
            return False
        data = (text if text.endswith("\n") else text + "\n").encode()
        self._call_in_loop(lambda: self._write_stdin(st, data))
        return True

    # -- running ----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event]:
        """Run the chain and yield its events (ending with ``RunFinished``)."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._queues.append(queue)
        task = asyncio.ensure_future(self.run())
        try:
            while True:
                event = await queue.get()
                if event is None:
                    break
                yield event
        finally:
            if not task.done():
                self.cancel()
            await task

    async def run(self) -> str:
        """Run every step in order; return the run status (ok, failed, cancelled, timeout)."""
        if self._ran:
            raise RuntimeError("a Runner runs once; make a new one")
        self._ran = True
        self._loop = asyncio.get_running_loop()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        history = self.history
        if history is None:
            history = [
                p
                for p in self.log_dir.parent.iterdir()
                if p != self.log_dir and (p / "summary.json").is_file()
            ]
            history.append(self.log_dir)
        for st in self._states:
            if st.step.kind == "build":
                st.objects_total = estimate_objects(st.step.id, history)
        self._started_at = _now_iso()
        self.status = "running"
        self._write_summary()
        failed: _StepState | None = None
        try:
            for st in self._states:
                if self._cancelled:
                    self.status = "cancelled"
                    break
                await self._run_step(st)
                if st.status != "ok":
                    failed = st
                    self.status = st.status
                    break
            else:
                self.status = "ok"
        except asyncio.CancelledError:
            self.status = "cancelled"
            raise
        finally:
            if self.status == "running":
                self.status = "failed"
            self._write_summary()
            self._emit(
                RunFinished(self.status, str(self.summary_path), failed.step.id if failed else None)
            )
            for queue in self._queues:
                queue.put_nowait(None)
        return self.status

    async def _run_step(self, st: _StepState) -> None:
        step = st.step
        st.markers_left = list(dict.fromkeys(step.success_markers))
        if step.kind == "boot":
            st.milestones_left = [m for m in BOOT_MILESTONES if m not in st.markers_left]
        st.started = st.last_output = time.monotonic()
        st.log = st.log_path.open("wb")
        st.status = "running"
        self._current = st
        self._emit(
            StepStarted(
                step.id,
                st.index,
                len(self._states),
                step.title,
                step.kind,
                step.argv,
                str(st.log_path),
            )
        )
        try:
            await self._spawn_and_watch(st)
        except asyncio.CancelledError:
            st.status = "cancelled"
            raise
        finally:
            self._flush(st)
            st.log.close()
            st.duration = time.monotonic() - st.started
            self._current = None
            task = st.inspect_task
            if task is not None and not task.done():
                if st.status == "cancelled":
                    task.cancel()
                else:  # QEMU ended while gdb looked: its answer (or error) comes quickly
                    await asyncio.wait({task}, timeout=self.inspect_timeout)
            if st.status in ("failed", "timeout") and self.diagnose is not None:
                await self._diagnose(st)
            self._emit(
                StepFinished(step.id, st.returncode, st.duration, st.status, st.diagnosis)  # type: ignore[arg-type]
            )
            self._write_summary()

    async def _diagnose(self, st: _StepState) -> None:
        """Read the closed log in a worker thread (a 200,000-line log takes a fraction of a
        second, which the display should not wait for); a broken diagnosis is an error note.
        """
        assert self.diagnose is not None and self._loop is not None
        try:
            st.diagnosis = await self._loop.run_in_executor(
                None, self.diagnose, st.log_path, st.step, st.returncode, st.stop_reason
            )
        except Exception as exc:  # the run must end cleanly whatever the log holds
            self.errors.append(f"{st.step.id}: diagnosis failed: {exc!r}")

    async def _spawn_and_watch(self, st: _StepState) -> None:
        step = st.step
        env = dict(self.env)
        env.update(step.env)
        if not os.path.isdir(step.cwd):
            self._problem(st, "error", 0, f"working directory {step.cwd} does not exist", "")
            st.status = "failed"
            return
        # Shielded: a cancel that lands while the process is being created must not leave it
        # (asyncio would kill the leader only, not what it has started) before we know its group.
        creating = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *step.argv,
                cwd=step.cwd,
                env=env,
                stdin=asyncio.subprocess.PIPE if step.interactive else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                limit=1 << 20,
            )
        )
        cancelled_while_starting = False
        try:
            proc = await asyncio.shield(creating)
        except asyncio.CancelledError:
            await asyncio.wait({creating})
            if creating.cancelled() or creating.exception() is not None:
                raise
            proc, cancelled_while_starting = creating.result(), True
        except OSError as exc:
            self._problem(
                st,
                "error",
                0,
                f"cannot start {step.argv[0]}: {exc.strerror or exc}",
                "is it installed and on PATH?",
            )
            st.returncode = 127
            st.status = "failed"
            return
        st.proc = proc
        st.pgid = proc.pid  # start_new_session: the child leads its own group
        register_group(st.pgid)
        if self._cancelled:  # cancel() came while the process was being started
            self._request_stop(st, "cancelled")
        assert proc.stdout is not None
        reader = asyncio.ensure_future(self._pump(st, proc.stdout))
        waiter = asyncio.ensure_future(proc.wait())
        try:
            if cancelled_while_starting:
                raise asyncio.CancelledError
            await self._watch(st, proc, waiter)
            # Whatever the leader left behind in its group goes too, releasing the output pipe
            # (asyncio's wait() also waits for the pipe to close).
            if group_members(st.pgid):
                await terminate_group(st.pgid, self.kill_grace)
            try:
                await asyncio.wait_for(
                    asyncio.shield(asyncio.gather(reader, waiter)), timeout=self.kill_grace + 2
                )
            except TimeoutError:
                reader.cancel()
                self.errors.append(f"{step.id}: output pipe still open after the group ended")
            st.returncode = proc.returncode
            if st.kill_task is not None:
                await st.kill_task
        except asyncio.CancelledError:
            # The face is going (its worker cancelled, an exception): end the group now, then
            # take what the programs wrote before they died into the log (the pipe sees EOF).
            kill_group(st.pgid, grace=0.5)
            pending: set[asyncio.Future[Any]] = {reader, waiter}
            if st.kill_task is not None and not st.kill_task.done():
                st.kill_task.cancel()  # the group is gone already
                pending.add(st.kill_task)
            await asyncio.wait(pending, timeout=2.0)
            st.returncode = proc.returncode
            raise
        finally:
            for task in (reader, waiter):
                if not task.done():
                    task.cancel()
            unregister_group(st.pgid)
        st.status = self._final_status(st)

    async def _watch(
        self, st: _StepState, proc: asyncio.subprocess.Process, waiter: asyncio.Future[int]
    ) -> None:
        """Poll while the leader runs: step timeout and the boot watchdog.

        Returns as soon as the leader has exited, even while a leftover child still holds
        the output pipe open.
        """
        step = st.step
        deadline = None if step.timeout is None else st.started + step.timeout
        while True:
            done, _ = await asyncio.wait({waiter}, timeout=0.1)
            if done or proc.returncode is not None:
                return
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self._request_stop(st, "timeout")
            silent = now - st.last_output
            if (
                step.kind == "boot"
                and self.boot_silence is not None
                and st.markers_left
                and not st.silence_reported
                and silent >= self.boot_silence
            ):
                st.silence_reported = True
                self._problem(
                    st,
                    "error" if self.kill_on_silence else "warning",
                    st.line_no,
                    f"silent for {self.boot_silence:g} s",
                    "the guest printed nothing: a hang, or a kernel without console=ttyS0 "
                    "and a serial driver; under TCG a big kernel is slow but not this slow",
                )
                self._flush(st)
                self._start_inspect(st, "silent")
                if self.kill_on_silence:
                    self._request_stop(st, "silent")

    def _final_status(self, st: _StepState) -> str:
        step = st.step
        reached = bool(step.success_markers) and not st.markers_left
        reason = st.stop_reason
        if st.failure_seen or reason == "fatal":
            return "failed"
        if reached:
            return "ok"
        if reason == "cancelled":
            return "cancelled"
        if reason in ("timeout", "silent"):
            return "timeout"
        if st.returncode == 0 and not st.markers_left:
            return "ok"
        if st.returncode != 0 and step.expected_failure_note:
            return "ok"
        if st.returncode != 0:
            how = (
                f"killed by signal {-st.returncode}"
                if st.returncode is not None and st.returncode < 0
                else f"exited with status {st.returncode}"
            )
            self._problem(st, "error", st.line_no, f"{step.argv[0]} {how}", "")
        elif st.markers_left:
            self._problem(
                st,
                "error",
                st.line_no,
                "ended without printing: " + ", ".join(st.markers_left),
                "",
            )
        self._flush(st)
        return "failed"

    # -- stopping ---------------------------------------------------------------------------

    def _call_in_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
        else:
            try:
                loop.call_soon_threadsafe(fn)
            except RuntimeError:  # the loop closed meanwhile: nothing is running any more
                pass

    def _cancel_now(self) -> None:
        if self._current is not None:
            self._request_stop(self._current, "cancelled")

    def _request_stop(self, st: _StepState, reason: str) -> None:
        if st.stop_reason is not None or st.proc is None or st.proc.returncode is not None:
            return
        assert st.pgid is not None
        st.stop_reason = reason
        if reason in ("fatal", "silent") and st.inspect_task is not None:
            st.kill_task = asyncio.ensure_future(self._terminate_after_inspect(st, st.pgid))
        else:
            st.kill_task = asyncio.ensure_future(terminate_group(st.pgid, self.kill_grace))

    def annotate(self, step_id: str, key: str, value: Any) -> None:
        """Add a fact about a step to its summary entry (written with the next summary)."""
        for st in self._states:
            if st.step.id == step_id:
                st.notes[key] = value

    def inspect_now(self) -> None:
        """Look into the running boot now (a key in the Run screen); thread-safe."""

        def start() -> None:
            st = self._current
            if st is not None and st.step.kind == "boot":
                self._start_inspect(st, "asked", again=True)

        self._call_in_loop(start)

    def _start_inspect(self, st: _StepState, reason: str, again: bool = False) -> None:
        """Start ``inspect`` once per step (``again`` for the user's repeated asks)."""
        if self.inspect is None or st.proc is None or st.proc.returncode is not None:
            return
        if st.inspect_task is not None and (not again or not st.inspect_task.done()):
            return
        st.inspect_task = asyncio.ensure_future(self._inspect(st, reason))

    async def _inspect(self, st: _StepState, reason: str) -> None:
        assert self.inspect is not None
        try:
            report = await asyncio.wait_for(self.inspect(st.step, reason), self.inspect_timeout)
        except TimeoutError:
            report = {"error": f"no answer within {self.inspect_timeout:g} s"}
        except Exception as exc:  # a failed look must not keep QEMU alive or break the run
            report = {"error": repr(exc)}
        if report is None:
            return
        st.located.append({"reason": reason, **report})
        self._flush(st)
        self._emit(Located(st.step.id, reason, report))

    async def _terminate_after_inspect(self, st: _StepState, pgid: int) -> None:
        """Kill the guest only once the look inside it is done (it is bounded by its timeout)."""
        if st.inspect_task is not None:
            await asyncio.wait({st.inspect_task}, timeout=self.inspect_timeout + 5)
        await terminate_group(pgid, self.kill_grace)

    def _write_stdin(self, st: _StepState, data: bytes) -> None:
        proc = st.proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return
        try:
            proc.stdin.write(data)
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            self.errors.append(f"{st.step.id}: console input lost (process gone)")

    # -- output -----------------------------------------------------------------------------

    async def _pump(self, st: _StepState, stream: asyncio.StreamReader) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            chunk = await stream.read(1 << 16)
            if not chunk:
                break
            st.log.write(chunk)
            st.last_output = time.monotonic()
            st.silence_reported = False
            self._feed(st, decoder.decode(chunk))
        tail = decoder.decode(b"", final=True)
        if tail:
            self._feed(st, tail)
        if st.partial:
            self._feed(st, "\n")
        self._flush(st)

    def _feed(self, st: _StepState, text: str) -> None:
        text = st.partial + text
        lines = text.split("\n")
        st.partial = lines.pop()
        if len(st.partial) > 1 << 16:  # no newline for 64 KiB: not a prompt, show it
            lines.append(st.partial)
            st.partial = ""
        if lines:
            if needs_cleaning(text):
                lines = [clean_line(line) for line in lines]
            kind = st.step.kind
            for line in lines:
                st.line_no += 1
                self._scan(st, line, kind)
            st.pending.extend(lines)
            if len(st.pending) >= self.batch_lines:
                self._flush(st)
                return
        if st.flush_handle is None and (st.pending or st.partial != st.emitted_partial):
            assert self._loop is not None
            st.flush_handle = self._loop.call_later(self.batch_interval, self._flush, st)

    def _scan(self, st: _StepState, line: str, kind: str) -> None:
        """Match one cleaned line against progress, problem and milestone patterns."""
        if kind == "boot":
            plain = strip_sgr(line)
            for key in st.milestones_left:
                if key in plain:
                    st.milestones_left.remove(key)
                    self._milestone(st, key, plain)
                    break
            failure = boot_failure(plain)
            if failure is not None:
                self._problem(st, "error", st.line_no, plain, failure.hint)
                st.failure_seen = True
                self._start_inspect(st, "panic")
                if failure.fatal and st.stop_reason is None and self._loop is not None:
                    self._loop.call_later(self.panic_grace, self._request_stop, st, "fatal")
        else:
            if is_object_line(line):
                st.objects += 1
                return
            found = build_problem(line)
            if found is not None:
                severity, plain, hint = found
                if st.step.expected_failure_note:
                    severity, hint = "expected", st.step.expected_failure_note
                self._problem(st, severity, st.line_no, plain, hint)
        if st.markers_left:
            plain = strip_sgr(line)
            for marker in st.markers_left:
                if marker in plain:
                    st.markers_left.remove(marker)
                    self._milestone(st, marker, plain)
                    if (
                        not st.markers_left
                        and kind == "boot"
                        and self.stop_boot_on_success
                        and self._loop is not None
                    ):
                        self._loop.call_soon(self._request_stop, st, "success")
                    break

    def _milestone(self, st: _StepState, key: str, line: str) -> None:
        elapsed = time.monotonic() - st.started
        st.milestones.append({"key": key, "line": line, "elapsed": round(elapsed, 3)})
        st.pending_events.append(Milestone(st.step.id, key, line, elapsed))

    def _problem(
        self, st: _StepState, severity: Severity, line_no: int, text: str, hint: str
    ) -> None:
        st.problem_count += 1
        if st.problem_count > _MAX_PROBLEMS:
            return
        text = text[:500]
        st.problems.append({"severity": severity, "line_no": line_no, "text": text, "hint": hint})
        st.pending_events.append(Problem(st.step.id, severity, line_no, text, hint))

    def _flush(self, st: _StepState) -> None:
        """Deliver gathered lines, then the milestones/problems/progress found in them."""
        if st.flush_handle is not None:
            st.flush_handle.cancel()
            st.flush_handle = None
        partial = clean_line(st.partial) if st.partial else ""
        if st.pending or partial != st.emitted_partial:
            lines, st.pending = st.pending, []
            st.emitted_partial = partial
            self._emit(OutputLines(st.step.id, lines, partial))
        events, st.pending_events = st.pending_events, []
        for event in events:
            self._emit(event)
        if st.step.kind == "build" and st.objects != st.objects_reported:
            st.objects_reported = st.objects
            total = st.objects_total
            if total is not None and st.objects > total:
                total = None
            self._emit(Progress(st.step.id, st.objects, total))
        if st.log is not None and not st.log.closed:
            st.log.flush()

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception as exc:  # a broken display must not leave processes behind
                self.errors.append(f"event callback failed on {type(event).__name__}: {exc!r}")
        for queue in self._queues:
            queue.put_nowait(event)

    # -- summary ----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The run as data: what ran, how it ended, what it printed that mattered."""
        steps = []
        for st in self._states:
            step = st.step
            entry: dict[str, Any] = {
                "index": st.index,
                "id": step.id,
                "title": step.title,
                "kind": step.kind,
                "argv": list(step.argv),
                "cwd": step.cwd,
                "env": dict(step.env),
                "shell_line": step.shell_line(),
                "log": st.log_path.name,
                "status": st.status,
                "returncode": st.returncode,
                "duration": round(st.duration, 3),
                "lines": st.line_no,
                "milestones": st.milestones,
                "missing_markers": st.markers_left if st.status != "not-run" else [],
                "problems": st.problems,
                "problem_count": st.problem_count,
            }
            if step.kind == "build":
                entry["objects"] = st.objects
                entry["objects_estimate"] = st.objects_total
            if "DISTCC_LOG" in step.env and st.status != "not-run":
                from ukl_tui.distcc import step_report

                entry["distcc"] = step_report(step.env)  # hosts, jobs per host, problems
            if step.expected_failure_note:
                entry["expected_failure"] = bool(st.returncode)
                entry["expected_failure_note"] = step.expected_failure_note
            if st.stop_reason:
                entry["stopped_because"] = st.stop_reason
            if st.diagnosis is not None:
                entry["diagnosis"] = st.diagnosis
            if st.located:
                entry["located"] = st.located
            entry.update(st.notes)
            steps.append(entry)
        errors = [p["text"] for st in self._states for p in st.problems if p["severity"] == "error"]
        return {
            "version": 1,
            "status": self.status,
            "started": self._started_at,
            "updated": _now_iso(),
            "log_dir": str(self.log_dir),
            **self.about,
            "artifacts": self.artifacts,
            "steps": steps,
            "errors": errors[:200],
            "diagnosis": next((st.diagnosis for st in self._states if st.diagnosis), None),
            "runner_errors": self.errors,
        }

    def _write_summary(self) -> None:
        write_atomic(self.summary_path, json.dumps(self.summary(), indent=2) + "\n", fsync=False)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


async def probe_tcp(host: str, port: int, timeout: float = 10.0, settle: float = 0.5) -> bool:
    """Whether a server answers on ``host:port`` within ``timeout`` seconds (retrying).

    QEMU's user-network forward accepts every connection on the host side even when nothing
    listens in the guest, then closes it: a connection that is closed within ``settle``
    seconds therefore does not count, one that stays open (or sends data) does.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout=min(remaining, 2.0)
            )
        except (TimeoutError, OSError):
            await asyncio.sleep(min(0.2, max(0.0, deadline - loop.time())))
            continue
        try:
            try:
                data = await asyncio.wait_for(reader.read(1), timeout=settle)
            except TimeoutError:
                return True
            except OSError:
                data = b""
            if data:
                return True
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
        await asyncio.sleep(min(0.2, max(0.0, deadline - loop.time())))


def event_as_dict(event: Event) -> dict[str, Any]:
    """An event as JSON data with its type name (for ``ukl-tui run --json`` lines)."""
    data = asdict(event)
    data["event"] = type(event).__name__
    return data
