"""``ukl-tui runs``: past runs from their ``summary.json``: list, show one, prune.

Every run leaves a directory under ``~/.cache/ukl-tui/runs`` (``run_session.new_run_dir``) with its
step logs and the summary the Runner wrote; that summary is the whole record (status, steps,
times, the diagnosis and where a stuck guest was), so this module only reads it. A run still
in progress, or one whose summary is damaged, is listed as such rather than skipped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from ukl_tui.diagnose import Diagnosis
from ukl_tui.errors import UserError
from ukl_tui.lines import clean_line
from ukl_tui.run_session import _RUN_DIR_RE, RunEvent, RunJob, _run_key, runs_dir
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


def past_runs(parent: Path) -> list[tuple[Path, dict[str, Any] | None]]:
    """Run directories under ``parent``, newest first, with their summary (None if unreadable)."""
    if not parent.is_dir():
        return []
    dirs = sorted(
        (p for p in parent.iterdir() if p.is_dir() and _RUN_DIR_RE.match(p.name)),
        key=lambda p: _run_key(p.name),
        reverse=True,
    )
    result: list[tuple[Path, dict[str, Any] | None]] = []
    for d in dirs:
        try:
            data = json.loads((d / "summary.json").read_text())
        except (OSError, ValueError):
            data = None
        result.append((d, data if isinstance(data, dict) else None))
    return result


def _signature(summary: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """What makes two runs runs of the same plan: the same steps with the same commands."""
    return tuple(
        (str(s.get("id")), tuple(s.get("argv") or ()))
        for s in summary.get("steps", [])
        if isinstance(s, dict)
    )


def _previous(runs: list[tuple[Path, dict[str, Any] | None]], index: int) -> dict[str, Any] | None:
    """The newest older run of the same plan as ``runs[index]`` (runs are newest first)."""
    summary = runs[index][1]
    if summary is None:
        return None
    signature = _signature(summary)
    for _, older in runs[index + 1 :]:
        if older is not None and _signature(older) == signature:
            return older
    return None


def _times(summary: dict[str, Any], previous: dict[str, Any] | None = None) -> str:
    """``build 33.1 s (294.0 s last time), boot 3.1 s``: each step that ran, with its time."""
    before = {
        s.get("id"): float(s.get("duration") or 0)
        for s in (previous or {}).get("steps", [])
        if isinstance(s, dict) and s.get("status") == "ok"
    }
    parts = []
    for step in summary.get("steps", []):
        if isinstance(step, dict) and step.get("status") not in (None, "not-run"):
            text = f"{step.get('id')} {float(step.get('duration') or 0):.1f} s"
            if step.get("id") in before:
                text += f" ({before[step.get('id')]:.1f} s last time)"
            cache = step.get("ccache")
            if isinstance(cache, dict) and cache.get("hits", 0) + cache.get("misses", 0):
                text += f" ccache hits {cache.get('hit_rate')} %"
            parts.append(text)
    return ", ".join(parts)


def _diagnosis(summary: dict[str, Any]) -> Diagnosis | None:
    data = summary.get("diagnosis")
    if not isinstance(data, dict):
        return None
    try:
        return Diagnosis.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


def _parent(args: argparse.Namespace) -> Path:
    """The runs directory: ``--runs-dir`` or the cache's."""
    return Path(args.runs_dir) if args.runs_dir else runs_dir()


def cmd_runs(args: argparse.Namespace) -> int:
    """List past runs, newest first."""
    parent = _parent(args)
    runs = past_runs(parent)
    if args.json:
        rows = [{"id": d.name, "dir": str(d), "summary": s} for d, s in runs]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not runs:
        print(f"no runs under {parent}")
        return 0
    for index, (d, summary) in enumerate(runs):
        if summary is None:
            print(f"{d.name}  (no readable summary.json)")
            continue
        status = summary.get("status", "?")
        line = f"{d.name}  {status:9s} {_times(summary, _previous(runs, index))}"
        diagnosis = _diagnosis(summary)
        if diagnosis is not None:
            line += f"  - {diagnosis.cause}"
        print(line)
    return 0


def _find(parent: Path, run_id: str) -> Path:
    if run_id == "last":
        runs = past_runs(parent)
        if not runs:
            raise UserError(f"no runs under {parent}")
        return runs[0][0]
    if not _RUN_DIR_RE.match(run_id) or not (parent / run_id).is_dir():
        raise UserError(f"no run {run_id!r} under {parent} ('ukl-tui runs' lists them)")
    return parent / run_id


def cmd_runs_show(args: argparse.Namespace) -> int:
    """One run: its steps, times, logs, diagnosis and where a stuck guest was."""
    parent = _parent(args)
    d = _find(parent, args.id)
    if args.tui:
        from ukl_tui.screens.run import RunApp

        job, events = replay(d)
        RunApp(job, d, autostart=False, replay=events).run()
        return 0
    try:
        summary = json.loads((d / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{d}/summary.json is not readable: {exc}") from None
    print(f"run {d.name}: {summary.get('status')} (started {summary.get('started')})")
    for step in summary.get("steps", []):
        rc = step.get("returncode")
        rc_text = "" if rc is None else f", exit status {rc}"
        print(
            f"  {step.get('index')}. {step.get('id')}: {step.get('status')} "
            f"({float(step.get('duration') or 0):.1f} s{rc_text})  {d / str(step.get('log'))}"
        )
        for located in step.get("located", []):
            print(f"     where ({located.get('reason')}):")
            for line in located.get("lines", []):
                print(f"       {line}")
    diagnosis = _diagnosis(summary)
    if diagnosis is not None:
        for line in diagnosis.text_lines():
            print(f"  {line}")
    return 0


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
    return RunJob(steps=steps), events


def cmd_runs_prune(args: argparse.Namespace) -> int:
    """Delete all but the newest ``--keep`` runs (only directories named like runs)."""
    if args.keep < 0:
        raise UserError("--keep must be 0 or more")
    parent = _parent(args)
    stale = past_runs(parent)[args.keep :]
    for d, _ in stale:
        shutil.rmtree(d, ignore_errors=True)
    print(f"removed {len(stale)} run(s) from {parent}, kept {args.keep}")
    return 0


def register(sub: Any) -> None:
    """Add ``runs``, ``runs show`` and ``runs prune``."""
    p = sub.add_parser(
        "runs",
        help="past runs: list them, show one (steps, times, diagnosis, logs), prune",
        description="Past runs under ~/.cache/ukl-tui/runs, newest first, from each run's "
        "summary.json.",
    )
    p.add_argument("--runs-dir", metavar="DIR", help="where the runs are (default: the cache)")
    p.add_argument("--json", action="store_true", help="the summaries as JSON")
    p.set_defaults(func=cmd_runs)
    actions = p.add_subparsers(dest="action")
    show = actions.add_parser("show", help="one run: steps, times, diagnosis, log paths")
    show.add_argument("id", help="the run's id (its directory name) or 'last'")
    show.add_argument("--runs-dir", metavar="DIR", help=argparse.SUPPRESS)
    show.add_argument("--tui", action="store_true", help="open it read-only in the Run screen")
    show.set_defaults(func=cmd_runs_show)
    prune = actions.add_parser("prune", help="delete all but the newest runs")
    prune.add_argument("--keep", type=int, required=True, metavar="N", help="runs to keep")
    prune.add_argument("--runs-dir", metavar="DIR", help=argparse.SUPPRESS)
    prune.set_defaults(func=cmd_runs_prune)
