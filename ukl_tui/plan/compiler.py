"""How the kernel's compiles run: plain gcc, through ccache, through distcc, or both.

One place decides the ``CC=`` the kernel's make gets and the environment beside it, for both
recipes (a plain tree's O= build and the kernel part of a ukl checkout):

- ccache on: ``CC=ccache gcc``; with distcc hosts too, ccache hands its misses to distcc
  through ``CCACHE_PREFIX=distcc`` (ccache's documented way: a hit never leaves the machine).
- distcc without ccache: ``CC=distcc gcc``.
- distcc hosts are probed first (:func:`ukl_tui.distcc.probe`): the ones that do not answer
  are named in a warning and left out of ``DISTCC_HOSTS``; with none left the build runs
  locally, and a warning says so.
- distcc writes its log (``DISTCC_LOG``) beside the build, emptied just before it, which is
  where the per-host job counts come from (:func:`ukl_tui.distcc.step_report`); distcc's
  warnings go there too instead of into the build output.

The same ``CC=`` is given to ``olddefconfig`` and the build: kbuild re-runs syncconfig when
the compiler it configured with changes, and ``CC_VERSION_TEXT`` must stay identical.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ukl_tui.distcc import HostList, Probe, parse_hosts, probe
from ukl_tui.errors import UserError
from ukl_tui.steps import Step

#: The client's log, in the build directory (see the module notes).
DISTCC_LOG_NAME = "distcc.log"


@dataclass(frozen=True)
class Compiler:
    """The kernel build's compiler wrapping; ``distcc`` holds only the hosts that answered."""

    ccache: bool = False
    distcc: HostList | None = None
    log: Path | None = None
    #: Every listed host's probe result (empty when distcc is off or was not probed).
    probes: tuple[Probe, ...] = field(default=(), compare=False)

    @property
    def wraps(self) -> bool:
        """True when the kernel's make needs a ``CC=`` of its own."""
        return self.ccache or self.distcc is not None

    @property
    def cc(self) -> str | None:
        """The kernel's ``CC=`` value, or None for kbuild's own ``gcc``.

        ukl-tui's Kconfig steps get it too (``--cc``): ``$(CC) --version`` is Kconfig's
        CC_VERSION_TEXT, and distcc names the compiler differently from plain gcc.
        """
        if self.ccache:
            return "ccache gcc"
        if self.distcc is not None:
            return "distcc gcc"
        return None

    def make_vars(self) -> list[str]:
        """The ``CC=`` word for the kernel's make, or none."""
        return [] if self.cc is None else [f"CC={self.cc}"]

    def env(self, *, log: bool = True) -> dict[str, str]:
        """The environment distcc (and ccache's hand-over to it) needs.

        ``log``: distcc writes to the build's log (the build step); olddefconfig's compiler
        probes leave it alone, so the log holds the build's jobs only.
        """
        if self.distcc is None:
            return {}
        env = {"DISTCC_HOSTS": self.distcc.spec()}
        if log and self.log is not None:
            env["DISTCC_LOG"] = str(self.log)
        if self.ccache:
            env["CCACHE_PREFIX"] = "distcc"
        return env

    def log_steps(self, cwd: str, *, make_dir: bool) -> list[Step]:
        """Steps that give the build an empty distcc log (and its directory, when asked).

        Emptied right before the build, so the whole log is this build's and its job counts
        need no bookkeeping of where a previous run stopped.
        """
        if self.log is None:
            return []
        steps = []
        if make_dir:
            steps.append(
                Step(
                    id="build-dir",
                    title="Create the directory for distcc's log (outside the checkout)",
                    argv=("mkdir", "-p", "--", str(self.log.parent)),
                    cwd=cwd,
                    env={},
                    kind="prep",
                    timeout=60,
                )
            )
        steps.append(
            Step(
                id="distcc-log",
                title="Empty distcc's log: it will count this build's jobs per host",
                argv=("truncate", "-s", "0", "--", str(self.log)),
                cwd=cwd,
                env={},
                kind="prep",
                timeout=60,
            )
        )
        return steps

    def olddefconfig_step(self, step_id: str, title: str, make: list[str], cwd: str) -> Step:
        """``make ... olddefconfig`` with this compiler (the same ``CC=`` as the build's)."""
        return Step(
            id=step_id,
            title=title,
            argv=(*make, "olddefconfig"),
            cwd=cwd,
            env=self.env(log=False),
            kind="prep",
            timeout=600,
        )

    def describe(self) -> str:
        """A few words for a step title: ``through ccache and distcc (8 slots)``."""
        parts = (["ccache"] if self.ccache else []) + (["distcc"] if self.distcc else [])
        if not parts:
            return ""
        n = self.distcc.slots if self.distcc else 0
        slots = f" ({n} slot{'' if n == 1 else 's'})" if self.distcc else ""
        return " through " + " and ".join(parts) + slots


def choose_compiler(
    ccache: bool | None,
    distcc: str | None,
    log_dir: Path,
    warnings: list[str],
    *,
    probe_hosts: bool = True,
) -> Compiler:
    """The compiler for this plan: ``ccache`` None means "when installed"; ``distcc`` a list.

    Problems a build can live with (hosts down, no host left) become ``warnings``; what it
    cannot (distcc asked for but not installed, a malformed list) is a UserError.
    """
    use_ccache = ccache if ccache is not None else shutil.which("ccache") is not None
    if not distcc:
        return Compiler(ccache=use_ccache)
    hosts = parse_hosts(distcc, "--distcc")
    if shutil.which("distcc") is None:
        raise UserError("distcc hosts were given but distcc is not installed (Debian: distcc)")
    if not probe_hosts:
        return Compiler(use_ccache, hosts, log_dir / DISTCC_LOG_NAME)
    probes = tuple(probe(hosts))
    down = [p for p in probes if not p.ok]
    for p in down:
        warnings.append(f"distcc host {p.host.label} left out: {p.detail}")
    up = hosts.keeping(p.host for p in probes if p.ok)
    if not up.hosts:
        warnings.append(
            "no distcc host answered: the kernel builds locally"
            + (" through ccache" if use_ccache else "")
        )
        return Compiler(ccache=use_ccache, probes=probes)
    return Compiler(use_ccache, up, log_dir / DISTCC_LOG_NAME, probes)
