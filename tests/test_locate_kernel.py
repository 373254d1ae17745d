"""A kernel with symbols that really crashes and hangs: located and decoded through gdb.

The LKDTM kernel (tests/support/lkdtm_kernel.py) is built once (incremental in the CI cache)
and booted under TCG through ``RunSession``, as ``ukl-tui run`` does:

- ``lkdtm=LOOP``: the kernel spins in ``lkdtm_LOOP`` and the console goes silent; the boot
  watchdog's report names the function and its source line, the run ends cleanly.
- ``lkdtm=ACCESS_USERSPACE`` with SMAP on (``-cpu max``, no ``clearcpuid``): a kernel-mode page
  fault on a user address; the diagnosis says SMAP/SMEP are on and how to turn them off, and
  the oops's RIP and call trace are decoded to file:line from vmlinux.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import CI_CACHE
from tests.support.lkdtm_kernel import build_lkdtm_kernel, lkdtm_initramfs
from tests.test_run_support import pids_with_cmdline
from ukl_tui.boot import BootSpec
from ukl_tui.host import KvmStatus
from ukl_tui.run_session import RunJob, RunSession
from ukl_tui.runner import Located, Problem

pytestmark = [pytest.mark.slow, pytest.mark.realtree]
TCG = KvmStatus(False, "tests run under TCG")
BUILD_TIMEOUT = 3600
BOOT_TIMEOUT = 240


@pytest.fixture(scope="module")
def lkdtm_build(real_tree: Path) -> Path:
    ccache = CI_CACHE / "ccache"
    ccache.mkdir(parents=True, exist_ok=True)
    return build_lkdtm_kernel(real_tree, CI_CACHE / "kbuild-lkdtm", ccache, BUILD_TIMEOUT)


def provoke(build: Path, tmp_path: Path, what: str, **options: object) -> tuple[RunSession, list]:
    initrd = lkdtm_initramfs(tmp_path / "lkdtm.cpio.gz")
    spec = BootSpec(
        kernel=str(build / "arch" / "x86" / "boot" / "bzImage"),
        initrd=str(initrd),
        memory_mib=256,
        cpus=2,
        cmdline_base=("console=ttyS0",),  # SMAP and SMEP stay on: no clearcpuid
        extra_params=(f"lkdtm={what}",),
        qemu_cpu_flags=(),
        accel="tcg",
    )
    job = RunJob(steps=(spec.to_step(TCG, str(tmp_path), timeout=BOOT_TIMEOUT),))
    events: list = []
    session = RunSession(job, tmp_path / "logs", events.append, **options)  # type: ignore[arg-type]
    asyncio.run(asyncio.wait_for(session.run(), BOOT_TIMEOUT + 120))
    assert not pids_with_cmdline(str(initrd)), "QEMU outlived the run"
    return session, events


def test_a_hang_in_the_kernel_is_located_by_function_and_line(lkdtm_build, tmp_path):
    start = time.monotonic()
    session, events = provoke(
        lkdtm_build, tmp_path, "LOOP", boot_silence=15.0, kill_on_silence=True
    )
    located = [e for e in events if isinstance(e, Located)]
    assert [e.reason for e in located] == ["silent"]
    report = located[0].report
    assert report["missing"] == []
    places = {c["cpu"]: c for c in report["cpus"]}
    assert sorted(places) == [0, 1]
    spinning = [c for c in places.values() if c["pc"].startswith("lkdtm_LOOP+")]
    assert len(spinning) == 1, report["lines"]
    assert "drivers/misc/lkdtm/bugs.c:" in spinning[0]["pc"]
    backtrace = spinning[0]["backtrace"]
    assert any("direct_entry" in f for f in backtrace)
    # Every frame kept has its source line: gdb's guesses past the entry code are dropped.
    assert all(f.endswith(")") and (".c:" in f or ".S:" in f) for f in backtrace), backtrace
    # The silence report came first, then the located report, then the kill.
    silent = next(e for e in events if isinstance(e, Problem) and "silent for" in e.text)
    assert events.index(silent) < events.index(located[0])
    verdict = session.verdict()
    assert not verdict.ok
    assert any(d.startswith("where (silent): CPU") and "lkdtm_LOOP+" in d for d in verdict.details)
    print(
        f"run {time.monotonic() - start:.1f} s; the watchdog waits 15 s of silence, "
        f"then gdb located the vCPUs in {report['seconds']:.1f} s"
    )


def test_a_smap_page_fault_is_diagnosed_and_its_trace_decoded(lkdtm_build, tmp_path):
    session, events = provoke(lkdtm_build, tmp_path, "ACCESS_USERSPACE")
    diagnosis = session.verdict().diagnosis
    assert diagnosis is not None and diagnosis.cause_id == "page-fault"
    assert "of user address" in diagnosis.cause and "SMAP" in diagnosis.cause
    assert "QEMU -cpu max offers them" in diagnosis.fix
    assert "lacks clearcpuid=smap,smep" in diagnosis.fix
    # decode_stacktrace.sh-style: the RIP and the call trace get file:line from vmlinux.
    assert any("RIP:" in d and "drivers/misc/lkdtm/perms.c:" in d for d in diagnosis.decoded)
    assert any("direct_entry" in d and "drivers/misc/lkdtm/core.c:" in d for d in diagnosis.decoded)
    located = [e for e in events if isinstance(e, Located)]
    assert located and located[0].reason == "panic"
    assert located[0].report["cpus"], located[0].report
