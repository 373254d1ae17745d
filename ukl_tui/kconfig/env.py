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

_MAKEFILE_VAR = re.compile(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=\s*(\S*)\s*$", re.M)


def kernel_version(srctree: Path) -> str:
    """KERNELVERSION as kbuild computes it from the top-level Makefile (e.g. ``6.1.192``)."""
    try:
        head = (srctree / "Makefile").read_text(errors="replace")[:4096]
    except OSError as exc:
        raise UserError(f"{srctree}: cannot read the kernel Makefile ({exc.strerror})") from None
    found = dict(_MAKEFILE_VAR.findall(head))
    if "VERSION" not in found or "PATCHLEVEL" not in found:
        raise UserError(f"{srctree}/Makefile has no VERSION/PATCHLEVEL lines: not a kernel tree")
    version = f"{found['VERSION']}.{found['PATCHLEVEL']}"
    if found.get("SUBLEVEL"):
        version += f".{found['SUBLEVEL']}"
    return version + found.get("EXTRAVERSION", "")


@lru_cache(maxsize=8)
def _cc_version_text(cc: str) -> str:
    """First line of ``$(CC) --version``, exported by kbuild as CC_VERSION_TEXT."""
    exe = shutil.which(cc)
    if exe is None:
        return ""
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.splitlines()[0] if out else ""


def kconfig_env(srctree: Path) -> dict[str, str]:
    """Every variable Linux's Kconfig reads, set as ``make ARCH=x86_64`` would set it."""
    env = dict(TOOLS)
    env.update(
        {
            "srctree": str(srctree),
            "ARCH": ARCH,
            "SRCARCH": SRCARCH,
            "KERNELVERSION": kernel_version(srctree),
            "CC_VERSION_TEXT": _cc_version_text(TOOLS["CC"]),
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
        exe = shutil.which(env.get(var, ""))
        digest.update(f"{var}={exe}".encode())
        if exe:
            st = os.stat(exe)
            digest.update(f":{st.st_size}:{st.st_mtime_ns}".encode())
    digest.update(env.get("CC_VERSION_TEXT", "").encode())
    return digest.hexdigest()
