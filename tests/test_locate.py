"""Where the kernel is: QEMU's gdb stub on a port of its own, gdb attached on a panic.

Real boots under TCG: Debian's kernel (no vmlinux: addresses only, and the report says so)
panicking for want of a root file system, once with gdb and once with gdb off PATH; the run
ends cleanly either way and leaves no QEMU or gdb behind.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from tests.support.boot_fixtures import bzimage  # noqa: F401
from tests.test_run_support import pids_with_cmdline
from ukl_tui.boot import BootSpec
from ukl_tui.host import KvmStatus
from ukl_tui.locate import free_port, gdb_port_of, parse_gdb, qemu_option, with_gdb_stub
from ukl_tui.run_session import RunJob, RunSession
from ukl_tui.runner import Located

TCG = KvmStatus(False, "tests run under TCG")
HARD_TIMEOUT = 120


def test_the_stub_gets_a_free_loopback_port_unless_there_is_one():
    argv = ("qemu-system-x86_64", "-kernel", "bzImage")
    staged = with_gdb_stub(argv)
    port = gdb_port_of(staged)
    assert staged[:3] == argv and staged[3] == "-gdb" and staged[4] == f"tcp:127.0.0.1:{port}"
    assert port != 1234 and 1024 < port < 65536
    assert with_gdb_stub(staged) == staged
    assert gdb_port_of(("qemu", "-s")) == 1234
    assert with_gdb_stub(("qemu", "-s")) == ("qemu", "-s")
    assert gdb_port_of(argv) is None
    assert 1024 < free_port() < 65536


def test_parse_gdb_output_without_symbols():
    """gdb's real answer (Debian's kernel, no vmlinux, 2 vCPUs) on this machine."""
    out = (Path(__file__).parent / "fixtures" / "logs" / "gdb-no-vmlinux.txt").read_text()
    places = parse_gdb(out, symbols=False)
    assert [p.cpu for p in places] == [0, 1]
    assert places[0].pc.pc == 0x4F3ABF4 and places[0].state == "running"
    assert places[1].state == "halted" and places[1].backtrace == (places[1].pc,)


def panic_job(kernel: Path, tmp_path: Path) -> RunJob:
    """Debian's kernel without an initrd: it panics, unable to mount a root file system."""
    spec = BootSpec(kernel=str(kernel), initrd=None, memory_mib=256, cpus=2, accel="tcg")
    return RunJob(steps=(spec.to_step(TCG, str(tmp_path), timeout=HARD_TIMEOUT),))


def run_panic(kernel: Path, tmp_path: Path) -> tuple[RunSession, list]:
    events: list = []
    session = RunSession(panic_job(kernel, tmp_path), tmp_path / "logs", events.append)
    asyncio.run(asyncio.wait_for(session.run(), HARD_TIMEOUT + 60))
    return session, events


@pytest.mark.slow
def test_a_panic_is_located_and_the_report_says_vmlinux_is_missing(bzimage, tmp_path):  # noqa: F811
    kernel = tmp_path / "vmlinuz"  # a copy under tmp_path: this test's QEMU is recognisable
    shutil.copyfile(bzimage, kernel)
    session, events = run_panic(kernel, tmp_path)
    boot = session.job.steps[0]
    port = gdb_port_of(boot.argv)
    assert port is not None and qemu_option(boot.argv, "-gdb") == f"tcp:127.0.0.1:{port}"
    located = [e for e in events if isinstance(e, Located)]
    assert len(located) == 1 and located[0].reason == "panic"
    report = located[0].report
    assert [c["cpu"] for c in report["cpus"]] == [0, 1]
    assert all(c["pc"].startswith("0x") for c in report["cpus"])  # addresses: no symbols
    assert any("no vmlinux" in m for m in report["missing"])
    verdict = session.verdict()
    assert verdict.diagnosis is not None and verdict.diagnosis.cause_id == "no-root-fs"
    assert any(d.startswith("where (panic): CPU 0") for d in verdict.details)
    # The missing vmlinux is said once: in the diagnosis's notes (its trace is not decoded).
    assert any("no vmlinux" in n for n in verdict.diagnosis.notes)
    assert not any("no vmlinux" in d for d in verdict.details)
    summary = session.runner.summary()
    assert summary["steps"][0]["located"][0]["reason"] == "panic"
    assert not pids_with_cmdline(str(kernel))


@pytest.mark.slow
def test_without_gdb_the_report_says_so_and_the_run_ends(bzimage, tmp_path, monkeypatch):  # noqa: F811
    kernel = tmp_path / "vmlinuz"
    shutil.copyfile(bzimage, kernel)
    farm = tmp_path / "bin"  # PATH with QEMU but without gdb
    farm.mkdir()
    qemu = shutil.which("qemu-system-x86_64")
    assert qemu is not None
    os.symlink(qemu, farm / "qemu-system-x86_64")
    monkeypatch.setenv("PATH", str(farm))
    session, events = run_panic(kernel, tmp_path)
    located = [e for e in events if isinstance(e, Located)]
    assert len(located) == 1
    assert located[0].report["cpus"] == []
    assert any(
        "gdb is not installed" in m and "apt-get install gdb" in m
        for m in located[0].report["missing"]
    )
    assert session.verdict().diagnosis.cause_id == "no-root-fs"  # type: ignore[union-attr]
    assert not pids_with_cmdline(str(kernel))


@pytest.mark.slow
async def test_g_in_the_run_screen_asks_where_the_running_guest_is(bzimage, tmp_path):  # noqa: F811
    from tests.support.waiting import wait_for
    from tests.test_run_boot import boot_job
    from ukl_tui.screens.run import RunApp

    app = RunApp(boot_job(bzimage, tmp_path), tmp_path / "logs")
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.run_screen
        await wait_for(pilot, lambda: screen.state.current == "boot", 90, what="QEMU")
        await pilot.pause(0.5)
        assert screen.check_action("locate", ()) is True
        await pilot.press("g")
        await wait_for(pilot, lambda: bool(screen.state.located), 90, what="the located report")
        located = screen.state.located[0]
        assert located.reason == "asked" and located.report["cpus"]
        assert screen.state.running  # gdb detached: the guest runs on
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not screen.state.running, 30, what="the run to end")
        assert screen.check_action("locate", ()) is False
