"""The diagnosis table against real failure logs produced on the development machine.

Every log under tests/fixtures/logs/ is the unedited output of a real command (README.md there
says which); each test pins the cause, the fix and the exact evidence lines, so a change in the
table that picks a later or a generic line fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ukl_tui.diagnose import CAUSES, Diagnosis, StepContext, diagnose, find_cause

LOGS = Path(__file__).parent / "fixtures" / "logs"

#: A QEMU command as ukl-tui builds it, with what each boot test varies.
QEMU = ("qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nodefaults", "-nographic")


def qemu(
    cpu: str = "max,-smap,-smep",
    append: str = "console=ttyS0 clearcpuid=smap,smep",
    *,
    initrd: bool = True,
) -> tuple[str, ...]:
    argv = (*QEMU, "-cpu", cpu, "-kernel", "vmlinuz")
    if initrd:
        argv += ("-initrd", "initrd.cpio.gz")
    return (*argv, "-append", append)


def run_diagnosis(
    name: str, kind: str = "build", argv: tuple[str, ...] = ("make",), **kw: object
) -> Diagnosis:
    ctx = StepContext(name, kind, argv, str(kw.pop("cwd", "/work")), **kw)  # type: ignore[arg-type]
    return diagnose(LOGS / name, ctx)


def span(d: Diagnosis) -> tuple[int, int]:
    assert d.evidence is not None
    return (d.evidence.first, d.evidence.last)


def test_every_fixture_says_how_it_was_made():
    readme = (LOGS / "README.md").read_text()
    for log in LOGS.glob("*.log"):
        assert f"| {log.name} |" in readme, log.name


# --- getting the sources and the tools -----------------------------------------------------------


#: One-line causes: (log, step kind, argv, cause id, words of the cause, words of the fix, line).
ONE_LINE = [
    (
        "git-clone-offline.log",
        "prep",
        ("git",),
        "network",
        "github.com does not resolve",
        "network",
        2,
    ),
    # The case of the issue: the cause stands on an early line, git's verdict at the end.
    ("git-submodule-offline.log", "prep", ("git",), "network", "github.com", "proxy", 4),
    (
        "make-no-flex.log",
        "build",
        ("make",),
        "missing-tool",
        "missing: flex",
        "apt-get install flex",
        10,
    ),
    (
        "make-no-rule.log",
        "build",
        ("make",),
        "no-rule",
        "../UKL.a, needed by vmlinux",
        "CONFIG_UKL_ARCHIVE_PATH",
        2,
    ),
    (
        "make-cc1-killed.log",
        "build",
        ("make",),
        "compiler-killed",
        "cc1 was killed",
        "fewer jobs",
        3,
    ),
    (
        "make-cc1-ulimit.log",
        "build",
        ("make",),
        "out-of-memory",
        "cc1 ran out of memory",
        "ulimit -v",
        4,
    ),
    ("qemu-hostfwd-busy.log", "boot", qemu(), "qemu-hostfwd", "port 18080", "sport = :18080", 1),
    (
        "qemu-cpu-host-no-kvm.log",
        "boot",
        qemu("host,-smap,-smep"),
        "qemu-cpu-needs-kvm",
        "-cpu host",
        "-cpu max,-smap,-smep",
        1,
    ),
]


@pytest.mark.parametrize(("log", "kind", "argv", "cause_id", "cause", "fix", "line"), ONE_LINE)
def test_one_line_causes(log, kind, argv, cause_id, cause, fix, line):
    d = run_diagnosis(log, kind, argv, returncode=1)
    assert (d.cause_id, span(d)) == (cause_id, (line, line))
    assert cause in d.cause and fix in d.fix


def test_the_submodule_evidence_names_the_url():
    d = run_diagnosis("git-submodule-offline.log", "prep", ("git", "submodule"), returncode=1)
    assert "https://github.com/unikernelLinux/glibc.git/" in d.evidence.lines[0]  # type: ignore[union-attr]


def test_missing_header_names_the_debian_package_and_keeps_the_source_excerpt():
    d = run_diagnosis("make-no-openssl-headers.log", returncode=2)
    assert d.cause_id == "missing-header"
    assert "<openssl/opensslv.h>" in d.cause
    assert "scripts/sign-file.c:25" in d.cause
    assert "apt-get install libssl-dev" in d.fix
    assert span(d) == (8, 10)  # the error, the #include line, the caret


# --- compiling and linking -----------------------------------------------------------------------


def test_compile_error_is_the_first_error_with_its_file_and_line():
    d = run_diagnosis("make-compile-error.log", returncode=2, cwd="/tmp/diag/app")
    assert d.cause_id == "compile-error"
    # Relative to the directory make entered, not the step's cwd.
    assert "/tmp/diag/app/hello/hello.c:6" in d.cause
    assert "expected" in d.cause
    assert span(d) == (9, 12)  # "In function", the error, the source line, the caret
    assert all("Error 2" not in line for line in d.evidence.lines)  # type: ignore[union-attr]


def test_undefined_ukl_symbol_means_the_archive_was_not_prefixed():
    d = run_diagnosis("link-unprefixed-archive.log", returncode=2)
    assert d.cause_id == "undefined-symbol"
    assert d.cause == "link failed: undefined symbol ukl_main"
    assert "not prefixed" in d.fix and "--prefix-symbols=ukl_" in d.fix
    assert span(d) == (10, 11)


def test_undefined_plain_symbol_asks_for_the_library():
    d = run_diagnosis("link-undefined.log", returncode=1)
    assert d.cause_id == "undefined-symbol"
    assert "puts" in d.cause
    assert "prefix" not in d.fix
    assert span(d) == (1, 2)


def test_full_disk():
    d = run_diagnosis("make-disk-full.log", returncode=2)
    assert d.cause_id == "disk-full"
    assert "df -h /tmp/diag/full" in d.fix
    assert span(d) == (3, 4)


# --- the booted kernel ---------------------------------------------------------------------------


def test_no_root_fs_without_initrd_keeps_the_panic_block_together():
    d = run_diagnosis("boot-no-root-fs.log", "boot", qemu(initrd=False), stopped_because="fatal")
    assert d.cause_id == "no-root-fs"
    assert "without -initrd" in d.fix
    first, last = span(d)
    lines = d.evidence.lines  # type: ignore[union-attr]
    assert any("Kernel panic - not syncing: VFS: Unable to mount root fs" in x for x in lines)
    assert any("Call Trace:" in x for x in lines)
    assert "---[ end Kernel panic" in lines[-1]
    assert last - first + 1 == len(lines)


def test_no_root_fs_with_an_initrd_points_at_the_initrd():
    d = run_diagnosis("boot-no-root-fs.log", "boot", qemu(), stopped_because="fatal")
    assert d.cause_id == "no-root-fs"
    assert "ukl issue #38" in d.fix


def test_no_working_init_says_why_execve_failed():
    d = run_diagnosis("boot-no-working-init.log", "boot", qemu(), stopped_because="fatal")
    assert d.cause_id == "no-init"
    assert d.cause == "no working init: the kernel could not execute /init (error -2)"
    assert "dynamically linked" in d.fix and "busybox-static" in d.fix
    lines = d.evidence.lines  # type: ignore[union-attr]
    assert "Run /init as init process" in lines[0]
    assert "Failed to execute /init (error -2)" in lines[1]
    assert "---[ end Kernel panic" in lines[-1]


def test_init_that_exits_panics_the_kernel():
    d = run_diagnosis("boot-init-exits.log", "boot", qemu(), stopped_because="fatal")
    assert d.cause_id == "init-exited"
    assert "exited with code 0x00000000" in d.cause
    assert "reboot -f" in d.fix
    assert "Attempted to kill init" in d.evidence.lines[0]  # type: ignore[union-attr]
    assert "---[ end Kernel panic" in d.evidence.lines[-1]  # type: ignore[union-attr]


def test_kernel_mode_page_fault_on_user_memory_with_smap_on():
    """LKDTM's ACCESS_USERSPACE: what a UKL app's access looks like with SMAP still on."""
    argv = qemu(cpu="max", append="console=ttyS0 lkdtm=ACCESS_USERSPACE")
    d = run_diagnosis("boot-smap-page-fault.log", "boot", argv, stopped_because="fatal")
    assert d.cause_id == "page-fault"
    assert d.cause == (
        "kernel-mode read of user address 0x7f071a7c1000 with SMAP on (CR4=0x3506b0) "
        "at lkdtm_ACCESS_USERSPACE+0xa7/0xe5"
    )
    assert "QEMU -cpu max offers them (use max,-smap,-smep)" in d.fix
    assert "lacks clearcpuid=smap,smep" in d.fix
    # The oops from its first line through the register dump and call trace, kept together.
    assert span(d) == (126, 154)
    lines = d.evidence.lines  # type: ignore[union-attr]
    assert lines[0].startswith("BUG: unable to handle page fault")
    assert any(x.startswith("RIP: 0010:lkdtm_ACCESS_USERSPACE") for x in lines)
    assert "Call Trace:" in lines and lines[-1].startswith("---[ end trace")


def test_kernel_mode_execution_of_user_memory_with_smep_on():
    """LKDTM's EXEC_USERSPACE: the kernel jumps into a user page, which SMEP forbids."""
    argv = qemu(cpu="max", append="console=ttyS0 lkdtm=EXEC_USERSPACE")
    d = run_diagnosis("boot-smep-exec-user.log", "boot", argv, stopped_because="fatal")
    assert d.cause == (
        "kernel-mode instruction fetch from user address 0x7f8fe0097000 with SMEP on "
        "(CR4=0x3506b0) at 0x7f8fe0097000"
    )
    assert "max,-smap,-smep" in d.fix
    assert d.evidence.lines[0] == "unable to execute userspace code (SMEP?) (uid: 0)"  # type: ignore[union-attr]


def test_kernel_null_pointer_dereference_is_not_blamed_on_smap():
    argv = qemu(cpu="max", append="console=ttyS0 lkdtm=ACCESS_NULL")
    d = run_diagnosis("boot-null-dereference.log", "boot", argv, stopped_because="fatal")
    assert d.cause_id == "page-fault"
    assert d.cause == "kernel NULL pointer dereference (read of 0x0) at lkdtm_ACCESS_NULL+0xf/0x4e"
    assert "SMAP" not in d.fix and "call trace" in d.fix


def test_a_kernel_general_protection_fault_is_an_oops_with_its_place():
    argv = qemu(append="console=ttyS0 clearcpuid=smap,smep lkdtm=ACCESS_USERSPACE", initrd=False)
    d = run_diagnosis("boot-kernel-gpf.log", "boot", argv, stopped_because="fatal")
    assert d.cause_id == "oops"
    assert d.cause == (
        "the kernel oopsed: general protection fault, probably for non-canonical address "
        "0xdead000000000100: 0000 [#1] SMP at lkdtm_ACCESS_USERSPACE+0xa7/0xe5"
    )
    assert "call trace" in d.fix
    assert span(d) == (114, 137)  # the report, to its "---[ end trace" line
    assert d.evidence.lines[-1] == "---[ end trace 0000000000000000 ]---"  # type: ignore[union-attr]


def test_a_user_programs_general_protection_fault_kills_init_not_the_kernel():
    d = run_diagnosis("boot-user-gpf.log", "boot", qemu(), stopped_because="fatal")
    assert d.cause_id == "init-exited"
    assert d.cause == "init (PID 1) was killed by signal 11 (SIGSEGV): the kernel panics without it"
    assert "ip:" in d.fix and "reboot -f" not in d.fix
    lines = d.evidence.lines  # type: ignore[union-attr]
    assert "traps: init[1] general protection fault ip:401000" in lines[0]
    assert "Attempted to kill init! exitcode=0x0000000b" in lines[1]
    assert "---[ end Kernel panic" in lines[-1]


def test_page_fault_fix_names_only_what_is_still_missing():
    argv = qemu(cpu="max,-smap,-smep", append="console=ttyS0")
    d = run_diagnosis("boot-smap-page-fault.log", "boot", argv, stopped_because="fatal")
    assert "QEMU" not in d.fix and "lacks clearcpuid=smap,smep" in d.fix


def test_a_watched_hang_points_at_the_last_guest_line_not_qemus_kill():
    argv = qemu(cpu="max", append="console=ttyS0 lkdtm=LOOP")
    d = run_diagnosis("boot-hang-in-kernel.log", "boot", argv, stopped_because="silent")
    assert d.cause_id == "silent"
    assert d.cause == "the guest went silent after log line 125: a hang in the kernel or the app"
    assert d.evidence is not None and d.evidence.lines[-2] == "lkdtm: Performing direct entry LOOP"


def test_guest_that_prints_nothing_with_the_wrong_console():
    argv = qemu(append="console=tty0 clearcpuid=smap,smep mitigations=off")
    d = run_diagnosis("boot-silent-wrong-console.log", "boot", argv, stopped_because="silent")
    assert d.cause_id == "silent"
    assert "console=tty0" in d.cause
    assert "add console=ttyS0" in d.fix
    # The last lines the guest printed: SeaBIOS and the kernel's real-mode setup, no kernel.
    assert d.evidence is not None and "Booting from ROM..." in d.evidence.lines


def test_guest_that_prints_nothing_with_the_right_console_blames_the_kernel_config():
    d = run_diagnosis("boot-silent-wrong-console.log", "boot", qemu(), stopped_because="silent")
    assert d.cause_id == "silent"
    assert "SERIAL_8250_CONSOLE" in d.fix


# --- the fallbacks and the table itself ----------------------------------------------------------


def test_an_unknown_failure_reports_the_exit_status_and_the_log_tail(tmp_path: Path):
    log = tmp_path / "01-step.log"
    with log.open("wb") as fh:
        code = "import sys\nfor i in range(30): print('step', i)\nsys.exit(3)"
        argv = [sys.executable, "-c", code]
        rc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, timeout=30).returncode
    d = diagnose(log, StepContext("step", "build", (sys.executable, "-c", code), str(tmp_path), rc))
    assert d.cause_id == "exit-status"
    assert "exited with status 3" in d.cause
    assert span(d) == (19, 30)
    assert d.evidence.lines[-1] == "step 29"  # type: ignore[union-attr]


async def test_a_step_whose_program_is_missing_names_its_package(tmp_path: Path, monkeypatch):
    """The runner cannot start gdb (off PATH here): the diagnosis names Debian's package."""
    from ukl_tui.diagnose import diagnose_step
    from ukl_tui.runner import Runner
    from ukl_tui.steps import Step

    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    step = Step("probe", "probe", ("gdb", "--version"), str(tmp_path), {}, "prep", 30)
    runner = Runner([step], tmp_path / "logs", diagnose=diagnose_step)
    assert await runner.run() == "failed"
    d = runner.summary()["diagnosis"]
    assert d["cause_id"] == "missing-tool" and d["cause"] == "a host program is missing: gdb"
    assert d["fix"] == "install it: sudo apt-get install gdb"


def test_generic_lines_lose_to_a_specific_cause_even_when_earlier(tmp_path: Path):
    log = tmp_path / "x.log"
    text = (LOGS / "make-no-flex.log").read_text()
    log.write_text("warning: something\nmake[9]: *** [Makefile:1: early] Error 2\n" + text)
    d = diagnose(log, StepContext("x", "build", ("make",), str(tmp_path), 2))
    assert d.cause_id == "missing-tool"
    assert span(d) == (12, 12)


def test_boot_causes_do_not_fire_on_build_logs_and_back():
    boot_only = {c.id for c in CAUSES if c.kinds == {"boot"}}
    build_only = {c.id for c in CAUSES if "boot" not in c.kinds}
    build = StepContext("b", "build", ("make",), "/", 2)
    boot = StepContext("b", "boot", qemu(), "/", None, "fatal")
    for log in sorted(LOGS.glob("*.log")):
        for ctx, foreign in ((build, boot_only), (boot, build_only)):
            found = find_cause(log, ctx)
            assert found is None or found.cause_id not in foreign, (log.name, ctx.kind)


def test_a_diagnosis_round_trips_through_json():
    d = run_diagnosis("make-compile-error.log", returncode=2)
    assert Diagnosis.from_dict(d.to_dict()) == d
    text = "\n".join(d.text_lines())
    assert text.startswith("cause: C compile error")
    assert f"evidence: {LOGS / 'make-compile-error.log'}:9-12" in text
