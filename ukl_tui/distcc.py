"""distcc host lists: parsed, checked, probed, and what the client's log says each host did.

distcc (Debian package ``distcc``: the client and ``distccd``) is the engine users with a build
farm already run, so ukl-tui speaks its own host syntax (``man distcc``, "HOST
SPECIFICATIONS") instead of inventing one::

    HOSTSPEC  = localhost[/LIMIT] | --localslots=N | --localslots_cpp=N | --randomize
              | [USER]@HOST[/LIMIT][:COMMAND][OPTIONS]           (SSH)
              | HOST[:PORT][/LIMIT][OPTIONS] | HOST[/LIMIT][:PORT][OPTIONS]   (TCP)
    HOST      = name | IPv4 | [IPv6]      OPTIONS = ,lzo | ,cpp | ,auth[=NAME]

``#`` starts a comment that runs to the end of the line. ukl-tui is stricter than distcc where
distcc would only fail later: distcc 3.4 accepts port 0 and 70000 (``distcc -j`` counts them)
and then cannot connect; here they are one-line errors. ``+zeroconf`` is refused because a
list found at build time cannot be probed or shown beforehand; ``,cpp`` (pump mode) because the
build would have to run under ``distcc-pump``, which the plan does not do.

The number of slots is ``distcc -j``'s: the sum of the hosts' limits (4 for a host without
one, 2 for ``localhost``); ``--localslots`` only limits jobs that must run locally.

The probe is a TCP connect to each TCP host, all in parallel, with a short timeout: a host
that does not accept is left out of the build (distcc would otherwise try it for every file
and back off only for a minute at a time). ``localhost`` needs no daemon and SSH hosts are
reached through ssh's own configuration (port, jump hosts), so neither is probed.

:func:`count_jobs` reads the client's log (``DISTCC_LOG``) after a build: which host compiled
how many files, which host failed jobs that distcc then compiled locally, and which hosts
refused connections during the build.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ukl_tui.errors import UserError

DEFAULT_PORT = 3632
#: distcc's default limits (man distcc, "/LIMIT").
DEFAULT_LIMIT = 4
LOCALHOST_LIMIT = 2
#: A limit above this is a typo, not a machine (distcc caps at a few hundred too).
MAX_LIMIT = 1024
#: How long the probe waits for each host, in seconds (all are asked at once).
PROBE_TIMEOUT = 1.0

HostKind = Literal["local", "tcp", "ssh"]

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
_HOSTID = rf"(?:{_NAME}|\[[0-9A-Fa-f:.]+\])"
_OPTIONS = r"((?:,[^,\s]+)*)"
_LOCAL_RE = re.compile(r"^localhost(?:/([^,:\s]*))?$")
_SLOTS_RE = re.compile(r"^--(localslots|localslots_cpp)=(.*)$")
_SSH_RE = re.compile(rf"^([A-Za-z0-9._-]*)@({_HOSTID})(?:/([^:,\s]*))?(?::([^,\s]+))?{_OPTIONS}$")
_TCP_RE = re.compile(rf"^({_HOSTID})(?::([^/,\s]*))?(?:/([^:,\s]*))?{_OPTIONS}$")
_OLD_TCP_RE = re.compile(rf"^({_HOSTID})/([^:,\s]*):([^/,\s]*){_OPTIONS}$")


@dataclass(frozen=True)
class Host:
    """One host of a distcc list, as written (``text``) and as understood."""

    text: str
    kind: HostKind
    name: str
    limit: int
    port: int | None = None
    user: str = ""
    command: str = ""
    options: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        """``name:port`` for a TCP host (how distcc names it in its log), else the name."""
        if self.kind != "tcp":
            return self.name
        name = f"[{self.name}]" if ":" in self.name else self.name
        return f"{name}:{self.port}"

    @property
    def label(self) -> str:
        """How the faces name the host: its address, ``user@host`` or ``localhost``."""
        if self.kind == "ssh":
            return f"{self.user}@{self.name}" if self.user else f"@{self.name}"
        return self.address


@dataclass(frozen=True)
class HostList:
    """A parsed host list: the hosts in order plus the list's global settings."""

    hosts: tuple[Host, ...]
    randomize: bool = False
    localslots: int | None = None
    localslots_cpp: int | None = None

    @property
    def slots(self) -> int:
        """``distcc -j``: the sum of the hosts' limits."""
        return sum(h.limit for h in self.hosts)

    @property
    def remote(self) -> tuple[Host, ...]:
        """The hosts that compile through a daemon (everything but ``localhost``)."""
        return tuple(h for h in self.hosts if h.kind != "local")

    def spec(self) -> str:
        """The list as ``DISTCC_HOSTS`` text: the global words, then each host as written."""
        words: list[str] = []
        if self.randomize:
            words.append("--randomize")
        if self.localslots is not None:
            words.append(f"--localslots={self.localslots}")
        if self.localslots_cpp is not None:
            words.append(f"--localslots_cpp={self.localslots_cpp}")
        return " ".join([*words, *(h.text for h in self.hosts)])

    def keeping(self, hosts: Iterable[Host]) -> HostList:
        """The same list with only ``hosts`` (order kept)."""
        keep = set(hosts)
        return HostList(
            tuple(h for h in self.hosts if h in keep),
            self.randomize,
            self.localslots,
            self.localslots_cpp,
        )


def _number(word: str, what: str, text: str, low: int, high: int) -> int:
    if not word.isdigit():
        shown = f"missing {what}" if word == "" else f"{what} {word!r} is not a number"
        raise UserError(f"distcc host {text!r}: {shown}")
    value = int(word)
    if not low <= value <= high:
        raise UserError(f"distcc host {text!r}: {what} {value} is not within {low}-{high}")
    return value


def _options(text: str, raw: str) -> tuple[str, ...]:
    options = tuple(o for o in raw.split(",") if o)
    for option in options:
        if option == "cpp":
            raise UserError(
                f"distcc host {text!r}: ',cpp' (pump mode) needs the build to run under "
                "distcc-pump, which ukl-tui does not do; drop ',cpp'"
            )
        if option != "lzo" and option != "auth" and not option.startswith("auth="):
            raise UserError(
                f"distcc host {text!r}: unknown option ',{option}' (known: ,lzo ,auth[=NAME])"
            )
    return options


def _unbracket(name: str) -> str:
    return name[1:-1] if name.startswith("[") else name


def parse_host(text: str) -> Host:
    """One host word (not a global option); a malformed one is a one-line UserError."""
    if m := _LOCAL_RE.match(text):
        limit = LOCALHOST_LIMIT if m.group(1) is None else None
        if limit is None:
            limit = _number(m.group(1), "limit", text, 1, MAX_LIMIT)
        return Host(text, "local", "localhost", limit)
    if "@" in text:
        m = _SSH_RE.match(text)
        if m is None:
            raise UserError(
                f"distcc host {text!r} is malformed (SSH hosts are "
                "[USER]@HOST[/LIMIT][:COMMAND][,OPTIONS])"
            )
        user, name, limit_word, command, raw = m.groups()
        limit = DEFAULT_LIMIT if limit_word is None else None
        if limit is None:
            limit = _number(limit_word, "limit", text, 1, MAX_LIMIT)
        return Host(
            text, "ssh", _unbracket(name), limit, None, user, command or "", _options(text, raw)
        )
    m = _TCP_RE.match(text)
    if m is not None:
        name, port_word, limit_word, raw = m.groups()
    elif (m := _OLD_TCP_RE.match(text)) is not None:
        name, limit_word, port_word, raw = m.groups()
    else:
        raise UserError(
            f"distcc host {text!r} is malformed (expected HOST[:PORT][/LIMIT][,OPTIONS], "
            "localhost[/LIMIT] or [USER]@HOST[/LIMIT])"
        )
    port = DEFAULT_PORT if port_word is None else _number(port_word, "port", text, 1, 65535)
    limit = DEFAULT_LIMIT if limit_word is None else None
    if limit is None:
        limit = _number(limit_word, "limit", text, 1, MAX_LIMIT)
    return Host(text, "tcp", _unbracket(name), limit, port, options=_options(text, raw))


def parse_hosts(text: str, source: str = "") -> HostList:
    """A whole host list (``DISTCC_HOSTS`` or a hosts file); errors start with ``source``.

    Words are separated by white space, ``#`` comments run to the end of the line, and a
    list must name at least one host.
    """
    words: list[str] = []
    for line in text.splitlines():
        words += line.split("#", 1)[0].split()
    hosts: list[Host] = []
    randomize = False
    slots: dict[str, int] = {}
    try:
        for word in words:
            if word == "--randomize":
                randomize = True
            elif m := _SLOTS_RE.match(word):
                slots[m.group(1)] = _number(m.group(2), m.group(1), word, 1, MAX_LIMIT)
            elif word == "+zeroconf":
                raise UserError(
                    "distcc host '+zeroconf': ukl-tui needs the hosts listed, to probe and "
                    "show them before the build"
                )
            else:
                hosts.append(parse_host(word))
        if not hosts:
            raise UserError(f"no distcc hosts in {text.strip()!r}")
        seen: set[tuple[str, str, int | None, str]] = set()
        for host in hosts:
            key = (host.kind, host.name, host.port, host.user)
            if key in seen:
                raise UserError(f"distcc host {host.label} is listed twice")
            seen.add(key)
    except UserError as exc:
        raise UserError(f"{source}: {exc.message}" if source else exc.message) from None
    return HostList(tuple(hosts), randomize, slots.get("localslots"), slots.get("localslots_cpp"))


def hosts_file(env: Mapping[str, str] | None = None) -> Path:
    """The user's hosts file distcc reads: ``$DISTCC_DIR/hosts``, by default ~/.distcc/hosts."""
    env = os.environ if env is None else env
    base = env.get("DISTCC_DIR") or str(Path(env.get("HOME") or Path.home()) / ".distcc")
    return Path(base) / "hosts"


def default_hosts(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The host list distcc itself would use, and where it came from.

    ``$DISTCC_HOSTS``, else the user's hosts file (distcc's own order, without the
    system-wide file). Raises a UserError naming both places when neither has a list.
    """
    env = os.environ if env is None else env
    text = env.get("DISTCC_HOSTS", "")
    if text.strip():
        return text, "$DISTCC_HOSTS"
    path = hosts_file(env)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise UserError(f"cannot read distcc hosts file {path}: {exc.strerror}") from None
    if not any(line.split("#", 1)[0].strip() for line in text.splitlines()):
        raise UserError(
            f"no distcc hosts given: --distcc HOSTS, $DISTCC_HOSTS and {path} are all empty"
        )
    return text, str(path)


# ----- the probe ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One host's answer to the probe: up or not, why, and how long asking took."""

    host: Host
    ok: bool
    detail: str
    seconds: float


def _connect(host: Host, timeout: float) -> tuple[bool, str]:
    try:
        with socket.create_connection((host.name, host.port or DEFAULT_PORT), timeout=timeout):
            return True, "accepts connections"
    except TimeoutError:
        return False, f"no answer within {timeout:g} s"
    except socket.gaierror as exc:
        return False, f"unknown host ({exc.strerror})"
    except OSError as exc:
        return False, (exc.strerror or str(exc)).lower()


def probe(hosts: HostList, timeout: float = PROBE_TIMEOUT) -> list[Probe]:
    """Ask every TCP host at once whether its daemon accepts a connection.

    One thread per host, so a name that takes long to resolve cannot hold up the others; a
    host still unanswered after ``timeout`` (plus a little for the threads) counts as down.
    ``localhost`` and SSH hosts are reported up without being asked (see the module notes).
    """
    results: dict[Host, Probe] = {}
    threads: list[tuple[Host, threading.Thread, float]] = []

    def ask(host: Host, start: float) -> None:
        ok, detail = _connect(host, timeout)
        results[host] = Probe(host, ok, detail, time.monotonic() - start)

    for host in hosts.hosts:
        if host.kind == "local":
            results[host] = Probe(host, True, "compiles on this machine (no daemon)", 0.0)
        elif host.kind == "ssh":
            results[host] = Probe(host, True, "reached through ssh (not probed)", 0.0)
        else:
            start = time.monotonic()
            thread = threading.Thread(target=ask, args=(host, start), daemon=True)
            thread.start()
            threads.append((host, thread, start))
    deadline = time.monotonic() + timeout + 0.5
    for host, thread, start in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if host not in results:
            results[host] = Probe(
                host, False, f"no answer within {timeout:g} s", time.monotonic() - start
            )
    return [results[h] for h in hosts.hosts]


# ----- the client's log --------------------------------------------------------------------

_LOG_RE = re.compile(r"^distcc\[(\d+)\] (.*)$")
_DONE_RE = re.compile(r"^compile (.+) on (\S+?) completed ok$")
_FAILED_RE = re.compile(r"^ERROR: compile (.+) on (\S+?) failed$")
_UNNAMED_FALLBACK = "(dcc_build_somewhere) Warning: failed to distribute, running locally instead"
_FALLBACK_RE = re.compile(
    r"^Warning: failed to distribute (.+) to (\S+?), running locally instead$"
)
_REFUSED_RE = re.compile(r"^ERROR: (?:nonblocking )?connect to (\S+?) failed: (.*)$")
_LIMIT_SUFFIX = re.compile(r"/\d+$")


@dataclass
class HostJobs:
    """What one host did in a build, from the client's log."""

    compiled: int = 0
    failed: int = 0
    refused: int = 0
    last_error: str = ""


@dataclass
class JobCounts:
    """Per-host job counts of one build; ``localhost`` counts distcc's local compiles.

    Fed line by line (:meth:`feed`), so a watcher can read a growing log incrementally.
    """

    hosts: dict[str, HostJobs] = field(default_factory=dict)
    #: Jobs distcc ran locally without naming a host: after a host failed, distcc avoids
    #: it for a while (``DISTCC_BACKOFF_PERIOD``, 60 s) and its share runs here.
    fell_back: int = 0
    #: pid -> the host that did not compile that client's file, until the local retry ends.
    _pending: dict[str, str] = field(default_factory=dict, repr=False)

    def host(self, name: str) -> HostJobs:
        """The entry of ``name`` (``host:port``, limit dropped), created on first use."""
        return self.hosts.setdefault(_LIMIT_SUFFIX.sub("", name), HostJobs())

    @property
    def total(self) -> int:
        """Compile jobs that finished, everywhere."""
        return sum(h.compiled for h in self.hosts.values())

    def feed(self, lines: Iterable[str]) -> JobCounts:
        """Take log lines into account (see :func:`count_jobs`); returns self."""
        for raw in lines:
            m = _LOG_RE.match(raw.rstrip("\n"))
            if m is not None:
                self._line(*m.groups())
        return self

    def _line(self, pid: str, text: str) -> None:
        # One distcc client process compiles one file: its pid ties the lines together.
        if done := _DONE_RE.match(text):
            where = done.group(2)
            self.host(where).compiled += 1
            failed_on = self._pending.pop(pid, None)
            if failed_on is not None and where.startswith("localhost"):
                self.host(failed_on).failed += 1
        elif text == _UNNAMED_FALLBACK:
            self.fell_back += 1
        elif fallback := _FALLBACK_RE.match(text):
            file, where = fallback.groups()
            self._pending[pid] = where
            jobs = self.host(where)
            if not jobs.last_error.endswith(f"{file} failed"):
                jobs.last_error = f"{file} not compiled there"
        elif failed := _FAILED_RE.match(text):
            file, where = failed.groups()
            if where.startswith("localhost"):
                self._pending.pop(pid, None)  # a genuine error: not the host's fault
            else:
                self.host(where).last_error = f"compile {file} failed"
        elif refused := _REFUSED_RE.match(text):
            where, why = refused.groups()
            jobs = self.host(where)
            jobs.refused += 1
            jobs.last_error = why

    def summary(self, order: Sequence[str] = ()) -> str:
        """One line: ``127.0.0.1:3632 412, 127.0.0.1:3633 398, localhost 3``.

        Hosts in ``order`` (the list's) come first and show 0 when they ran nothing.
        """
        names = list(order) + sorted(n for n in self.hosts if n not in order)
        return ", ".join(f"{n} {self.hosts[n].compiled if n in self.hosts else 0}" for n in names)

    def problems(self) -> list[str]:
        """A line per host that refused connections or failed jobs during the build."""
        lines: list[str] = []
        for name, jobs in self.hosts.items():
            if jobs.failed:
                lines.append(
                    f"distcc host {name} failed {jobs.failed} job(s) that distcc then compiled "
                    f"locally (last: {jobs.last_error})"
                )
            if jobs.refused:
                lines.append(
                    f"distcc host {name} refused {jobs.refused} connection(s) during the build "
                    f"({jobs.last_error})"
                )
        if self.fell_back:
            lines.append(
                f"distcc compiled {self.fell_back} more job(s) locally, avoiding the hosts "
                "that had failed"
            )
        return lines


def count_jobs(lines: Iterable[str]) -> JobCounts:
    """Per-host counts from the distcc client's log lines (``DISTCC_LOG``).

    distcc logs ``compile FILE on HOST completed ok`` for every job wherever it ran;
    ``Warning: failed to distribute FILE to HOST, running locally instead`` when a host took
    the connection but did not compile (its compile failed, or the daemon dropped the job: a
    refused client, a missing compiler), after which it retries on localhost. A genuine error
    fails there too and is not the host's fault, so a host failure counts only when the
    local retry succeeded. ``ERROR: connect to HOST failed`` means a host refused the
    connection; distcc then tries the next host.
    """
    return JobCounts().feed(lines)


def read_job_counts(path: Path) -> JobCounts:
    """:func:`count_jobs` over a log file (none yet: nothing counted)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return JobCounts()
    return count_jobs(data.decode("utf-8", "replace").splitlines())


def hosts_option(value: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """``--distcc [HOSTS]`` as a plan keeps it: None (not given), or the list on one line.

    An empty value means distcc's own list (:func:`default_hosts`), read now so the plan file
    and its reproducer say which hosts were meant.
    """
    if value is None:
        return None
    if value.strip():
        return parse_hosts(value, "--distcc").spec()
    text, source = default_hosts(env)
    return parse_hosts(text, source).spec()


def implicit_hosts(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """The user's own distcc host list and where it came from, or None without one.

    The same places as :func:`default_hosts`; a list that is there but malformed is still an
    error (with its source), since distcc itself would refuse it.
    """
    try:
        text, source = default_hosts(env)
    except UserError as exc:
        if exc.message.startswith("no distcc hosts given"):
            return None
        raise
    return parse_hosts(text, source).spec(), source


class LogWatch:
    """A distcc log read as it grows (the Run screen polls it while the kernel builds).

    The plan empties the log just before the build (its ``distcc-log`` step), so the whole
    file is this build's; a file that shrinks was emptied again and is read from the start.
    """

    def __init__(self, path: Path) -> None:
        """Watch ``path`` (it may not exist yet)."""
        self.path = path
        self.counts = JobCounts()
        self._pos = 0
        self._partial = b""

    def poll(self) -> JobCounts:
        """Read what was added since the last call; the counts so far."""
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self._pos:
                    self.counts, self._pos, self._partial = JobCounts(), 0, b""
                fh.seek(self._pos)
                data = fh.read()
        except OSError:
            return self.counts
        self._pos += len(data)
        *whole, self._partial = (self._partial + data).split(b"\n")
        self.counts.feed(line.decode("utf-8", "replace") for line in whole)
        return self.counts


def step_log(env: Mapping[str, str]) -> Path | None:
    """The distcc log of a step with this environment (None: the step does not use distcc)."""
    value = env.get("DISTCC_LOG")
    return Path(value) if value else None


def host_order(env: Mapping[str, str]) -> list[str]:
    """The step's hosts as distcc's log names them, in list order (``localhost`` included)."""
    try:
        hosts = parse_hosts(env.get("DISTCC_HOSTS", "")).hosts
    except UserError:
        return []
    return [h.address if h.kind == "tcp" else h.label for h in hosts]


def step_report(env: Mapping[str, str], counts: JobCounts | None = None) -> dict[str, object]:
    """What summary.json keeps of a distcc build: hosts, log, jobs per host, problems."""
    log = step_log(env)
    if counts is None:
        counts = read_job_counts(log) if log is not None else JobCounts()
    order = host_order(env)
    return {
        "hosts": env.get("DISTCC_HOSTS", ""),
        "log": str(log) if log else None,
        "jobs": {name: 0 for name in order} | {n: j.compiled for n, j in counts.hosts.items()},
        "failed": {n: j.failed for n, j in counts.hosts.items() if j.failed},
        "refused": {n: j.refused for n, j in counts.hosts.items() if j.refused},
        "summary": counts.summary(order),
        "problems": counts.problems(),
    }


def report_lines(env: Mapping[str, str], counts: JobCounts | None = None) -> list[str]:
    """What the faces print when a distcc build step ends: jobs per host, then each problem."""
    if counts is None:
        log = step_log(env)
        counts = read_job_counts(log) if log is not None else JobCounts()
    return [f"distcc jobs: {counts.summary(host_order(env))}", *counts.problems()]
