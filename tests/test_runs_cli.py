"""``ukl-tui runs``: real runs made by ``ukl-tui run``, then listed, shown and pruned."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.test_run_support import run_cli, write_steps
from ukl_tui.steps import Step


def step(sid: str, argv: list[str], cwd: Path) -> dict:
    return Step(sid, sid, tuple(argv), str(cwd), {}, "build", 60).to_dict()


def test_runs_are_listed_shown_and_pruned(tmp_path):
    hello = [step("hello", [sys.executable, "-c", "print(1)"], tmp_path)]
    ok = write_steps(tmp_path / "ok.json", hello)
    bad = write_steps(tmp_path / "bad.json", [step("build", ["make", "no-such-target"], tmp_path)])
    assert run_cli(["run", "--steps", str(ok), "--no-tui"], tmp_path).returncode == 0
    assert run_cli(["run", "--steps", str(ok), "--no-tui"], tmp_path).returncode == 0
    assert run_cli(["run", "--steps", str(bad), "--no-tui"], tmp_path).returncode == 1

    listed = run_cli(["runs"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 3
    # Newest first, with each step's time; a repeated plan's step is compared with its last run.
    assert "failed" in lines[0] and " build " in lines[0]
    assert lines[0].endswith("- make cannot build no-such-target")
    assert " ok " in lines[1] and "hello " in lines[1] and "s last time)" in lines[1]
    assert " ok " in lines[2] and "last time" not in lines[2]

    shown = run_cli(["runs", "show", "last"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    run_id = lines[0].split()[0]
    assert out.startswith(f"run {run_id}: failed")
    assert "  1. build: failed (" in out and "exit status 2)" in out
    assert f"{run_id}/01-build.log" in out
    assert "  cause: make cannot build no-such-target" in out
    assert "No rule to make target 'no-such-target'" in out  # the evidence line itself
    assert "  fix: make in " in out

    pruned = run_cli(["runs", "prune", "--keep", "1"], tmp_path)
    assert pruned.returncode == 0 and "removed 2 run(s)" in pruned.stdout
    assert run_cli(["runs"], tmp_path).stdout.splitlines() == [lines[0]]

    missing = run_cli(["runs", "show", "20000101-000000"], tmp_path)
    assert missing.returncode == 2 and "no run '20000101-000000'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_ccache_hits_of_a_repeated_build_are_recorded(tmp_path):
    from tests.test_run_support import make_project

    project = make_project(tmp_path / "proj")
    steps = write_steps(
        tmp_path / "build.json",
        [
            Step("clean", "clean", ("make", "clean"), str(project), {}, "prep", 60).to_dict(),
            Step(
                "build",
                "build",
                ("make", "CC=ccache gcc"),
                str(project),
                {"CCACHE_DIR": str(tmp_path / "ccache")},
                "build",
                60,
            ).to_dict(),
        ],
    )
    outs = []
    for _ in range(2):
        ran = run_cli(["run", "--steps", str(steps), "--no-tui"], tmp_path)
        assert ran.returncode == 0
        outs.append(ran.stdout)
    lines = run_cli(["runs"], tmp_path).stdout.splitlines()
    # Seven compiles: all missed the empty cache the first time, all hit it the second.
    assert "ccache hits 100.0 %" in lines[0] and "last time" in lines[0]
    assert "ccache hits 0.0 %" in lines[1]
    # The run itself says so at its end, with the same words as the list.
    assert f"ukl-tui: times: {lines[1].split(None, 2)[2]}\n" in outs[0]
    assert f"ukl-tui: times: {lines[0].split(None, 2)[2]}\n" in outs[1]
    assert " s last time) ccache hits 100.0 %" in outs[1]


async def test_a_past_run_opens_read_only_in_the_run_screen(tmp_path):
    from ukl_tui.history import past_runs, replay
    from ukl_tui.screens.run import RunApp
    from ukl_tui.widgets.logpane import PaneLog

    bad = write_steps(tmp_path / "bad.json", [step("build", ["make", "no-such-target"], tmp_path)])
    assert run_cli(["run", "--steps", str(bad), "--no-tui"], tmp_path).returncode == 1
    ((run, summary),) = past_runs(tmp_path / "xdg-cache" / "ukl-tui" / "runs")
    assert summary is not None and summary["status"] == "failed"
    job, events = replay(run)
    app = RunApp(job, run, autostart=False, replay=events)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        screen = app.run_screen
        assert screen.session is None and not screen.state.running  # nothing runs again
        verdict = str(screen.query_one("#run-verdict").render())
        assert verdict.startswith("✗ step build: make cannot build no-such-target")
        log = screen.query_one("#build-log", PaneLog)
        assert any("No rule to make target 'no-such-target'" in line for line in log.lines)
        assert screen.check_action("evidence", ()) is True
        assert screen.check_action("locate", ()) is False
