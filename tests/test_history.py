"""Run history (``history.py``) over real runs: a tree's last run, times against the last run
of the same plan, what ``ukl-tui run`` prints at its end.

The runs are real: ``ukl-tui plan --tree MINI --save`` writes the plan of the small fixture
tree, ``ukl-tui run --plan`` runs it (its ``olddefconfig`` step fails: the small tree's
Makefile has no such target), so every summary.json here is the Runner's own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.test_run_support import run_cli
from ukl_tui.history import (
    last_run_of_tree,
    past_runs,
    previous_of,
    read_summary,
    run_times,
    signature,
)
from ukl_tui.locate import with_gdb_stub, without_gdb_stub
from ukl_tui.run_session import RunJob

FIXTURES = Path(__file__).parent / "fixtures"


def runs_parent(tmp_path: Path) -> Path:
    """Where ``run_cli``'s children keep their runs (their own XDG cache)."""
    return tmp_path / "xdg-cache" / "ukl-tui" / "runs"


def plan_of(tree: Path, tmp_path: Path) -> Path:
    """The plan the CLI writes for ``tree`` (saved, as the wizard's Review saves it)."""
    plan = tmp_path / f"{tree.name}.toml"
    made = run_cli(["plan", "--tree", str(tree), "--save", str(plan)], tmp_path)
    assert made.returncode == 0, made.stderr
    return plan


def run_plan(plan: Path, tmp_path: Path) -> str:
    """``ukl-tui run --plan PLAN --no-tui``: it fails at olddefconfig; its stdout."""
    ran = run_cli(["run", "--plan", str(plan), "--no-tui"], tmp_path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    return ran.stdout


def test_the_last_run_of_a_tree_compared_with_the_run_before(tmp_path: Path) -> None:
    tree = tmp_path / "mini"
    other = tmp_path / "other"
    shutil.copytree(FIXTURES / "mini", tree)
    shutil.copytree(FIXTURES / "mini", other)
    plan = plan_of(tree, tmp_path)
    first = run_plan(plan, tmp_path)
    second = run_plan(plan, tmp_path)
    run_plan(plan_of(other, tmp_path), tmp_path)  # the newest run is another tree's

    # The end of a live run: each step's time, against the last run of the same plan.
    assert "ukl-tui: times: build-dir " in first and "last time" not in first
    times = next(line for line in second.splitlines() if line.startswith("ukl-tui: times: "))
    assert "build-dir " in times and "kconfig " in times and "s last time)" in times
    # olddefconfig failed the first time too: there is no time of it to compare with.
    assert times.endswith(" s") and "olddefconfig " in times

    runs = past_runs(runs_parent(tmp_path))
    assert len(runs) == 3
    newest_of_tree = runs[1][0]
    summary = read_summary(newest_of_tree)
    assert summary is not None and summary["tree"] == str(tree.resolve())
    assert summary["application"] == ""  # a plain kernel tree: no ukl application

    record = last_run_of_tree(tree, runs_parent(tmp_path))
    assert record is not None and record.run == newest_of_tree
    assert record.status == "failed" and not record.ok
    assert record.cause == "make cannot build olddefconfig"
    assert record.times == times.removeprefix("ukl-tui: times: ")
    assert record.started[:4].isdigit() and "T" not in record.started
    # The same line, read back by the run itself (what the Run screen shows at the end).
    assert run_times(newest_of_tree) == record.times
    assert previous_of(newest_of_tree, summary) == runs[2][1]

    elsewhere = last_run_of_tree(other, runs_parent(tmp_path))
    assert elsewhere is not None and elsewhere.run == runs[0][0]
    assert "last time" not in elsewhere.times  # another tree's plan: other commands
    assert last_run_of_tree(tmp_path / "never-run", runs_parent(tmp_path)) is None

    shown = run_cli(["runs", "show", newest_of_tree.name], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"  times: {record.times}\n" in shown.stdout


def test_a_steps_file_keeps_the_tree_and_application_of_its_plan(tmp_path: Path) -> None:
    tree = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", tree)
    out = run_cli(["plan", "--tree", str(tree), "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    steps = tmp_path / "steps.json"
    steps.write_text(out.stdout)
    job = RunJob.from_steps_file(steps)
    assert job.tree == str(tree.resolve()) and job.application == ""
    assert job.about() == {"title": job.title, "tree": job.tree, "application": ""}


def test_the_gdb_stub_port_does_not_make_another_plan() -> None:
    """The run session adds ``-gdb tcp:127.0.0.1:PORT`` with a free port to every QEMU."""
    argv = ("qemu-system-x86_64", "-accel", "tcg", "-kernel", "bzImage", "-nographic")
    one, two = with_gdb_stub(argv), with_gdb_stub(argv)
    assert one[-2] == "-gdb" and without_gdb_stub(one) == argv == without_gdb_stub(two)
    own = (*argv, "-s")
    assert with_gdb_stub(own) == own and without_gdb_stub(own) == own

    def summary(boot: tuple[str, ...]) -> dict:
        return {"steps": [{"id": "boot", "argv": list(boot), "status": "ok", "duration": 3.0}]}

    assert signature(summary(one)) == signature(summary(two)) == signature(summary(argv))
    assert signature(summary(own)) != signature(summary(argv))
