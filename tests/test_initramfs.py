"""The minimal initramfs: a valid newc cpio with init and a static busybox, cached by inputs."""

from __future__ import annotations

import gzip
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.boot_fixtures import xdg_cache  # noqa: F401  (fixture)
from ukl_tui.errors import UserError
from ukl_tui.initramfs import build_minimal_initramfs, init_script


def parse_newc(data: bytes) -> dict[str, tuple[int, bytes, tuple[int, int]]]:
    """An independent newc reader: name -> (mode, data, (rdevmajor, rdevminor))."""
    entries = {}
    pos = 0
    while True:
        assert data[pos : pos + 6] == b"070701", f"bad magic at {pos}"
        fields = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, filesize, rmaj, rmin, namesize = (
            fields[1],
            fields[6],
            fields[9],
            fields[10],
            fields[11],
        )
        name_start = pos + 110
        name = data[name_start : name_start + namesize - 1].decode()
        assert data[name_start + namesize - 1] == 0
        body = name_start + namesize
        body += -body % 4
        content = data[body : body + filesize]
        pos = body + filesize
        pos += -pos % 4
        if name == "TRAILER!!!":
            assert pos == len(data)
            return entries
        assert fields[2] == 0 and fields[3] == 0, f"{name} not owned by root"
        entries[name] = (mode, content, (rmaj, rmin))


def test_archive_is_valid_and_complete(xdg_cache, tmp_path):  # noqa: F811
    path = build_minimal_initramfs()
    assert path.parent == xdg_cache / "initramfs"
    assert path.name.endswith(".cpio.gz")
    raw = gzip.decompress(path.read_bytes())

    # The real cpio tool lists it...
    listing = subprocess.run(
        ["cpio", "-t", "--quiet"], input=raw, capture_output=True, check=True
    ).stdout.decode()
    names = set(listing.split())
    assert {"init", "bin/busybox", "bin/sh", "sbin/ip", "dev/console"} <= names

    # ...and an independent parser agrees on the details.
    entries = parse_newc(raw)
    assert set(entries) == names
    mode, script, _ = entries["init"]
    assert stat.S_ISREG(mode) and mode & 0o111
    assert script.startswith(b"#!/bin/busybox sh\n")
    assert b'echo "UKL BOOTED"' in script
    mode, busybox, _ = entries["bin/busybox"]
    assert busybox == Path("/bin/busybox").read_bytes()
    mode, target, _ = entries["bin/sh"]
    assert stat.S_ISLNK(mode) and target == b"/bin/busybox"
    mode, _, rdev = entries["dev/console"]
    assert stat.S_ISCHR(mode) and rdev == (5, 1)

    # Unpacked by cpio, the init script is valid shell for busybox.
    unpack = tmp_path / "root"
    unpack.mkdir()
    subprocess.run(
        ["cpio", "-id", "--quiet", "--no-absolute-filenames", "--nonmatching", "dev/*"],
        input=raw,
        cwd=unpack,
        check=True,
    )
    subprocess.run(["/bin/busybox", "sh", "-n", str(unpack / "init")], check=True)


def test_cached_by_inputs(xdg_cache):  # noqa: F811
    first = build_minimal_initramfs()
    mtime = first.stat().st_mtime_ns
    assert build_minimal_initramfs() == first
    assert first.stat().st_mtime_ns == mtime  # reused, not rebuilt
    other_trigger = build_minimal_initramfs(trigger="/data/UKL")
    rebooting = build_minimal_initramfs(after_trigger="reboot")
    assert len({first, other_trigger, rebooting}) == 3
    assert sorted(p.name for p in (xdg_cache / "initramfs").iterdir()) == sorted(
        p.name for p in (first, other_trigger, rebooting)
    )


def test_reproducible(xdg_cache):  # noqa: F811
    first = build_minimal_initramfs()
    data = first.read_bytes()
    first.unlink()
    assert build_minimal_initramfs().read_bytes() == data


def test_payload_at_trigger_and_out_copy(xdg_cache, tmp_path):  # noqa: F811
    payload = tmp_path / "app.sh"
    payload.write_text("#!/bin/sh\necho 'hello, from the UKL world'\n")
    out = tmp_path / "out" / "initrd.cpio.gz"
    result = build_minimal_initramfs(out, trigger="/data/UKL", payload=payload)
    assert result == out and out.is_file()
    entries = parse_newc(gzip.decompress(out.read_bytes()))
    mode, content, _ = entries["data/UKL"]
    assert content == payload.read_bytes() and mode & 0o111
    assert stat.S_ISDIR(entries["data"][0])
    assert b"TRIGGER=/data/UKL" in entries["init"][1]


def test_reboot_option_changes_the_ending():
    assert "reboot -f" in init_script(after_trigger="reboot")
    shell = init_script()
    assert "reboot -f" not in shell and "cttyhack" in shell


@pytest.mark.parametrize("trigger", ["UKL", "/", "/a/../b", "/UKL; reboot", "/a b", "/x/"])
def test_bad_trigger_paths(trigger, xdg_cache):  # noqa: F811
    with pytest.raises(UserError):
        build_minimal_initramfs(trigger=trigger)


def test_dynamic_busybox_is_refused(xdg_cache, tmp_path):  # noqa: F811
    fake = tmp_path / "busybox"
    shutil.copy("/bin/sh", fake)  # dash: dynamically linked
    with pytest.raises(UserError, match="busybox-static"):
        build_minimal_initramfs(busybox=fake)
    with pytest.raises(UserError, match="not found"):
        build_minimal_initramfs(busybox=tmp_path / "missing")


def test_init_reads_ukl_init_args_from_proc_cmdline(tmp_path):
    """Run the init's argument parsing line under busybox sh with a fake /proc/cmdline."""
    script = init_script()
    line = next(ln for ln in script.splitlines() if ln.startswith("set -- "))
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("console=ttyS0 nosmap -- 10.0.2.15 52:54:00:12:34:56 -p11211\n")
    probe = f'{line.replace("/proc/cmdline", str(cmdline))}\necho "$1|$2|$3|$#"\n'
    out = subprocess.run(
        ["/bin/busybox", "sh", "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "10.0.2.15|52:54:00:12:34:56|-p11211|3"
    cmdline.write_text("console=ttyS0 quiet\n")
    out = subprocess.run(
        ["/bin/busybox", "sh", "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "|||0"
