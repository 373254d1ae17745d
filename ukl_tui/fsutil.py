"""The one atomic file write: a file is replaced whole or not at all.

Plans, ``.config`` files, the initramfs cache, the parse cache and a run's summary.json are all
read by something that must never see half a file (a crash, a full disk, a second process
reading at the same time). Each is written to a temporary file in the same directory, flushed
to disk and renamed over the target, which POSIX makes atomic. Callers turn ``OSError`` into
their own message (a ``UserError`` for a user's file, silence for a cache).

Reading a file the user named (a plan, a steps file) fails the same few ways whatever it
holds, so :func:`read_input` says those in one place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ukl_tui.errors import UserError


def default_mode(target: Path) -> int:
    """The mode a rewritten file keeps: the old file's, else what the umask gives a new one."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(
    target: Path,
    data: str | bytes,
    *,
    mode: int | None = None,
    keep_old: bool = False,
    fsync: bool = True,
) -> None:
    """Replace ``target`` with ``data`` (text is written as UTF-8) in one rename.

    ``mode`` defaults to :func:`default_mode`. With ``keep_old`` the previous file, if any,
    becomes ``<name>.old`` first (as the kernel's tools keep ``.config.old``), itself written
    atomically. Raises ``OSError``; on any error ``target`` is unchanged and no temporary file
    is left behind. ``fsync=False`` is for caches, where a lost write only costs time.
    """
    target = Path(target)
    directory = target.parent
    payload = data.encode("utf-8") if isinstance(data, str) else data
    file_mode = default_mode(target) if mode is None else mode
    temps: list[str] = []
    try:
        temps.append(_write_temp(directory, target.name, payload, file_mode, fsync))
        if keep_old and target.exists():
            old = target.with_name(target.name + ".old")
            temps.append(_write_temp(directory, old.name, target.read_bytes(), file_mode, fsync))
            os.replace(temps.pop(), old)
        os.replace(temps[0], target)
        temps.pop()
    finally:
        for leftover in temps:
            with contextlib.suppress(OSError):
                os.unlink(leftover)


def _write_temp(directory: Path, name: str, payload: bytes, mode: int, fsync: bool) -> str:
    """A new temporary file beside ``name`` holding ``payload``; its path."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # mkstemp creates 0600
            handle.write(payload)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def read_input(source: Path, what: str) -> bytes:
    """The bytes of a file the user named (``what``: "plan file", "steps file"), or the one
    clear line saying why it cannot be read: missing, a directory, unreadable.
    """
    try:
        return source.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{what} {source} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{what} {source} is a directory") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {source}: {exc.strerror}") from None
