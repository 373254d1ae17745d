"""Boot Debian's stock kernel with the minimal initramfs under QEMU TCG, through the runner.

This is the whole boot path for real: BootSpec builds the QEMU argv (TCG, ``-cpu
max,-smap,-smep``, ``clearcpuid=smap,smep``), the runner starts QEMU with the serial console
on a pipe, milestones are found in the console output, a typed line is answered by the
guest's shell, and cancel leaves no QEMU behind.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.support.boot_fixtures import alive, bzimage, live_group, xdg_cache  # noqa: F401
from ukl_tui.boot import BootSpec, cmdline_clears_smap_smep, cpu_flags_clear_smap_smep
from ukl_tui.host import KvmStatus
from ukl_tui.initramfs import build_minimal_initramfs
from ukl_tui.runner import Milestone, OutputLines, Runner, StepFinished, StepStarted

HARD_TIMEOUT = 90
TCG = KvmStatus(False, "forced TCG for the test")


def _argv_value(argv: tuple[str, ...], option: str) -> str:
    return argv[argv.index(option) + 1]


@pytest.mark.slow
async def test_boot_to_ukl_booted_console_and_cancel(bzimage, xdg_cache, tmp_path, capsys):  # noqa: F811
    initrd = build_minimal_initramfs()
    spec = BootSpec(kernel=str(bzimage), initrd=str(initrd), memory_mib=512, accel="tcg")
    step = spec.to_step(TCG, str(tmp_path), timeout=HARD_TIMEOUT, success_markers=("UKL BOOTED",))
    assert _argv_value(step.argv, "-cpu") == "max,-smap,-smep"
    assert cpu_flags_clear_smap_smep(_argv_value(step.argv, "-cpu"))
    assert cmdline_clears_smap_smep(_argv_value(step.argv, "-append"))

    events: list = []
    runner = Runner([step], tmp_path / "log", events.append)

    def lines() -> list[str]:
        return [ln for e in events if isinstance(e, OutputLines) for ln in e.lines]

    def prompt_seen() -> bool:
        # Kernel messages may follow the prompt on the same line: look for it anywhere.
        return any(
            isinstance(e, OutputLines)
            and ("/ # " in e.partial or any("/ # " in ln for ln in e.lines))
            for e in events
        )

    async def wait_for(predicate, what: str) -> None:
        while not predicate():
            if task.done():
                pytest.fail(f"QEMU ended before {what}: {lines()[-20:]}")
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        await wait_for(
            lambda: any(isinstance(e, Milestone) and e.key == "UKL BOOTED" for e in events),
            "UKL BOOTED",
        )
        await wait_for(prompt_seen, "the shell prompt")
        assert runner.send_input("echo hi-$((6*7))")
        await wait_for(lambda: any("hi-42" in ln for ln in lines()), "the answer hi-42")
        runner.cancel()
        await task

    start = time.monotonic()
    task = asyncio.ensure_future(runner.run())
    try:
        await asyncio.wait_for(scenario(), HARD_TIMEOUT)
    finally:
        if not task.done():
            runner.cancel()
            await asyncio.wait_for(task, 15)
    total = time.monotonic() - start

    milestones = [e for e in events if isinstance(e, Milestone)]
    keys = [m.key for m in milestones]
    for key in ("Linux version", "Run /init", "UKL BOOTED"):
        assert key in keys
    assert keys.index("Linux version") < keys.index("Run /init") < keys.index("UKL BOOTED")
    booted = next(m.elapsed for m in milestones if m.key == "UKL BOOTED")

    # The step reached its marker, so it (and the run) is ok although it ended by cancel.
    (finished,) = [e for e in events if isinstance(e, StepFinished)]
    assert finished.status == "ok"  # QEMU exits 0 on SIGTERM ("terminating on signal 15")
    assert runner.status == "ok"

    # The echoed command line holds no "hi-42"; only the shell's answer does.
    assert any(ln.strip() == "hi-42" or ln.endswith("hi-42") for ln in lines())
    assert "UKL BOOTED" in (tmp_path / "log" / "01-boot.log").read_text(errors="replace")

    # No QEMU survives: neither the process nor anything in its group.
    (started,) = [e for e in events if isinstance(e, StepStarted)]
    assert started.argv[0] == "qemu-system-x86_64"
    summary = json.loads((tmp_path / "log" / "summary.json").read_text())
    assert summary["steps"][0]["stopped_because"] == "cancelled"
    assert [m["key"] for m in summary["steps"][0]["milestones"]] == keys
    qemu_pid = runner._states[0].pgid
    assert qemu_pid is not None
    assert not alive(qemu_pid)
    assert live_group(qemu_pid) == []
    with capsys.disabled():
        print(f"\nTCG boot to 'UKL BOOTED': {booted:.1f} s; whole scenario {total:.1f} s")


@pytest.mark.slow
async def test_reboot_initramfs_makes_qemu_exit(bzimage, xdg_cache, tmp_path):  # noqa: F811
    """With after_trigger='reboot' and -no-reboot, QEMU exits by itself after the trigger."""
    payload = tmp_path / "app"
    payload.write_text("#!/bin/sh\necho 'hello, from the UKL world'\n")
    initrd = build_minimal_initramfs(payload=payload, after_trigger="reboot")
    spec = BootSpec(
        kernel=str(bzimage),
        initrd=str(initrd),
        memory_mib=512,
        accel="tcg",
        extra_params=("panic=-1",),
    )
    step = spec.to_step(
        TCG,
        str(Path(tmp_path)),
        timeout=HARD_TIMEOUT,
        success_markers=("UKL BOOTED", "hello, from the UKL world"),
    )
    events: list = []
    runner = Runner([step], tmp_path / "log", events.append)
    status = await asyncio.wait_for(runner.run(), HARD_TIMEOUT + 15)
    assert status == "ok"
    (finished,) = [e for e in events if isinstance(e, StepFinished)]
    assert finished.returncode == 0  # QEMU exited on the guest's reboot, nobody killed it
    keys = [e.key for e in events if isinstance(e, Milestone)]
    assert keys.index("UKL BOOTED") < keys.index("hello, from the UKL world")
