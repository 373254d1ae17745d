"""Past runs, read back from the ``summary.json`` each run leaves: the one reading of run history.

Every run has a directory under ``~/.cache/ukl-tui/runs`` (``run_session.new_run_dir``) holding
its step logs and the summary the Runner wrote; that summary is the whole record (status, steps
and their times, ccache's counters, the diagnosis, where a stuck guest was, the tree and the
application). The faces show history in three places: ``ukl-tui runs`` lists and shows runs,
the end of a live run (``ukl-tui run`` and the Run screen) compares its times with the last run
of the same plan, and the wizard's welcome screen shows the last run of its tree. All three
read it here, so a time, a comparison or a diagnosis reads the same wherever it is shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ukl_tui.diagnose import Diagnosis
from ukl_tui.errors import UserError
from ukl_tui.lines import clean_line
from ukl_tui.locate import without_gdb_stub
from ukl_tui.run_session import RUN_DIR_RE, RunEvent, RunJob, run_key, runs_dir
from ukl_tui.runner import (
    Located,
    Milestone,
    OutputLines,
    Problem,
    RunFinished,
    StepFinished,
    StepStarted,
)
from ukl_tui.steps import Step

#: A run's ``summary.json`` as read back (plain JSON data).
Summary = dict[str, Any]


def read_summary(run: Path) -> Summary | None:
    """A run directory's summary, or None when it is missing or damaged (a run cut short)."""
    try:
        data = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_dirs(parent: Path) -> list[Path]:
    """The directories under ``parent`` named like runs, newest first (others are not runs)."""
    if not parent.is_dir():
        return []
    return sorted(
        (p for p in parent.iterdir() if p.is_dir() and RUN_DIR_RE.match(p.name)),
        key=lambda p: run_key(p.name),
        reverse=True,
    )


def past_runs(parent: Path) -> list[tuple[Path, Summary | None]]:
    """Run directories under ``parent``, newest first, with their summary (None if unreadable).

    A run still in progress, or one whose summary is damaged, is listed rather than skipped:
    the user sees every directory that takes space.
    """
    return [(d, read_summary(d)) for d in run_dirs(parent)]


def signature(summary: Summary) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """What makes two runs runs of the same plan: the same steps with the same commands.

    The gdb stub the run session adds to QEMU's argv takes a free port each time, so it is
    left out: with it, no two boots would ever be runs of the same plan.
    """
    return tuple(
        (str(s.get("id")), without_gdb_stub(tuple(str(a) for a in s.get("argv") or ())))
        for s in summary.get("steps", [])
        if isinstance(s, dict)
    )


def previous(runs: list[tuple[Path, Summary | None]], index: int) -> Summary | None:
    """The newest older run of the same plan as ``runs[index]`` (``runs`` newest first)."""
    summary = runs[index][1]
    if summary is None:
        return None
    wanted = signature(summary)
    for _, older in runs[index + 1 :]:
        if older is not None and signature(older) == wanted:
            return older
    return None


def previous_of(run: Path, summary: Summary) -> Summary | None:
    """The newest run of the same plan before ``run``, among the runs beside it.

    ``run`` may be a directory not named like a run (``ukl-tui run --log-dir``): then every
    run beside it counts as earlier. Summaries are read only until one matches.
    """
    wanted = signature(summary)
    named = RUN_DIR_RE.match(run.name) is not None
    for other in run_dirs(run.parent):
        if other.name == run.name or (named and run_key(other.name) >= run_key(run.name)):
            continue
        older = read_summary(other)
        if older is not None and signature(older) == wanted:
            return older
    return None


def times_line(summary: Summary, before: Summary | None = None) -> str:
    """``bzImage 33.1 s (294.0 s last time) ccache hits 97.0 %, boot 3.1 s``.

    Each step that ran, with its time; ``before`` (the last run of the same plan) adds that
    run's time of each step it finished, and a step that compiled through ccache its hit rate.
    """
    last = {
        s.get("id"): float(s.get("duration") or 0)
        for s in (before or {}).get("steps", [])
        if isinstance(s, dict) and s.get("status") == "ok"
    }
    parts = []
    for step in summary.get("steps", []):
        if not isinstance(step, dict) or step.get("status") in (None, "not-run"):
            continue
        text = f"{step.get('id')} {float(step.get('duration') or 0):.1f} s"
        if step.get("id") in last:
            text += f" ({last[step.get('id')]:.1f} s last time)"
        cache = step.get("ccache")
        if isinstance(cache, dict) and cache.get("hits", 0) + cache.get("misses", 0):
            text += f" ccache hits {cache.get('hit_rate')} %"
        parts.append(text)
    return ", ".join(parts)


def run_times(run: Path) -> str:
    """The times line of the run in ``run`` against the last run of the same plan ("" if the
    run left no readable summary). What a finished live run shows last.
    """
    summary = read_summary(run)
    if summary is None:
        return ""
    return times_line(summary, previous_of(run, summary))


def diagnosis_of(summary: Summary) -> Diagnosis | None:
    """Why the run failed, as the Runner recorded it (None: it did not, or the record is bad)."""
    data = summary.get("diagnosis")
    if not isinstance(data, dict):
        return None
    try:
        return Diagnosis.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


# ----- the last run of a tree --------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """One past run in a few words, for the welcome screen (and anyone wanting the same)."""

    run: Path
    status: str
    #: When it started, as ``YYYY-mm-dd HH:MM`` (the summary's ISO time, shortened).
    started: str
    #: The application it built ("" for a plain kernel or a run from a bare steps file).
    application: str
    #: :func:`times_line` against the last run of the same plan.
    times: str
    #: The one-line cause when it failed and the Runner diagnosed it.
    cause: str | None

    @property
    def ok(self) -> bool:
        """Whether the run did what it should."""
        return self.status == "ok"


def _same_tree(summary: Summary, tree: Path) -> bool:
    named = summary.get("tree")
    if not isinstance(named, str) or not named:
        return False
    return Path(named).resolve() == tree.resolve()


def last_run_of_tree(tree: Path, parent: Path | None = None) -> RunRecord | None:
    """The newest run whose summary names ``tree``, with its times against the run before it.

    ``parent`` is the runs directory (default :func:`~ukl_tui.run_session.runs_dir`). Runs
    from before summaries recorded their tree do not name one and are not counted.
    """
    runs = past_runs(parent or runs_dir())
    for index, (run, summary) in enumerate(runs):
        if summary is None or not _same_tree(summary, tree):
            continue
        diagnosis = diagnosis_of(summary)
        started = str(summary.get("started") or "")
        return RunRecord(
            run=run,
            status=str(summary.get("status") or "?"),
            started=started[:16].replace("T", " "),
            application=str(summary.get("application") or ""),
            times=times_line(summary, previous(runs, index)),
            cause=None if diagnosis is None else diagnosis.cause,
        )
    return None


# ----- a past run, shown again ------------------------------------------------------------------


def replay(run: Path) -> tuple[RunJob, list[RunEvent]]:
    """A past run as the job and the events its Run screen showed (from summary.json and logs).

    The output lines come back from the step logs (cleaned as the runner cleans them); the
    milestones, problems, diagnosis and located reports from the summary. Fed into a Run
    screen without a session, this shows the run read-only.
    """
    try:
        summary = json.loads((run / "summary.json").read_text())
        entries = [e for e in summary["steps"] if isinstance(e, dict)]
        steps = tuple(
            Step(e["id"], e["title"], tuple(e["argv"]), e["cwd"], e.get("env", {}), e["kind"], None)
            for e in entries
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{run}/summary.json does not describe a run: {exc}") from None
    events: list[RunEvent] = []
    ran = [e for e in entries if e.get("status") not in (None, "not-run")]
    for e in ran:
        sid, log = e["id"], run / str(e.get("log"))
        events.append(
            StepStarted(
                sid, e["index"], len(steps), e["title"], e["kind"], tuple(e["argv"]), str(log)
            )
        )
        try:
            text = log.read_bytes().decode("utf-8", "replace")
        except OSError:
            text = ""
        lines = text.split("\n")  # as the runner splits: only at newlines
        if lines and not lines[-1]:
            lines.pop()
        events.append(OutputLines(sid, [clean_line(line) for line in lines]))
        for m in e.get("milestones", []):
            events.append(Milestone(sid, m["key"], m["line"], float(m["elapsed"])))
        for pr in e.get("problems", []):
            events.append(Problem(sid, pr["severity"], pr["line_no"], pr["text"], pr["hint"]))
        for loc in e.get("located", []):
            events.append(Located(sid, str(loc.get("reason", "")), loc))
        events.append(
            StepFinished(
                sid,
                e.get("returncode"),
                float(e.get("duration") or 0),
                e["status"],
                e.get("diagnosis"),
            )
        )
    failed = next((e["id"] for e in ran if e["status"] != "ok"), None)
    events.append(RunFinished(str(summary.get("status")), str(run / "summary.json"), failed))
    job = RunJob(
        steps=steps,
        title=str(summary.get("title") or run.name),
        tree=str(summary.get("tree") or ""),
        application=str(summary.get("application") or ""),
    )
    return job, events
