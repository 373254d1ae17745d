"""Real distcc daemons for tests: on 127.0.0.1 only, each with its own log, always stopped.

Each daemon runs ``distccd --daemon --no-detach --listen 127.0.0.1 --allow 127.0.0.1`` in its
own process group (so stopping it takes its compile children too). The log is distccd's
``--log-stderr`` written to a file the test opened: run as root, distccd drops to the
``distccd`` user before it would open a ``--log-file``, and that user cannot enter pytest's
0700 temporary directories; an inherited descriptor works for any user.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

_OK_RE = re.compile(r"\bCOMPILE_OK\b")


@dataclass
class Daemon:
    """One running distccd: where it listens and what it logged."""

    port: int
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        """Its entry in a distcc host list (limit 2: the machine has 2 cores)."""
        return f"127.0.0.1:{self.port}/2"

    def jobs(self) -> int:
        """Compile jobs the daemon finished (its ``COMPILE_OK`` job summaries)."""
        return len(_OK_RE.findall(self.log.read_text(errors="replace")))


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_distcc() -> None:
    """Fail (not skip) when distcc is missing: .ci/setup installs it."""
    for tool in ("distcc", "distccd"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (Debian: distcc; run .ci/setup)")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """TERM the daemon's group, wait for every member to go, KILL what stays."""
    pgid = process.pid
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is None:
                time.sleep(0.05)
                continue
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
    process.wait(timeout=5)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"distccd exited ({process.returncode}): {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"distccd on port {port} did not start listening: {log.read_text()}")


@contextmanager
def distccd(
    directory: Path, name: str, jobs: int = 2, allow: str = "127.0.0.1"
) -> Iterator[Daemon]:
    """Run one daemon on a free loopback port; stopped on exit, also when the test fails.

    ``allow`` is the client address the daemon serves; another loopback address (say
    127.0.0.2) makes a daemon that accepts connections and then refuses every job.
    """
    require_distcc()
    port = free_port()
    log = directory / f"distccd-{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["distccd", "--daemon", "--no-detach", "--listen", "127.0.0.1"]
            + ["--allow", allow, "--port", str(port), "--jobs", str(jobs)]
            + ["--log-stderr", "--log-level=info"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        _wait_listening(port, process, log)
        yield Daemon(port, log, process)
    finally:
        _stop(process)


@contextmanager
def daemons(directory: Path, count: int) -> Iterator[list[Daemon]]:
    """``count`` daemons at once (each stopped whatever happens to the others)."""
    with ExitStack() as stack:
        yield [stack.enter_context(distccd(directory, str(i))) for i in range(1, count + 1)]
