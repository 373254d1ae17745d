"""The Run screen with Pilot: real (quick) steps, the jump list, layouts, leaving; a snapshot.

The QEMU boots are in ``test_run_boot.py``; here the steps are a real make project and small
programs, so these tests take seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from tests.support.boot_fixtures import alive
from tests.support.waiting import wait_for
from tests.test_run_support import make_project
from ukl_tui.run_session import RunJob, new_run_dir
from ukl_tui.runner import (
    Milestone,
    OutputLines,
    Problem,
    Progress,
    RunFinished,
    StepFinished,
    StepStarted,
)
from ukl_tui.screens.run import RunApp, RunScreen
from ukl_tui.steps import Step
from ukl_tui.widgets.logpane import ChipStrip, PaneLog

PY = sys.executable


def step(sid: str, argv, cwd: Path, kind: str = "build", **kw) -> Step:
    return Step(
        id=sid,
        title=f"step {sid}",
        argv=tuple(argv),
        cwd=str(cwd),
        env={},
        kind=kind,
        timeout=60,
        **kw,
    )


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_failing_build_jump_list_scrolls_to_the_error(tmp_path):
    project = make_project(tmp_path / "proj", broken=True)
    # Enough output before the error that it is off screen when the run ends.
    noise = step("noise", [PY, "-c", "for i in range(300): print(f'line {i}')"], tmp_path, "prep")
    job = RunJob(
        steps=(
            noise,
            step("build", ["make", "-j1"], project),
            step("never", ["true"], tmp_path, "prep"),
        )
    )
    app = RunApp(job, tmp_path / "logs")
    async with app.run_test(size=(200, 50)) as pilot:
        screen = app.run_screen
        await wait_for(pilot, lambda: not screen.state.running, 30)
        await pilot.pause(0.2)
        assert screen.exit_code() == 1
        status = text_of(app, "#run-status")
        assert status.startswith("✗ FAILED") and "3 errors" in status
        verdict = text_of(app, "#run-verdict")
        # The diagnosis in place of the first error line: the cause, the evidence, the fix.
        unit3 = project / "src" / "unit3.c"
        assert verdict.startswith(f"✗ step build: C compile error at {unit3}:2: expected")
        assert "evidence: " in verdict and "02-build.log:" in verdict
        assert f"fix: fix the source at {unit3}:2" in verdict
        steps = screen.query_one("#run-steps", ChipStrip).chips
        assert steps == [("✓ noise", "green"), ("✗ build", "bold red"), ("○ never", "dim")]
        # The jump list holds gcc's error with its step and line; selecting it scrolls there.
        problems = screen.query_one("#run-problems")
        assert problems.display and problems.option_count >= 1
        first = screen._jump[0]
        assert first.step_id == "build" and "unit3.c" in first.text
        log = screen.query_one("#build-log", PaneLog)
        y = log.index_of("build", first.line_no)
        assert y is not None and "error:" in log.lines[y]
        log.scroll_home(animate=False, immediate=True)  # the user scrolled to the top
        await pilot.pause()
        assert not log.scroll_y <= y < log.scroll_y + log.size.height
        await pilot.press("e", "enter")
        await pilot.pause(0.1)
        assert log.scroll_y <= y < log.scroll_y + log.size.height
        assert app.focused is log
        # "d" goes to the diagnosis's evidence, from wherever the pane was.
        evidence = screen.state.verdict().diagnosis.evidence
        assert evidence.first <= first.line_no <= evidence.last
        log.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        assert not log.scroll_y <= y < log.scroll_y + log.size.height
        await pilot.press("d")
        await pilot.pause(0.1)
        top = log.index_of("build", evidence.first)
        assert log.scroll_y <= top and y < log.scroll_y + log.size.height


async def test_wide_side_by_side_narrow_tabs(tmp_path):
    job = RunJob(steps=(step("a", [PY, "-c", "print('built')"], tmp_path),))
    app = RunApp(job, tmp_path / "logs")
    async with app.run_test(size=(200, 50)) as pilot:
        screen = app.run_screen
        await wait_for(pilot, lambda: not screen.state.running, 30)
        await pilot.pause(0.1)
        assert screen.has_class("-wide")
        assert screen.query_one("#build-pane").display and screen.query_one("#qemu-pane").display
        assert not screen.query_one("#run-tabs").display
        assert text_of(app, "#qemu-argv") == "(this run boots nothing)"
        assert "built" in screen.query_one("#build-log", PaneLog).lines
        assert text_of(app, "#run-status").startswith("✓ OK")
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert screen.has_class("-narrow")
        assert screen.query_one("#run-tabs").display
        assert screen.query_one("#build-pane").display
        assert not screen.query_one("#qemu-pane").display
        await pilot.press("2")
        await pilot.pause(0.05)
        assert screen.query_one("#qemu-pane").display
        assert not screen.query_one("#build-pane").display
        assert screen.query_one("#console-input").disabled  # no guest in this run


async def test_the_end_of_a_run_compares_its_times_with_the_last_run(tmp_path):
    project = make_project(tmp_path / "proj")
    job = RunJob(
        steps=(
            step("clean", ["make", "clean"], project, "prep"),
            step("build", ["make", "-j2"], project),
        )
    )
    verdicts = []
    for _ in range(2):
        app = RunApp(job, new_run_dir(tmp_path / "runs"))
        async with app.run_test(size=(200, 50)) as pilot:
            await wait_for(pilot, lambda app=app: not app.run_screen.state.running, 30)
            await pilot.pause(0.1)
            verdicts.append(text_of(app, "#run-verdict").splitlines())
    first, second = verdicts
    assert first[0] == "✓ all 2 steps ok"
    assert first[1].startswith("  times: clean ") and "last time" not in first[1]
    # The second line of the box: each step's time, and the same step's time last run.
    assert second[1].startswith("  times: clean ") and ", build " in second[1]
    assert second[1].count(" s last time)") == 2


async def test_escape_twice_stops_the_run_and_leaves(tmp_path):
    pidfile = tmp_path / "child.pid"
    code = (
        "import subprocess, pathlib\n"
        "p = subprocess.Popen(['sleep', '300'])\n"
        f"pathlib.Path({str(pidfile)!r}).write_text(str(p.pid))\n"
        "print('started', flush=True); p.wait()\n"
    )
    job = RunJob(steps=(step("wait", [PY, "-c", code], tmp_path),))
    app = RunApp(job, tmp_path / "logs")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.run_screen
        await wait_for(pilot, lambda: pidfile.exists() and pidfile.read_text(), 30)
        child = int(pidfile.read_text())
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert screen.state.running and alive(child)  # the first Escape only warns
        await pilot.press("escape")
        await wait_for(pilot, lambda: not alive(child), 15)
    assert app.return_code == 0
    assert app.return_value == 1  # the run was stopped before it did its job


async def test_stop_button_and_ctrl_s(tmp_path):
    job = RunJob(steps=(step("wait", ["sleep", "300"], tmp_path),))
    app = RunApp(job, tmp_path / "logs")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.run_screen
        await wait_for(pilot, lambda: screen.state.current == "wait", 30)
        assert screen.check_action("stop", ()) is True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not screen.state.running, 15)
        await pilot.pause(0.1)
        assert screen.state.verdict().headline == "stopped by you during step wait"
        assert screen.query_one("#stop").disabled
        assert screen.check_action("stop", ()) is False  # off the footer once nothing runs


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PaneLog(max_lines=100, id="log")


async def test_pane_log_numbering_pruning_and_following():
    app = LogApp()
    async with app.run_test(size=(60, 20)) as pilot:
        log = app.query_one(PaneLog)
        log.begin_step("a", ["==> a"])
        log.add_lines([f"a{i}" for i in range(1, 51)] + ["", "\x1b[31mred\x1b[0m", "x\u2028y"])
        await pilot.pause()
        assert log.written == 54 and len(log.lines) == 54
        assert log.lines[log.index_of("a", 51)] == " "  # an empty line keeps its number
        assert log.lines[log.index_of("a", 52)] == "red"  # no raw escapes reach the terminal
        assert log.lines[log.index_of("a", 53)] == "x y"
        assert log.following and log.scroll_y == log.max_scroll_y
        log.begin_step("b")
        log.add_lines([f"b{i}" for i in range(1, 101)])
        await pilot.pause()
        assert len(log.lines) == 100 and log.first_kept == 54
        assert log.index_of("a", 10) is None  # dropped from the pane
        assert log.lines[log.index_of("b", 7)] == "b7"
        # Scrolled up, new lines neither pull the view down nor slide the text away.
        assert log.jump_to("b", 40)
        await pilot.pause()
        assert not log.following
        top = log.lines[int(log.scroll_y)]
        log.add_lines([f"c{i}" for i in range(10)])
        await pilot.pause()
        assert log.lines[int(log.scroll_y)] == top
        log.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert log.following


# ----- snapshot ---------------------------------------------------------------------------------

DEMO_DIR = "/home/user/.cache/ukl-tui/runs/20260101-120000"


def demo_job() -> RunJob:
    """A finished plain-tree run as the Review screen would hand it over (fixed paths)."""
    build = "/home/user/.cache/ukl-tui/build/linux-source-6.1"
    src = "/usr/src/linux-source-6.1"
    make = ("make", "-C", src, f"O={build}", "ARCH=x86_64", "CC=ccache gcc")
    return RunJob(
        steps=(
            Step(
                "olddefconfig", "make olddefconfig", (*make, "olddefconfig"), build, {}, "prep", 600
            ),
            Step(
                "bzImage", "Build the kernel", (*make, "-j2", "bzImage"), build, {}, "build", None
            ),
            Step(
                "boot",
                "Boot under QEMU",
                (
                    "qemu-system-x86_64",
                    "-accel",
                    "tcg",
                    "-cpu",
                    "max,-smap,-smep",
                    "-m",
                    "256",
                    "-nodefaults",
                    "-nographic",
                    "-serial",
                    "stdio",
                    "-no-reboot",
                    "-kernel",
                    f"{build}/arch/x86/boot/bzImage",
                    "-initrd",
                    f"{build}/ukl-tui-initramfs.cpio.gz",
                    "-append",
                    "console=ttyS0 clearcpuid=smap,smep mitigations=off",
                ),
                build,
                {},
                "boot",
                None,
                success_markers=("UKL BOOTED",),
                interactive=True,
            ),
        )
    )


def demo_events() -> list:
    """The events of that run, with fixed times."""
    ev: list = [
        StepStarted("olddefconfig", 1, 3, "make olddefconfig", "prep", (), f"{DEMO_DIR}/01-o.log"),
        OutputLines("olddefconfig", ["#", "# configuration written to .config", "#"]),
        StepFinished("olddefconfig", 0, 1.9, "ok"),
        StepStarted("bzImage", 2, 3, "Build the kernel", "build", (), f"{DEMO_DIR}/02-b.log"),
    ]
    objs = [
        "init/main.o",
        "init/version.o",
        "kernel/fork.o",
        "kernel/exit.o",
        "mm/slub.o",
        "fs/exec.o",
        "drivers/tty/serial/8250/8250_core.o",
        "arch/x86/boot/bzImage",
    ]
    ev.append(OutputLines("bzImage", [f"  CC      {o}" for o in objs[:-1]]))
    ev.append(
        OutputLines(
            "bzImage",
            [
                "drivers/net/e1000/e1000_main.c:1234:9: warning: "
                "unused variable 'i' [-Wunused-variable]"
            ],
        )
    )
    ev.append(
        Problem(
            "bzImage",
            "warning",
            8,
            "drivers/net/e1000/e1000_main.c:1234:9: "
            "warning: unused variable 'i' [-Wunused-variable]",
            "",
        )
    )
    ev.append(Progress("bzImage", 7, 1190))
    ev.append(OutputLines("bzImage", ["Kernel: arch/x86/boot/bzImage is ready  (#1)"]))
    ev.append(StepFinished("bzImage", 0, 212.4, "ok"))
    ev.append(StepStarted("boot", 3, 3, "Boot under QEMU", "boot", (), f"{DEMO_DIR}/03-boot.log"))
    boot_lines = [
        "[    0.000000] Linux version 6.1.192 (ukl-tui@ukl-tui) (gcc (Debian 12.2.0-14) 12.2.0)",
        "[    0.000000] Command line: console=ttyS0 clearcpuid=smap,smep mitigations=off",
        "[    0.000000] x86/cpu: Clearing SMEP for 0",
        "[    0.000000] x86/cpu: Clearing SMAP for 0",
        "[    0.412345] Run /init as init process",
        "UKL BOOTED",
        "/ # echo hi-$((6*7))",
        "hi-42",
    ]
    ev.append(OutputLines("boot", boot_lines, "/ # "))
    for key, line, t in (
        ("Linux version", boot_lines[0], 0.8),
        ("Clearing SMEP", boot_lines[2], 0.9),
        ("Clearing SMAP", boot_lines[3], 0.9),
        ("Run /init", boot_lines[4], 2.6),
        ("UKL BOOTED", "UKL BOOTED", 2.7),
    ):
        ev.append(Milestone("boot", key, line, t))
    ev.append(StepFinished("boot", 0, 31.0, "ok"))
    ev.append(RunFinished("ok", f"{DEMO_DIR}/summary.json", None))
    return ev


def demo_app() -> RunApp:
    return RunApp(demo_job(), Path(DEMO_DIR), autostart=False)


async def replay(pilot) -> None:
    screen = pilot.app.run_screen
    for event in demo_events():
        screen.feed(event)
    await pilot.pause()


async def test_replayed_run_is_judged_like_a_live_one():
    app = demo_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await replay(pilot)
        screen = app.run_screen
        assert screen.exit_code() == 0
        assert "the boot reached UKL BOOTED (2.7 s after QEMU started)" in text_of(
            app, "#run-verdict"
        )
        chips = screen.query_one("#run-milestones", ChipStrip).chips
        assert ("✓ UKL BOOTED 2.7s", "green") in chips
        assert text_of(app, "#run-status").startswith("✓ OK 04:05")  # 1.9 + 212.4 + 31.0 s
        assert "hi-42" in screen.query_one("#qemu-log", PaneLog).lines


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
def test_snapshot_finished_run(snap_compare, size):
    assert snap_compare(demo_app(), run_before=replay, terminal_size=size)


def test_screen_accepts_steps_or_job(tmp_path):
    steps = [step("a", ["true"], tmp_path)]
    assert RunScreen(steps, autostart=False).job.steps == tuple(steps)
    job = RunJob(steps=tuple(steps))
    assert RunScreen(job, autostart=False).job is job


@pytest.mark.realtree
def test_the_wizard_hand_off_takes_a_checked_plan(real_tree, ukl_overlay, tmp_path):
    """What the wizard's Review screen passes: ``RunScreen(plan.build())``."""
    from ukl_tui.plan import Plan

    plan = Plan(
        tree=real_tree,
        overlays=(ukl_overlay,),
        presets=("qemu-smoke",),
        build_dir=tmp_path / "build",
        initrd="minimal",
    )
    built = plan.build()
    job = RunScreen(built, autostart=False).job
    assert job.steps == tuple(built.steps)
    assert job.boot_step is not None and job.boot_step.kind == "boot"
    assert job.artifacts["kernel"] == str(built.kernel)
    assert job.probe_host == str(built.boot.network.forward_bind)


async def test_quitting_while_the_tab_underline_moves_does_not_hang():
    """Issue 9: ctrl+q as the screen switched to the QEMU tab waited forever in ``press``.

    The Tabs underline starts its animation on a timer; one that starts after the app stopped
    its animator never completes, and Pilot waits for animations to complete. The apps'
    animator ends such an animation at once. Animations are on here (they are the point).
    """
    import asyncio

    from textual.widgets._tabs import Underline

    app = demo_app()
    app.animation_level = "full"
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.run_screen
        underline = screen.query_one("#run-tabs").query_one(Underline)
        screen.action_show("qemu")
        await asyncio.wait_for(pilot.press("ctrl+q"), 30)
    assert not app.is_running
    # The race made deterministic: an animation asked for after the animator stopped.
    app.animator.animate(underline, "highlight_start", 7, duration=0.3)
    await asyncio.wait_for(app.animator.wait_until_complete(), 10)
    assert underline.highlight_start == 7
