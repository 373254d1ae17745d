"""The one atomic write and the one process-group kill, on real files and processes."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.boot_fixtures import alive, live_group
from ukl_tui.fsutil import write_atomic
from ukl_tui.procs import kill_group


def test_write_atomic_replaces_keeps_mode_and_old(tmp_path):
    target = tmp_path / ".config"
    write_atomic(target, "CONFIG_A=y\n")
    os.chmod(target, 0o640)
    write_atomic(target, "CONFIG_A=n\n", keep_old=True)
    assert target.read_text() == "CONFIG_A=n\n"
    assert (tmp_path / ".config.old").read_text() == "CONFIG_A=y\n"
    assert target.stat().st_mode & 0o777 == 0o640
    write_atomic(target, b"\x00raw", mode=0o600)
    assert target.read_bytes() == b"\x00raw" and target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".config", ".config.old"]


def test_write_atomic_failure_changes_nothing(tmp_path):
    target = tmp_path / "plan.toml"
    target.write_text("old\n")
    with pytest.raises(TypeError):
        write_atomic(target, 42, keep_old=True)  # type: ignore[arg-type]
    with pytest.raises(OSError):
        write_atomic(tmp_path / "missing" / "x", "text")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.toml"]


def test_kill_group_ends_a_stubborn_group_and_reaps_the_leader():
    script = "trap '' TERM; sleep 300 & echo $!; wait"
    proc = subprocess.Popen(
        ["sh", "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    child = int(proc.stdout.readline())
    assert alive(child)
    kill_group(proc.pid, grace=0.2, leader=proc)
    assert proc.returncode == -9  # it ignored SIGTERM: SIGKILL after the grace period
    assert live_group(proc.pid) == []
    proc.stdout.close()
