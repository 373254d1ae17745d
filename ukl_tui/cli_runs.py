"""``ukl-tui runs``: past runs from their ``summary.json``: list, show one, prune.

This module is the command's face: its arguments and what it prints. Reading the runs back
(which runs there are, which earlier run was of the same plan, the times line, the diagnosis,
a run replayed into the Run screen) is ``history.py``'s, shared with the wizard and the end of
a live run. A run still in progress, or one whose summary is damaged, is listed as such rather
than skipped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from ukl_tui.errors import UserError
from ukl_tui.history import (
    diagnosis_of,
    past_runs,
    previous,
    previous_of,
    replay,
    run_dirs,
    times_line,
)
from ukl_tui.run_session import RUN_DIR_RE, runs_dir


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
        line = f"{d.name}  {status:9s} {times_line(summary, previous(runs, index))}"
        diagnosis = diagnosis_of(summary)
        if diagnosis is not None:
            line += f"  - {diagnosis.cause}"
        print(line)
    return 0


def _find(parent: Path, run_id: str) -> Path:
    if run_id == "last":
        runs = run_dirs(parent)
        if not runs:
            raise UserError(f"no runs under {parent}")
        return runs[0]
    if not RUN_DIR_RE.match(run_id) or not (parent / run_id).is_dir():
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
    times = times_line(summary, previous_of(d, summary))
    if times:
        print(f"  times: {times}")
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
    diagnosis = diagnosis_of(summary)
    if diagnosis is not None:
        for line in diagnosis.text_lines():
            print(f"  {line}")
    return 0


def cmd_runs_prune(args: argparse.Namespace) -> int:
    """Delete all but the newest ``--keep`` runs (only directories named like runs)."""
    if args.keep < 0:
        raise UserError("--keep must be 0 or more")
    parent = _parent(args)
    stale = run_dirs(parent)[args.keep :]
    for d in stale:
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
