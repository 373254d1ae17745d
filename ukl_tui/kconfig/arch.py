"""Which architecture a ``.config`` (or fragment) was made for, read from the file itself.

Kconfig loads an arm64 ``.config`` into the x86 tree without a word: every symbol the tree
lacks is ignored and the rest falls back to defaults. Comparing or saving across
architectures is therefore refused up front. The symbols that name an architecture are the
best evidence (``CONFIG_X86_64=y``); the generated header (``# Linux/arm64 6.1.0 Kernel
Configuration``) is used when they are absent, as in a short fragment.
"""

from __future__ import annotations

import re
from pathlib import Path

from ukl_tui.errors import UserError

#: Symbols each architecture's Kconfig defines as ``def_bool y``, most specific first.
_MARKERS: tuple[tuple[str, str], ...] = (
    ("X86_64", "x86_64"),
    ("X86_32", "i386"),
    ("ARM64", "arm64"),
    ("ARM", "arm"),
    ("RISCV", "riscv"),
    ("PPC", "powerpc"),
    ("S390", "s390"),
    ("MIPS", "mips"),
    ("LOONGARCH", "loongarch"),
    ("SPARC", "sparc"),
    ("PARISC", "parisc"),
    ("ALPHA", "alpha"),
    ("M68K", "m68k"),
    ("SUPERH", "sh"),
    ("UML", "um"),
)
_HEADER = re.compile(r"^# Linux/(\S+) \S+ Kernel Configuration\s*$", re.M)
#: Header names that cover several of the names above (``ARCH=x86`` builds either).
_FAMILY = {"x86_64": "x86", "i386": "x86", "x86": "x86", "arm64": "arm64", "arm": "arm"}


_MARKER = re.compile(r"^CONFIG_(" + "|".join(symbol for symbol, _ in _MARKERS) + r")=y\s*$", re.M)


def config_arch(text: str) -> str | None:
    """``x86_64``, ``arm64``, ... or ``x86`` (32 or 64 bit) from the header; None: unknown.

    A regular expression over the whole text: the files are read before the model parses
    them, so this must cost next to nothing.
    """
    found = {match.group(1) for match in _MARKER.finditer(text)}
    for symbol, arch in _MARKERS:
        if symbol in found:
            return arch
    match = _HEADER.search(text)
    return match.group(1) if match else None


def _compatible(a: str, b: str) -> bool:
    if a == b:
        return True
    # "x86" (from a header) is either bitness; two specific names must agree exactly.
    return "x86" in (a, b) and _FAMILY.get(a) == _FAMILY.get(b)


def check_arch(paths: list[Path], tree_arch: str = "x86_64") -> None:
    """Refuse files made for different architectures, or for another one than the tree's."""
    known = []
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            raise UserError(f"{path}: no such file") from None
        except OSError as exc:
            raise UserError(f"{path}: cannot read ({exc.strerror})") from None
        arch = config_arch(text)
        if arch:
            known.append((path, arch))
    for (path_a, arch_a), (path_b, arch_b) in zip(known, known[1:], strict=False):
        if not _compatible(arch_a, arch_b):
            raise UserError(
                f"{path_b}: a Linux/{arch_b} configuration, but {path_a} is {arch_a}: "
                "use configurations of one architecture"
            )
    for path, arch in known:
        if not _compatible(arch, tree_arch):
            raise UserError(
                f"{path}: a Linux/{arch} configuration, but the tree is read as {tree_arch}: "
                "use configurations of one architecture"
            )


__all__ = ["check_arch", "config_arch"]
