"""What output lines mean, line by line: cleaning, progress, problems, boot failures."""

from __future__ import annotations

from ukl_tui.lines import boot_failure, build_problem, clean_line, is_object_line


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


def test_boot_failures():
    assert boot_failure("[    1.0] Run /init as init process") is None
    panic = boot_failure("Kernel panic - not syncing: VFS: Unable to mount root fs on x")
    assert panic is not None and panic.fatal and "#38" in panic.hint  # the first pattern wins
    fault = boot_failure("BUG: unable to handle page fault for address: 0000")
    assert fault is not None and not fault.fatal and "SMAP" in fault.hint
