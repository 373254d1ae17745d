"""Why a step failed: the cause in one line, the evidence in its log, and the fix.

A failed step's log is read after the step ended, once, against one table of causes
(:data:`CAUSES`). Each cause names a literal ``needle`` (found with ``str.find``, which is
fast on a 200,000-line build log) and a regular expression that confirms the line; the
earliest confirmed line of a *specific* cause wins, and a *generic* one (``make: *** ...
Error 2``, ``fatal:``) only when no specific cause matched. That ordering is the point:
a newcomer's ``git`` log says ``Could not resolve host`` on line 4 and ``failed`` at the end,
a kernel build says the real compiler error long before the ``Error 2`` of every make level.

Evidence keeps multi-line reports together: a compiler error with its source excerpt and
caret, a link error with its "in function" line, a kernel panic or oops from its first line
(``BUG:``, ``Oops:``, the lines that explain a missing init) through its register dump and call
trace to ``---[ end Kernel panic``.

Causes that depend on how the step ran use the step's argv: whether QEMU's ``-cpu`` and the
kernel command line turned SMAP/SMEP off, whether the guest was given ``console=ttyS0``.
This module is UI-free: the Run screen, ``ukl-tui run --no-tui`` and ``summary.json`` all show
the same :class:`Diagnosis`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ukl_tui.boot import cmdline_clears_smap_smep, cpu_flags_clear_smap_smep
from ukl_tui.host import package_for_header, package_for_tool
from ukl_tui.lines import boot_failure_texts, clean_line, strip_sgr
from ukl_tui.locate import find_vmlinux, qemu_option, symbolize
from ukl_tui.steps import Step

#: How many lines a multi-line report may span as evidence (a panic with a long call trace).
MAX_BLOCK = 120
#: How far back from a panic line the lines that explain it are looked for.
LOOKBACK = 40
#: Lines of the log's end shown when no cause in the table matched.
TAIL_LINES = 12


@dataclass(frozen=True)
class Evidence:
    """Lines ``first``..``last`` (1-based, inclusive) of ``log``, cleaned for display."""

    log: str
    first: int
    last: int
    lines: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {"log": self.log, "first": self.first, "last": self.last, "lines": list(self.lines)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        """Read back what :meth:`to_dict` wrote."""
        return cls(str(data["log"]), int(data["first"]), int(data["last"]), tuple(data["lines"]))


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong in one step: ``cause`` (one line), ``fix``, and where the log shows it.

    ``evidence`` is None only when the cause is the absence of output (a silent guest).
    ``cause_id`` names the row of :data:`CAUSES` (or ``exit-status``/``silent``/``timeout``
    when none matched) so tests and scripts need not parse sentences.
    """

    step_id: str
    cause_id: str
    cause: str
    fix: str
    evidence: Evidence | None
    #: Evidence lines of an oops with ``<- file:line`` from vmlinux (only those it decoded).
    decoded: tuple[str, ...] = ()
    #: What was missing to say more (no gdb, no vmlinux).
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for ``summary.json``."""
        return {
            "step": self.step_id,
            "cause_id": self.cause_id,
            "cause": self.cause,
            "fix": self.fix,
            "evidence": None if self.evidence is None else self.evidence.to_dict(),
            "decoded": list(self.decoded),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        """Read back what :meth:`to_dict` wrote (a past run's summary)."""
        ev = data.get("evidence")
        return cls(
            str(data["step"]),
            str(data["cause_id"]),
            str(data["cause"]),
            str(data["fix"]),
            None if ev is None else Evidence.from_dict(ev),
            tuple(data.get("decoded", ())),
            tuple(data.get("notes", ())),
        )

    def where(self) -> str:
        """``log:first-last`` (or ``log:line``) for a human to open."""
        if self.evidence is None:
            return ""
        ev = self.evidence
        span = str(ev.first) if ev.first == ev.last else f"{ev.first}-{ev.last}"
        return f"{ev.log}:{span}"

    def text_lines(self, max_evidence: int = 40) -> list[str]:
        """The diagnosis as plain lines for a terminal: cause, evidence, fix."""
        out = [f"cause: {self.cause}"]
        if self.evidence is not None:
            out.append(f"evidence: {self.where()}")
            ev = self.evidence
            shown = ev.lines if len(ev.lines) <= max_evidence else ev.lines[:max_evidence]
            width = len(str(ev.last))
            out += [f"  {ev.first + i:>{width}} | {line}" for i, line in enumerate(shown)]
            if len(ev.lines) > max_evidence:
                out.append(f"  ... {len(ev.lines) - max_evidence} more lines in the log")
        if self.decoded:
            out.append("decoded with vmlinux:")
            out += [f"  {line}" for line in self.decoded]
        out += [f"note: {note}" for note in self.notes]
        out.append(f"fix: {self.fix}")
        return out


@dataclass(frozen=True)
class StepContext:
    """How the step ran: what a cause may need beyond its log.

    ``stopped_because`` is the runner's reason for killing it (``timeout``, ``silent``,
    ``fatal``, ``cancelled``) or None when it ended by itself with ``returncode``.
    """

    step_id: str
    kind: str
    argv: tuple[str, ...] = ()
    cwd: str = ""
    returncode: int | None = None
    stopped_because: str | None = None

    @property
    def is_qemu(self) -> bool:
        """Whether the step runs QEMU itself (rather than a script that does)."""
        return bool(self.argv) and "qemu-system" in os.path.basename(self.argv[0])

    def qemu_option(self, name: str) -> str | None:
        """The value after the last ``name`` option in argv (QEMU: the last one wins)."""
        return qemu_option(self.argv, name)


# --- the log, indexed by lines -----------------------------------------------------------------


class _Log:
    """A log's text with line lookups that never index the whole log.

    Line numbers come from ``str.count`` (C speed); the start of a line is found by walking
    from the nearest known line start (every match found is one), so reading the evidence
    near a match costs a few ``find`` calls however long the log is.
    """

    def __init__(self, path: Path, data: bytes) -> None:
        self.path = path
        self.data = data  # bytes: finding a needle is a memchr-speed scan, text is not
        self._anchors: dict[int, int] = {1: 0}
        self._count: int | None = None

    def head_text(self, limit: int) -> str:
        """The first ``limit`` bytes as text (for the few whole-log regex searches)."""
        return self.data[:limit].decode("utf-8", "replace")

    def text_between(self, start: int, end: int) -> str:
        """Bytes ``start:end`` as text."""
        return self.data[start:end].decode("utf-8", "replace")

    @property
    def line_count(self) -> int:
        """Lines in the log; a final newline ends the last line rather than starting one."""
        if self._count is None:
            data = self.data
            self._count = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
            if self._count:
                self._anchors[self._count] = data.rfind(b"\n", 0, len(data.rstrip(b"\n"))) + 1
        return self._count

    def line_no(self, pos: int) -> int:
        """The 1-based line holding byte ``pos`` (remembered as an anchor)."""
        no = self.data.count(b"\n", 0, pos) + 1
        self._anchors[no] = self.data.rfind(b"\n", 0, pos) + 1
        return no

    def start(self, no: int) -> int:
        """The offset where line ``no`` starts, walking from the nearest anchor."""
        anchors = self._anchors
        if no in anchors:
            return anchors[no]
        below = max((k for k in anchors if k < no), default=1)
        above = min((k for k in anchors if k > no), default=None)
        data = self.data
        if above is not None and above - no < no - below:
            pos = anchors[above]
            for _ in range(above - no):
                pos = data.rfind(b"\n", 0, pos - 1) + 1
        else:
            pos = anchors[below]
            for _ in range(no - below):
                nxt = data.find(b"\n", pos)
                pos = len(data) if nxt == -1 else nxt + 1
        anchors[no] = pos
        return pos

    def line(self, no: int) -> str:
        """Line ``no`` (1-based), plain: control sequences, colours and the CR of CR LF gone."""
        if not 1 <= no <= self.line_count:
            return ""
        begin = self.start(no)
        end = self.data.find(b"\n", begin)
        raw = self.text_between(begin, end if end != -1 else len(self.data))
        return strip_sgr(clean_line(raw))

    def evidence(self, first: int, last: int) -> Evidence:
        """Lines ``first``..``last`` as evidence (clipped to the log)."""
        last = max(first, min(last, self.line_count))
        lines = tuple(self.line(n) for n in range(first, last + 1))
        return Evidence(str(self.path), first, last, lines)


# --- the table of causes -----------------------------------------------------------------------

#: A kernel console line may start with a printk timestamp.
_TS = r"(?:\[\s*\d+\.\d+\]\s?)?"


@dataclass(frozen=True)
class Match:
    """A confirmed cause line: the regex match and where it is."""

    line_no: int
    line: str
    groups: dict[str, str]


Explain = Callable[[Match, _Log, StepContext], tuple[str, str, tuple[int, int]]]


@dataclass(frozen=True)
class Cause:
    """One row of the table: where it can occur, how to find it, and what it means.

    ``explain`` turns the confirmed line into (cause, fix, (first, last) evidence lines).
    """

    id: str
    kinds: frozenset[str]
    needles: tuple[str, ...]
    pattern: re.Pattern[str]
    explain: Explain
    generic: bool = False


def _block_after(log: _Log, start: int, follows: Callable[[str], bool]) -> int:
    """The last line from ``start`` on while ``follows`` accepts the next lines."""
    last = start
    limit = min(log.line_count, start + MAX_BLOCK)
    while last < limit and follows(log.line(last + 1)):
        last += 1
    return last


_CARET_RE = re.compile(r"^\s*(?:\d+\s*)?\|")
_ENTER_DIR_RE = re.compile(r"(?P<how>Entering|Leaving) directory [`'‘](?P<dir>[^'’]+)['’]")


def _directory_at(log: _Log, line_no: int, fallback: str) -> str:
    """The directory make was in at ``line_no``, from its "Entering/Leaving directory" lines.

    Walked backwards with ``rfind`` (a forward regex over a 200,000-line head costs ~10x):
    each "Leaving" skips the "Entering" that opened it.
    """
    data = log.data
    pos = log.start(line_no)
    skip = 0
    while True:
        pos = data.rfind(b" directory ", 0, pos)
        if pos == -1:
            return fallback
        start = data.rfind(b"\n", 0, pos) + 1
        end = data.find(b"\n", pos)
        m = _ENTER_DIR_RE.search(log.text_between(start, end if end != -1 else len(data)))
        if m is None:
            continue
        if m.group("how") == "Leaving":
            skip += 1
        elif skip:
            skip -= 1
        else:
            return m.group("dir")


def _here(m: Match, log: _Log, ctx: StepContext) -> tuple[int, int]:
    return (m.line_no, m.line_no)


# -- network, tools, headers --


def _install(package: str, what: str, search: str) -> str:
    """The fix for something a Debian package provides (or how to find the package)."""
    if package:
        return f"install it: sudo apt-get install {package}"
    return f"install the package that provides {what} (apt-file search {search})"


def _explain_missing_tool(
    m: Match, log: _Log, ctx: StepContext
) -> tuple[str, str, tuple[int, int]]:
    tool = m.groups["tool"]
    fix = _install(package_for_tool(tool), f"the program {tool}", f"bin/{tool}")
    return (f"a host program is missing: {tool}", fix, _here(m, log, ctx))


def _explain_missing_header(
    m: Match, log: _Log, ctx: StepContext
) -> tuple[str, str, tuple[int, int]]:
    header = m.groups["header"]
    fix = _install(package_for_header(header), f"<{header}>", f"include/{header}")
    where = f"{m.groups['file']}:{m.groups['line']}"
    last = _block_after(log, m.line_no, lambda s: bool(_CARET_RE.match(s)))
    return (f"a header is missing: <{header}> (included at {where})", fix, (m.line_no, last))


# -- compiling, linking, make --


def _explain_compile(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
    path = m.groups["file"]
    if not os.path.isabs(path):
        path = os.path.normpath(os.path.join(_directory_at(log, m.line_no, ctx.cwd), path))
    where = f"{path}:{m.groups['line']}"
    first = m.line_no
    if first > 1 and re.search(
        r": In (?:function|member function|file included)", log.line(first - 1)
    ):
        first -= 1
    last = _block_after(log, m.line_no, lambda s: bool(_CARET_RE.match(s)))
    return (
        f"C compile error at {where}: {m.groups['msg']}",
        f"fix the source at {where}; this is the first error, later ones often follow from it",
        (first, last),
    )


def _explain_undefined(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
    sym = m.groups["sym"]
    symbols = sorted(
        set(re.findall(r"undefined reference to [`‘']([^'’`]+)['’]", log.head_text(2_000_000)))
    )
    more = f" (and {len(symbols) - 1} more)" if len(symbols) > 1 else ""
    first = m.line_no
    if first > 1 and "in function" in log.line(first - 1):
        first -= 1
    if sym.startswith("ukl_"):
        fix = (
            f"{sym} should come from UKL.a with every symbol prefixed ukl_: the archive was "
            "not prefixed (objcopy --prefix-symbols=ukl_) or is stale; rebuild it "
            "(make app-clean, then make in the ukl checkout) and relink the kernel"
        )
    else:
        fix = (
            f"nothing linked defines {sym}: add the library or object that defines it to the "
            "link, or build it first (a library that failed earlier, or a stale archive)"
        )
    return (f"link failed: undefined symbol {sym}{more}", fix, (first, m.line_no))


def _explain_no_rule(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
    target = m.groups["target"]
    needed = m.groups.get("needed") or ""
    by = f", needed by {needed}" if needed else ""
    directory = _directory_at(log, m.line_no, ctx.cwd)
    if target.endswith("UKL.a"):
        fix = (
            f"UKL.a is missing at {target} (relative to {directory}): build the application "
            "first (make in the ukl checkout), or point CONFIG_UKL_ARCHIVE_PATH at it "
            "(relative to the kernel build directory)"
        )
    elif needed:
        fix = (
            f"{target} does not exist in {directory}: a missing source file, a wrong path, "
            "or a stale dependency file from an older tree (make clean, then build again)"
        )
    else:
        fix = f"make in {directory} has no target {target}: check the target's name"
    return (f"make cannot build {target}{by}", fix, _here(m, log, ctx))


def _explain_no_space(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
    directory = _directory_at(log, m.line_no, ctx.cwd) or "the build directory"
    first = m.line_no - 1 if "Assembler messages" in log.line(m.line_no - 1) else m.line_no
    return (
        "the disk is full: No space left on device",
        f"free space on the file system of {directory} (df -h {directory}): a kernel build "
        "needs several GiB, more with debug info; ccache -M bounds ccache's cache",
        (first, m.line_no),
    )


# -- the booted kernel --

_PANIC_END = "---[ end "
_OOPS_START_RE = re.compile(
    r"------------\[ cut here \]|BUG: |Oops: |general protection fault|kernel BUG at"
)


def _panic_block(log: _Log, start: int) -> tuple[int, int]:
    """From ``start`` to the ``---[ end Kernel panic`` line (or the cap, or the log's end)."""
    limit = min(log.line_count, start + MAX_BLOCK)
    for n in range(start, limit + 1):
        if _PANIC_END in log.line(n):
            return (start, n)
    return (start, limit)


def _back_to(log: _Log, line_no: int, pattern: re.Pattern[str], *, farthest: bool = False) -> int:
    """A line within LOOKBACK before ``line_no`` matching ``pattern`` (the nearest, or the
    farthest), else ``line_no`` itself.
    """
    found = line_no
    for n in range(line_no - 1, max(0, line_no - LOOKBACK), -1):
        if pattern.search(log.line(n)):
            found = n
            if not farthest:
                break
    return found


_FAILED_EXEC_RE = re.compile(r"Failed to execute (?P<init>\S+) \(error (?P<err>-?\d+)\)")
_EXEC_ERRORS = {
    "-2": "it, or the program that runs it, does not exist: a dynamically linked /init "
    "needs its loader and libraries in the initramfs, a script its #! interpreter; "
    "use a static binary (Debian: busybox-static)",
    "-8": "the kernel cannot execute that format: an ELF needs CONFIG_BINFMT_ELF, a "
    "script CONFIG_BINFMT_SCRIPT, and the binary must be for x86_64",
    "-13": "it is not executable: chmod +x it before packing the initramfs",
}


def _explain_no_init(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
    first = _back_to(log, m.line_no, re.compile(r"Run \S+ as init process"), farthest=True)
    failed = [_FAILED_EXEC_RE.search(log.line(n)) for n in range(first, m.line_no)]
    found = next((f for f in failed if f), None)
    if found:
        init, err = found.group("init"), found.group("err")
        why = _EXEC_ERRORS.get(err, f"execve failed with error {err}")
        cause = f"no working init: the kernel could not execute {init} (error {err})"
        fix = f"{init}: {why}"
    else:
        cause = "no working init: the initramfs has no /init and no init= program works"
        fix = "boot with the UKL initrd (it has /init), or pass rdinit=/init and pack it"
    return (cause, fix, (first, _panic_block(log, m.line_no)[1]))


def _explain_no_root(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
    first = _back_to(
        log, m.line_no, re.compile(r"VFS: Cannot open root device|List of all partitions")
    )
    if ctx.is_qemu and ctx.qemu_option("-initrd") is None:
        fix = (
            "QEMU was started without -initrd: give it the UKL initrd (ukl-initrd.cpio.xz) "
            "or ukl-tui's minimal one (initrd = minimal in the plan)"
        )
    else:
        fix = (
            "the kernel found no usable initramfs: it needs CONFIG_BLK_DEV_INITRD and the "
            "initrd's compression (CONFIG_RD_XZ/RD_GZIP); ukl's own initrd is nearly empty "
            "when perf was missing at build time (ukl issue #38)"
        )
    return (
        "no root file system: the kernel could not mount one",
        fix,
        (first, _panic_block(log, m.line_no)[1]),
    )


#: How the kernel reports a user program's fault: "traps: init[1] general protection fault
#: ip:401000 ...", "init[1]: segfault at 0 ip ...".
_USER_FAULT_RE = re.compile(r"traps: |\]: segfault at |\] general protection fault ip:")


def _explain_init_exited(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
    code = int(m.groups["code"], 16)
    if code & 0x7F:  # the kernel's exit code: a signal number in the low bits, not a status
        number = code & 0x7F
        try:
            name = f" ({signal.Signals(number).name})"
        except ValueError:
            name = ""
        first = _back_to(log, m.line_no, _USER_FAULT_RE)
        return (
            f"init (PID 1) was killed by signal {number}{name}: the kernel panics without it",
            "init (with UKL: the app, or a program it runs as init) crashed; the kernel's line "
            "before the panic says where (ip: the address of the faulting instruction, "
            "addr2line -e the program turns it into a source line)",
            (first, _panic_block(log, m.line_no)[1]),
        )
    return (
        f"init (PID 1) exited with code {m.groups['code']}: the kernel panics without it",
        "init must never return: with UKL the app runs as init's child and must not exit; "
        "an init that wants QEMU to stop should `reboot -f` (QEMU runs with -no-reboot)",
        _panic_block(log, m.line_no),
    )


_CR4_RE = re.compile(r"CR4: (?P<cr4>[0-9a-fA-F]+)")
_PF_ACCESS_RE = re.compile(
    r"#PF: supervisor (?:(?P<rw>read|write) access|(?P<fetch>instruction fetch)) in kernel mode"
)
_SMEP_BIT, _SMAP_BIT = 1 << 20, 1 << 21
_USER_TOP = 0x0000_8000_0000_0000


def _smap_smep_status(ctx: StepContext) -> list[str]:
    """What in the boot command leaves SMAP/SMEP on (empty when both are turned off)."""
    missing: list[str] = []
    cpu = ctx.qemu_option("-cpu")
    if cpu is not None and not cpu_flags_clear_smap_smep(cpu):
        missing.append(f"QEMU -cpu {cpu} offers them (use {cpu.split(',')[0]},-smap,-smep)")
    append = ctx.qemu_option("-append")
    if append is not None and not cmdline_clears_smap_smep(append):
        missing.append("the kernel command line lacks clearcpuid=smap,smep")
    return missing


def _rip(block: Sequence[str]) -> str:
    """Where the CPU was, from a report's first ``RIP: 0010:func+0xf/0x4e`` ("" if none)."""
    rip = next((line.split("RIP:", 1)[1].strip() for line in block if "RIP:" in line), "")
    return rip.split(":", 1)[1] if re.match(r"[0-9a-f]{4}:", rip) else rip  # drop the CS


def _explain_page_fault(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
    first, last = _panic_block(log, m.line_no)
    block = [log.line(n) for n in range(first, last + 1)]
    text = "\n".join(block)
    address = int(m.groups["addr"], 16)
    if first > 1 and "unable to execute userspace code" in log.line(first - 1):
        first -= 1  # the kernel's own SMEP remark comes just before the BUG line
    access_m = _PF_ACCESS_RE.search(text)
    fetch = bool(access_m and access_m.group("fetch"))
    access = (
        "instruction fetch from"
        if fetch
        else f"{access_m.group('rw')} of"
        if access_m
        else "access to"
    )
    cr4_m = _CR4_RE.search(text)
    cr4 = int(cr4_m.group("cr4"), 16) if cr4_m else None
    on = (
        [] if cr4 is None else [n for n, b in (("SMEP", _SMEP_BIT), ("SMAP", _SMAP_BIT)) if cr4 & b]
    )
    rip = _rip(block)
    at = f" at {rip}" if rip else ""
    if address < 4096:
        return (
            f"kernel NULL pointer dereference ({access} {address:#x}){at}",
            "a bug in kernel code or, with UKL, in the app running in ring 0 (ukl issue #30): "
            "the call trace below shows which function",
            (first, last),
        )
    if address < _USER_TOP and (on or _smap_smep_status(ctx)):
        if on:  # a fetch is what SMEP stops, a read or write what SMAP stops
            on = [n for n in on if n == ("SMEP" if fetch else "SMAP")] or on
        enabled = "/".join(on) if on else "SMAP/SMEP"
        reg = f" (CR4={cr4:#x})" if on else ""
        missing = _smap_smep_status(ctx)
        fix = (
            "turn SMAP and SMEP off for UKL: " + "; ".join(missing)
            if missing
            else "turn SMAP and SMEP off: QEMU -cpu max,-smap,-smep and clearcpuid=smap,smep "
            "(the ukl-base preset sets both)"
        )
        return (
            f"kernel-mode {access} user address {address:#x} with {enabled} on{reg}{at}",
            fix,
            (first, last),
        )
    return (
        f"kernel page fault ({access} {address:#x}){at}",
        "a bug in kernel code or the ring-0 app: the call trace shows where (ukl issue #30)",
        (first, last),
    )


def _explain_oops(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
    first, last = _panic_block(log, m.line_no)
    rip = _rip([log.line(n) for n in range(first, last + 1)])
    return (
        f"the kernel oopsed: {m.groups['what'].strip()}" + (f" at {rip}" if rip else ""),
        "a kernel bug or a fault in the ring-0 app: the call trace shows where",
        (first, last),
    )


def _explain_panic(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
    first = _back_to(log, m.line_no, _OOPS_START_RE)
    return (
        f"Kernel panic: {m.groups['why'].strip()}",
        "the lines above the panic say why; with UKL: no init, a wrong initrd, a missing "
        "driver, or the app crashed in ring 0",
        (first, _panic_block(log, m.line_no)[1]),
    )


# -- generic lines: used only when nothing specific matched --


def _explain_make_error(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
    first = max(1, m.line_no - 5)
    return (
        f"make failed building {m.groups['target']} (status {m.groups['status']})",
        "the lines just above it hold the failing command's own message",
        (first, m.line_no),
    )


BUILD = frozenset({"prep", "build"})
BOOT = frozenset({"boot"})
ANY = BUILD | BOOT


def _cause(
    id: str,
    kinds: frozenset[str],
    needles: str | tuple[str, ...],
    pattern: str,
    explain: Explain | tuple[str, str],
    *,
    generic: bool = False,
) -> Cause:
    """A row; ``explain`` may be (cause, fix) templates over the pattern's named groups."""
    if isinstance(needles, str):
        needles = (needles,)
    if isinstance(explain, tuple):
        explain = _templates(*explain)
    return Cause(id, kinds, needles, re.compile(pattern), explain, generic)


class _Groups(dict[str, str]):
    """Named groups for a template; an optional group that did not match reads as ""."""

    def __missing__(self, key: str) -> str:
        return ""


def _templates(cause: str, fix: str) -> Explain:
    """A one-line cause whose words come from the matched line's named groups."""

    def explain(m: Match, log: _Log, ctx: StepContext) -> tuple[str, str, tuple[int, int]]:
        groups = _Groups(m.groups, line=m.line.strip()[:200])
        return cause.format_map(groups), fix.format_map(groups), _here(m, log, ctx)

    return explain


#: The one table of causes. Order matters only between causes on the same line.
CAUSES: tuple[Cause, ...] = (
    _cause(
        "network",
        BUILD,
        "resolve host",
        r"(?:unable to access '(?P<url>[^']+)': )?Could not resolve host: (?P<host>[^\s'\"]+)",
        (
            "no network: the name {host} does not resolve",
            "connect this machine to the network (or set a proxy: git config http.proxy), or "
            "clone on a machine with network and copy the checkout here, then run again",
        ),
    ),
    _cause(
        "missing-header",
        BUILD,
        "No such file or directory",
        r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:\d+:)? fatal error: "
        r"(?P<header>[\w/.+-]+\.h): No such file or directory",
        _explain_missing_header,
    ),
    _cause(
        "missing-tool",
        BUILD,
        "not found",
        r"^(?:/bin/|/usr/bin/)?(?:ba|da)?sh: (?:(?:line )?\d+: )?(?P<tool>[\w.+/-]+): "
        r"(?:command )?not found",
        _explain_missing_tool,
    ),
    _cause(
        "missing-tool",
        BUILD,
        "make: ",
        r"make(?:\[\d+\])?: (?P<tool>[\w.+/-]+): (?:No such file or directory|Command not found)",
        _explain_missing_tool,
    ),
    _cause(
        "compile-error",
        BUILD,
        "error: ",
        r"^(?P<file>[^\s:][^:]*\.(?:c|h|S|s|cc|cpp|cxx|hpp|ld|lds)):(?P<line>\d+):(?:\d+:)? "
        r"(?:fatal )?error: (?P<msg>.*?)\r?$",
        _explain_compile,
    ),
    _cause(
        "undefined-symbol",
        BUILD,
        "undefined reference",
        r"undefined reference to [`‘'](?P<sym>[^'’`]+)['’]",
        _explain_undefined,
    ),
    _cause(
        "no-rule",
        BUILD,
        "No rule to make target",
        r"No rule to make target [`‘'](?P<target>[^'’]+)['’](?:, needed by "
        r"[`‘'](?P<needed>[^'’]+)['’])?",
        _explain_no_rule,
    ),
    _cause(
        "disk-full", ANY, "No space left on device", r"No space left on device", _explain_no_space
    ),
    _cause(
        "compiler-killed",
        BUILD,
        "Killed signal terminated program",
        r"Killed signal terminated program (?P<prog>\S+)",
        (
            "the compiler's {prog} was killed by a signal (the kernel's OOM killer does this "
            "when memory runs out)",
            "build with fewer jobs (a smaller make -jN) or add memory or swap; "
            "`dmesg | grep -i 'out of memory'` shows whether the OOM killer did it",
        ),
    ),
    _cause(
        "out-of-memory",
        BUILD,
        "out of memory",
        r"^(?P<prog>[\w.+-]+): out of memory allocating",
        (
            "{prog} ran out of memory",
            "raise or remove the memory limit (ulimit -v) of the shell that runs ukl-tui, "
            "or build with fewer jobs on a machine with more memory",
        ),
    ),
    _cause(
        "qemu-hostfwd",
        BOOT,
        "host forwarding rule",
        r"Could not set up host forwarding rule '(?P<rule>\w+:[^:']*:(?P<port>\d+)-[^']*)'",
        (
            "QEMU cannot forward host port {port}: something already listens on it",
            "stop what uses port {port} (ss -ltnp 'sport = :{port}' shows it; often an "
            "earlier QEMU still running) or forward another host port in Network & boot",
        ),
    ),
    _cause(
        "qemu-cpu-needs-kvm",
        BOOT,
        "requires KVM",
        r"CPU model '(?P<model>[^']+)' requires KVM",
        (
            "QEMU refuses -cpu {model}: that CPU model needs KVM, which is not in use",
            "boot with accel auto or tcg: under TCG ukl-tui uses -cpu max,-smap,-smep; "
            "`ukl-tui check` says why KVM is not usable here",
        ),
    ),
    _cause(
        "no-init",
        BOOT,
        "No working init found",
        _TS + r"Kernel panic - not syncing: No working init found",
        _explain_no_init,
    ),
    _cause(
        "no-root-fs",
        BOOT,
        boot_failure_texts("no-root-fs"),
        r"Unable to mount root fs",
        _explain_no_root,
    ),
    _cause(
        "init-exited",
        BOOT,
        "Attempted to kill init",
        r"Attempted to kill init! exitcode=(?P<code>0x[0-9a-fA-F]+)",
        _explain_init_exited,
    ),
    # The kernel's own failure reports: the lines the live scan reacts to (lines.BOOT_FAILURES,
    # which names these rows), so both look for the same texts.
    _cause(
        "page-fault",
        BOOT,
        boot_failure_texts("page-fault"),
        _TS + r"BUG: (?:unable to handle page fault for address|kernel NULL pointer "
        r"dereference, address): (?P<addr>[0-9a-fA-F]+)",
        _explain_page_fault,
    ),
    _cause(
        "oops",
        BOOT,
        boot_failure_texts("oops"),
        # At the start of the line: "traps: init[1] general protection fault ip:..." is a
        # user program's fault (init-exited or the app's own crash explain that).
        "^"
        + _TS
        + "(?P<what>(?:"
        + "|".join(re.escape(t) for t in boot_failure_texts("oops"))
        + ").*)",
        _explain_oops,
    ),
    _cause(
        "kernel-panic",
        BOOT,
        boot_failure_texts("kernel-panic"),
        r"Kernel panic - not syncing: (?P<why>.*?)\r?$",
        _explain_panic,
    ),
    _cause(
        "qemu-refused",
        BOOT,
        "qemu-system-",
        r"^qemu-system-[\w-]+: (?!terminating on signal)(?P<msg>.*?)\r?$",  # not our kill
        (
            "QEMU refused to start: {msg}",
            "correct the QEMU option it names (Network & boot); the full command is in "
            "summary.json and the Review screen",
        ),
        generic=True,
    ),
    _cause(
        "make-error",
        BUILD,
        "*** [",
        r"\*\*\* \[(?:[^\]]*?: )?(?P<target>[^\]:]+)\] Error (?P<status>\d+)",
        _explain_make_error,
        generic=True,
    ),
    _cause(
        "error-line",
        BUILD,  # a kernel's console is full of harmless "Error:" lines
        "rror",
        r"\b(?:fatal|[Ee]rror|ERROR): ",
        (
            "{line}",
            "read the lines around it in the log; the program's own message names the problem",
        ),
        generic=True,
    ),
)


# --- scanning ----------------------------------------------------------------------------------


def _first_match(log: _Log, cause: Cause) -> Match | None:
    """The first line holding one of ``cause.needles`` that the cause's pattern confirms."""
    found = [m for m in (_first_with(log, cause, n) for n in cause.needles) if m is not None]
    return min(found, key=lambda m: m.line_no) if found else None


def _first_with(log: _Log, cause: Cause, needle_text: str) -> Match | None:
    data = log.data
    find = data.find
    needle = needle_text.encode()
    pos = find(needle)
    while pos != -1:
        start = data.rfind(b"\n", 0, pos) + 1
        end = find(b"\n", pos)
        if end == -1:
            end = len(data)
        raw = log.text_between(start, end)
        line = strip_sgr(clean_line(raw)) if "\x1b" in raw or "\r" in raw else raw
        m = cause.pattern.search(line)
        if m:
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            return Match(log.line_no(start), line, groups)
        pos = find(needle, end)
    return None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def find_cause(
    log_path: Path, ctx: StepContext, causes: Sequence[Cause] = CAUSES
) -> Diagnosis | None:
    """The table's answer for this log: the earliest specific cause, else the earliest generic."""
    log = _Log(Path(log_path), _read(Path(log_path)))
    best: tuple[bool, int, int, Cause, Match] | None = None
    for order, cause in enumerate(causes):
        if ctx.kind not in cause.kinds:
            continue
        m = _first_match(log, cause)
        if m is None:
            continue
        key = (cause.generic, m.line_no, order)
        if best is None or key < best[:3]:
            best = (cause.generic, m.line_no, order, cause, m)
    if best is None:
        return None
    cause, m = best[3], best[4]
    text, fix, (first, last) = cause.explain(m, log, ctx)
    return Diagnosis(ctx.step_id, cause.id, text, fix, log.evidence(first, last))


#: Causes that only say which line looked like an error: a stopped hang or timeout says more.
GENERIC_CAUSES = frozenset(c.id for c in CAUSES if c.generic)


def diagnose(log_path: Path, ctx: StepContext) -> Diagnosis:
    """Why the step described by ``ctx`` failed, from its log; always an answer.

    When no row of the table matches, the answer is what is known for sure (the exit status,
    the signal, the watchdog or the timeout) with the log's last lines as evidence.
    """
    found = find_cause(log_path, ctx)
    watched = ctx.stopped_because in ("silent", "timeout")
    if found is not None and not (watched and found.cause_id in GENERIC_CAUSES):
        return found
    log = _Log(Path(log_path), _read(Path(log_path)))
    count = log.line_count
    tail = log.evidence(max(1, count - TAIL_LINES + 1), count) if count else None
    prog = os.path.basename(ctx.argv[0]) if ctx.argv else ctx.step_id
    if (
        ctx.kind == "boot"
        and ctx.stopped_because in ("silent", "timeout")
        and not _kernel_spoke(log)
    ):
        return Diagnosis(ctx.step_id, "silent", *_silent_guest(ctx), tail)
    if ctx.stopped_because == "silent":
        last = count
        while last > 1 and log.line(last).startswith("qemu-system"):  # QEMU's words on our kill
            last -= 1
        return Diagnosis(
            ctx.step_id,
            "silent",
            f"the guest went silent after log line {last}: a hang in the kernel or the app",
            "the last lines show what it did last; where each vCPU was (gdb on QEMU's stub) "
            "names the function it is stuck in",
            tail,
        )
    if ctx.stopped_because == "timeout":
        return Diagnosis(
            ctx.step_id,
            "timeout",
            f"{prog} did not finish within the step's time limit",
            "the last lines show how far it got; raise the timeout if it was only slow",
            tail,
        )
    rc = ctx.returncode
    if rc == 127 and count == 0 and ctx.argv and shutil.which(ctx.argv[0]) is None:
        # The runner could not start it at all (its exec failed): the program is missing.
        return Diagnosis(
            ctx.step_id,
            "missing-tool",
            f"a host program is missing: {prog}",
            _install(package_for_tool(prog), f"the program {prog}", f"bin/{prog}"),
            None,
        )
    how = (
        f"was killed by signal {-rc}"
        if rc is not None and rc < 0
        else f"exited with status {rc}"
        if rc is not None
        else "did not start"
    )
    return Diagnosis(
        ctx.step_id,
        "exit-status",
        f"{prog} {how}; its log names no cause ukl-tui knows",
        "the last lines of the log are below; the full log is beside summary.json",
        tail,
    )


def _kernel_spoke(log: _Log) -> bool:
    """Whether the kernel printed anything at all (its banner, or any timestamped line)."""
    return (
        b"Linux version" in log.data
        or re.search(r"^\[\s*\d+\.\d+\]", log.head_text(200_000), re.M) is not None
    )


def _silent_guest(ctx: StepContext) -> tuple[str, str]:
    append = ctx.qemu_option("-append") or ""
    consoles = re.findall(r"(?:^|\s)console=(\S+)", append)
    if not any(c.startswith("ttyS0") for c in consoles):
        given = ", ".join(f"console={c}" for c in consoles) or "no console="
        return (
            f"the guest printed nothing on the serial console (kernel command line has {given})",
            "add console=ttyS0 to the kernel command line: QEMU shows only the first serial "
            "port (-serial stdio)",
        )
    return (
        "the guest printed nothing although the kernel command line has console=ttyS0",
        "the kernel needs CONFIG_SERIAL_8250 and CONFIG_SERIAL_8250_CONSOLE (and "
        "CONFIG_PRINTK); check that -kernel is a bzImage for x86_64",
    )


def diagnose_step(
    log_path: Path, step: Step, returncode: int | None, stopped_because: str | None
) -> dict[str, Any]:
    """The Runner's ``diagnose`` hook: :func:`diagnose` for a finished step, as JSON data."""
    ctx = StepContext(step.id, step.kind, step.argv, step.cwd, returncode, stopped_because)
    result = diagnose(Path(log_path), ctx)
    if result.cause_id in KERNEL_CRASHES and result.evidence is not None and ctx.is_qemu:
        result = decode_crash(result, ctx)
    return result.to_dict()


#: Causes whose evidence is a kernel report with a RIP and a call trace worth decoding.
KERNEL_CRASHES = frozenset(
    {"page-fault", "oops", "kernel-panic", "no-init", "no-root-fs", "init-exited"}
)


def decode_crash(result: Diagnosis, ctx: StepContext) -> Diagnosis:
    """The diagnosis with its RIP and call trace decoded from the booted kernel's vmlinux."""
    assert result.evidence is not None
    kernel = ctx.qemu_option("-kernel")
    vmlinux = find_vmlinux(kernel) if kernel else None
    lines = list(result.evidence.lines)
    decoded, missing = symbolize(lines, vmlinux)
    changed = tuple(new for old, new in zip(lines, decoded, strict=True) if new != old)
    return dataclasses.replace(result, decoded=changed, notes=tuple(missing))
