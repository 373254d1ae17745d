"""The application catalogue: what a ukl checkout can build, and how configure is asked for it.

What the public unikernelLinux/ukl repository says (read with the project's search tool:
``configure.ac`` at commits 61b17beb (main, newest), 4556f815, 386f1336 and 4c8304ea;
``Makefile.am`` at 007415a0 and 4c8304ea; ``.gitmodules`` at 175f3d60 and a549c843;
``hello/``, ``memcached/``, ``valkey/``, ``mpc-bench/``, ``fio/``, ``event-tester/``,
``dnsmasq/`` and ``libupcall/`` ``Makefile.am``):

- ``AC_ARG_WITH([program])`` sets ``PROGRAM`` (default ``hello``) and ``AC_SUBST``s it; the top
  ``Makefile.am`` then runs ``cd $(PROGRAM) && $(MAKE) UKL.a`` and copies the result to
  ``UKL.a``. So a program is a directory whose ``Makefile.am`` has a ``UKL.a`` target, and it is
  only buildable when configure generates its Makefile, i.e. ``AC_CONFIG_FILES`` lists
  ``<dir>/Makefile``. main lists dnsmasq, hello, memcached, mpc-bench, fio, valkey and
  event-tester, plus initrd/ and libupcall/, which are not programs (no UKL.a target).
  Older checkouts list redis (later valkey) and nginx.
- Other options: ``--with-ukl-archive`` (ARCHIVE, default ``../UKL.a``), ``--with-ukl-trigger``
  (TRIGGER, default ``/UKL``), ``--with-profiler``, ``--enable-bypass`` (glibc ``-DUKL_BP``),
  ``--enable-same-stack``, ``--enable-use-ret``, ``--enable-use-ist-pf``, ``--enable-shortcuts``
  (ENABLE_SHORTCUT), ``--enable-libupcall``, and ``AC_ARG_WITH([event_system])`` (spelled
  ``--with-event-system``, default epoll). Older ones also had ``--enable-afterspace``.
- ``linux/.config`` is ``saveconfig`` plus ``echo CONFIG_...`` lines: UNIKERNEL_LINUX=y,
  UKL_TLS=y, ``CONFIG_UKL_ARCHIVE_PATH=$(ARCHIVE)`` and ``CONFIG_UKL_NAME=$(TRIGGER)``
  (unquoted: kconfig ignores them), then SAME_STACK / USE_RET / USE_IST_PF / DEEP_SHORTCUT
  when enabled. ``app-clean`` (in 007415a0, not in 4c8304ea) removes UKL.a and cleans the
  program directory; ``min-clean``/``kern-clean`` clean linux/.
- Program builds fetch sources: memcached clones libevent and memcached from
  ``git@github.com:`` (SSH), fio clones ``git@github.com:unikernelLinux/fio.git`` (SSH) and
  wgets zlib, valkey clones over https, dnsmasq clones over http only when its directory is
  absent (an uninitialised ``dnsmasq/dnsmasq`` submodule is an empty directory, so the build
  then finds no sources: inferred from the Makefile.am). mpc-bench adds ``-DUKL_BYPASS`` /
  ``-DUKL_SHORTCUT`` when bypass/shortcuts are enabled.

The catalogue is read from the checkout (a program added there is listed even when these notes
do not know it; a program these notes know but the checkout lacks is not listed) and
annotated with the built-in knowledge of /work/shared/UKL.md (ports, banners, clone needs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ukl_tui.errors import UserError

if TYPE_CHECKING:
    from ukl_tui.workspace import Workspace

AppKind = Literal["server", "one-shot", "unknown"]
Transport = Literal["ssh", "https", "http", "git", "file", "other"]

AR_MAGIC = b"!<arch>\n"
THIN_AR_MAGIC = b"!<thin>\n"
EVENT_SYSTEMS: tuple[str, ...] = ("epoll", "iouring", "upcall", "threads")
DEFAULT_PROGRAM = "hello"
DEFAULT_ARCHIVE = "../UKL.a"
DEFAULT_TRIGGER = "/UKL"
NO_EFFECT_6X = "no effect on 6.x trees"


# --------------------------------------------------------------------------------------------
# Built-in knowledge


@dataclass(frozen=True)
class CloneNeed:
    """A source the program's build fetches over the network, and how."""

    url: str
    transport: Transport
    source: str = "Makefile.am"

    @property
    def needs_ssh_key(self) -> bool:
        """True for ``git@host:`` / ``ssh://`` URLs: the build fails without an SSH key."""
        return self.transport == "ssh"


def _transport(url: str) -> Transport:
    if url.startswith("git@") or url.startswith("ssh://") or re.match(r"^[\w.-]+@[\w.-]+:", url):
        return "ssh"
    for scheme in ("https", "http", "git", "file"):
        if url.startswith(scheme + "://"):
            return scheme  # type: ignore[return-value]
    return "other"


@dataclass(frozen=True)
class _Notes:
    summary: str
    kind: AppKind
    ports: tuple[int, ...] = ()
    banner: str | None = None
    clones: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    submodules: tuple[str, ...] = ()


_KNOWN: dict[str, _Notes] = {
    "hello": _Notes(
        "prints a greeting on the console, then waits forever",
        "one-shot",
        banner="hello, from the UKL world",
        notes=("never exits: success is the banner on the serial console",),
    ),
    "memcached": _Notes(
        "memcached key-value cache server",
        "server",
        ports=(11211,),
        clones=(
            "git@github.com:libevent/libevent.git",
            "git@github.com:unikernelLinux/memcached.git",
        ),
    ),
    "valkey": _Notes(
        "valkey (the Redis fork) key-value server",
        "server",
        ports=(6379,),
        clones=("https://github.com/unikernelLinux/valkey.git",),
    ),
    "redis": _Notes(
        "Redis key-value server (older checkouts; valkey replaced it on main)",
        "server",
        ports=(6379,),
    ),
    "mpc-bench": _Notes(
        "UKL benchmark server from the paper's experiments",
        "server",
        ports=(8000,),
        notes=("built with -DUKL_BYPASS / -DUKL_SHORTCUT when bypass / shortcuts are enabled",),
    ),
    "fio": _Notes(
        "fio storage I/O benchmark: runs its job file and reports",
        "one-shot",
        clones=("git@github.com:unikernelLinux/fio.git", "https://www.zlib.net/"),
    ),
    "event-tester": _Notes(
        "TCP echo server exercising an event system (--with-event-system)",
        "server",
        ports=(7272,),
        notes=("--with-event-system picks epoll, iouring, upcall or threads (default epoll)",),
    ),
    "dnsmasq": _Notes(
        "dnsmasq DNS/DHCP server",
        "server",
        ports=(53,),
        notes=(
            "port 53 is dnsmasq's default DNS port (dnsmasq.conf may change it)",
            "its sources come from the dnsmasq/dnsmasq submodule: an uninitialised (empty) "
            "submodule directory stops the Makefile from cloning them (inferred)",
        ),
        submodules=("dnsmasq/dnsmasq",),
    ),
}


@dataclass(frozen=True)
class App:
    """One application the unikernel can be built with.

    Either a program directory of a ukl checkout (``directory``), or a custom, already built
    ``UKL.a`` (``archive``). ``known`` says whether the built-in notes describe it; an unknown
    program has kind ``"unknown"`` and no ports or banner, but still its clone needs, which
    are read from its Makefile.am. ``warnings`` are things that will likely make the build or
    the boot fail (SSH keys, uninitialised submodules); ``notes`` are plain facts.
    """

    name: str
    summary: str
    kind: AppKind = "unknown"
    ports: tuple[int, ...] = ()
    banner: str | None = None
    clones: tuple[CloneNeed, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    submodules: tuple[str, ...] = ()
    directory: Path | None = None
    checkout: Path | None = None
    archive: Path | None = None
    known: bool = False
    is_default: bool = False
    in_configure: bool = True

    @property
    def is_custom(self) -> bool:
        """True for a prebuilt UKL.a given by the user."""
        return self.archive is not None

    @property
    def is_server(self) -> bool:
        """True when the app serves ports and never exits (success = reachable port)."""
        return self.kind == "server"


# --------------------------------------------------------------------------------------------
# Reading the checkout


def _strip_comments(text: str) -> str:
    """Drop m4 ``dnl`` comments and ``#`` comment lines, which may mention options in prose."""
    out = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        out.append(re.sub(r"(^|\s)dnl\b.*$", "", line))
    return "\n".join(out)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def config_files(configure_ac: str) -> list[str]:
    """The files ``AC_CONFIG_FILES`` asks configure to generate, in order."""
    text = _strip_comments(configure_ac)
    out: list[str] = []
    for m in re.finditer(r"AC_CONFIG_FILES\(\s*(\[(?P<q>[^\]]*)\]|(?P<b>[^)\]]*))", text):
        body = m.group("q") if m.group("q") is not None else m.group("b")
        for token in body.replace("\\", " ").split():
            if token not in out:
                out.append(token)
    return out


def configure_flags(configure_ac: str) -> set[str]:
    """The ``--with-*`` / ``--enable-*`` flags this configure.ac defines (``_`` spelled ``-``)."""
    text = _strip_comments(configure_ac)
    flags = set()
    for m in re.finditer(r"AC_ARG_(WITH|ENABLE)\(\s*\[?([\w-]+)", text):
        flags.add(f"--{m.group(1).lower()}-{m.group(2).replace('_', '-')}")
    return flags


def default_program(configure_ac: str) -> str | None:
    """The program configure builds without ``--with-program`` (``PROGRAM="hello"``)."""
    values = re.findall(r'PROGRAM="([^"$]+)"', _strip_comments(configure_ac))
    return values[-1] if values else None


_UKL_TARGET = re.compile(r"^UKL(?:\.a)?[ \t]*:(?!=)", re.MULTILINE)
_CLONE_URL = re.compile(
    r"\b(?:git\s+clone|wget|curl)\b[^\n]*?\s(?P<url>(?:[\w.-]+@[\w.-]+:|\w+://)\S+)"
)


def _program_makefile(directory: Path) -> str | None:
    """The text of a program directory's Makefile.am (or Makefile.in) if it builds UKL.a."""
    for name in ("Makefile.am", "Makefile.in"):
        text = _read(directory / name)
        if text and _UKL_TARGET.search(text):
            return text
    return None


def clone_needs(makefile_text: str) -> tuple[CloneNeed, ...]:
    """Sources a program's Makefile fetches (``git clone URL``, ``wget URL``), in order."""
    seen: list[CloneNeed] = []
    for m in _CLONE_URL.finditer(makefile_text):
        url = m.group("url").rstrip(";\\)'\"")
        if url not in [c.url for c in seen]:
            seen.append(CloneNeed(url, _transport(url)))
    return tuple(seen)


def _ssh_warning(name: str, need: CloneNeed) -> str:
    return (
        f"{name}'s build clones {need.url} over SSH: it needs a GitHub SSH key "
        "(ssh -T git@github.com must work)"
    )


def _make_app(
    name: str, directory: Path, makefile: str, ws: Workspace, *, default: str | None, listed: bool
) -> App:
    notes = _KNOWN.get(name)
    clones = clone_needs(makefile)
    if not clones and notes is not None:
        clones = tuple(CloneNeed(u, _transport(u), "built-in notes") for u in notes.clones)
    warnings = [_ssh_warning(name, c) for c in clones if c.needs_ssh_key]
    if not listed:
        warnings.append(
            f"{name}/Makefile is not in configure.ac's AC_CONFIG_FILES: "
            f"./configure will not generate it, so --with-program={name} cannot build"
        )
    states = {s.path: s for s in ws.submodules}
    for sub in notes.submodules if notes else ():
        st = states.get(sub)
        if st is not None and st.needs_init:
            warnings.append(f"{name} needs the {sub} submodule, which is {st.state}")
    return App(
        name=name,
        summary=notes.summary if notes else f"program directory {name}/ (no built-in notes)",
        kind=notes.kind if notes else "unknown",
        ports=notes.ports if notes else (),
        banner=notes.banner if notes else None,
        clones=clones,
        warnings=tuple(warnings),
        notes=notes.notes if notes else (),
        submodules=notes.submodules if notes else (),
        directory=directory,
        checkout=ws.root,
        known=notes is not None,
        is_default=name == default,
        in_configure=listed,
    )


def list_apps(ws: Workspace, *, include_unconfigured: bool = False) -> list[App]:
    """The programs this ukl checkout can build, in configure.ac order.

    A program is a directory named in ``AC_CONFIG_FILES`` (as ``<dir>/Makefile``) whose
    Makefile.am has a ``UKL.a`` target. With ``include_unconfigured``, directories that have
    such a Makefile.am but are missing from AC_CONFIG_FILES are appended with a warning
    (someone is adding a program and has not wired it into configure yet). A plain kernel
    tree has no programs: the answer is empty, and :func:`custom_app` is the way in.
    """
    if not ws.is_ukl:
        return []
    conf = _read(ws.root / "configure.ac")
    default = default_program(conf)
    apps: list[App] = []
    listed: list[str] = []
    for entry in config_files(conf):
        if not entry.endswith("/Makefile"):
            continue
        name = entry[: -len("/Makefile")]
        if ".." in Path(name).parts or name in listed:
            continue
        listed.append(name)
        directory = ws.root / name
        makefile = _program_makefile(directory)
        if makefile is not None:
            apps.append(_make_app(name, directory, makefile, ws, default=default, listed=True))
    if include_unconfigured:
        for child in sorted(ws.root.iterdir()):
            if child.name in listed or not child.is_dir() or child.name.startswith("."):
                continue
            makefile = _program_makefile(child)
            if makefile is not None:
                apps.append(
                    _make_app(child.name, child, makefile, ws, default=default, listed=False)
                )
    return apps


def find_app(ws: Workspace, name: str) -> App:
    """The buildable program called ``name``, or a UserError listing the ones there are."""
    apps = list_apps(ws)
    for app in apps:
        if app.name == name:
            return app
    there = ", ".join(a.name for a in apps) or "none"
    raise UserError(f"no program {name!r} in {ws.root} (programs: {there})")


# --------------------------------------------------------------------------------------------
# Custom UKL.a


def _archive_symbols(data: bytes) -> list[str] | None:
    """Names in an ar archive's symbol index (GNU ``/`` or ``/SYM64/``); None if it has none."""
    if len(data) < 8 + 60:
        return None
    header = data[8 : 8 + 60]
    name = header[:16].decode("ascii", "replace").strip()
    if name not in ("/", "/SYM64/"):
        return None
    try:
        size = int(header[48:58].decode("ascii").strip())
    except ValueError:
        return None
    body = data[68 : 68 + size]
    width = 8 if name == "/SYM64/" else 4
    if len(body) < width:
        return None
    count = int.from_bytes(body[:width], "big")
    strings = body[width + count * width :]
    return [s.decode("utf-8", "replace") for s in strings.split(b"\0")[:count] if s]


def custom_app(ukl_a: str | Path, ws: Workspace | None = None) -> App:
    """An App for an already built ``UKL.a`` (checked: exists, is a regular ar archive).

    UKL links the archive into vmlinux through CONFIG_UKL_ARCHIVE_PATH, after every symbol was
    prefixed ``ukl_``; an archive without such symbols gets a warning, not an error, since a
    user may know better.
    """
    path = Path(ukl_a).expanduser()
    if not path.exists():
        raise UserError(f"{path} does not exist (expected a UKL.a archive)")
    if not path.is_file():
        raise UserError(f"{path} is not a file (expected a UKL.a archive)")
    try:
        with path.open("rb") as f:
            data = f.read(8 << 20)
    except OSError as exc:
        raise UserError(f"{path} cannot be read: {exc.strerror}") from exc
    if data.startswith(THIN_AR_MAGIC):
        raise UserError(
            f"{path} is a thin archive (members live elsewhere): make a normal one with ar cr"
        )
    if not data.startswith(AR_MAGIC):
        raise UserError(f"{path} is not an ar archive (a UKL.a starts with !<arch>)")
    warnings: list[str] = []
    symbols = _archive_symbols(data)
    if symbols is None:
        warnings.append(f"{path.name} has no symbol index: run ranlib on it")
    elif not any(s.startswith("ukl_") for s in symbols):
        warnings.append(
            f"{path.name} defines no ukl_-prefixed symbols: UKL expects "
            "objcopy --prefix-symbols=ukl_ to have been run on it"
        )
    return App(
        name="custom",
        summary=f"prebuilt archive {path}",
        kind="unknown",
        warnings=tuple(warnings),
        notes=(
            "the kernel links this archive through CONFIG_UKL_ARCHIVE_PATH; a ukl checkout's "
            "make still builds the configured program's own UKL.a",
        ),
        checkout=ws.root if ws is not None and ws.is_ukl else None,
        archive=path.resolve(),
        known=False,
    )


# --------------------------------------------------------------------------------------------
# configure options


@dataclass(frozen=True)
class OptionSpec:
    """One ``./configure`` option as the TUI shows it: flag, meaning, what it sets, caveats."""

    field: str
    flag: str
    kind: Literal["bool", "str", "choice"]
    default: Any
    meaning: str
    warning: str | None = None
    kconfig: str | None = None
    requires_kconfig: dict[str, str] = field(default_factory=dict)
    choices: tuple[str, ...] = ()
    no_effect_on_6x: bool = False


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "program",
        "--with-program",
        "choice",
        DEFAULT_PROGRAM,
        "Which program directory of the checkout is compiled, linked with UKL's glibc into "
        "UKL.a and built into the kernel.",
    ),
    OptionSpec(
        "ukl_archive",
        "--with-ukl-archive",
        "str",
        DEFAULT_ARCHIVE,
        "The archive the kernel links, relative to the kernel build directory (linux/); "
        "becomes CONFIG_UKL_ARCHIVE_PATH.",
        kconfig="UKL_ARCHIVE_PATH",
    ),
    OptionSpec(
        "ukl_trigger",
        "--with-ukl-trigger",
        "str",
        DEFAULT_TRIGGER,
        "The exec path that starts the application: when init executes it, the kernel runs "
        "the linked program instead; becomes CONFIG_UKL_NAME.",
        kconfig="UKL_NAME",
    ),
    OptionSpec(
        "bypass",
        "--enable-bypass",
        "bool",
        False,
        "glibc enters the kernel by direct calls instead of the syscall instruction "
        "(glibc built with -DUKL_BP).",
        warning="known to break the glibc build on main (ukl issue #37)",
    ),
    OptionSpec(
        "use_ret",
        "--enable-use-ret",
        "bool",
        False,
        "Return from kernel to application code with ret instead of iret (cheaper "
        "transitions); sets CONFIG_UKL_USE_RET.",
        kconfig="UKL_USE_RET",
    ),
    OptionSpec(
        "shortcuts",
        "--enable-shortcuts",
        "bool",
        False,
        "Deep shortcuts: hot paths call internal kernel functions directly; sets "
        "CONFIG_UKL_DEEP_SHORTCUT, which depends on INET.",
        warning="needs CONFIG_INET=y (UKL_DEEP_SHORTCUT depends on INET)",
        kconfig="UKL_DEEP_SHORTCUT",
        requires_kconfig={"INET": "y"},
    ),
    OptionSpec(
        "same_stack",
        "--enable-same-stack",
        "bool",
        False,
        "Run kernel code on the application's stack (CONFIG_UKL_SAME_STACK, 5.x UKL kernels).",
        warning=f"{NO_EFFECT_6X}: CONFIG_UKL_SAME_STACK exists only in older 5.x UKL kernels",
        kconfig="UKL_SAME_STACK",
        no_effect_on_6x=True,
    ),
    OptionSpec(
        "use_ist_pf",
        "--enable-use-ist-pf",
        "bool",
        False,
        "Handle page faults on an IST stack instead of the double-fault path "
        "(CONFIG_UKL_USE_IST_PF, 5.x UKL kernels).",
        warning=f"{NO_EFFECT_6X}: CONFIG_UKL_USE_IST_PF exists only in older 5.x UKL kernels",
        kconfig="UKL_USE_IST_PF",
        no_effect_on_6x=True,
    ),
    OptionSpec(
        "event_system",
        "--with-event-system",
        "choice",
        "epoll",
        "The event loop of event-tester's TCP echo server.",
        choices=EVENT_SYSTEMS,
    ),
    OptionSpec(
        "libupcall",
        "--enable-libupcall",
        "bool",
        False,
        "Build libupcall/ (kernel-to-application upcalls) and link it with the program.",
    ),
)
_SPECS = {spec.field: spec for spec in OPTIONS}


def option_spec(name: str) -> OptionSpec:
    """The spec of a ConfigureOptions field (KeyError for an unknown one)."""
    return _SPECS[name]


_PROGRAM_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*(/[A-Za-z0-9][A-Za-z0-9._+-]*)*")
_UNSAFE = re.compile(r"[\s\"'\\$`]")


@dataclass
class ConfigureOptions:
    """The ``./configure`` choices of a build; defaults are configure's own.

    ``event_system`` None means "not passed" (configure then uses epoll). Values are checked by
    :meth:`validate`, which :func:`configure_argv` calls.
    """

    program: str = DEFAULT_PROGRAM
    ukl_archive: str | None = None
    ukl_trigger: str = DEFAULT_TRIGGER
    use_ret: bool = False
    shortcuts: bool = False
    bypass: bool = False
    event_system: str | None = None
    libupcall: bool = False
    same_stack: bool = False
    use_ist_pf: bool = False

    @classmethod
    def for_app(cls, app: App, **kwargs: Any) -> ConfigureOptions:
        """Options selecting ``app``: its program, or for a custom UKL.a its archive path."""
        if app.is_custom:
            kwargs.setdefault("ukl_archive", str(app.archive))
            return cls(**kwargs)
        return cls(program=app.name, **kwargs)

    def validate(self) -> None:
        """Raise UserError for values configure or the Makefile's ``echo`` would mangle."""
        if not _PROGRAM_RE.fullmatch(self.program):
            raise UserError(f"program name {self.program!r} is not a plain directory name")
        if self.event_system is not None and self.event_system not in EVENT_SYSTEMS:
            raise UserError(
                f"event system {self.event_system!r} is not one of {', '.join(EVENT_SYSTEMS)}"
            )
        if not self.ukl_trigger.startswith("/") or _UNSAFE.search(self.ukl_trigger):
            raise UserError(
                f"UKL trigger {self.ukl_trigger!r} must be an absolute path without spaces, "
                "quotes, backslashes or $"
            )
        if self.ukl_archive is not None and (
            not self.ukl_archive or _UNSAFE.search(self.ukl_archive)
        ):
            raise UserError(
                f"UKL archive path {self.ukl_archive!r} must be non-empty, without spaces, "
                "quotes, backslashes or $"
            )

    def changed(self) -> list[OptionSpec]:
        """Specs of the options set to something other than configure's default."""
        out = []
        for spec in OPTIONS:
            value = getattr(self, spec.field)
            if value is None or value == spec.default:
                continue
            out.append(spec)
        return out

    def warnings(self) -> list[str]:
        """What the TUI should flag about these choices, one line each."""
        out = [f"{spec.flag}: {spec.warning}" for spec in self.changed() if spec.warning]
        if self.event_system is not None and self.program != "event-tester":
            out.append("--with-event-system only changes event-tester")
        if self.event_system == "upcall" and not self.libupcall:
            out.append(
                "--with-event-system=upcall uses libupcall: add --enable-libupcall (inferred)"
            )
        return out

    @property
    def requires_kconfig(self) -> dict[str, str]:
        """Kconfig values other than UKL's own that these options need (shortcuts: INET=y)."""
        out: dict[str, str] = {}
        for spec in self.changed():
            out.update(spec.requires_kconfig)
        return out


def configure_argv(opts: ConfigureOptions) -> list[str]:
    """``./configure --with-program=NAME ...``: only options that differ from the defaults.

    Leaving defaults out keeps the command valid on older checkouts whose configure.ac lacks
    the newer flags (autoconf only warns about unknown ones, but a clean line is clearer).
    """
    opts.validate()
    argv = ["./configure", f"--with-program={opts.program}"]
    if opts.ukl_archive is not None and opts.ukl_archive != DEFAULT_ARCHIVE:
        argv.append(f"--with-ukl-archive={opts.ukl_archive}")
    if opts.ukl_trigger != DEFAULT_TRIGGER:
        argv.append(f"--with-ukl-trigger={opts.ukl_trigger}")
    for name in ("bypass", "use_ret", "shortcuts", "same_stack", "use_ist_pf", "libupcall"):
        if getattr(opts, name):
            argv.append(option_spec(name).flag)
    if opts.event_system is not None:
        argv.append(f"--with-event-system={opts.event_system}")
    return argv


def check_options(opts: ConfigureOptions, ws: Workspace) -> list[str]:
    """Warnings about ``opts`` against this checkout: flags its configure.ac does not define.

    Raises UserError when the chosen program is not buildable here (see :func:`find_app`).
    """
    if not ws.is_ukl:
        raise UserError(f"{ws.root} is not a ukl checkout: configure options do not apply")
    if opts.ukl_archive is None or opts.program != DEFAULT_PROGRAM:
        find_app(ws, opts.program)
    flags = configure_flags(_read(ws.root / "configure.ac"))
    out = []
    for arg in configure_argv(opts)[1:]:
        flag = arg.split("=", 1)[0]
        if flag not in flags:
            out.append(f"{flag} is not in this checkout's configure.ac: configure ignores it")
    return out + opts.warnings()


def kconfig_quote(value: str) -> str:
    """A string value as a ``.config`` line needs it: in double quotes, backslash and ``"`` escaped.

    ukl's Makefile writes ``CONFIG_UKL_NAME=/UKL`` without quotes, which kconfig ignores
    (falling back to the default): this is the fix.
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kconfig_effects(opts: ConfigureOptions, *, quoted: bool = True) -> dict[str, str]:
    """What ukl's Makefile appends to linux/.config for ``opts``, symbol -> value.

    Keys have no ``CONFIG_`` prefix. String values are quoted for a ``.config`` file unless
    ``quoted=False`` (raw values, e.g. for a kconfig model's ``set``). Symbols the tree may
    not define (UKL_SAME_STACK on 6.x) are included: the Makefile writes them regardless.
    """
    opts.validate()

    def s(value: str) -> str:
        return kconfig_quote(value) if quoted else value

    out = {
        "UNIKERNEL_LINUX": "y",
        "UKL_TLS": "y",
        "UKL_ARCHIVE_PATH": s(opts.ukl_archive or DEFAULT_ARCHIVE),
        "UKL_NAME": s(opts.ukl_trigger),
    }
    for name in ("same_stack", "use_ret", "use_ist_pf", "shortcuts"):
        if getattr(opts, name):
            out[str(option_spec(name).kconfig)] = "y"
    return out


def kconfig_lines(opts: ConfigureOptions) -> list[str]:
    """:func:`kconfig_effects` as ``CONFIG_X=value`` lines for a .config or fragment."""
    return [f"CONFIG_{k}={v}" for k, v in kconfig_effects(opts).items()]


# --------------------------------------------------------------------------------------------
# Changing the application


def has_make_target(root: Path, target: str) -> bool:
    """Whether ``make -C root target`` exists.

    The generated Makefile decides if configure ran, else the Makefile.am/.in it will come from.
    """
    pattern = re.compile(rf"^{re.escape(target)}[ \t]*:(?!=)", re.MULTILINE)
    generated = root / "Makefile"
    candidates = (
        [generated] if generated.is_file() else [root / "Makefile.am", root / "Makefile.in"]
    )
    return any(pattern.search(_read(p)) for p in candidates)


def app_change_steps(
    old_app: App | None, new_app: App, ws: Workspace | None = None
) -> list[list[str]]:
    """Commands to run before building ``new_app`` where ``old_app`` was built.

    The kernel keeps the old application's objects: ukl documents ``make clean`` in linux/
    (or ``make app-clean`` where the checkout's Makefile has that target). Run these before
    re-running configure: app-clean cleans ``$(PROGRAM)``, i.e. the configured (old) one.
    Returns [] for the first build or when nothing changes.
    """
    if old_app is None or (old_app.name, old_app.archive) == (new_app.name, new_app.archive):
        return []
    root = ws.root if ws is not None else (new_app.checkout or old_app.checkout)
    if root is None:
        raise UserError("changing the application needs the ukl checkout, where linux/ is")
    if has_make_target(root, "app-clean"):
        return [["make", "-C", str(root), "app-clean"]]
    return [["make", "-C", str(root / "linux"), "clean"]]


__all__ = [
    "App",
    "CloneNeed",
    "ConfigureOptions",
    "EVENT_SYSTEMS",
    "OPTIONS",
    "OptionSpec",
    "app_change_steps",
    "check_options",
    "clone_needs",
    "config_files",
    "configure_argv",
    "configure_flags",
    "custom_app",
    "default_program",
    "find_app",
    "has_make_target",
    "kconfig_effects",
    "kconfig_lines",
    "kconfig_quote",
    "list_apps",
    "option_spec",
]
