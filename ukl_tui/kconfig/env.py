"""The environment Linux's Kconfig expects, recreated without running ``make``.

The kernel's top-level Makefile exports variables that Kconfig files expand (``$(CC)``,
``$(srctree)``, ``$(KERNELVERSION)`` ...). Leaving one unset does not fail: it expands to
an empty string and silently changes values (no ``OBJCOPY`` drops X86_X32_ABI). So this
module sets every one of them the way kbuild does, and the parse cache fingerprints them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from ukl_tui.errors import UserError

#: Tools kbuild names in its Makefile (without CROSS_COMPILE); Kconfig probes some of them.
TOOLS: dict[str, str] = {
    "CC": "gcc",
    "LD": "ld",
    "AR": "ar",
    "NM": "nm",
    "STRIP": "strip",
    "OBJCOPY": "objcopy",
    "OBJDUMP": "objdump",
    "READELF": "readelf",
    "PAHOLE": "pahole",
    "RESOLVE_BTFIDS": "resolve_btfids",
    "LEX": "flex",
    "YACC": "bison",
    "AWK": "awk",
    "PERL": "perl",
    "PYTHON3": "python3",
    "HOSTCC": "gcc",
    "HOSTCXX": "g++",
    "HOSTPKG_CONFIG": "pkg-config",
    "RUSTC": "rustc",
    "RUSTDOC": "rustdoc",
    "RUSTFMT": "rustfmt",
    "BINDGEN": "bindgen",
    "CARGO": "cargo",
}

#: UKL is x86_64 only: ARCH=x86_64 keeps 64BIT promptless (make's default ARCH=x86 does not).
ARCH = "x86_64"
SRCARCH = "x86"

_MAKEFILE_VAR = re.compile(
    r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)[ \t]*=[ \t]*(.*?)[ \t]*$", re.MULTILINE
)


def makefile_version(srctree: Path) -> str | None:
    """KERNELVERSION as ``make kernelversion`` prints it, or None when the Makefile has none.

    ``VERSION.PATCHLEVEL.SUBLEVEL`` then ``EXTRAVERSION``; an empty SUBLEVEL drops its dot
    (``6.1`` + ``-rc1``). The variables sit in the Makefile's first lines; the first
    definition wins, as later ones are conditional in some trees.
    """
    try:
        with open(srctree / "Makefile", "rb") as handle:
            head = handle.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    values: dict[str, str] = {}
    for match in _MAKEFILE_VAR.finditer(head):
        values.setdefault(match.group(1), match.group(2))
    if not values.get("VERSION") or not values.get("PATCHLEVEL"):
        return None
    text = f"{values['VERSION']}.{values['PATCHLEVEL']}"
    if values.get("SUBLEVEL"):
        text += "." + values["SUBLEVEL"]
    return text + values.get("EXTRAVERSION", "")


def kernel_version(srctree: Path) -> str:
    """``makefile_version``, or a clear error when the tree has no version."""
    version = makefile_version(srctree)
    if version is None:
        raise UserError(f"{srctree}/Makefile has no VERSION/PATCHLEVEL lines: not a kernel tree")
    return version


def _command(words: str) -> list[str] | None:
    """A tool variable's words as argv, its program resolved on PATH (None: not found)."""
    argv = shlex.split(words)
    exe = shutil.which(argv[0]) if argv else None
    return None if exe is None else [exe, *argv[1:]]


@lru_cache(maxsize=8)
def _cc_version_text(cc: str) -> str:
    """First line of ``$(CC) --version``, exported by kbuild as CC_VERSION_TEXT.

    ``cc`` is the whole ``CC=`` value, wrapper included: the kernel runs ``$(CC) --version``
    as is, and ``distcc gcc --version`` names the compiler ``x86_64-linux-gnu-gcc`` (distcc
    rewrites a generic compiler name to the target's), so the text follows the wrapper.
    """
    argv = _command(cc)
    if argv is None:
        return ""
    try:
        out = subprocess.run(
            [*argv, "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            stdin=subprocess.DEVNULL,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.splitlines()[0] if out else ""


def kconfig_env(srctree: Path, cc: str | None = None) -> dict[str, str]:
    """Every variable Linux's Kconfig reads, set as ``make ARCH=x86_64`` would set it.

    ``cc``: the ``CC=`` the kernel's make gets (``ccache gcc``, ``distcc gcc``), when the
    build wraps the compiler: Kconfig sees ``$(CC)`` and its version text as make hands them
    over (scripts/Kconfig.include runs ``$(CC) --version``), so ukl-tui must parse with the
    same words to write the same CC_VERSION_TEXT and compiler probes.
    """
    env = dict(TOOLS)
    if cc:
        try:
            words = shlex.split(cc)
        except ValueError as exc:
            raise UserError(f"--cc {cc!r}: {exc}") from None
        if not words or shutil.which(words[0]) is None:
            raise UserError(f"--cc {cc!r}: {words[0] if words else 'no command'} is not on PATH")
        env["CC"] = cc
    env.update(
        {
            "srctree": str(srctree),
            "ARCH": ARCH,
            "SRCARCH": SRCARCH,
            "KERNELVERSION": kernel_version(srctree),
            "CC_VERSION_TEXT": _cc_version_text(env["CC"]),
            "CONFIG_": "CONFIG_",
            "KCONFIG_CONFIG": ".config",
        }
    )
    return env


def toolchain_fingerprint(env: dict[str, str]) -> str:
    """A digest that changes when any tool Kconfig probes is replaced or upgraded.

    Compiler probes (``$(cc-option ...)``) decide symbol values, so a cached parse made
    with another compiler must not be reused. Resolving each tool and hashing its path,
    size and mtime is cheap (no process is started).
    """
    digest = hashlib.sha256()
    path_env = os.environ.get("PATH", "")
    digest.update(path_env.encode())
    for var in sorted(TOOLS):
        argv = _command(env.get(var, ""))
        digest.update(f"{var}={argv}".encode())
        if argv:
            st = os.stat(argv[0])
            digest.update(f":{st.st_size}:{st.st_mtime_ns}".encode())
    digest.update(env.get("CC_VERSION_TEXT", "").encode())
    return digest.hexdigest()
