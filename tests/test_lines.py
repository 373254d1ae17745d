"""What output lines mean, line by line: cleaning, progress, problems, boot failures."""

from __future__ import annotations

from pathlib import Path

from ukl_tui.diagnose import CAUSES
from ukl_tui.host import package_for_header, package_for_tool
from ukl_tui.lines import (
    BOOT_FAILURES,
    boot_failure,
    boot_failure_texts,
    build_problem,
    clean_line,
    is_object_line,
    strip_sgr,
)

LOGS = Path(__file__).parent / "fixtures" / "logs"


def test_clean_line_unit():
    assert clean_line("abc") == "abc"
    assert clean_line("abc\r") == "abc"
    assert clean_line("\x1b[1;31merror\x1b[0m") == "\x1b[1;31merror\x1b[0m"
    assert clean_line("\x1b[6n/ # ") == "/ # "  # busybox's cursor query
    assert clean_line("a\x1b[Kb\x08c\x00") == "abc"
    assert clean_line("x\x1b(By") == "xy"
    assert clean_line("\x9b31mz") == "z"


def test_object_lines_count_kbuild_objects_only():
    assert is_object_line("  CC      init/main.o")
    assert is_object_line("  CC [M]  drivers/net/e1000/e1000_main.o")
    assert is_object_line("  LD      vmlinux.o")
    assert not is_object_line("CC init/main.o")  # not Kbuild's quiet format
    assert not is_object_line("  GEN     Makefile")


def test_build_problems_with_hints():
    assert build_problem("  CC      init/main.o") is None
    assert build_problem("make[1]: Nothing to be done for 'all'.") is None
    severity, plain, hint = build_problem(
        "\x1b[01;31mscripts/sign-file.c:25:10: fatal error: openssl/opensslv.h: No such file\x1b[m"
    )
    assert severity == "error" and plain.startswith("scripts/sign-file.c:25")
    assert "libssl-dev" in hint
    assert build_problem("/bin/sh: 1: flex: not found")[2] == "install flex"
    assert build_problem("a.c:1:2: warning: unused variable 'x'") == (
        "warning",
        "a.c:1:2: warning: unused variable 'x'",
        "",
    )


def test_install_hints_name_the_package_from_the_host_table():
    """The package comes from host.py's tables (what ``ukl-tui check`` recommends too)."""
    real = (LOGS / "make-no-openssl-headers.log").read_text().splitlines()
    line = next(x for x in real if "fatal error: openssl/opensslv.h" in x)
    header = "openssl/opensslv.h"
    assert build_problem(line)[2] == (
        f"install the headers of <{header}> (Debian: {package_for_header(header)})"
    )
    assert package_for_header(header) == "libssl-dev"
    gelf = "check.c:1:10: fatal error: gelf.h: No such file or directory"
    assert f"(Debian: {package_for_header('gelf.h')})" in build_problem(gelf)[2]
    clang = "a.c:1:10: fatal error: 'zstd.h' file not found"
    assert build_problem(clang)[2].endswith(f"(Debian: {package_for_header('zstd.h')})")
    # a header no table knows: no guess
    assert build_problem("a.c:1:10: fatal error: mine.h: No such file or directory")[2] == ""
    # autoreconf comes with the autoconf package
    autoreconf = "/bin/sh: 1: autoreconf: not found"
    assert build_problem(autoreconf)[2] == f"install {package_for_tool('autoreconf')}"
    assert package_for_tool("autoreconf") == "autoconf"


def test_boot_failures():
    assert boot_failure("[    1.0] Run /init as init process") is None
    panic = boot_failure("Kernel panic - not syncing: VFS: Unable to mount root fs on x")
    assert panic is not None and panic.fatal and "#38" in panic.hint  # the first pattern wins
    fault = boot_failure("BUG: unable to handle page fault for address: 0000")
    assert fault is not None and not fault.fatal and "SMAP" in fault.hint


def console(log: str) -> list[str]:
    """A real boot log's lines as the runner scans them (cleaned, colours stripped)."""
    text = (LOGS / log).read_bytes().decode("utf-8", "replace")
    return [strip_sgr(clean_line(line)) for line in text.split("\n")]


def failures(log: str) -> list[tuple[str, bool, str]]:
    """(cause, fatal, line) of each line of a real boot log that the live scan reacts to."""
    found = [(boot_failure(line), line) for line in console(log)]
    return [(f.cause, f.fatal, line) for f, line in found if f is not None]


def test_a_kernel_general_protection_fault_is_seen_live():
    # 6.1 prints "general protection fault, ..."; 6.12 puts "Oops: " before the same words
    # (arch/x86/kernel/dumpstack.c: "Oops: %s: %04lx [#%d]"), which the Oops pattern catches.
    assert failures("boot-kernel-gpf.log") == [
        (
            "oops",
            False,
            "general protection fault, probably for non-canonical address 0xdead000000000100: "
            "0000 [#1] SMP",
        ),
        (
            "kernel-panic",
            True,
            "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b",
        ),
    ]
    # The same report as 6.12 words it (its __die_header's format), with a printk time.
    newer = "[    3.1] Oops: general protection fault, probably for non-canonical address "
    newer += "0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI"
    assert boot_failure(newer) is not None and boot_failure(newer).cause == "oops"  # type: ignore[union-attr]


def test_a_null_dereference_and_its_oops_are_seen_live():
    seen = failures("boot-null-dereference.log")
    assert seen[:2] == [
        ("page-fault", False, "BUG: kernel NULL pointer dereference, address: 0000000000000000"),
        ("oops", False, "Oops: 0000 [#1] SMP"),
    ]
    assert "NULL pointer" in boot_failure(seen[0][2]).hint  # type: ignore[union-attr]
    assert seen[-1][:2] == ("kernel-panic", True)
    # the closing "---[ end Kernel panic - not syncing ..." is no second failure
    assert not [line for _, _, line in seen if line.startswith("---[ end")]


def test_a_user_programs_general_protection_fault_is_not_a_kernel_oops():
    seen = failures("boot-user-gpf.log")
    assert [cause for cause, _, _ in seen] == ["kernel-panic"]
    assert any("traps: init[1] general protection fault" in x for x in console("boot-user-gpf.log"))


def test_the_diagnosis_looks_for_the_texts_the_live_scan_reacts_to():
    """One table: each live pattern names a boot row, whose needles are those patterns."""
    rows = {cause.id: cause for cause in CAUSES}
    for failure in BOOT_FAILURES:
        assert "boot" in rows[failure.cause].kinds, failure
        assert failure.pattern in rows[failure.cause].needles, failure
    for cause in {failure.cause for failure in BOOT_FAILURES}:
        assert set(rows[cause].needles) == set(boot_failure_texts(cause)), cause
