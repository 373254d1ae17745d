"""Real git repositories shaped like a ukl checkout, for workspace and app tests.

The shapes follow what the public unikernelLinux/ukl repository holds (see the comment at the
top of ``ukl_tui/apps.py`` for the files read): a top-level ``configure.ac`` selecting the
program with ``--with-program`` and listing every program's ``Makefile`` in
``AC_CONFIG_FILES``, a ``Makefile.am`` with ``app-clean`` and the ``linux/.config`` recipe,
program directories whose ``Makefile.am`` builds ``UKL.a``, and a ``.gitmodules`` with the
``linux`` (kernel fork), ``glibc`` and ``dnsmasq/dnsmasq`` submodules. The file contents are
written for these tests, not copied.

Everything runs the real ``git`` with an isolated configuration (no global or system config,
fixed author) so tests behave the same on any machine. Submodules use ``file://`` URLs, which
git only follows with ``protocol.file.allow=always``: :data:`GIT_ENV` sets that through
``GIT_CONFIG_*`` variables; tests that make the code under test clone or update submodules
must export it too (see :func:`allow_file_protocol`).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

GIT_ENV: dict[str, str] = {
    "GIT_AUTHOR_NAME": "UKL Test",
    "GIT_AUTHOR_EMAIL": "ukl-test@example.invalid",
    "GIT_COMMITTER_NAME": "UKL Test",
    "GIT_COMMITTER_EMAIL": "ukl-test@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_COUNT": "2",
    "GIT_CONFIG_KEY_0": "protocol.file.allow",
    "GIT_CONFIG_VALUE_0": "always",
    "GIT_CONFIG_KEY_1": "init.defaultBranch",
    "GIT_CONFIG_VALUE_1": "main",
}


def allow_file_protocol(monkeypatch: object) -> None:
    """Export :data:`GIT_ENV` into the test process so code under test inherits it."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)  # type: ignore[attr-defined]


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with the isolated test environment; return stripped stdout."""
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def file_url(path: Path) -> str:
    """The ``file://`` URL git needs to treat a local path as a remote (submodules, clones)."""
    return Path(path).resolve().as_uri()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


# --------------------------------------------------------------------------------------------
# Kernel trees


def write_kernel_tree(
    root: Path,
    version: tuple[int, int, int, str] = (6, 3, 0, ""),
    *,
    ukl: bool = True,
) -> Path:
    """Write the minimal shape of a Linux source tree (what workspace detection looks at).

    ``ukl=True`` adds a ``kernel/Kconfig.ukl`` sourced from the top-level Kconfig, the way the
    UKL kernel fork does; the symbols follow the table in /work/shared/UKL.md.
    """
    major, minor, sub, extra = version
    _write(
        root / "Makefile",
        "# SPDX-License-Identifier: GPL-2.0\n"
        f"VERSION = {major}\n"
        f"PATCHLEVEL = {minor}\n"
        f"SUBLEVEL = {sub}\n"
        f"EXTRAVERSION = {extra}\n"
        "NAME = Test Tree\n\n"
        "# (the rest of the kernel Makefile is irrelevant to detection)\n"
        "all:\n\t@echo fake kernel tree\n"
        "clean:\n\t@echo cleaning fake kernel tree\n",
    )
    top = ['mainmenu "Linux/$(ARCH) $(KERNELVERSION) Kernel Configuration"\n', "\n"]
    top.append('source "init/Kconfig"\n')
    if ukl:
        top.append('source "kernel/Kconfig.ukl"\n')
    top.append('source "arch/$(SRCARCH)/Kconfig"\n')
    _write(root / "Kconfig", "".join(top))
    _write(root / "init" / "Kconfig", 'config INET\n\tbool "TCP/IP networking"\n')
    _write(
        root / "arch" / "x86" / "Kconfig",
        'config 64BIT\n\tbool "64-bit kernel"\n\tdefault y\n'
        "config X86_64\n\tdef_bool y\n\tdepends on 64BIT\n",
    )
    if ukl:
        _write(
            root / "kernel" / "Kconfig.ukl",
            'menuconfig UNIKERNEL_LINUX\n\tbool "Unikernel Linux"\n\tdepends on X86_64\n'
            'config UKL_NAME\n\tstring "UKL Exec target"\n\tdefault "/UKL"\n'
            "\tdepends on UNIKERNEL_LINUX\n"
            'config UKL_ARCHIVE_PATH\n\tstring "UKL archive"\n\tdefault "../UKL.a"\n'
            "\tdepends on UNIKERNEL_LINUX\n",
        )
    return root


def make_kernel_repo(
    root: Path, version: tuple[int, int, int, str] = (6, 3, 0, ""), *, ukl: bool = True
) -> tuple[Path, list[str]]:
    """A git repository holding a kernel tree, with two commits (so a submodule can move).

    Returns the path and the commit SHAs, oldest first.
    """
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    write_kernel_tree(root, version, ukl=ukl)
    first = _commit_all(root, "Linux with UKL")
    _write(root / "kernel" / "ukl.c", "/* UKL entry (test stand-in) */\n")
    second = _commit_all(root, "ukl: add the entry code")
    return root, [first, second]


# --------------------------------------------------------------------------------------------
# The ukl checkout


CONFIGURE_AC_HEAD = """\
# Unikernel Linux (test model of unikernelLinux/ukl configure.ac)

AC_INIT([UKL], 1.0.0)
AM_INIT_AUTOMAKE(foreign)
AC_PROG_CC

dnl Select the target program.
AC_MSG_CHECKING([which program to compile])
AC_ARG_WITH([program],
    [AS_HELP_STRING([--with-program],
        [set which program to compile @<:@default=hello@:>@])],
        [PROGRAM="$withval"],
        [PROGRAM="hello"])
AC_MSG_RESULT([$PROGRAM])
AC_SUBST([PROGRAM])

AC_ARG_WITH([ukl-archive],
    [AS_HELP_STRING([--with-ukl-archive], [partially linked archive @<:@default=../UKL.a@:>@])],
    [ARCHIVE="$withval"], [ARCHIVE="../UKL.a"])
AC_SUBST([ARCHIVE])
AC_ARG_WITH([ukl-trigger],
    [AS_HELP_STRING([--with-ukl-trigger], [exec path starting the app @<:@default=/UKL@:>@])],
    [TRIGGER="$withval"], [TRIGGER="/UKL"])
AC_SUBST([TRIGGER])
AC_ARG_WITH([profiler], [AS_HELP_STRING([--with-profiler], [profiler])],
    [PROFILER="$withval"], [PROFILER=""])
AC_ARG_ENABLE([bypass], [AS_HELP_STRING([--enable-bypass], [glibc bypass])],
    [ENABLE_BYPASS="$enableval"], [ENABLE_BYPASS="no"])
AM_CONDITIONAL([ENABLE_BYPASS], [test "x$ENABLE_BYPASS" = "xyes"])
AC_ARG_ENABLE([same-stack], [AS_HELP_STRING([--enable-same-stack], [same stack])],
    [ENABLE_SAME_STACK="$enableval"], [ENABLE_SAME_STACK="no"])
AM_CONDITIONAL([ENABLE_SAME_STACK], [test "x$ENABLE_SAME_STACK" = "xyes"])
AC_ARG_ENABLE([use-ret], [AS_HELP_STRING([--enable-use-ret], [ret instead of iret])],
    [ENABLE_USE_RET="$enableval"], [ENABLE_USE_RET="no"])
AM_CONDITIONAL([ENABLE_USE_RET], [test "x$ENABLE_USE_RET" = "xyes"])
AC_ARG_ENABLE([use-ist-pf], [AS_HELP_STRING([--enable-use-ist-pf], [IST for PF])],
    [ENABLE_USE_IST_PF="$enableval"], [ENABLE_USE_IST_PF="no"])
AM_CONDITIONAL([ENABLE_USE_IST_PF], [test "x$ENABLE_USE_IST_PF" = "xyes"])
AC_ARG_ENABLE([shortcuts], [AS_HELP_STRING([--enable-shortcuts], [deep shortcuts])],
\t[ENABLE_SHORTCUT="$enableval"], [ENABLE_SHORTCUT="no"])
AM_CONDITIONAL([ENABLE_SHORTCUT], [test "x$ENABLE_SHORTCUT" = "xyes"])
AC_ARG_ENABLE([libupcall], [AS_HELP_STRING([--enable-libupcall], [libupcall])],
\t[ENABLE_LIBUPCALL="$enableval"], [ENABLE_LIBUPCALL="no"])
dnl Use the selected event system for tcp_echo
AC_ARG_WITH([event_system],
    [AS_HELP_STRING([--with-event-system], [event system @<:@default=epoll@:>@])],
        [EVENT_SYSTEM="$withval"], [EVENT_SYSTEM="epoll"])
AC_SUBST([EVENT_SYSTEM])

dnl Produce output files.
AC_CONFIG_HEADERS([config.h])
"""

#: Programs on ukl main, in configure.ac order, with the clone line their Makefile.am has.
PROGRAM_CLONES: dict[str, list[str]] = {
    "dnsmasq": [],
    "hello": [],
    "memcached": [
        "git clone --branch release-2.1.12-stable git@github.com:libevent/libevent.git",
        "git clone --branch ukl git@github.com:unikernelLinux/memcached.git",
    ],
    "mpc-bench": [],
    "fio": ["git clone -b fio-ukl git@github.com:unikernelLinux/fio.git"],
    "valkey": ["git clone -b 8.0 https://github.com/unikernelLinux/valkey.git"],
    "event-tester": [],
}
#: Directories configure generates a Makefile for that are not programs (no UKL.a target).
SUPPORT_DIRS = ("initrd", "libupcall")


def configure_ac_text(config_dirs: list[str]) -> str:
    """A configure.ac whose AC_CONFIG_FILES lists ``Makefile``, ``initrd/init`` and each dir."""
    entries = ["Makefile", "initrd/init", *[f"{d}/Makefile" for d in config_dirs]]
    body = " \\\n\t\t ".join(entries)
    return CONFIGURE_AC_HEAD + f"AC_CONFIG_FILES([{body}])\nAC_OUTPUT\n"


def makefile_am_text(*, app_clean: bool = True) -> str:
    """Top-level Makefile.am: the clean targets and the linux/.config recipe of ukl main."""
    text = (
        "CLEANFILES = *~ *.o *.a vmlinuz\n\n"
        "min-clean:\n\t-cd linux && $(MAKE) clean\n\t-rm UKL.a\n"
        "\t-cd $(PROGRAM) && $(MAKE) clean\n\n"
    )
    if app_clean:
        text += "app-clean:\n\t-rm UKL.a\n\t-cd $(PROGRAM) && $(MAKE) clean\n\n"
    text += (
        "kern-clean:\n\t-rm vmlinuz\n\t-cd linux && $(MAKE) clean\n\n"
        "linux/.config: saveconfig\n\trm -f $@\n\tcp $(srcdir)/saveconfig $@\n"
        "\techo CONFIG_UNIKERNEL_LINUX=y >> $@\n\techo CONFIG_UKL_TLS=y >> $@\n"
        "\techo CONFIG_UKL_ARCHIVE_PATH=$(ARCHIVE) >> $@\n"
        "\techo CONFIG_UKL_NAME=$(TRIGGER) >> $@\n"
        "if ENABLE_SAME_STACK\n\techo CONFIG_UKL_SAME_STACK=y >> $@\nendif\n"
        "if ENABLE_USE_RET\n\techo CONFIG_UKL_USE_RET=y >> $@\nendif\n"
        "if ENABLE_USE_IST_PF\n\techo CONFIG_UKL_USE_IST_PF=y >> $@\nendif\n"
        "if ENABLE_SHORTCUT\n\techo CONFIG_UKL_DEEP_SHORTCUT=y >> $@\nendif\n\n"
        "UKL.a: $(PROGRAM)/UKL.a\n\tcp $< $@\n\n"
        "$(PROGRAM)/UKL.a: $(CRT_OBJS) $(LIBC_OBJS)\n\tcd $(PROGRAM) && $(MAKE) UKL.a\n"
    )
    return text


def program_makefile_am(name: str, clone_lines: list[str] | None = None) -> str:
    """A program directory's Makefile.am: builds UKL.a (the target the top Makefile calls)."""
    text = (
        f"# {name}: partially linked into UKL.a\n"
        "CLEANFILES = *~ *.o *.a\n\nnoinst_DATA = UKL.a\n\n"
        f"UKL.a: {name}.o undefined_sys_hack.o\n\trm -f $@\n\tar cr UKL.a $^\n"
        "\tobjcopy --prefix-symbols=ukl_ $@\n"
    )
    for i, line in enumerate(clone_lines or []):
        text += f"\nstamp-dir-{i}:\n\tif ! test -d src{i}; then \\\n\t    {line}; \\\n\tfi\n"
    return text


def write_program_dir(root: Path, name: str, clone_lines: list[str] | None = None) -> Path:
    """Create ``root/name`` as a program directory (Makefile.am with a UKL.a target)."""
    d = root / name
    _write(d / "Makefile.am", program_makefile_am(name, clone_lines))
    _write(d / f"{name}.c", f"/* {name} (test stand-in) */\nint main(void) {{ return 0; }}\n")
    return d


@dataclass
class UklUpstream:
    """The 'GitHub side': a ukl repository and its submodule repositories, all local."""

    root: Path
    linux: Path
    linux_commits: list[str]
    glibc: Path
    dnsmasq: Path
    programs: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The ukl repository's clone URL."""
        return file_url(self.root)


def make_ukl_upstream(
    base: Path,
    *,
    programs: list[str] | None = None,
    app_clean: bool = True,
) -> UklUpstream:
    """Build the ukl repository and its submodules under ``base``.

    The ``linux`` submodule is recorded at the first of the kernel repository's two commits,
    so a checkout can later be 'moved' to the second one.
    """
    programs = list(PROGRAM_CLONES) if programs is None else programs
    base.mkdir(parents=True, exist_ok=True)
    linux, commits = make_kernel_repo(base / "linux-fork")
    glibc = base / "glibc-fork"
    glibc.mkdir()
    git(glibc, "init", "-q")
    _write(glibc / "configure", "#!/bin/sh\necho glibc for x86_64-ukl\n")
    _commit_all(glibc, "glibc for UKL")
    dnsmasq = base / "dnsmasq-upstream"
    dnsmasq.mkdir()
    git(dnsmasq, "init", "-q")
    _write(dnsmasq / "Makefile", "all:\n\t@echo dnsmasq\n")
    _commit_all(dnsmasq, "dnsmasq 2.86")

    root = base / "ukl"
    root.mkdir()
    git(root, "init", "-q")
    _write(root / "configure.ac", configure_ac_text([*SUPPORT_DIRS, *programs]))
    _write(root / "Makefile.am", makefile_am_text(app_clean=app_clean))
    saveconfig = "CONFIG_64BIT=y\nCONFIG_INET=y\n# CONFIG_RANDOMIZE_BASE is not set\n"
    _write(root / "saveconfig", saveconfig)
    _write(root / "initrd" / "Makefile.am", "ukl-initrd.cpio.xz:\n\t./create-initrd.sh\n")
    _write(root / "initrd" / "init.in", "#!/bin/sh\necho UKL BOOTED\nexec @TRIGGER@\n")
    upcall_am = "noinst_DATA = libupcall.a\n\nlibupcall.a: upcall.o\n"
    _write(root / "libupcall" / "Makefile.am", upcall_am)
    for name in programs:
        write_program_dir(root, name, PROGRAM_CLONES.get(name, []))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "UKL build system")
    git(root, "submodule", "add", "-q", file_url(linux), "linux")
    git(root / "linux", "checkout", "-q", commits[0])
    git(root, "submodule", "add", "-q", file_url(glibc), "glibc")
    git(root, "submodule", "add", "-q", file_url(dnsmasq), "dnsmasq/dnsmasq")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Add linux, glibc and dnsmasq submodules")
    return UklUpstream(root, linux, commits, glibc, dnsmasq, programs)


def clone_checkout(upstream: UklUpstream, dest: Path, *, init: bool = False) -> Path:
    """Clone the ukl repository the way a user does: submodules uninitialised unless ``init``."""
    args = ["clone", "-q"]
    if init:
        args.append("--recurse-submodules")
    git(dest.parent, *args, upstream.url, str(dest))
    return dest


def make_bare_with_submodule(base: Path) -> tuple[Path, list[str]]:
    """A bare ukl-like repository (what a server holds) whose ``linux`` is a submodule."""
    upstream = make_ukl_upstream(base / "src", programs=["hello"])
    bare = base / "ukl.git"
    git(base, "clone", "-q", "--bare", str(upstream.root), str(bare))
    return bare, upstream.linux_commits
