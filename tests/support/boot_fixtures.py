"""Fixtures and /proc helpers shared by the runner, initramfs and QEMU boot tests.

The /proc checks here are written independently of ``ukl_tui.runner.group_members`` so that
the tests do not verify the runner's process cleanup with the runner's own code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def proc_state(pid: int) -> str | None:
    """The state letter of a process (``R``, ``S``, ``Z``...) or None when it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()[0].decode()


def alive(pid: int) -> bool:
    """True while a process exists and is not a zombie (an unreaped orphan is dead)."""
    state = proc_state(pid)
    return state is not None and state != "Z"


def _all_stats() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, the fields of /proc/PID/stat after the command name) for every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            data = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        yield int(entry), data[data.rfind(b")") + 2 :].split()


def live_group(pgid: int) -> list[int]:
    """Every non-zombie process whose process group is ``pgid``."""
    return [pid for pid, fields in _all_stats() if fields[0] != b"Z" and int(fields[2]) == pgid]


def children_of(ppid: int) -> list[int]:
    """Every process (zombies included: nobody reaped them) whose parent is ``ppid``."""
    return [pid for pid, fields in _all_stats() if int(fields[1]) == ppid]


@pytest.fixture
def bzimage() -> Path:
    """Debian's stock kernel from .ci/prepare-debian-kernel.sh; skipped only when unset."""
    value = os.environ.get("UKL_TUI_TEST_BZIMAGE")
    if not value:
        pytest.skip("UKL_TUI_TEST_BZIMAGE is not set (run: bash .ci/setup)")
    path = Path(value)
    assert path.is_file(), f"UKL_TUI_TEST_BZIMAGE={path} does not exist"
    return path


@pytest.fixture
def xdg_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XDG cache for code that uses ``ukl_tui.paths`` (the initramfs cache)."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "ukl-tui"
