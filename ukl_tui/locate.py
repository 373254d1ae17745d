"""Where the kernel is: every vCPU's place from QEMU's gdb stub, and an oops symbolized.

A panicked or hung guest says little on its console (a hung one says nothing). QEMU's gdb stub
knows more: each vCPU is a gdb thread whose program counter and stack are readable while the
guest is stopped. :func:`locate` attaches ``gdb`` in batch mode to the stub (on a loopback
port of its own, :func:`free_port`, so two runs can coexist), with the build's ``vmlinux`` for
symbols, and reads for every vCPU the program counter as function+offset, file:line when the
kernel has debug info, and the backtrace. gdb runs in its own process group with a hard
time limit; it detaches at the end, so the guest is left as it was.

:func:`symbolize` does for an oops what the kernel's ``scripts/decode_stacktrace.sh`` does:
``RIP: 0010:func+0x5a/0x90`` and each call-trace entry become file:line from ``vmlinux``
(call-trace entries are return addresses, so the line of the call is the one just before).

Without gdb or without vmlinux the report says what is missing; nothing here raises for that.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from ukl_tui.host import package_for_tool
from ukl_tui.procs import run_in_group

#: How long one gdb batch may take (loading a vmlinux with debug info takes seconds).
GDB_TIMEOUT = 60.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the kernel picks it; QEMU binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_vmlinux(kernel: str | PathLike[str]) -> Path | None:
    """The ``vmlinux`` a booted image was made from, if it is still beside it.

    A Kbuild tree (or O= directory) has ``arch/x86/boot/bzImage`` and ``vmlinux`` at its top;
    a ukl checkout copies bzImage to ``vmlinuz`` and keeps ``linux/vmlinux``.
    """
    path = Path(kernel)
    candidates = [path.parent / "vmlinux", path.parent / "linux" / "vmlinux"]
    if path.parts[-4:-1] == ("arch", "x86", "boot"):
        candidates.insert(0, path.parents[3] / "vmlinux")
    for cand in candidates:
        if cand.is_file():
            return cand
    return None


@dataclass(frozen=True)
class Frame:
    """One stack frame: ``function+offset`` when symbols are known, file:line with debug info."""

    pc: int
    function: str = ""
    offset: int | None = None
    file: str = ""
    line: int | None = None

    def describe(self) -> str:
        """``func+0x1a (file.c:12)`` or the bare address."""
        text = f"{self.pc:#x}"
        if self.function:
            text = self.function + (f"+{self.offset:#x}" if self.offset is not None else "")
        if self.file:
            text += f" ({self.file}:{self.line})" if self.line is not None else f" ({self.file})"
        return text


@dataclass(frozen=True)
class CpuPlace:
    """Where one vCPU is: its program counter and backtrace (innermost first)."""

    cpu: int
    pc: Frame
    backtrace: tuple[Frame, ...] = ()
    state: str = ""  # QEMU's word: running, halted


@dataclass
class Location:
    """The answer of one attach: every vCPU, or why there is none (``missing``/``error``)."""

    cpus: list[CpuPlace] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str = ""
    vmlinux: str = ""
    gdb_output: str = ""

    def text_lines(self) -> list[str]:
        """A human report: one block per vCPU, or what was missing."""
        out: list[str] = []
        for place in self.cpus:
            state = f" [{place.state}]" if place.state else ""
            out.append(f"CPU {place.cpu}{state}: {place.pc.describe()}")
            for depth, frame in enumerate(place.backtrace[1:], 1):
                out.append(f"  #{depth} {frame.describe()}")
        out += [f"not located: {m}" for m in self.missing]
        if self.error:
            out.append(f"gdb: {self.error}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (summary.json)."""
        return {
            "cpus": [
                {
                    "cpu": p.cpu,
                    "pc": p.pc.describe(),
                    "state": p.state,
                    "backtrace": [f.describe() for f in p.backtrace],
                }
                for p in self.cpus
            ],
            "missing": self.missing,
            "error": self.error,
            "vmlinux": self.vmlinux,
        }


def _gdb_prelude(vmlinux: Path | None) -> list[str]:
    argv = [shutil.which("gdb") or "gdb", "-batch", "-nx", "-q"]
    if vmlinux is not None:
        argv.append(str(vmlinux))
    argv += ["-ex", "set pagination off", "-ex", "set confirm off"]
    if vmlinux is None:
        argv += ["-ex", "set architecture i386:x86-64"]
    return argv


def gdb_attach_argv(port: int, vmlinux: Path | None, depth: int = 16) -> list[str]:
    """The gdb batch that reads every vCPU: PC as ``x/i``, then the backtraces, then detach."""
    return _gdb_prelude(vmlinux) + [
        "-ex",
        f"target remote 127.0.0.1:{port}",
        "-ex",
        "thread apply all x/i $pc",
        "-ex",
        f"thread apply all bt {depth}",
        "-ex",
        "detach",
    ]


def run_gdb(argv: list[str], timeout: float = GDB_TIMEOUT) -> str:
    """Run a gdb batch in its own process group and return its output.

    Blocking (callers in an event loop use ``asyncio.to_thread``); at ``timeout`` the whole
    group is killed and ``TimeoutError`` raised.
    """
    try:
        _, out, _ = run_in_group(argv, timeout, merge_stderr=True, grace=0.5)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"gdb gave no answer within {timeout:g} s") from None
    return out.decode("utf-8", "replace")


def _missing(vmlinux: Path | None) -> tuple[list[str], bool]:
    missing = []
    gdb_ok = shutil.which("gdb") is not None
    if not gdb_ok:
        missing.append(
            f"gdb is not installed (Debian: sudo apt-get install {package_for_tool('gdb')})"
        )
    if vmlinux is None:
        missing.append(
            "no vmlinux beside the kernel image: addresses only, no function names "
            "(a distribution's bzImage has none; build the kernel to get one)"
        )
    return missing, gdb_ok


def locate(port: int, vmlinux: Path | None, timeout: float = GDB_TIMEOUT) -> Location:
    """Attach to QEMU's gdb stub on ``port`` and say where every vCPU is (blocking)."""
    missing, gdb_ok = _missing(vmlinux)
    result = Location(missing=missing, vmlinux=str(vmlinux or ""))
    if not gdb_ok:
        return result
    try:
        out = run_gdb(gdb_attach_argv(port, vmlinux), timeout)
    except TimeoutError as exc:
        result.error = str(exc)
        return result
    except OSError as exc:
        result.error = f"cannot run gdb: {exc.strerror or exc}"
        return result
    result.gdb_output = out
    result.cpus = parse_gdb(out, symbols=vmlinux is not None)
    if not result.cpus:
        lines = [ln for ln in out.splitlines() if ln.strip()]
        result.error = lines[-1] if lines else "gdb printed nothing"
    return result


_STATE_RE = re.compile(r"CPU#\d+ \[([^\]]*)\]")
_THREAD_RE = re.compile(r"^Thread (?P<n>\d+) \(.*?CPU#(?P<cpu>\d+)", re.M)
_XI_RE = re.compile(r"^=> (?P<pc>0x[0-9a-f]+)(?: <(?P<func>[^+>]+)(?:\+(?P<off>\d+))?>)?:", re.M)
_BT_RE = re.compile(
    r"^#(?P<depth>\d+)\s+(?:(?P<pc>0x[0-9a-f]+) in )?(?P<func>[\w.$]+|\?\?) \(.*?\)"
    r"(?: at (?P<file>\S+):(?P<line>\d+))?",
    re.M,
)


def parse_gdb(out: str, symbols: bool = True) -> list[CpuPlace]:
    """Every vCPU's PC (from ``x/i $pc``) and backtrace (from ``bt``) in gdb's output.

    Without ``symbols`` a backtrace is guesswork (gdb unwinds without frame information), so
    only the program counter is kept.
    """
    sections: dict[int, list[str]] = {}
    headers_by_cpu: dict[int, str] = {}
    headers = list(_THREAD_RE.finditer(out))
    for i, m in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(out)
        cpu = int(m.group("cpu"))
        sections.setdefault(cpu, []).append(out[m.end() : end])
        headers_by_cpu[cpu] = out[m.start() : out.find("\n", m.start())]
    places = []
    for cpu in sorted(sections):
        body = "\n".join(sections[cpu])
        xi = _XI_RE.search(body)
        frames = []
        for b in _BT_RE.finditer(body):
            pc = int(b.group("pc"), 16) if b.group("pc") else 0
            line = int(b.group("line")) if b.group("line") else None
            func = "" if b.group("func") == "??" else b.group("func")
            frames.append(Frame(pc, func, None, b.group("file") or "", line))
        if xi is None and not frames:
            continue
        if xi is not None:
            off = int(xi.group("off")) if xi.group("off") else (0 if xi.group("func") else None)
            top = frames[0] if frames else Frame(0)
            pc = Frame(int(xi.group("pc"), 16), xi.group("func") or "", off, top.file, top.line)
        else:
            pc = frames[0]
        if frames:
            frames[0] = pc
        state = _STATE_RE.search(headers_by_cpu[cpu])
        if symbols and frames:
            # Past the kernel's entry code gdb unwinds into user stacks and per-CPU data (it
            # does not read ORC): keep the frames that have a source line.
            cut = next((i for i, f in enumerate(frames[1:], 1) if not f.file), len(frames))
            backtrace = tuple(frames[:cut])
        else:
            backtrace = (pc,)
        places.append(CpuPlace(cpu, pc, backtrace, state.group(1).strip() if state else ""))
    return places


# --- symbolizing an oops -----------------------------------------------------------------------

#: ``RIP: 0010:func+0x5a/0x90`` and call-trace entries `` ? func+0x1a/0x40 [module]``.
_RIP_RE = re.compile(r"RIP: [0-9a-f]{4}:(?P<sym>[\w.]+)\+(?P<off>0x[0-9a-f]+)/0x[0-9a-f]+")
_TRACE_RE = re.compile(
    r"^\s*(?:\[[\s\d.]+\]\s*)?(?:\? )?(?P<sym>[\w.]+)\+(?P<off>0x[0-9a-f]+)/0x[0-9a-f]+\s*$"
)
_INFO_LINE_RE = re.compile(r'^Line (?P<line>\d+) of "(?P<file>[^"]+)"', re.M)


def oops_addresses(lines: list[str]) -> list[tuple[int, str, int, bool]]:
    """(index, symbol, offset, is_rip) for every RIP and call-trace line of an oops."""
    found = []
    for i, line in enumerate(lines):
        m = _RIP_RE.search(line)
        if m:
            found.append((i, m.group("sym"), int(m.group("off"), 16), True))
            continue
        m = _TRACE_RE.match(line)
        if m:
            found.append((i, m.group("sym"), int(m.group("off"), 16), False))
    return found


def symbolize(
    lines: list[str], vmlinux: Path | None, timeout: float = GDB_TIMEOUT
) -> tuple[list[str], list[str]]:
    """The oops lines with `` <- file:line`` added where vmlinux knows; and what was missing.

    One gdb batch answers every address (``info line *(func+off)``); a call-trace entry is a
    return address, so its call is looked up one byte before it, as decode_stacktrace.sh does.
    """
    missing, gdb_ok = _missing(vmlinux)
    wanted = oops_addresses(lines)
    if not gdb_ok or vmlinux is None or not wanted:
        return list(lines), missing
    argv = _gdb_prelude(vmlinux)
    for _, sym, off, is_rip in wanted:
        argv += ["-ex", "echo @@@\\n", "-ex", f"info line *({sym}+{off if is_rip else off - 1})"]
    try:
        out = run_gdb(argv, timeout)
    except (TimeoutError, OSError) as exc:
        return list(lines), [*missing, f"gdb failed: {exc}"]
    answers = out.split("@@@\n")[1:]
    result = list(lines)
    for (index, _, _, _), answer in zip(wanted, answers, strict=False):
        m = _INFO_LINE_RE.search(answer)
        if m:
            result[index] = f"{lines[index].rstrip()}  <- {m.group('file')}:{m.group('line')}"
    return result, missing


# --- the stub on QEMU's command line -------------------------------------------------------------


def gdb_port_of(argv: tuple[str, ...] | list[str]) -> int | None:
    """The TCP port of QEMU's gdb stub in ``argv`` (``-gdb tcp:HOST:PORT``, ``-s`` = 1234)."""
    port = None
    for i, arg in enumerate(argv):
        if arg == "-s":
            port = 1234
        elif arg == "-gdb" and i + 1 < len(argv):
            m = re.fullmatch(r"tcp:(?:[\w.\-]*|\[[0-9a-fA-F:]+\]):(\d+)(?:,.*)?", argv[i + 1])
            if m:
                port = int(m.group(1))
    return port


#: What :func:`with_gdb_stub` appends: the option and its value up to the port.
_GDB_OPTION, _GDB_STUB = "-gdb", "tcp:127.0.0.1:"


def with_gdb_stub(argv: tuple[str, ...]) -> tuple[str, ...]:
    """QEMU's argv with a gdb stub on a free loopback port, unless it already has one.

    The stub costs nothing until gdb connects (no ``-S``: the guest starts at once), and a
    port of its own lets two runs coexist where the fixed ``-s`` (1234, every interface)
    would collide.
    """
    if gdb_port_of(argv) is not None:
        return argv
    return (*argv, _GDB_OPTION, f"{_GDB_STUB}{free_port()}")


def without_gdb_stub(argv: tuple[str, ...]) -> tuple[str, ...]:
    """QEMU's argv without the stub :func:`with_gdb_stub` added (the plan's own command).

    Its port differs from run to run; comparing two runs of one plan must not see that.
    Only a loopback ``-gdb`` pair at the very end goes (where the stub is put); a plan whose
    own argv ends so loses it in every run alike, so comparisons still hold.
    """
    if (
        len(argv) >= 2
        and argv[-2] == _GDB_OPTION
        and argv[-1].startswith(_GDB_STUB)
        and argv[-1][len(_GDB_STUB) :].isdigit()
    ):
        return argv[:-2]
    return argv


def qemu_option(argv: tuple[str, ...] | list[str], name: str) -> str | None:
    """The value after the last ``name`` in a QEMU argv (the last one wins in QEMU)."""
    value = None
    for i, arg in enumerate(argv[:-1]):
        if arg == name:
            value = argv[i + 1]
    return value


def inspect_boot(argv: tuple[str, ...], reason: str) -> dict[str, Any]:
    """Where a running QEMU's vCPUs are, as JSON data with the report's lines (blocking)."""
    port = gdb_port_of(argv)
    if port is None:
        return {"cpus": [], "missing": ["QEMU runs without a gdb stub"], "lines": []}
    kernel = qemu_option(argv, "-kernel")
    vmlinux = find_vmlinux(kernel) if kernel else None
    start = time.monotonic()
    location = locate(port, vmlinux)
    seconds = round(time.monotonic() - start, 2)
    return {
        **location.to_dict(),
        "lines": location.text_lines(),
        "reason": reason,
        "seconds": seconds,
    }
