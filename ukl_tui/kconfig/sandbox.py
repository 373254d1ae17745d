"""Run a kconfiglib parse against an explicit environment, not the process's.

kconfiglib reads ``os.environ`` for every ``$(VAR)`` and runs ``$(shell ...)`` with the
process's working directory. Both are process-global: a parse would depend on whatever the
user's shell exported, and compiler probes that write ``.tmp_$$`` files turn to ``n`` in an
unwritable working directory (27 symbols differ on defconfig, MEASURED.md). So during a
parse kconfiglib sees a private environment (recorded, so the parse cache can fingerprint
exactly what was read) and runs probes in a private writable directory.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import kconfiglib

#: Variables of the user's environment a parse keeps: enough to find and run the toolchain.
_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")

_lock = threading.Lock()


class RecordingEnviron(dict[str, str]):
    """A mapping that remembers every name looked up in it, found or not."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.looked_up: set[str] = set()

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.looked_up.add(key)
        return super().__contains__(key)

    def __getitem__(self, key: str) -> str:
        self.looked_up.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        """Record, then look up."""
        self.looked_up.add(key)
        return super().get(key, default)


class _OsProxy(ModuleType):
    """Stands in for the ``os`` module inside kconfiglib: private environ, real everything else."""

    def __init__(self, environ: RecordingEnviron) -> None:
        super().__init__("os")
        self.environ = environ

    def getenv(self, key: str, default: str | None = None) -> str | None:
        """Read from the private environment."""
        return self.environ.get(key, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def parse_environment(kconfig_vars: Mapping[str, str]) -> RecordingEnviron:
    """The private environment of a parse: a few passthrough variables plus kbuild's."""
    base = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
    base.update(kconfig_vars)
    return RecordingEnviron(base)


@contextmanager
def sandboxed(environ: RecordingEnviron) -> Iterator[None]:
    """Make kconfiglib use ``environ`` and a private probe directory until the block ends."""
    with _lock, tempfile.TemporaryDirectory(prefix="ukl-tui-probe-") as probe_dir:

        def shell_fn(kconf: Any, _: str, command: str) -> str:
            # Same contract as kconfiglib._shell_fn, with cwd and env made explicit.
            # Kconfig's $(shell,...) is shell code by definition, so a shell is right here.
            proc = subprocess.run(  # noqa: S602
                command,
                shell=True,
                cwd=probe_dir,
                env=dict(environ),
                capture_output=True,
                check=False,
            )
            stdout = proc.stdout.decode(kconf._encoding, errors="replace")
            stderr = proc.stderr.decode(kconf._encoding, errors="replace")
            if stderr:
                kconf._warn(
                    "'{}' wrote to stderr: {}".format(command, "\n".join(stderr.splitlines())),
                    kconf.filename,
                    kconf.linenr,
                )
            return "\n".join(stdout.splitlines()).rstrip("\n").replace("\n", " ")

        saved_os, saved_shell = kconfiglib.os, kconfiglib._shell_fn
        kconfiglib.os = _OsProxy(environ)  # type: ignore[assignment]
        kconfiglib._shell_fn = shell_fn
        try:
            yield
        finally:
            kconfiglib.os, kconfiglib._shell_fn = saved_os, saved_shell
