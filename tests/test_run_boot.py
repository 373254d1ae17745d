"""Debian's stock kernel + the minimal initramfs under QEMU TCG, through ``ukl-tui run``.

Headless (exit 0 at ``UKL BOOTED``) and in the Run screen with Pilot: milestones appear, a line
typed into the console is answered by the guest, and Stop, quitting, an exception or SIGTERM
leave no QEMU behind. Each QEMU is recognised by the initramfs path under the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests.support.boot_fixtures import alive, bzimage, live_group  # noqa: F401
from tests.support.waiting import wait_for
from tests.test_run_support import boot_step_dict, pids_with_cmdline, run_cli, write_steps
from ukl_tui.run_session import RunJob
from ukl_tui.screens.run import RunApp
from ukl_tui.steps import Step
from ukl_tui.widgets.logpane import ChipStrip, PaneLog

pytestmark = pytest.mark.slow
HARD_TIMEOUT = 90


def boot_job(bzimage, tmp_path) -> RunJob:  # noqa: F811
    return RunJob(steps=(Step.from_dict(boot_step_dict(bzimage, tmp_path)),))


def qemu_of(tmp_path) -> list[int]:
    return pids_with_cmdline(str(tmp_path / "test-initramfs.cpio.gz"))


async def qemu_started(pilot, tmp_path) -> list[int]:
    """Wait until the Run screen's boot step has QEMU running; its pids."""
    screen = pilot.app.run_screen
    await wait_for(
        pilot,
        lambda: screen.state.current == "boot" and qemu_of(tmp_path),
        HARD_TIMEOUT,
        what="QEMU",
    )
    return qemu_of(tmp_path)


def test_headless_boot_exits_0_at_ukl_booted(bzimage, tmp_path):  # noqa: F811
    steps = write_steps(tmp_path / "steps.json", [boot_step_dict(bzimage, tmp_path)])
    result = run_cli(
        ["run", "--steps", str(steps), "--no-tui", "--log-dir", str(tmp_path / "logs")],
        tmp_path,
        timeout=HARD_TIMEOUT + 30,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    out = result.stdout
    assert "$ cd " in out and "qemu-system-x86_64 -accel tcg -cpu max,-smap,-smep" in out
    assert " -gdb tcp:127.0.0.1:" in out  # the command shown is the one run, stub included
    for marker in (">>> Linux version", ">>> Run /init", ">>> UKL BOOTED"):
        assert marker in out
    assert out.index(">>> Run /init") < out.index(">>> UKL BOOTED")
    assert "ukl-tui: OK: the boot reached UKL BOOTED" in out
    assert "UKL BOOTED" in (tmp_path / "logs" / "01-boot.log").read_text(errors="replace")
    assert qemu_of(tmp_path) == []


async def test_run_screen_boot_console_and_stop(bzimage, tmp_path):  # noqa: F811
    app = RunApp(boot_job(bzimage, tmp_path), tmp_path / "logs")
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.run_screen
        chips = screen.query_one("#run-milestones", ChipStrip)
        await wait_for(
            pilot,
            lambda: any("UKL BOOTED" in c for c, _ in chips.chips if "✓" in c),
            HARD_TIMEOUT,
            what="the UKL BOOTED milestone",
        )
        reached = [c for c, style in chips.chips if style == "green"]
        assert reached[0].startswith("✓ Linux version")
        assert any(c.startswith("✓ Run /init") for c in reached)
        assert "QEMU is still running" in str(screen.query_one("#run-verdict").render())
        # The console: once the shell's prompt showed (beside the input, or in the pane when
        # a kernel message completed its line), a typed line is answered by the guest.
        prompt = screen.query_one("#console-prompt")
        log = screen.query_one("#qemu-log", PaneLog)
        await wait_for(
            pilot,
            lambda: "#" in str(prompt.render()) or any("/ # " in ln for ln in log.lines),
            HARD_TIMEOUT,
            what="the shell prompt",
        )
        await pilot.press("i")
        console = screen.query_one("#console-input")
        assert app.focused is console
        # Typed at once: Pilot waits for the app to idle after every key, and a booting
        # guest keeps it busy (seconds per key).
        console.insert_text_at_cursor("echo hi-$((6*7))")
        await pilot.press("enter")
        assert console.value == ""  # sent
        await wait_for(pilot, lambda: "hi-42" in log.lines, 30, what="the guest's answer")
        assert any(line.endswith("echo hi-$((6*7))") for line in log.lines)  # the echo
        (qemu,) = screen.session.runner.live_groups()
        assert alive(qemu)
        # Stop: QEMU and its whole group are gone, the run counts as a success.
        await pilot.click("#stop")
        await wait_for(pilot, lambda: not screen.state.running, 20, what="the run to end")
        await pilot.pause(0.2)
        assert not alive(qemu) and live_group(qemu) == []
        assert screen.exit_code() == 0
        assert str(screen.query_one("#run-status").render()).startswith("✓ OK")
    assert qemu_of(tmp_path) == []


async def test_quitting_the_app_kills_qemu(bzimage, tmp_path):  # noqa: F811
    app = RunApp(boot_job(bzimage, tmp_path), tmp_path / "logs")
    async with app.run_test(size=(120, 40)) as pilot:
        qemu = await qemu_started(pilot, tmp_path)
        await pilot.press("ctrl+q")
    assert qemu and not any(alive(pid) for pid in qemu)
    assert qemu_of(tmp_path) == []


async def test_an_exception_in_the_app_kills_qemu(bzimage, tmp_path):  # noqa: F811
    app = RunApp(boot_job(bzimage, tmp_path), tmp_path / "logs")

    def broken() -> None:
        raise RuntimeError("a bug in the display")

    with pytest.raises(RuntimeError, match="a bug in the display"):
        async with app.run_test(size=(120, 40)) as pilot:
            qemu = await qemu_started(pilot, tmp_path)
            app.call_later(broken)
            await pilot.pause(1.0)
    assert qemu and not any(alive(pid) for pid in qemu)
    assert qemu_of(tmp_path) == []


async def test_sigterm_stops_the_run_and_exits(bzimage, tmp_path):  # noqa: F811
    app = RunApp(boot_job(bzimage, tmp_path), tmp_path / "logs")
    async with app.run_test(size=(120, 40)) as pilot:
        qemu = await qemu_started(pilot, tmp_path)
        os.kill(os.getpid(), signal.SIGTERM)  # caught by the app's handler
        for _ in range(200):
            if not app.is_running:
                break
            await asyncio.sleep(0.1)
    assert app.return_value == 128 + signal.SIGTERM
    assert qemu and not any(alive(pid) for pid in qemu)
    assert qemu_of(tmp_path) == []
