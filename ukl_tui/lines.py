"""Reading a step's output: clean lines, build progress, errors with hints, boot milestones.

The Runner (``runner.py``) owns processes; this module says what their lines mean, with no
state of its own, so it is tested line by line and shared by everything that reads output
(the live run, the progress estimate from an earlier run's log).

- Cleaning: what a terminal would show for a line, minus every escape except colours (QEMU
  resets the terminal, progress counters rewrite their line with CR).
- Progress: Kbuild's quiet-mode object lines (``  CC      init/main.o``); an earlier run's
  count is the total of a repeat build.
- Problems: compiler and make errors and warnings, with a hint for the causes UKL users keep
  meeting (missing headers and tools, named with host.py's package tables; PIE toolchains,
  missing symbols).
- Boot: the milestones of a healthy UKL boot and the console lines that mean it failed (the
  texts the diagnosis's kernel-failure rows look for, too).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ukl_tui.host import package_for_header, package_for_tool

Severity = Literal["error", "warning", "expected", "info"]

# --- line cleaning ---------------------------------------------------------------------------

#: Anything a terminal would interpret: C0 controls except \t and \n, DEL, C1 controls.
_NEEDS_CLEAN_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SGR_RE = re.compile(r"\x1b\[[0-9;:]*m")
_ESCAPE_RE = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]            # CSI: colours (kept when SGR), cursor moves, clears
    | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?  # OSC: window titles
    | \x1b[PX^_][^\x1b]*(?:\x1b\\)?      # DCS, SOS, PM, APC strings
    | \x1b[ -/]*[0-~]                    # two-byte escapes: \x1bc (reset), \x1b(B, \x1b7
    | \x1b                               # a lone ESC
    | \x9b[0-?]*[ -/]*[@-~]              # 8-bit CSI
    | [\x00-\x08\x0b-\x1f\x7f-\x9f]      # remaining control characters
    """,
    re.VERBOSE,
)


def _keep_sgr(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if _SGR_RE.fullmatch(text) else ""


def clean_line(line: str) -> str:
    """What a terminal would show for one line, minus everything but colour escapes.

    A trailing CR (CR LF endings) is dropped; text before an inner CR was overwritten on a
    terminal (progress counters), so only the last segment is kept. Cursor moves, screen
    clears, the terminal reset QEMU emits and other control characters are removed; SGR
    colour sequences stay so a line widget can still colour errors.
    """
    if not _NEEDS_CLEAN_RE.search(line):
        return line
    line = line.rstrip("\r")
    if "\r" in line:
        line = line.rsplit("\r", 1)[1]
    return _ESCAPE_RE.sub(_keep_sgr, line)


def strip_sgr(line: str) -> str:
    """The plain text of a line, for matching patterns against coloured output."""
    return _SGR_RE.sub("", line) if "\x1b" in line else line


def needs_cleaning(text: str) -> bool:
    """Whether any line of ``text`` holds something :func:`clean_line` would change."""
    return _NEEDS_CLEAN_RE.search(text) is not None


# --- what lines mean -------------------------------------------------------------------------

#: Kbuild's quiet-mode lines for objects: "  CC      init/main.o", "  CC [M]  x.o", "  LD  ...".
_KBUILD_RE = re.compile(r"^  (?:CC|AS|LD|AR)(?: \[M\])? +\S")
_ERROR_RE = re.compile(
    r"\berror:|\bError \d+\b|undefined reference|\*\*\* .*\bStop\."
    r"|: command not found$|^(?:/bin/)?sh: \d+: [^:]+: not found$"
)
_WARNING_RE = re.compile(r"\bwarning:")
#: gcc's "fatal error: openssl/bio.h: No such file or directory", clang's "'x.h' file not found".
_MISSING_HEADER_RE = re.compile(
    r"fatal error: '?(?P<header>[\w/.+-]+\.h)'?:? (?:No such file|file not found)"
)
_MISSING_TOOL_RE = re.compile(r"\b(?P<tool>flex|bison|bc|hostname|autoreconf|cpio)\b.*not found")
_ERROR_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"relocation R_X86_64_(?:32S?|PC32) against|recompile with -fPIE"),
        "a PIE toolchain: UKL code must be built without PIE (ukl issues #22/#23)",
    ),
    (
        re.compile(r"undefined reference"),
        "a symbol is missing at link time: the library or UKL.a that defines it was not built",
    ),
)


def _install_hint(plain: str) -> str:
    """What to install for a missing header or tool, from the host module's tables (the one
    place that knows which Debian package has which header or program); "" if neither.
    """
    m = _MISSING_HEADER_RE.search(plain)
    if m:
        header = m.group("header")
        package = package_for_header(header)
        return f"install the headers of <{header}> (Debian: {package})" if package else ""
    m = _MISSING_TOOL_RE.search(plain)
    if m:
        return f"install {package_for_tool(m.group('tool')) or m.group('tool')}"
    return ""


def is_object_line(line: str) -> bool:
    """A Kbuild object line: one more object towards the build's total."""
    return line.startswith("  ") and _KBUILD_RE.match(line) is not None


def build_problem(line: str) -> tuple[Severity, str, str] | None:
    """An error or warning in a (cleaned) build line: severity, plain text and hint.

    None for an ordinary line; the cheap substring test keeps a 200,000-line build fast.
    """
    if not ("rror" in line or "warning:" in line or "undefined" in line or "found" in line):
        return None
    plain = strip_sgr(line)
    if _ERROR_RE.search(plain):
        hint = _install_hint(plain)
        if hint:
            return "error", plain, hint
        for pattern, text in _ERROR_HINTS:
            if pattern.search(plain):
                return "error", plain, text
        return "error", plain, ""
    if _WARNING_RE.search(plain):
        return "warning", plain, ""
    return None


#: Boot milestones, in the order a healthy UKL boot prints them.
BOOT_MILESTONES: tuple[str, ...] = (
    "Linux version",
    "Clearing SMEP",
    "Clearing SMAP",
    "Run /init",
    "UKL BOOTED",
)


@dataclass(frozen=True)
class BootFailure:
    """A console line that means the boot went wrong; ``fatal`` ones stop QEMU shortly after.

    ``pattern`` starts the line (after a printk timestamp) unless ``anywhere``. ``cause`` names
    the row of ``diagnose.CAUSES`` that explains it from the whole log: those rows take their
    needles from this table (:func:`boot_failure_texts`), so the live scan, which starts the
    look with gdb, and the diagnosis after the boot see the same lines.
    """

    pattern: str
    hint: str
    fatal: bool
    cause: str
    anywhere: bool = False


_KERNEL_BUG_HINT = (
    "a kernel bug or, with UKL, a fault of the app running in ring 0 (ukl issue #30): the "
    "call trace below it shows which function"
)

#: In order: the first pattern a line holds decides (the root fs panic before the panic).
BOOT_FAILURES: tuple[BootFailure, ...] = (
    BootFailure(
        "Unable to mount root fs",
        "the kernel found no usable initramfs: boot with the UKL initrd; ukl's initrd is "
        "nearly empty when perf was missing at build time (ukl issue #38)",
        True,
        "no-root-fs",
        anywhere=True,  # inside the panic line: "Kernel panic - not syncing: VFS: Unable ..."
    ),
    BootFailure(
        "Kernel panic - not syncing",
        "the kernel stopped; the lines just above say why (no init, wrong initrd, missing "
        "driver, or the app crashed in ring 0)",
        True,
        "kernel-panic",
    ),
    BootFailure(
        "BUG: unable to handle page fault",
        "a kernel-mode fault: with UKL usually SMAP/SMEP still on (-cpu ...,-smap,-smep and "
        "clearcpuid=smap,smep) or a bug in the app (ukl issue #30)",
        False,
        "page-fault",
    ),
    BootFailure(
        "BUG: kernel NULL pointer dereference",
        "a NULL pointer read or written in ring 0: " + _KERNEL_BUG_HINT,
        False,
        "page-fault",
    ),
    # A user program's #GP reads "traps: init[1] general protection fault ip:...": not here.
    BootFailure("general protection fault", _KERNEL_BUG_HINT, False, "oops"),
    BootFailure("kernel BUG at ", _KERNEL_BUG_HINT, False, "oops"),
    # "Oops: 0000 [#1] SMP" after a BUG line; since 6.x also "Oops: general protection fault"
    BootFailure("Oops: ", _KERNEL_BUG_HINT, False, "oops"),
    BootFailure("BUG: ", _KERNEL_BUG_HINT, False, "oops"),  # any other kernel BUG report
)

#: A printk timestamp at the start of a console line: ``[    1.234567] ``.
_PRINTK_TIME_RE = re.compile(r"\[\s*\d+\.\d+\]\s?")


def boot_failure(plain: str) -> BootFailure | None:
    """The failure a (plain) console line reports, if any."""
    if plain.startswith("["):
        m = _PRINTK_TIME_RE.match(plain)
        text = plain[m.end() :] if m else plain
    else:
        text = plain
    for failure in BOOT_FAILURES:
        if text.startswith(failure.pattern) or (failure.anywhere and failure.pattern in text):
            return failure
    return None


def boot_failure_texts(cause: str) -> tuple[str, ...]:
    """The patterns of :data:`BOOT_FAILURES` that ``cause`` (a diagnosis row) explains."""
    return tuple(f.pattern for f in BOOT_FAILURES if f.cause == cause)


# --- progress estimates from earlier runs ----------------------------------------------------


def count_objects(log: Path) -> int:
    """How many Kbuild object lines a log holds (the progress total of a repeat build)."""
    count = 0
    try:
        with log.open("r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if is_object_line(line):
                    count += 1
    except OSError:
        return 0
    return count


def estimate_objects(step_id: str, search_dirs: Sequence[Path]) -> int | None:
    """The object count of the newest successful earlier run of this step, if any."""
    candidates: list[tuple[float, Path]] = []
    for directory in search_dirs:
        try:
            candidates.append((directory.stat().st_mtime, directory))
        except OSError:
            continue
    for _, directory in sorted(candidates, reverse=True):
        summary = directory / "summary.json"
        try:
            data = json.loads(summary.read_text())
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict):
            for entry in data.get("steps", []):
                if (
                    isinstance(entry, dict)
                    and entry.get("id") == step_id
                    and entry.get("status") == "ok"
                    and isinstance(entry.get("objects"), int)
                    and entry["objects"] > 0
                ):
                    return int(entry["objects"])
            continue
        for log in sorted(directory.glob(f"*-{step_id}.log")):
            count = count_objects(log)
            if count:
                return count
    return None
