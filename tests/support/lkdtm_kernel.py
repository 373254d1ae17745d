"""A small kernel that crashes or hangs on request, with symbols: tinyconfig + LKDTM + DWARF.

LKDTM (the kernel's dump test module, built in) provokes real kernel failures through
``/sys/kernel/debug/provoke-crash/DIRECT``: ``ACCESS_USERSPACE`` reads user memory from ring 0
(a page fault when SMAP is on, as a UKL app's accesses are), ``LOOP`` spins forever in the
kernel (a silent hang). The initramfs's /init reads ``lkdtm=WHAT`` from the kernel command line.
The build lives in ``$UKL_TUI_CI_CACHE/kbuild-lkdtm`` (kept between sessions, incremental) and
compiles through ccache; a cold build takes 10-25 minutes on 2 shared cores.
"""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

from ukl_tui.host import find_static_busybox
from ukl_tui.initramfs import write_newc

ENABLE = (
    "64BIT PRINTK TTY SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_INITRD RD_GZIP BINFMT_ELF "
    "BINFMT_SCRIPT DEVTMPFS DEVTMPFS_MOUNT PROC_FS SYSFS SMP DEBUG_KERNEL RUNTIME_TESTING_MENU "
    "DEBUG_FS DEBUG_FS_ALLOW_ALL LKDTM KALLSYMS BUG DEBUG_INFO DEBUG_INFO_DWARF5 MULTIUSER FUTEX"
).split()

INIT = """#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t debugfs none /sys/kernel/debug
for w in $(/bin/busybox cat /proc/cmdline); do
  case "$w" in lkdtm=*) what="${w#lkdtm=}" ;; esac
done
echo "init: provoking $what"
echo "$what" > /sys/kernel/debug/provoke-crash/DIRECT
echo "init: still alive"
exec /bin/busybox sleep 100000
"""


def build_lkdtm_kernel(tree: Path, build: Path, ccache_dir: Path, timeout: float) -> Path:
    """Configure (once) and make bzImage in ``build``; the build directory (vmlinux beside)."""
    build.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CCACHE_DIR=str(ccache_dir))
    make = ["make", "-C", str(tree), f"O={build}", "ARCH=x86_64"]
    config = build / ".config"
    if "CONFIG_LKDTM=y" not in (config.read_text() if config.exists() else ""):
        subprocess.run([*make, "tinyconfig"], env=env, check=True, capture_output=True, timeout=600)
        edit = [str(tree / "scripts" / "config"), "--file", str(config)]
        for name in ENABLE:
            edit += ["-e", name]
        subprocess.run([*edit, "-d", "DEBUG_INFO_NONE"], check=True, timeout=60)
        for _ in range(2):  # LKDTM's menu appears only once RUNTIME_TESTING_MENU has settled
            subprocess.run([*make, "olddefconfig"], env=env, check=True, capture_output=True)
            subprocess.run([*edit, "-e", "LKDTM"], check=True, timeout=60)
        subprocess.run([*make, "olddefconfig"], env=env, check=True, capture_output=True)
    result = subprocess.run(
        [*make, "CC=ccache gcc", f"-j{os.cpu_count() or 2}", "bzImage"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "CONFIG_LKDTM=y" in config.read_text()
    return build


def lkdtm_initramfs(dest: Path) -> Path:
    """A gzip newc initramfs: a static busybox and the /init above."""
    busybox = find_static_busybox()
    assert busybox is not None, "busybox-static is needed"
    from ukl_tui.initramfs import _Entry  # the writer's own entry type

    entries = [
        _Entry("bin", 0o40755),
        _Entry("bin/busybox", 0o100755, busybox.read_bytes()),
        _Entry("bin/sh", 0o120777, b"busybox"),
        _Entry("proc", 0o40755),
        _Entry("sys", 0o40755),
        _Entry("dev", 0o40755),
        _Entry("init", 0o100755, INIT.encode()),
    ]
    dest.write_bytes(gzip.compress(write_newc(entries)))
    return dest
