"""A minimal UKL-style initramfs built from Debian's static busybox, without Docker or root.

ukl's own initrd is built in Docker (``docker exec -it``, needs a pty) and is nearly empty when
perf is missing (ukl issue #38). This one is enough to prove a kernel boots to a UKL-shaped
``/init``: it prints ``UKL BOOTED`` like ukl's init, configures the network from ukl's init
arguments, runs the trigger path and then offers a shell on the console.

The newc cpio is written here in Python so every entry can be owned by root and
``/dev/console`` can be a real device node without the builder being root; gzip output with
fixed timestamps makes the archive reproducible, so it is cached by a hash of its inputs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ukl_tui import fsutil, paths
from ukl_tui.errors import UserError
from ukl_tui.host import elf_is_static

AfterTrigger = Literal["shell", "reboot"]

#: Bump when the archive layout or the init script changes: it is part of the cache key.
FORMAT_VERSION = 1
DEFAULT_BUSYBOX = Path("/bin/busybox")

_INIT_TEMPLATE = r"""#!/bin/busybox sh
# ukl-tui minimal initramfs init (format @VERSION@).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=vt100
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || echo "W: devtmpfs not available"
mkdir -p /dev/pts /tmp
mount -t devpts devpts /dev/pts 2>/dev/null
ip link set lo up 2>/dev/null

# ukl's init arguments: everything after '--' on the kernel command line is IP MAC APP-ARGS.
# Read them from /proc/cmdline: unknown kernel words without '=' also land in init's argv.
set -- $(sed -n 's/.* -- //p' /proc/cmdline)
IP=$1 MAC=$2 APPARGS=$3
if [ -n "$IP" ]; then
    case "$IP" in */*) ;; *) IP="$IP/24" ;; esac
    INF=eth0
    if [ -n "$MAC" ]; then
        for dev in /sys/class/net/*; do
            if [ "$(cat "$dev/address" 2>/dev/null)" = "$MAC" ]; then INF=${dev##*/}; fi
        done
    fi
    ip address flush dev "$INF" 2>/dev/null
    ip address add "$IP" brd + dev "$INF" && ip link set "$INF" up \
        && echo "ukl-init: $INF $IP"
fi

echo "UKL BOOTED"

TRIGGER=@TRIGGER@
if [ -x "$TRIGGER" ]; then
    if [ -n "$APPARGS" ]; then "$TRIGGER" "$APPARGS"; else "$TRIGGER"; fi
    echo "ukl-init: $TRIGGER exited with status $?"
fi
@AFTER@
"""

_AFTER_SHELL = r"""# Console shell: cttyhack gives it the real serial tty as controlling terminal.
while :; do
    setsid cttyhack sh -l
    sleep 1
done
"""

_AFTER_REBOOT = r"""# QEMU runs with -no-reboot, so a reboot ends QEMU and the boot step.
sync
reboot -f
"""


@dataclass
class _Entry:
    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def _newc_header(ino: int, entry: _Entry, namesize: int) -> bytes:
    fields = (
        ino,
        entry.mode,
        0,  # uid: root
        0,  # gid: root
        2 if stat.S_ISDIR(entry.mode) else 1,
        0,  # mtime: fixed, for reproducible archives
        len(entry.data),
        0,
        0,
        entry.rdev[0],
        entry.rdev[1],
        namesize,
        0,  # check: unused in newc
    )
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def write_newc(entries: Iterable[_Entry]) -> bytes:
    """Serialise entries as a newc ("070701") cpio archive, the format the kernel unpacks."""
    out = bytearray()

    def pad() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    ino = 1
    for entry in [*entries, _Entry("TRAILER!!!", 0)]:
        name = entry.name.encode() + b"\0"
        out += _newc_header(0 if entry.name == "TRAILER!!!" else ino, entry, len(name))
        out += name
        pad()
        out += entry.data
        pad()
        ino += 1
    return bytes(out)


def _check_trigger(trigger: str) -> None:
    if not trigger.startswith("/") or trigger == "/" or trigger.endswith("/"):
        raise UserError(f"trigger path {trigger!r} must be an absolute file path such as /UKL")
    if any(part in ("", ".", "..") for part in trigger[1:].split("/")):
        raise UserError(f"trigger path {trigger!r} must not contain empty, '.' or '..' parts")
    if not all(c.isalnum() or c in "/._-" for c in trigger):
        raise UserError(
            f"trigger path {trigger!r} may only use letters, digits and '/._-' "
            "(it is written into the init script)"
        )


def busybox_applets(busybox: Path) -> list[str]:
    """Install paths of every applet (``bin/sh``, ``sbin/ip``...), from busybox itself."""
    try:
        out = subprocess.run(
            [str(busybox), "--list-full"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise UserError(f"cannot list the applets of {busybox}: {exc}") from None
    applets = [line.strip().lstrip("/") for line in out.splitlines() if line.strip()]
    if "bin/sh" not in applets:
        raise UserError(f"{busybox} has no 'sh' applet")
    return applets


def init_script(trigger: str = "/UKL", after_trigger: AfterTrigger = "shell") -> str:
    """The ``/init`` shell script for a trigger path and an after-trigger behaviour."""
    _check_trigger(trigger)
    if after_trigger not in ("shell", "reboot"):
        raise UserError(f"after_trigger must be 'shell' or 'reboot', not {after_trigger!r}")
    return (
        _INIT_TEMPLATE.replace("@VERSION@", str(FORMAT_VERSION))
        .replace("@TRIGGER@", trigger)
        .replace("@AFTER@", _AFTER_SHELL if after_trigger == "shell" else _AFTER_REBOOT)
    )


def _entries(
    busybox_data: bytes,
    applets: list[str],
    script: str,
    trigger: str,
    payload_data: bytes | None,
) -> list[_Entry]:
    dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root"}
    dirs |= {"etc", "run"}
    for applet in applets:
        parent = os.path.dirname(applet)
        while parent:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    if payload_data is not None:
        parent = os.path.dirname(trigger.lstrip("/"))
        while parent:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    entries = [_Entry(d, stat.S_IFDIR | 0o755) for d in sorted(dirs)]
    entries.append(_Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    entries.append(_Entry("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3)))
    entries.append(_Entry("bin/busybox", stat.S_IFREG | 0o755, busybox_data))
    for applet in sorted(set(applets) - {"bin/busybox"}):
        entries.append(_Entry(applet, stat.S_IFLNK | 0o777, b"/bin/busybox"))
    entries.append(_Entry("etc/passwd", stat.S_IFREG | 0o644, b"root:x:0:0:root:/root:/bin/sh\n"))
    entries.append(_Entry("init", stat.S_IFREG | 0o755, script.encode()))
    if payload_data is not None:
        entries.append(_Entry(trigger.lstrip("/"), stat.S_IFREG | 0o755, payload_data))
    return entries


def build_minimal_initramfs(
    out: Path | None = None,
    trigger: str = "/UKL",
    payload: Path | None = None,
    *,
    after_trigger: AfterTrigger = "shell",
    busybox: Path = DEFAULT_BUSYBOX,
) -> Path:
    """Build (or reuse from the cache) a gzip newc initramfs; return its path.

    ``payload`` is copied to the trigger path (mode 0755). ``after_trigger="reboot"`` makes
    init ``reboot -f`` once the trigger has run, so QEMU with ``-no-reboot`` exits; the default
    falls back to a console shell. With ``out`` the cached archive is also copied there.
    """
    if not busybox.is_file():
        raise UserError(f"{busybox} not found: install busybox-static")
    if not elf_is_static(busybox):
        raise UserError(f"{busybox} is not a static executable: install busybox-static")
    script = init_script(trigger, after_trigger)
    busybox_data = busybox.read_bytes()
    payload_data = None
    if payload is not None:
        if not payload.is_file():
            raise UserError(f"payload {payload} is not a file")
        payload_data = payload.read_bytes()

    key = hashlib.sha256()
    for part in (
        f"v{FORMAT_VERSION}".encode(),
        script.encode(),
        trigger.encode(),
        busybox_data,
        b"-" if payload_data is None else payload_data,
    ):
        key.update(hashlib.sha256(part).digest())
    cache = paths.cache_dir() / "initramfs" / f"{key.hexdigest()[:32]}.cpio.gz"

    if not cache.is_file():
        applets = busybox_applets(busybox)
        archive = write_newc(_entries(busybox_data, applets, script, trigger, payload_data))
        cache.parent.mkdir(parents=True, exist_ok=True)
        # mtime 0 and no file name in the header: the same inputs give the same bytes.
        raw = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
            gz.write(archive)
        fsutil.write_atomic(cache, raw.getvalue(), mode=0o644)
    if out is None:
        return cache
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cache, out)
    return out
