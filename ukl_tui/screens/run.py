"""The Run screen: the build and the QEMU console live, side by side or as tabs.

Everything shown comes from a :class:`~ukl_tui.run_session.RunState` fed with the Runner's
events, the same state ``ukl-tui run --no-tui`` prints from, so both faces agree on what
happened and why. Output goes to :class:`~ukl_tui.widgets.logpane.PaneLog` panes in the
Runner's batches; rich styling is kept to the status line, the step and milestone strips, the
verdict box and the jump list of errors.

No process outlives the screen: Stop (ctrl+s) ends the running step's process group, leaving
the screen or quitting the app cancels the run worker (the Runner kills the group when
cancelled), SIGINT/SIGTERM/SIGHUP stop the run and exit (the app's
:class:`~ukl_tui.widgets.lifetime.AppLifetime`), and the Runner's atexit hook is the last net.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, OptionList, Static, Tab, Tabs
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from ukl_tui.diagnose import Diagnosis
from ukl_tui.distcc import LogWatch, report_lines, step_log
from ukl_tui.errors import UserError
from ukl_tui.history import run_times
from ukl_tui.lines import BOOT_MILESTONES
from ukl_tui.run_session import (
    ProbeResult,
    RunEvent,
    RunJob,
    RunSession,
    RunState,
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
    RunFinished,
    StepFinished,
    StepStarted,
)
from ukl_tui.steps import Step
from ukl_tui.widgets.lifetime import AppLifetime
from ukl_tui.widgets.logpane import ChipStrip, PaneLog

if TYPE_CHECKING:
    from ukl_tui.plan import Built

#: From this width on the two panes stand side by side (each then gets ~80 columns).
WIDE = 160
#: Lines each pane keeps on screen; the log files keep everything.
BUILD_MAX_LINES = 50_000
QEMU_MAX_LINES = 20_000
#: Entries in the jump list (the Runner itself keeps at most 1,000 problems a step).
MAX_PROBLEMS = 500

_STEP_MARKS = {
    "pending": ("○", "dim"),
    "running": ("●", "bold yellow"),
    "ok": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "timeout": ("✗", "bold red"),
    "cancelled": ("■", "magenta"),
    "not-run": ("○", "dim"),
}


def as_job(source: RunJob | Built | Sequence[Step]) -> RunJob:
    """What the Run screen accepts: a job, a checked plan (``Plan.build()``) or bare steps."""
    if isinstance(source, RunJob):
        return source
    if hasattr(source, "steps") and hasattr(source, "boot"):
        return RunJob.from_built(source)  # type: ignore[arg-type]
    return RunJob(steps=tuple(source))  # type: ignore[arg-type]


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return (
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
        if hours
        else f"{rest // 60:02d}:{rest % 60:02d}"
    )


def _bar(done: int, total: int, width: int = 16) -> str:
    filled = min(width, done * width // total) if total else 0
    return "█" * filled + "░" * (width - filled)


class RunScreen(Screen[int]):
    """Run a job and show it live (see the module docstring).

    ``job`` is a :class:`RunJob`, a checked plan (``Plan.build()``) or a list of steps.
    ``log_dir`` defaults to a new directory under ``~/.cache/ukl-tui/runs``. With
    ``autostart=False`` nothing runs: :meth:`feed` shows recorded events (replay, tests).
    The screen is dismissed with the run's exit code (0 when the run did what it should).
    """

    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (WIDE, "-wide")]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "stop", "Stop", priority=True),
        Binding("escape", "leave", "Back"),
        Binding("i", "console", "Console"),
        Binding("e", "problems", "Errors"),
        Binding("d", "evidence", "Evidence"),
        Binding("g", "locate", "Where is it?"),
        Binding("w", "toggle_warnings", "Warnings"),
        Binding("y", "copy_argv", "Copy QEMU cmd"),
        Binding("1", "show('build')", "Build pane", show=False),
        Binding("2", "show('qemu')", "QEMU pane", show=False),
    ]

    DEFAULT_CSS = """
    RunScreen { layout: vertical; }
    RunScreen #run-status { height: 1; padding: 0 1; background: $boost; }
    RunScreen #run-verdict { display: none; height: auto; max-height: 6; padding: 0 1; }
    RunScreen #run-verdict.-shown { display: block; }
    RunScreen #run-verdict.-ok { background: $success 20%; }
    RunScreen #run-verdict.-error { background: $error 25%; }
    RunScreen #run-verdict.-warning { background: $warning 20%; }
    RunScreen #run-tabs { display: none; }
    RunScreen.-narrow #run-tabs { display: block; }
    RunScreen #run-panes { height: 1fr; }
    RunScreen .pane { width: 1fr; height: 1fr; }
    RunScreen.-wide #build-pane { border-right: vkey $primary 50%; }
    RunScreen.-narrow .pane { display: none; }
    RunScreen.-narrow .pane.-shown { display: block; }
    RunScreen .pane-title { height: 1; padding: 0 1; background: $primary 30%; text-style: bold; }
    RunScreen PaneLog { height: 1fr; }
    RunScreen #qemu-argv { height: auto; max-height: 6; padding: 0 1; color: $text-muted;
                           overflow-y: auto; }
    RunScreen.-narrow #qemu-argv { max-height: 3; }
    RunScreen #console-row { height: 1; margin-top: 1; }
    RunScreen #console-prompt { width: auto; max-width: 24; padding: 0 1; color: $text-muted; }
    RunScreen #console-input { width: 1fr; }
    RunScreen #stop { margin-left: 1; }
    RunScreen #run-problems { display: none; height: auto; max-height: 7; }
    RunScreen #run-problems.-shown { display: block; }
    """

    def __init__(
        self,
        job: RunJob | Built | Sequence[Step],
        *,
        log_dir: Path | None = None,
        autostart: bool = True,
        timeout: float | None = None,
        boot_silence: float | None = 60.0,
        probe_timeout: float = 60.0,
        runner_options: dict[str, Any] | None = None,
        replay: Sequence[RunEvent] = (),
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name
    ) -> None:
        """Prepare the screen; the run starts on mount unless ``autostart`` is False.

        ``replay`` are a past run's events (``history.replay``), shown on mount read-only.
        """
        super().__init__(name=name, id=id)
        self.replay = list(replay)
        self.job = as_job(job)
        self.log_dir = log_dir
        self.autostart = autostart
        self.timeout = timeout
        self.boot_silence = boot_silence
        self.probe_timeout = probe_timeout
        self.runner_options = dict(runner_options or {})
        self.session: RunSession | None = None
        self.state = RunState(self.job)
        self._step_t0: float | None = None
        self._problems: list[Problem] = []
        self._jump: list[Problem] = []
        self._show_warnings = False
        self._prompt = ""
        self._leave_armed = 0.0
        self._internal_error: str | None = None
        #: The finished run's times against the last run of the same plan (history.run_times).
        self._times = ""
        #: The distcc log of each step that compiles through distcc (jobs per host, live).
        self._distcc: dict[str, LogWatch] = {}
        for step in self.job.steps:
            if (log := step_log(step.env)) is not None:
                self._distcc[step.id] = LogWatch(log)

    # ----- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Status, strips, verdict, panes (tabs when narrow), jump list, footer."""
        yield Static("", id="run-status", markup=False)
        yield ChipStrip("steps", id="run-steps")
        if self.job.boot_step is not None:
            yield ChipStrip(id="run-milestones")
        yield Static("", id="run-verdict", markup=False)
        yield Tabs(Tab("1 Build", id="build"), Tab("2 QEMU", id="qemu"), id="run-tabs")
        with Horizontal(id="run-panes"):
            with Vertical(id="build-pane", classes="pane -shown"):
                yield Static("Build", classes="pane-title", id="build-title", markup=False)
                yield PaneLog(id="build-log", max_lines=BUILD_MAX_LINES)
            with Vertical(id="qemu-pane", classes="pane"):
                yield Static("QEMU", classes="pane-title", id="qemu-title", markup=False)
                yield Static(self._argv_text(), id="qemu-argv", markup=False)
                yield PaneLog(id="qemu-log", max_lines=QEMU_MAX_LINES)
                with Horizontal(id="console-row"):
                    yield Label("›", id="console-prompt", markup=False)
                    yield Input(
                        placeholder="a line for the guest console (Enter sends it)",
                        id="console-input",
                        compact=True,
                    )
                    yield Button("Stop", id="stop", variant="error", compact=True)
        yield OptionList(id="run-problems")
        yield Footer()

    def _argv_text(self) -> str:
        boot = self.job.boot_step
        if boot is None:
            return "(this run boots nothing)"
        return "$ " + boot.shell_line()

    def on_mount(self) -> None:
        """Paint the initial state, start the run."""
        self._refresh_all()
        self.set_interval(1.0, self._tick)
        for event in self.replay:
            self.feed(event)
        if self.autostart and not self.replay:
            self.start()

    def on_unmount(self) -> None:
        """Leaving the screen stops the run (its worker is cancelled with the screen)."""
        if self.session is not None and self.state.running:
            self.session.stop("the Run screen was closed")

    # ----- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the run in a worker on the app's event loop."""
        if self.session is not None:
            return
        try:
            if self.log_dir is None:
                self.log_dir = new_run_dir()
            else:
                self.log_dir.mkdir(parents=True, exist_ok=True)
        except (UserError, OSError) as exc:
            message = exc.message if isinstance(exc, UserError) else str(exc)
            self._set_verdict(f"✗ cannot start: {message}", "-error")
            return
        options = {"boot_silence": self.boot_silence, "kill_on_silence": False}
        options.update(self.runner_options)
        self.session = RunSession(
            self.job,
            self.log_dir,
            self.feed,
            stop_after_success=False,
            timeout=self.timeout,
            probe_timeout=self.probe_timeout,
            **options,
        )
        self.state = self.session.state
        self.run_worker(self._run(self.session), group="run", exclusive=True, exit_on_error=False)

    async def _run(self, session: RunSession) -> Verdict:
        return await session.run()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A crash of the run is a bug, but it is shown, not swallowed."""
        if event.worker.group == "run" and event.state == WorkerState.ERROR:
            self._internal_error = f"internal error: {event.worker.error!r}"
            self._refresh_all()

    def feed(self, event: RunEvent) -> None:
        """Show one event (the Runner calls this on the app's loop; replays call it too)."""
        if self.session is None:
            self.state.add(event)  # a live session's state has taken it already
        if isinstance(event, OutputLines):
            self._output(event)
            return
        if isinstance(event, StepStarted):
            self._step_t0 = time.monotonic()
            step = self.job.step(event.step_id)
            pane = self._pane_for(event.step_id)
            header = [f"==> [{event.index}/{event.total}] {event.step_id}: {event.title}"]
            if step is not None:
                header.append("$ " + ran_as(step, event).shell_line())
            pane.begin_step(event.step_id, header)
            if event.kind == "boot":
                self._set_prompt("")
                self.action_show("qemu")
        elif isinstance(event, Problem):
            self._problems.append(event)
            if self._wanted(event):
                self._add_jump(event)
        elif isinstance(event, StepFinished):
            self._step_t0 = None
            rc = "" if event.returncode is None else f", exit status {event.returncode}"
            self._pane_for(event.step_id).note(
                f"<== {event.step_id}: {event.status} ({event.duration:.1f} s{rc})"
            )
            if (watch := self._distcc.get(event.step_id)) is not None:
                # what distcc's own log says of the hosts: jobs each, failures, refusals
                step = self.state.views[event.step_id].step
                self._pane_for(event.step_id).note(*report_lines(step.env, watch.poll()))
            if event.step_id == (self.job.boot_step.id if self.job.boot_step else None):
                self._set_prompt("")
        elif isinstance(event, Located):
            # Not into the pane: a note there would shift the log's line numbers.
            lines = event.report.get("lines") or ["nothing located"]
            self.notify(
                "\n".join(lines[:12]), title=f"Where the guest is ({event.reason})", timeout=20
            )
        elif isinstance(event, RunFinished):
            # Read once, when the summary is final: a few small JSON files beside this run.
            self._times = run_times(Path(event.summary_path).parent)
            failed = self.job.step(event.failed_step or "")
            if failed is not None and failed.kind != "boot":
                self.action_show("build")
        if isinstance(event, StepStarted | StepFinished | RunFinished):
            self.refresh_bindings()  # "Where is it?" while QEMU runs, "Evidence" after a failure
        if isinstance(event, Progress | Milestone | ProbeResult):
            self._refresh_status()
            self._refresh_milestones()
            if isinstance(event, Milestone):
                self._refresh_verdict()
            return
        self._refresh_all()

    def _output(self, event: OutputLines) -> None:
        self._pane_for(event.step_id).add_lines(event.lines)
        boot = self.job.boot_step
        if boot is not None and event.step_id == boot.id:
            self._set_prompt(event.partial)

    def _pane_for(self, step_id: str) -> PaneLog:
        step = self.job.step(step_id)
        which = "qemu-log" if step is not None and step.kind == "boot" else "build-log"
        return self.query_one(f"#{which}", PaneLog)

    def _set_prompt(self, partial: str) -> None:
        """Show an unfinished console line beside the input when it looks like a prompt.

        Kernel messages also arrive in pieces ("Probing EDD... o"): only a short tail counts.
        """
        partial = partial.strip()
        if not partial or len(partial) > 16:
            partial = "›"
        if partial != self._prompt:
            self._prompt = partial
            self.query_one("#console-prompt", Label).update(partial)

    # ----- painting -------------------------------------------------------------------------

    def on_resize(self) -> None:
        """Milestone times are shown only when wide."""
        self._refresh_milestones()

    def _tick(self) -> None:
        if self.state.running and self.session is not None:
            self._refresh_status()
            if self._distcc:
                self._refresh_titles()

    def _distcc_jobs(self, step_id: str | None = None) -> str:
        """`` · distcc: HOST N, ...`` for the running (or last started) distcc step."""
        started = [i for i, v in self.state.views.items() if v.status != "pending"]
        ids = [step_id] if step_id else [i for i in reversed(started) if i in self._distcc]
        if not ids or ids[0] not in self._distcc:
            return ""
        step = self.state.views[ids[0]].step
        return " · " + report_lines(step.env, self._distcc[ids[0]].poll())[0]

    def _refresh_all(self) -> None:
        self._refresh_status()
        self._refresh_steps()
        self._refresh_milestones()
        self._refresh_verdict()
        self._refresh_titles()

    def _elapsed(self) -> float:
        total = self.state.elapsed()
        if self.state.running and self._step_t0 is not None:
            total += time.monotonic() - self._step_t0
        return total

    def _refresh_status(self) -> None:
        state = self.state
        text = Text(no_wrap=True, overflow="ellipsis")
        if self._internal_error:
            text.append("✗ ERROR ", style="bold red")
        elif state.finished is not None:
            verdict = state.verdict()
            text.append(
                "✓ OK " if verdict.ok else "✗ FAILED ",
                style="bold green" if verdict.ok else "bold red",
            )
        elif self.session is None and self.autostart:
            text.append("… starting ", style="bold")
        elif self.session is None:
            text.append("■ not started ", style="dim")
        else:
            text.append("▶ running ", style="bold yellow")
        text.append(_clock(self._elapsed()), style="bold")
        current = state.views.get(state.current or "")
        if current is not None:
            text.append(f"  step {current.index}/{len(self.job.steps)} {current.step.id}")
            if current.step.kind == "build":
                if current.objects_total:
                    pct = min(100, current.objects * 100 // current.objects_total)
                    text.append("  " + _bar(current.objects, current.objects_total), style="cyan")
                    text.append(f" {current.objects}/{current.objects_total} objects {pct}%")
                elif current.objects:
                    text.append(f"  {current.objects} objects")
        errors = sum(v.errors for v in state.views.values())
        warnings = sum(v.warnings for v in state.views.values())
        if errors or warnings:
            text.append("  ·  ")
            if errors:
                text.append(f"{errors} error{'s' if errors != 1 else ''}", style="red")
            if errors and warnings:
                text.append(", ")
            if warnings:
                text.append(f"{warnings} warning{'s' if warnings != 1 else ''}", style="yellow")
        if self.log_dir is not None or state.log_dir:
            text.append(f"  ·  logs: {state.log_dir or self.log_dir}", style="dim")
        self.query_one("#run-status", Static).update(text)

    def _refresh_steps(self) -> None:
        chips = []
        for view in self.state.views.values():
            mark, style = _STEP_MARKS.get(view.status, ("?", ""))
            chips.append((f"{mark} {view.step.id}", style))
        self.query_one("#run-steps", ChipStrip).set_chips(chips)

    def _refresh_milestones(self) -> None:
        boot = self.job.boot_step
        if boot is None:
            return
        state = self.state
        reached = {m.key: m for m in state.reached(boot.id)}
        keys = [k for k in BOOT_MILESTONES if k not in boot.success_markers]
        keys += list(boot.success_markers)
        chips = []
        timed = self.size.width >= WIDE  # times fit only beside each other when wide
        for key in keys:
            hit = reached.get(key)
            if hit is not None:
                chips.append((f"✓ {key} {hit.elapsed:.1f}s" if timed else f"✓ {key}", "green"))
            else:
                chips.append((f"○ {key}", "dim"))
        for problem in state.boot_problems:
            if problem.severity == "error":
                chips.append((f"✗ {problem.text[:40]}", "bold red"))
                break
        for port in self.job.probe_ports:
            results = [p for p in state.probes if p.port == port]
            if not results:
                chips.append((f"○ :{port}", "dim"))
            elif results[-1].ok:
                chips.append((f"✓ :{port} answered", "green"))
            else:
                chips.append((f"✗ :{port} no answer", "bold red"))
        self.query_one("#run-milestones", ChipStrip).set_chips(chips)

    def _set_verdict(self, text: str | Text, kind: str) -> None:
        box = self.query_one("#run-verdict", Static)
        box.update(text)
        for cls in ("-ok", "-error", "-warning"):
            box.set_class(cls == kind, cls)
        box.set_class(bool(text), "-shown")

    def _refresh_verdict(self) -> None:
        state = self.state
        if self._internal_error:
            self._set_verdict(f"✗ {self._internal_error}", "-error")
            return
        if state.finished is not None:
            verdict = state.verdict()
            text = Text()
            text.append(("✓ " if verdict.ok else "✗ ") + verdict.headline, style="bold")
            if self._times:  # second: the box shows six lines, the fix comes next
                text.append(f"\n  times: {self._times}")
            for line in verdict.details:
                text.append("\n  " + line)
            self._set_verdict(text, "-ok" if verdict.ok else "-error")
            return
        errors = [p for p in state.boot_problems if p.severity == "error"]
        if errors:
            text = Text(f"✗ {errors[0].text}", style="bold")
            if errors[0].hint:
                text.append(f"\n  hint: {errors[0].hint}", style="not bold")
            self._set_verdict(text, "-error")
            return
        boot = self.job.boot_step
        if boot is not None and state.views[boot.id].status == "running":
            if not state.markers_missing(boot.id):
                text = Text(f"✓ {state.booted_line(boot.id)}", style="bold")
                text.append(
                    "\n  QEMU is still running: type a line for the guest below (i), "
                    "ctrl+s stops it",
                    style="not bold",
                )
                self._set_verdict(text, "-ok")
                return
            warnings = [p for p in state.boot_problems if p.severity == "warning"]
            if warnings:
                text = Text(f"! {warnings[-1].text}", style="bold")
                if warnings[-1].hint:
                    text.append(f"\n  {warnings[-1].hint}", style="not bold")
                self._set_verdict(text, "-warning")
                return
        self._set_verdict("", "")

    def _refresh_titles(self) -> None:
        state = self.state
        build_steps = [v for v in state.views.values() if v.step.kind != "boot"]
        current = state.views.get(state.current or "")
        title = "Build"
        if current is not None and current.step.kind != "boot":
            title += f" · {current.step.id} ({current.index}/{len(self.job.steps)})"
        elif build_steps and all(v.status == "ok" for v in build_steps):
            title += " · done"
        self.query_one("#build-title", Static).update(title + self._distcc_jobs())
        boot = self.job.boot_step
        qemu = "QEMU"
        if boot is not None:
            status = state.views[boot.id].status
            view = state.views[boot.id]
            if status == "running":
                qemu += " · running (serial console)"
            elif status != "pending":
                rc = "" if view.returncode is None else f", exit status {view.returncode}"
                qemu += f" · {status}{rc}"
        self.query_one("#qemu-title", Static).update(qemu)
        running = boot is not None and state.views[boot.id].status == "running"
        self.query_one("#stop", Button).disabled = not (self.session and state.running)
        self.query_one("#console-input", Input).disabled = boot is None or (
            not running and state.finished is not None
        )

    # ----- the jump list --------------------------------------------------------------------

    def _wanted(self, problem: Problem) -> bool:
        return problem.severity != "warning" or self._show_warnings

    def _add_jump(self, problem: Problem) -> None:
        problems = self.query_one("#run-problems", OptionList)
        if len(self._jump) >= MAX_PROBLEMS:
            return
        self._jump.append(problem)
        mark, style = {
            "error": ("✗", "bold red"),
            "warning": ("!", "yellow"),
            "expected": ("~", "dim"),
        }.get(problem.severity, ("·", ""))
        prompt = Text(no_wrap=True, overflow="ellipsis")
        prompt.append(f"{mark} {problem.step_id}:{problem.line_no} ", style=style)
        prompt.append(problem.text)
        if problem.hint:
            prompt.append(f"\n    {problem.hint}", style="dim")
        problems.add_option(Option(prompt))
        problems.add_class("-shown")

    def _rebuild_jump(self) -> None:
        problems = self.query_one("#run-problems", OptionList)
        problems.clear_options()
        self._jump = []
        problems.remove_class("-shown")
        for problem in self._problems:
            if self._wanted(problem):
                self._add_jump(problem)

    @on(OptionList.OptionSelected, "#run-problems")
    def _jump_to(self, event: OptionList.OptionSelected) -> None:
        problem = self._jump[event.option_index]
        self._show_line(problem.step_id, problem.line_no)

    def _show_line(self, step_id: str, line_no: int) -> None:
        """Show the pane of a step scrolled to one of its log lines (or say where it is)."""
        step = self.job.step(step_id)
        self.action_show("qemu" if step is not None and step.kind == "boot" else "build")
        pane = self._pane_for(step_id)
        if pane.jump_to(step_id, line_no):
            pane.focus()
        else:
            view = self.state.views.get(step_id)
            where = view.log_path if view is not None else "the log"
            self.notify(
                f"Line {line_no} is no longer in the pane (it keeps the last "
                f"{pane.max_lines} lines): see {where}",
                severity="warning",
            )

    # ----- actions ------------------------------------------------------------------------

    def action_show(self, which: str) -> None:
        """Show the build or the QEMU pane (matters when they are tabs)."""
        if which not in ("build", "qemu"):
            return
        self.query_one("#build-pane").set_class(which == "build", "-shown")
        self.query_one("#qemu-pane").set_class(which == "qemu", "-shown")
        tabs = self.query_one("#run-tabs", Tabs)
        if tabs.active != which:
            tabs.active = which

    @on(Tabs.TabActivated, "#run-tabs")
    def _tab(self, event: Tabs.TabActivated) -> None:
        if event.tab is not None and event.tab.id:
            self.action_show(event.tab.id)

    def action_stop(self) -> None:
        """Stop the running step's whole process group; no further step starts."""
        if self.session is None or not self.state.running:
            self.notify("Nothing is running.")
            return
        self.session.stop("stopped by you")
        self.notify("Stopping: SIGTERM to the process group, SIGKILL after a grace period.")

    @on(Button.Pressed, "#stop")
    def _stop_pressed(self) -> None:
        self.action_stop()

    def action_console(self) -> None:
        """Focus the console input (shows the QEMU pane)."""
        self.action_show("qemu")
        self.query_one("#console-input", Input).focus()

    def action_problems(self) -> None:
        """Focus the jump list of errors."""
        problems = self.query_one("#run-problems", OptionList)
        if problems.option_count:
            if problems.highlighted is None:
                problems.highlighted = 0
            problems.focus()
        else:
            self.notify("No errors so far.")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer "Stop" only while something runs (not on a finished run or a past one
        opened read-only), "Evidence" only once a diagnosis with evidence exists.
        """
        if action == "stop":
            return self.session is not None and self.state.running
        if action == "evidence":
            return self._diagnosis() is not None
        if action == "locate":
            boot = self.job.boot_step
            return (
                self.session is not None
                and boot is not None
                and self.state.views[boot.id].status == "running"
            )
        return True

    def _diagnosis(self) -> Diagnosis | None:
        if self.state.finished is None:
            return None
        diagnosis = self.state.verdict().diagnosis
        return diagnosis if diagnosis is not None and diagnosis.evidence is not None else None

    def action_locate(self) -> None:
        """Ask gdb where the running guest's vCPUs are (QEMU's gdb stub)."""
        if self.session is None:
            return
        self.session.locate_now()
        self.notify("Asking gdb where each vCPU is…")

    def action_evidence(self) -> None:
        """Scroll to the lines that show why the run failed (the diagnosis's evidence)."""
        diagnosis = self._diagnosis()
        if diagnosis is None or diagnosis.evidence is None:
            self.notify("No diagnosis with evidence: the run has not failed (yet).")
            return
        self._show_line(diagnosis.step_id, diagnosis.evidence.first)

    def action_toggle_warnings(self) -> None:
        """Include warnings in the jump list, or not."""
        self._show_warnings = not self._show_warnings
        self._rebuild_jump()
        self.notify("Warnings listed." if self._show_warnings else "Only errors listed.")

    def action_copy_argv(self) -> None:
        """Copy the exact QEMU command line (OSC 52 clipboard)."""
        boot = self.job.boot_step
        if boot is None:
            self.notify("This run boots nothing.")
            return
        self.app.copy_to_clipboard(boot.shell_line())
        self.notify("QEMU command copied to the clipboard.")

    @on(Input.Submitted, "#console-input")
    def _send(self, event: Input.Submitted) -> None:
        if self.session is None or not self.session.send_input(event.value):
            self.notify("The guest console is not running.", severity="warning")
            return
        event.input.value = ""

    def action_leave(self) -> None:
        """Escape: back; while running, a second Escape within 3 s stops the run first."""
        if self.session is not None and self.state.running:
            now = time.monotonic()
            if now - self._leave_armed > 3.0:
                self._leave_armed = now
                self.notify("A run is in progress: Escape again stops it and goes back.")
                return
            self.session.stop("stopped by you")
        self.dismiss(self.exit_code())

    def exit_code(self) -> int:
        """What ``ukl-tui run`` exits with: 0 when the run did what it should."""
        return self.state.verdict().exit_code if not self._internal_error else 1


class RunApp(AppLifetime, App[int]):
    """``ukl-tui run --plan FILE``: the Run screen on its own; exits with the run's code."""

    TITLE = "ukl-tui run"

    def __init__(self, job: RunJob, log_dir: Path | None = None, **options: Any) -> None:
        """``options`` go to :class:`RunScreen`."""
        super().__init__()
        self.job = job
        self.run_screen = RunScreen(job, log_dir=log_dir, **options)

    def on_mount(self) -> None:
        """Show the Run screen; leaving it ends the app."""
        self.push_screen(self.run_screen, self._left)
        self.call_after_refresh(self._freeze)

    def _freeze(self) -> None:
        """Keep the app's own objects out of full garbage collections during the run.

        They live until the process ends; a full collection then scans only what the run
        allocates (during a 200,000-line flood it stalled keys for 20-85 ms otherwise). The
        wizard has its own policy (full collections when the user is idle).
        """
        gc.freeze()

    def _left(self, code: int | None) -> None:
        self.exit(code if code is not None else self.run_screen.exit_code())


def run_app(job: RunJob, log_dir: Path | None = None, **options: Any) -> int:
    """Run the job in the Run screen; the exit status is the run's (0: it did what it should)."""
    app = RunApp(job, log_dir, **options)
    result = app.run()
    if app.return_code:
        return app.return_code
    if result is None:
        return app.run_screen.exit_code()
    return int(result)
