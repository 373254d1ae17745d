"""Process groups: the one way ukl-tui ends a child and everything it started.

Every child (make, QEMU, git, tar) runs in its own process group, so one signal reaches its
compilers, helpers and grandchildren too. Ending a group is always the same three moves:
SIGTERM the group, give it a grace period to go, SIGKILL whatever is left. The blocking form
serves threads and exit paths; the async form serves the Runner's event loop. Groups that are
running are also listed here, so that the last line of defence (an ``atexit`` hook, a forced
exit on a second signal) can kill them without knowing who started them.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import subprocess
import threading
import time
from typing import Any

#: How often the grace period looks whether the group is gone.
_POLL = 0.05


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to a process group; a group that is already gone is fine."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stats() -> list[tuple[int, list[bytes]]]:
    """(pid, the fields of /proc/PID/stat after the command name) of every process."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        found.append((int(entry), stat[stat.rfind(b")") + 2 :].split()))
    return found


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc.

    Zombies are ignored: they are dead, and on a machine whose PID 1 does not reap orphans they
    would otherwise look alive forever.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    return [
        pid
        for pid, fields in _stats()
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == pgid
    ]


def child_groups() -> list[int]:
    """Groups led by this process's own live children: every child ukl-tui starts leads one.

    The last net catches a child whose start was interrupted before its owner learnt its
    group (a forced exit while ``create_subprocess_exec`` was still returning).
    """
    me = os.getpid()
    return [
        pid
        for pid, fields in _stats()
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[1]) == me and int(fields[2]) == pid
    ]


def kill_group(
    pgid: int, grace: float = 1.0, *, leader: subprocess.Popen[Any] | None = None
) -> None:
    """SIGTERM a group, wait up to ``grace`` seconds for it to go, SIGKILL the rest (blocking)
    and wait (up to two seconds more) until they are gone.

    ``leader``, the Popen that leads the group, is reaped afterwards so it leaves no zombie.
    """
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_members(pgid):
        if time.monotonic() >= deadline:
            sigkill_groups([pgid])
            break
        time.sleep(_POLL)
    if leader is not None:
        leader.wait()


def run_in_group(
    argv: list[str],
    timeout: float,
    *,
    env: dict[str, str] | None = None,
    merge_stderr: bool = False,
    grace: float = 1.0,
) -> tuple[int, bytes, bytes]:
    """Run ``argv`` to the end in a process group of its own (blocking); return its exit
    status, stdout and stderr (empty when ``merge_stderr``).

    The group is registered while it runs, so the exit and signal safety nets know it; on
    ``timeout`` (``subprocess.TimeoutExpired``) or any other exception the whole group is
    killed and the exception goes on.
    """
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    register_group(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        kill_group(proc.pid, grace, leader=proc)
        raise
    finally:
        unregister_group(proc.pid)
    return proc.returncode, out, err or b""


def sigkill_groups(pgids: list[int], wait: float = 2.0) -> None:
    """SIGKILL groups at once (a forced exit) and wait up to ``wait`` seconds until they are gone.

    Delivery is not instant: a process about to exit waits, so that it leaves nothing behind.
    """
    for pgid in pgids:
        signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while any(group_members(pgid) for pgid in pgids) and time.monotonic() < deadline:
        time.sleep(_POLL / 5)


async def terminate_group(pgid: int, grace: float) -> None:
    """:func:`kill_group` for an event loop: it keeps running during the grace period.

    After the SIGKILL it waits up to two seconds more for the kernel to reap the group.
    """
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return
        await asyncio.sleep(_POLL)
    signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while group_members(pgid) and time.monotonic() < deadline:
        await asyncio.sleep(_POLL)


# ----- groups that are running ------------------------------------------------------------------

_live_groups: set[int] = set()
_live_lock = threading.Lock()
_atexit_registered = False


def register_group(pgid: int) -> None:
    """Remember a running group until :func:`unregister_group` (safe from any thread)."""
    global _atexit_registered
    with _live_lock:
        _live_groups.add(pgid)
        if not _atexit_registered:
            atexit.register(kill_live_groups)
            _atexit_registered = True


def unregister_group(pgid: int) -> None:
    """The group has ended (or is being ended by its owner)."""
    with _live_lock:
        _live_groups.discard(pgid)


def live_groups() -> list[int]:
    """The registered groups that still have a live member."""
    with _live_lock:
        groups = sorted(_live_groups)
    return [pgid for pgid in groups if group_members(pgid)]


def kill_live_groups(grace: float = 1.0) -> None:
    """Kill every registered group and every group a child of ours leads: the ``atexit``
    safety net, and a forced exit's last act.
    """
    with _live_lock:
        groups = sorted(_live_groups | set(child_groups()))
        _live_groups.clear()
    if grace <= 0:
        sigkill_groups(groups)
        return
    for pgid in groups:
        kill_group(pgid, grace)
