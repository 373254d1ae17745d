"""Constants, input checks and small helpers every part of the plan package shares.

Kept apart so the value object (:mod:`.model`), its file form (:mod:`.tomlfile`), the checker
(:mod:`.check`) and the recipes (:mod:`.kernel`, :mod:`.ukl`, :mod:`.initrd`) import it and not
each other.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING

from ukl_tui import fsutil
from ukl_tui.apps import DEFAULT_ARCHIVE, DEFAULT_PROGRAM, App, default_program
from ukl_tui.errors import UserError

if TYPE_CHECKING:
    from ukl_tui.workspace import Workspace

#: The plan file a checkout keeps its session in.
PLAN_FILE = "ukl-tui.toml"
#: Bump when the file layout changes incompatibly.
FORMAT_VERSION = 1
#: Initrd choices besides a file path: ukl's own, ukl-tui's busybox one, or whichever is there.
INITRD_CHOICES: tuple[str, ...] = ("auto", "ukl", "minimal")
UKL_INITRD = "ukl-initrd.cpio.xz"
MINIMAL_INITRD = "ukl-tui-initramfs.cpio.gz"
#: UKL is x86_64 only (MEASURED.md: make's default ARCH=x86 gives 32-bit tiny configs).
ARCH = "x86_64"
#: Fixed build identity: the kernel's version banner, and so ccache's hit rate, stop
#: depending on when and where the build ran.
BUILD_ENV: dict[str, str] = {
    "KBUILD_BUILD_TIMESTAMP": "1970-01-01 00:00:00 UTC",
    "KBUILD_BUILD_USER": "ukl-tui",
    "KBUILD_BUILD_HOST": "ukl-tui",
}
GLIBC_NOTE = (
    "glibc's first make fails in iconv on every UKL build; ukl's Makefile continues past it "
    "and only needs libc.a to exist (a real failure shows again in the next make)"
)
#: Paths handed to make (``O=``, ``-C``, variables) must survive make's own parsing:
#: ``$`` would be expanded (``$(shell ...)``), spaces and colons break kbuild and autotools,
#: ``%`` is a pattern character, and QEMU reads a comma in a file name as a separator.
MAKE_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+@~-]+$")
SYMBOL_RE = re.compile(r"^[A-Za-z0-9_]+$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MAKEFILE_VAR = re.compile(r"^(PROGRAM|ARCHIVE)[ \t]*=[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def check_text(what: str, text: str) -> None:
    """Refuse control characters (a newline above all) and undecodable bytes in a string."""
    if CONTROL_RE.search(text):
        raise UserError(f"{what} {text!r} contains a newline or control character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{what} {text!r} is not valid UTF-8") from None


def check_make_path(what: str, path: Path) -> None:
    """A path that make and kbuild will see: no spaces, colons, ``$``, quotes or the like."""
    text = str(path)
    check_text(what, text)
    if not MAKE_SAFE_PATH.match(text):
        bad = sorted({c for c in text if not MAKE_SAFE_PATH.match(c)})
        shown = " ".join(repr(c) for c in bad)
        raise UserError(
            f"{what} {text!r} contains {shown}: the kernel's make and autotools break on (or "
            "expand) spaces, colons, '$', quotes and similar characters in paths; use another "
            "directory"
        )


def absolute(path: str | os.PathLike[str], base: Path | None = None) -> Path:
    """Expand ``~`` and make absolute against ``base`` (the plan file's directory) or the cwd."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (base or Path.cwd()) / p
    return Path(os.path.normpath(p))


def kernel_tree_unclean(root: Path) -> str | None:
    """Why kbuild would refuse an ``O=`` build from this source tree, or None."""
    for rel in (".config", "include/config", "arch/x86/include/generated"):
        if (root / rel).exists():
            return rel
    return None


def default_build_dir(tree: Path) -> Path:
    """Where a tree's build goes by default: under the cache directory, never in the sources.

    One directory per source tree (named after it, plus a hash of its real path), so changing
    presets or edits rebuilds incrementally instead of from scratch.
    """
    from ukl_tui.paths import cache_dir

    real = os.path.realpath(tree)
    digest = sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(real).name) or "tree"
    return cache_dir() / "build" / f"{name}-{digest}"


def default_plan_path(ws: Workspace, build_dir: Path | None = None) -> Path:
    """``ukl-tui.toml`` in a ukl checkout; beside the build for a plain tree.

    ukl-tui never writes into a plain kernel tree (it may be read-only, and kbuild wants it
    clean), so that tree's plan lives in its build directory.
    """
    if ws.is_ukl:
        return ws.root / PLAN_FILE
    return (build_dir or default_build_dir(ws.root)) / PLAN_FILE


def check_writable(what: str, path: Path) -> None:
    """Raise when ``path`` could not be written (checked before anything is written)."""
    check_text(f"{what} path", str(path))
    if path.is_dir():
        raise UserError(f"{what} {path} is a directory: give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {what} {path}: directory {parent} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"cannot write {what} {path}: permission denied")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {what} {path}: directory {parent} is not writable")


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file whole or not at all (a half-written plan must never be loaded)."""
    try:
        fsutil.write_atomic(path, text, mode=mode)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


# ----- TOML writing (tomllib only reads) -------------------------------------------------------


def configure_default(root: Path) -> str:
    """The program configure builds without ``--with-program`` (hello on ukl main)."""
    try:
        text = (root / "configure.ac").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return default_program(text) or DEFAULT_PROGRAM


def configured_app(root: Path) -> App | None:
    """The application configure last set up in this checkout, from its generated Makefile.

    The Makefile is the truth about what the checkout's objects belong to (a plan file could
    be older or come from elsewhere), so the clean step is added when it names another app.
    """
    try:
        text = (root / "Makefile").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    values = dict(_MAKEFILE_VAR.findall(text))
    program = values.get("PROGRAM")
    if not program:
        return None
    archive = values.get("ARCHIVE", "")
    if archive and archive != DEFAULT_ARCHIVE and os.path.isabs(archive):
        return App(name="custom", summary=f"prebuilt archive {archive}", archive=Path(archive))
    return App(name=program, summary=f"program {program}", checkout=root)


def apply_argv(
    *,
    tree: Path,
    out: Path,
    config: Path | None,
    overlays: Sequence[Path],
    presets: Sequence[str],
    base: str | None,
    sets: Mapping[str, str],
    cc: str | None = None,
) -> list[str]:
    """``ukl-tui apply`` run by the same Python, every value as ``--opt=value`` (one argv word).

    The ``=`` form keeps a value that starts with ``-`` from being read as an option. ``cc``
    is the build's ``CC=`` when it wraps the compiler: Kconfig must see the same one.
    """
    argv = [sys.executable, "-m", "ukl_tui.cli", "apply", f"--tree={tree}"]
    if config is not None:
        argv.append(f"--config={config}")
    argv += [f"--overlay={o}" for o in overlays]
    if cc:
        argv.append(f"--cc={cc}")
    argv.append(f"--out={out}")
    argv += [f"--preset={p}" for p in presets]
    if base is not None:
        argv.append(f"--base={base}")
    argv += [f"--set={name}={value}" for name, value in sets.items()]
    return argv


# ----- showing steps -----------------------------------------------------------------------------
