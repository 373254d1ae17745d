"""Kernel sources when the user has none: Debian's ``linux-source-*`` tarballs, unpacked.

Part of the UI-free core; the welcome screen offers it when no tree is found anywhere.
The tarball is fed to ``tar`` through a pipe by this process, so the bytes fed against the
file size are an exact progress figure without listing the archive first. ``tar`` runs in
its own process group with its output in a log file, and is killed (group, SIGTERM then
SIGKILL) on cancel.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ukl_tui.errors import UserError
from ukl_tui.paths import cache_dir
from ukl_tui.procs import kill_group

#: Where Debian's linux-source packages put their tarballs.
DEBIAN_SOURCES = Path("/usr/src")
_TARBALL_RE = re.compile(r"^(linux-source-[0-9][0-9.]*)\.tar\.(xz|gz|bz2|zst)$")
_CHUNK = 1 << 20


def debian_tarballs(directory: Path = DEBIAN_SOURCES) -> list[Path]:
    """Installed ``linux-source-X.Y.tar.*`` files, newest version first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _TARBALL_RE.match(p.name) and p.is_file()]

    def version(path: Path) -> tuple[int, ...]:
        match = _TARBALL_RE.match(path.name)
        assert match is not None
        numbers = match.group(1).removeprefix("linux-source-").split(".")
        return tuple(int(n) for n in numbers if n.isdigit())

    return sorted(found, key=version, reverse=True)


def unpacked_dir(tarball: Path, base: Path | None = None) -> Path:
    """Where a tarball is (or will be) unpacked: ``<cache>/sources/linux-source-X.Y``."""
    match = _TARBALL_RE.match(tarball.name)
    if match is None:
        raise UserError(f"{tarball}: not a linux-source tarball")
    return (base or cache_dir() / "sources") / match.group(1)


def _stamp(tarball: Path) -> str:
    st = tarball.stat()
    return f"{tarball} {st.st_size} {int(st.st_mtime)}"


def is_unpacked(tarball: Path, base: Path | None = None) -> bool:
    """True when the tarball was fully unpacked before (and has not changed since)."""
    dest = unpacked_dir(tarball, base)
    stamp = dest / ".ukl-tui-unpacked-from"
    try:
        return stamp.read_text() == _stamp(tarball)
    except OSError:
        return False


def _decompress_flag(tarball: Path) -> str:
    return {".xz": "-J", ".gz": "-z", ".bz2": "-j", ".zst": "--zstd"}[tarball.suffix]


def unpack_tarball(
    tarball: Path,
    base: Path | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Unpack a Debian linux-source tarball into the cache and return the kernel tree.

    Reuses an earlier complete unpack. Unpacks into a temporary directory and renames it at
    the end, so an interrupted unpack never leaves a half tree that looks complete.
    """
    dest = unpacked_dir(tarball, base)
    if is_unpacked(tarball, base):
        return dest
    if shutil.which("tar") is None:
        raise UserError("tar is not installed (apt-get install tar)")
    work = dest.parent / f".{dest.name}.unpacking"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    logs = cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"unpack-{datetime.now():%Y%m%d-%H%M%S}.log"
    argv = ["tar", "-x", _decompress_flag(tarball), "-f", "-", "-C", str(work)]
    total = max(1, tarball.stat().st_size)
    with log_path.open("w") as log:
        log.write("$ " + " ".join(argv) + f" < {tarball}\n")
        log.flush()
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=log, stderr=log, start_new_session=True
        )
        assert proc.stdin is not None
        fed = 0
        try:
            with tarball.open("rb") as source:
                while chunk := source.read(_CHUNK):
                    if cancel is not None and cancel.is_set():
                        raise UserError("unpacking cancelled")
                    try:
                        proc.stdin.write(chunk)
                    except BrokenPipeError:
                        break  # tar stopped reading: its exit status and log say why
                    fed += len(chunk)
                    if progress is not None:
                        progress(min(1.0, fed / total))
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            rc = proc.wait()
        except BaseException:
            _kill(proc)
            shutil.rmtree(work, ignore_errors=True)
            raise
    if rc != 0:
        shutil.rmtree(work, ignore_errors=True)
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
        raise UserError(f"unpacking {tarball} failed: {' '.join(tail)} (log: {log_path})")
    inner = [p for p in work.iterdir() if p.is_dir()]
    tree = inner[0] if len(inner) == 1 else work
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tree, dest)
    shutil.rmtree(work, ignore_errors=True)
    (dest / ".ukl-tui-unpacked-from").write_text(_stamp(tarball))
    return dest


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        kill_group(proc.pid, 3.0, leader=proc)
