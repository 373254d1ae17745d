"""Facts about the machine ukl-tui runs on: KVM, build tools, QEMU, busybox.

The Welcome screen and ``ukl-tui check`` call this on every start, so it must be fast (no
subprocesses, only ``shutil.which``, header paths and a few small reads) and it must explain
each missing piece with the Debian package that provides it, because missing host packages
are the most common reason a UKL build fails (see UKL.md, "Users' recurring problems").
"""

from __future__ import annotations

import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

#: The KVM ioctls used to ask the kernel whether a VM can be created (linux/kvm.h).
_KVM_GET_API_VERSION = 0xAE00
_KVM_CREATE_VM = 0xAE01
_KVM_API_VERSION = 12

_ELF_MAGIC = b"\x7fELF"
_PT_INTERP = 3
_PT_DYNAMIC = 2


@dataclass(frozen=True)
class KvmStatus:
    """Whether QEMU may use ``-accel kvm``, and in words why (not)."""

    usable: bool
    reason: str


@dataclass(frozen=True)
class Prereq:
    """One host requirement: found or not, what was found, and which Debian package gives it.

    ``optional`` requirements (Docker, KVM) change how things run but never block a build.
    """

    name: str
    ok: bool
    detail: str
    debian_package: str
    optional: bool = False


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU feature flags of the first processor (empty when /proc/cpuinfo is unreadable)."""
    try:
        with cpuinfo.open(encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def kvm_usable(dev: Path = Path("/dev/kvm"), cpuinfo: Path = Path("/proc/cpuinfo")) -> KvmStatus:
    """Decide whether KVM will really work, not just whether /dev/kvm exists.

    On some machines /dev/kvm opens but QEMU then aborts or hangs (MEASURED.md): the CPU flags
    without vmx/svm are the reliable sign, so both the device and the flags must agree.
    """
    flags = cpu_flags(cpuinfo)
    if not flags:
        return KvmStatus(False, f"cannot read CPU flags from {cpuinfo}")
    if "vmx" not in flags and "svm" not in flags:
        return KvmStatus(
            False,
            "the CPU flags show neither vmx nor svm (no hardware virtualisation here, "
            "e.g. a VM without nested virtualisation)",
        )
    if not dev.exists():
        return KvmStatus(False, f"{dev} does not exist (kvm module not loaded or not passed in)")
    try:
        fd = os.open(dev, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        hint = " (add your user to the 'kvm' group)" if exc.errno == 13 else ""
        return KvmStatus(False, f"{dev} does not open read-write: {exc.strerror}{hint}")
    try:
        import fcntl

        if fcntl.ioctl(fd, _KVM_GET_API_VERSION) != _KVM_API_VERSION:
            return KvmStatus(False, f"{dev} speaks an unexpected KVM API version")
        vm = fcntl.ioctl(fd, _KVM_CREATE_VM, 0)
        os.close(vm)
    except OSError as exc:
        return KvmStatus(False, f"{dev} refuses to create a VM: {exc.strerror}")
    finally:
        os.close(fd)
    return KvmStatus(True, f"{dev} works and the CPU has {'vmx' if 'vmx' in flags else 'svm'}")


def elf_is_static(path: Path) -> bool:
    """True for an ELF executable with no program interpreter and no dynamic section.

    Read from the program headers directly so no ``file``/``ldd`` subprocess is needed; the
    busybox inside an initramfs must be static because there is no libc beside it.
    """
    try:
        with path.open("rb") as fh:
            ident = fh.read(64)
            if len(ident) < 64 or ident[:4] != _ELF_MAGIC:
                return False
            is64 = ident[4] == 2
            endian = "<" if ident[5] == 1 else ">"
            if is64:
                phoff = struct.unpack_from(endian + "Q", ident, 0x20)[0]
                phentsize, phnum = struct.unpack_from(endian + "HH", ident, 0x36)
            else:
                phoff = struct.unpack_from(endian + "I", ident, 0x1C)[0]
                phentsize, phnum = struct.unpack_from(endian + "HH", ident, 0x2A)
            if phnum == 0 or phentsize < 4:
                return False
            fh.seek(phoff)
            table = fh.read(phentsize * phnum)
    except OSError:
        return False
    if len(table) < phentsize * phnum:
        return False
    for i in range(phnum):
        (p_type,) = struct.unpack_from(endian + "I", table, i * phentsize)
        if p_type in (_PT_INTERP, _PT_DYNAMIC):
            return False
    return True


def find_static_busybox() -> Path | None:
    """A static busybox on this host (Debian's busybox-static installs it as /bin/busybox)."""
    candidates: list[Path] = []
    found = shutil.which("busybox")
    if found:
        candidates.append(Path(found))
    candidates += [Path("/bin/busybox"), Path("/usr/bin/busybox")]
    for cand in candidates:
        if cand.is_file() and elf_is_static(cand):
            return cand
    return None


#: The Debian package of each command a UKL build or boot runs (the one place this is written:
#: the host checks and the failure diagnosis both read it).
TOOL_PACKAGES: dict[str, str] = {
    "gcc": "gcc",
    "cc": "gcc",
    "make": "make",
    "flex": "flex",
    "bison": "bison",
    "bc": "bc",
    "autoconf": "autoconf",
    "autoreconf": "autoconf",
    "automake": "automake",
    "aclocal": "automake",
    "libtoolize": "libtool",
    "qemu-system-x86_64": "qemu-system-x86",
    "busybox": "busybox-static",
    "gdb": "gdb",
    "git": "git",
    "cpio": "cpio",
    "xz": "xz-utils",
    "gzip": "gzip",
    "zstd": "zstd",
    "lz4c": "lz4",
    "perl": "perl",
    "python3": "python3",
    "hostname": "hostname",
    "pahole": "dwarves",
    "openssl": "openssl",
    "rsync": "rsync",
    "ccache": "ccache",
    "distcc": "distcc",
    "ld": "binutils",
    "as": "binutils",
    "objcopy": "binutils",
    "ar": "binutils",
    "docker": "docker.io",
}

#: The Debian package of a header (a path under /usr/include, or a directory prefix of it).
HEADER_PACKAGES: dict[str, str] = {
    "openssl/": "libssl-dev",
    "libelf.h": "libelf-dev",
    "gelf.h": "libelf-dev",
    "elfutils/": "libdw-dev",
    "gmp.h": "libgmp-dev",
    "mpfr.h": "libmpfr-dev",
    "mpc.h": "libmpc-dev",
    "zlib.h": "zlib1g-dev",
    "zstd.h": "libzstd-dev",
    "lz4.h": "liblz4-dev",
    "ncurses.h": "libncurses-dev",
    "curses.h": "libncurses-dev",
    "event2/": "libevent-dev",
    "bfd.h": "binutils-dev",
    "cap-ng.h": "libcap-ng-dev",
    "sys/capability.h": "libcap-dev",
    "stdio.h": "libc6-dev",
    "stdlib.h": "libc6-dev",
}


def package_for_tool(name: str) -> str:
    """The Debian package that installs command ``name``, or "" when this module does not know."""
    return TOOL_PACKAGES.get(name.rsplit("/", 1)[-1], "")


def package_for_header(header: str) -> str:
    """The Debian package that installs ``#include <header>``, or "" when unknown."""
    if header in HEADER_PACKAGES:
        return HEADER_PACKAGES[header]
    for prefix, package in HEADER_PACKAGES.items():
        if prefix.endswith("/") and header.startswith(prefix):
            return package
    return ""


def _tool(name: str, why: str = "", optional: bool = False) -> Prereq:
    package = TOOL_PACKAGES[name]
    path = shutil.which(name)
    if path:
        return Prereq(name, True, path, package, optional)
    return Prereq(name, False, f"{name} not found on PATH{why}", package, optional)


def _header(name: str, header: str) -> Prereq:
    package = package_for_header(header)
    for root in ("/usr/include", "/usr/local/include", "/usr/include/x86_64-linux-gnu"):
        path = Path(root) / header
        if path.is_file():
            return Prereq(name, True, str(path), package)
    return Prereq(name, False, f"<{header}> not found under /usr/include", package)


def _kconfig_tools() -> list[Prereq]:
    return [_tool("gcc"), _tool("make"), _tool("flex"), _tool("bison")]


def kconfig_tool_prerequisites() -> list[Prereq]:
    """What building the tree's own C configurator (``scripts/kconfig/conf``) needs.

    ``ukl-tui verify`` runs it; Debian's gcc only recommends the C library headers, so a
    ``--no-install-recommends`` host can have gcc and still fail on ``<stdio.h>``.
    """
    return [*_kconfig_tools(), _header("C library headers", "stdio.h")]


def check_prerequisites(*, distcc: bool = False) -> list[Prereq]:
    """Everything a UKL build and boot needs from the host, in the order a build needs it.

    ``distcc``: the plan compiles through distcc hosts, so the client is needed too (the
    daemons run on the hosts, not here).
    """
    result = [
        *_kconfig_tools(),
        _tool("bc"),
        _header("libelf headers", "libelf.h"),
        _header("openssl headers", "openssl/ssl.h"),
        _tool("autoconf"),
        _tool("automake"),
        _tool("qemu-system-x86_64"),
        _tool("gdb", " (only needed to locate a panicked or hung kernel)", optional=True),
    ]
    if distcc:
        result.append(_tool("distcc", " (the plan compiles through distcc hosts)"))
    busybox = find_static_busybox()
    if busybox:
        result.append(Prereq("busybox (static)", True, str(busybox), "busybox-static"))
    else:
        dynamic = shutil.which("busybox")
        detail = (
            f"{dynamic} is dynamically linked; the minimal initramfs needs a static one"
            if dynamic
            else "busybox not found"
        )
        result.append(Prereq("busybox (static)", False, detail, "busybox-static"))
    result.append(_tool("docker", " (only needed for ukl's own initrd)", optional=True))
    kvm = kvm_usable()
    result.append(
        Prereq(
            "KVM",
            kvm.usable,
            kvm.reason if kvm.usable else f"{kvm.reason}; QEMU will use TCG (slower)",
            "",  # no package makes KVM work: it needs hardware virtualisation
            optional=True,
        )
    )
    return result
