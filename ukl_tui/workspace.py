"""What a path given to ukl-tui is: a ukl checkout, a plain kernel tree, or both.

Everything downstream (the kconfig model, the app catalogue, the plan) needs to know where the
kernel sources are and whether the checkout is in a state that can build: a fresh
``git clone`` of ukl has an empty ``linux/`` until ``git submodule update --init`` runs, and a
``linux/`` moved to another commit builds something other than what the checkout records.
This module answers those questions cheaply:

- detection only stats a handful of files and reads the head of the kernel ``Makefile``, so
  it stays fast on a 70,000-file tree that is not a git repository;
- git facts come from one ``git status --porcelain=v2`` (submodule contents ignored, output
  capped) plus ``ls-files``/``rev-parse`` for submodules, never from walking the tree;
- a path is treated as a git repository only when it is the top of a work tree (has its own
  ``.git``), so a kernel tree that happens to live inside an unrelated repository (a dotfiles
  home, say) is not reported with that repository's status.

``clone_ukl`` fetches a checkout with its submodules, streaming git's progress, in its own
process group so it can be cancelled, with every line saved to a log file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ukl_tui.errors import UserError
from ukl_tui.kconfig.env import makefile_version
from ukl_tui.procs import kill_group

if TYPE_CHECKING:
    from git import Repo

WorkspaceKind = Literal["ukl", "kernel"]
SubmoduleStateName = Literal["not initialised", "at recorded commit", "moved", "missing"]

#: How many changed paths a GitStatus keeps; the count is still exact.
DIRTY_CAP = 50
#: Seconds a ``git status`` may take before the dirty list is reported as unknown.
STATUS_TIMEOUT = 20.0
#: Bytes read from the head of a file that is only sniffed (Makefile, configure.ac).
_MAKEFILE_HEAD = 4096

_UKL_CONFIGURE_RE = re.compile(r"AC_INIT\(\s*\[?UKL\b|AC_ARG_WITH\(\s*\[?program\b|with-program")


@dataclass
class GitStatus:
    """The state of the repository at the workspace root, as a user would want it summarised.

    ``branch`` is the branch name or ``"detached at <sha>"``; ``dirty`` holds at most
    :data:`DIRTY_CAP` entries in ``git status --short`` style (``" M path"``, ``"?? path"``)
    while ``dirty_count`` counts them all. ``ahead``/``behind`` are None without an upstream.
    ``error`` is set when status could not be read (timeout, corrupt repository): the other
    fields then hold what was known.
    """

    branch: str
    detached: bool
    commit: str | None
    subject: str | None
    dirty: list[str] = field(default_factory=list)
    dirty_count: int = 0
    upstream: str | None = None
    ahead: int | None = None
    behind: int | None = None
    error: str | None = None

    @property
    def is_dirty(self) -> bool:
        """True when anything is modified, staged or untracked (ignored files do not count)."""
        return self.dirty_count > 0

    @property
    def dirty_truncated(self) -> bool:
        """True when ``dirty`` lists fewer paths than there are."""
        return self.dirty_count > len(self.dirty)


@dataclass
class SubmoduleState:
    """One submodule declared in ``.gitmodules`` and where its checkout stands.

    ``recorded_sha`` is the commit the superproject's index records; ``actual_sha`` the commit
    checked out in the submodule directory (None when not initialised or missing).
    """

    name: str
    path: str
    url: str
    recorded_sha: str | None
    actual_sha: str | None
    state: SubmoduleStateName

    @property
    def needs_init(self) -> bool:
        """True when ``git submodule update --init`` would bring it to the recorded commit."""
        return self.state in ("not initialised", "missing")


@dataclass
class Workspace:
    """What :func:`inspect_workspace` found at a path.

    ``kind`` is ``"ukl"`` for a ukl checkout (its kernel is ``linux/``, which may be
    uninitialised: then ``kernel_tree`` is None) and ``"kernel"`` for a plain kernel tree
    (``kernel_tree == root``). ``submodules`` is empty when the root is not a git repository.
    """

    kind: WorkspaceKind
    root: Path
    kernel_tree: Path | None
    kernel_version: str | None
    git: GitStatus | None
    submodules: list[SubmoduleState] = field(default_factory=list)

    @property
    def is_ukl(self) -> bool:
        """True for a ukl checkout."""
        return self.kind == "ukl"

    @property
    def linux_submodule(self) -> SubmoduleState | None:
        """The ``linux`` submodule of a ukl checkout, when git knows it."""
        for sub in self.submodules:
            if sub.path == "linux":
                return sub
        return None

    @property
    def uninitialised_submodules(self) -> list[SubmoduleState]:
        """Submodules that ``git submodule update --init`` would fetch or check out."""
        return [s for s in self.submodules if s.needs_init]


# --------------------------------------------------------------------------------------------
# Detection


def _kernel_tree_problem(path: Path) -> str | None:
    """None when ``path`` looks like an x86 Linux source tree, else a short reason why not."""
    makefile = path / "Makefile"
    if not (path / "Kconfig").is_file() or not makefile.is_file():
        return "no Kconfig/Makefile"
    if makefile_version(path) is None:
        return "its Makefile has no VERSION/PATCHLEVEL lines"
    if not (path / "arch" / "x86" / "Kconfig").is_file():
        return "no arch/x86/Kconfig (UKL is x86_64 only)"
    return None


def _read_head(path: Path, size: int = _MAKEFILE_HEAD) -> str:
    try:
        with path.open("rb") as f:
            return f.read(size).decode("utf-8", "replace")
    except OSError:
        return ""


def kernel_version(tree: Path) -> str | None:
    """The version string the tree's Makefile defines, as ``make kernelversion`` prints it."""
    return makefile_version(tree)


def _configure_problem(root: Path) -> str | None:
    """None when ``root/configure.ac`` is UKL's, else why not."""
    conf = root / "configure.ac"
    if not conf.is_file():
        return "no configure.ac"
    if not _UKL_CONFIGURE_RE.search(_read_head(conf, 65536)):
        return "its configure.ac does not mention UKL or --with-program"
    return None


def read_gitmodules(root: Path) -> list[tuple[str, str, str]]:
    """``(name, path, url)`` for each submodule ``.gitmodules`` declares (empty if none)."""
    gm = root / ".gitmodules"
    if not gm.is_file():
        return []
    from git import GitConfigParser

    parser = GitConfigParser(str(gm), read_only=True)
    out: list[tuple[str, str, str]] = []
    try:
        for section in parser.sections():
            m = re.fullmatch(r'submodule\s+"(.*)"', section)
            if not m or not parser.has_option(section, "path"):
                continue
            path = str(parser.get_value(section, "path")).strip().rstrip("/")
            url = ""
            if parser.has_option(section, "url"):
                url = str(parser.get_value(section, "url")).strip()
            out.append((m.group(1), path, url))
    except Exception as exc:  # a malformed .gitmodules is user data, not a crash
        raise UserError(f"{gm} cannot be read: {exc}") from exc
    finally:
        parser.release()
    return out


def looks_like_workspace(path: Path) -> bool:
    """A kernel tree or a ukl checkout, judged by its files alone (no git, so it is cheap)."""
    return _configure_problem(path) is None or _kernel_tree_problem(path) is None


def locate_tree(argument: str | None, cwd: Path | None = None) -> tuple[Path | None, str]:
    """Which tree to open, the one lookup order of the wizard and every command: the
    argument (``--tree``), the current directory when it is a kernel tree or a ukl checkout,
    then ``$UKL_DIR``.

    The current directory comes before ``$UKL_DIR`` because it is the more specific of the
    two: a variable set once in a shell profile must not win over the tree the user is
    standing in. Returns the path and where it came from (for the welcome screen), or
    ``(None, "")`` when none of the three names a tree.
    """
    if argument:
        return Path(argument).expanduser(), "argument"
    here = cwd or Path.cwd()
    if looks_like_workspace(here):
        return here, "current directory"
    env = os.environ.get("UKL_DIR")
    if env:
        return Path(env).expanduser(), "$UKL_DIR"
    return None, ""


def inspect_workspace(path: str | os.PathLike[str]) -> Workspace:
    """Find out what ``path`` is: a ukl checkout, a plain kernel tree, or neither (UserError).

    A ukl checkout has UKL's ``configure.ac`` and declares a ``linux`` submodule; when that
    submodule is initialised the checkout is also a kernel tree (``kernel_tree`` = linux/).
    """
    given = Path(path).expanduser()
    if not given.exists():
        raise UserError(f"{given} does not exist (expected a kernel tree or a ukl checkout)")
    if not given.is_dir():
        raise UserError(f"{given} is not a directory (expected a kernel tree or a ukl checkout)")
    root = given.resolve()

    conf_problem = _configure_problem(root)
    kernel_problem = _kernel_tree_problem(root)
    if conf_problem is None:
        modules = read_gitmodules(root)
        if not any(p == "linux" for _, p, _ in modules):
            raise UserError(
                f"{root} has UKL's configure.ac but .gitmodules declares no linux submodule"
            )
        linux = root / "linux"
        kernel_tree = linux if _kernel_tree_problem(linux) is None else None
        kind: WorkspaceKind = "ukl"
    elif kernel_problem is None:
        modules = read_gitmodules(root)
        kernel_tree = root
        kind = "kernel"
    else:
        raise UserError(
            f"{root} is neither a kernel tree ({kernel_problem}) "
            f"nor a ukl checkout ({conf_problem})"
        )

    status: GitStatus | None = None
    submodules: list[SubmoduleState] = []
    if (root / ".git").exists():
        status, submodules = _git_facts(root, modules)
    return Workspace(
        kind=kind,
        root=root,
        kernel_tree=kernel_tree,
        kernel_version=kernel_version(kernel_tree) if kernel_tree else None,
        git=status,
        submodules=submodules,
    )


# --------------------------------------------------------------------------------------------
# Git facts


def _git_facts(
    root: Path, modules: list[tuple[str, str, str]]
) -> tuple[GitStatus | None, list[SubmoduleState]]:
    import git

    try:
        repo = git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None, []
    try:
        status = _status(repo)
        submodules = _submodule_states(repo, root, modules)
    finally:
        repo.close()
    return status, submodules


def _status(repo: Repo) -> GitStatus:
    """Parse ``git status --porcelain=v2 --branch -z``: one process, no tree walk of ours.

    ``--ignore-submodules=dirty`` keeps git from recursing into linux/ and glibc/ (each a huge
    status of its own) while still reporting a submodule whose commit moved.
    """
    import git

    error: str | None = None
    try:
        out = repo.git.status(
            "--porcelain=v2",
            "--branch",
            "-z",
            "--untracked-files=normal",
            "--ignore-submodules=dirty",
            kill_after_timeout=STATUS_TIMEOUT,
            strip_newline_in_stdout=False,
        )
    except git.CommandError as exc:  # GitCommandError, or GitCommandNotFound (no git at all)
        out = ""
        error = _one_line(exc.stderr) or f"git status failed ({exc.status})"

    oid: str | None = None
    head: str | None = None
    upstream: str | None = None
    ahead = behind = None
    dirty: list[str] = []
    count = 0
    records = out.split("\0")
    i = 0
    while i < len(records):
        rec = records[i]
        i += 1
        if not rec:
            continue
        if rec.startswith("# "):
            key, _, value = rec[2:].partition(" ")
            if key == "branch.oid":
                oid = None if value == "(initial)" else value
            elif key == "branch.head":
                head = value
            elif key == "branch.upstream":
                upstream = value
            elif key == "branch.ab":
                m = re.fullmatch(r"\+(\d+) -(\d+)", value)
                if m:
                    ahead, behind = int(m.group(1)), int(m.group(2))
            continue
        kind = rec[0]
        if kind in "12u":
            parts = rec.split(" ", {"1": 8, "2": 9, "u": 10}[kind])
            xy = parts[1].replace(".", " ")
            entry = f"{xy} {parts[-1]}"
            if kind == "2":
                i += 1  # the original path of a rename follows as its own record
        elif kind == "?":
            entry = f"?? {rec[2:]}"
        else:  # "!" ignored: not asked for
            continue
        count += 1
        if len(dirty) < DIRTY_CAP:
            dirty.append(entry)

    detached = head in (None, "(detached)")
    commit = subject = None
    if oid:
        try:
            line = repo.git.log("-1", "--format=%h%x00%s", oid)
            commit, _, subject = line.partition("\0")
        except git.CommandError:
            commit = oid[:7]
    if detached:
        branch = f"detached at {commit or (oid or '?')[:7]}"
    else:
        branch = str(head)
    return GitStatus(
        branch=branch,
        detached=detached,
        commit=commit,
        subject=subject,
        dirty=dirty,
        dirty_count=count,
        upstream=upstream,
        ahead=ahead,
        behind=behind,
        error=error,
    )


def _submodule_states(
    repo: Repo, root: Path, modules: list[tuple[str, str, str]]
) -> list[SubmoduleState]:
    """Compare each declared submodule's recorded commit (index) with its checked-out HEAD.

    Entries of .gitmodules without a gitlink in the index are left out: git itself ignores
    them, and no command of ours could initialise them.
    """
    import git

    if not modules:
        return []
    recorded: dict[str, str] = {}
    try:
        listing = repo.git.ls_files("-s", "--", *[p for _, p, _ in modules])
    except git.CommandError:
        listing = ""
    for line in listing.splitlines():
        meta, _, path = line.partition("\t")
        fields = meta.split()
        if len(fields) == 3 and fields[0] == "160000":
            recorded[path] = fields[1]

    states: list[SubmoduleState] = []
    for name, path, url in modules:
        rec = recorded.get(path)
        if rec is None:
            continue
        sub = root / path
        actual: str | None = None
        state: SubmoduleStateName
        if not sub.is_dir():
            state = "missing"
        elif not (sub / ".git").exists():
            state = "not initialised"
        else:
            try:
                actual = git.Git(sub).rev_parse("--verify", "-q", "HEAD")
            except git.CommandError:
                actual = None
            if not actual:
                actual = None
                state = "not initialised"
            else:
                state = "at recorded commit" if actual == rec else "moved"
        states.append(SubmoduleState(name, path, url, rec, actual, state))
    return states


def submodule_init_argv(ws: Workspace) -> list[str] | None:
    """The command a plan step runs to initialise missing submodules, or None when none are.

    Only the submodules that need it are named, so a checkout whose ``linux/`` is already
    there does not trigger a fetch of every other submodule (gcc alone is gigabytes). Moved
    submodules are left alone: checking them out again would discard the user's choice.
    """
    if ws.git is None:
        return None
    paths = [s.path for s in ws.uninitialised_submodules]
    if not paths:
        return None
    return ["git", "-C", str(ws.root), "submodule", "update", "--init", "--", *paths]


def _one_line(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    lines = [ln.removeprefix("stderr: ").strip("'").strip() for ln in lines]
    fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    if fatal:
        return fatal[0]  # git's first fatal line is the specific one; later ones are generic
    return lines[-1] if lines else ""


# --------------------------------------------------------------------------------------------
# Cloning


@dataclass(frozen=True)
class CloneProgress:
    """One progress report of :func:`clone_ukl`.

    ``repository`` is the directory git is cloning into ('' for the top-level repository,
    e.g. ``linux`` while the submodule is fetched). ``stage`` is git's phase
    ("Receiving objects", "Resolving deltas", ...); ``current``/``total`` its counters.
    """

    repository: str
    stage: str
    current: float | None
    total: float | None
    message: str

    @property
    def fraction(self) -> float | None:
        """Progress of the current stage in [0, 1], when git gave a total."""
        if self.current is None or not self.total:
            return None
        return min(1.0, self.current / self.total)


_NETWORK_ERRORS = (
    "could not resolve host",
    "failed to connect",
    "couldn't connect",
    "connection refused",
    "connection timed out",
    "network is unreachable",
    "no route to host",
    "temporary failure in name resolution",
    "could not resolve hostname",
    "operation timed out",
    "timed out",
)
_SSH_AUTH_ERRORS = ("permission denied (publickey", "host key verification failed")


def _clone_env() -> dict[str, str]:
    """Environment that makes git fail instead of prompting: ukl-tui owns the terminal."""
    env = {"GIT_TERMINAL_PROMPT": "0"}
    if "GIT_HTTP_LOW_SPEED_LIMIT" not in os.environ:
        env["GIT_HTTP_LOW_SPEED_LIMIT"] = "1000"
        env["GIT_HTTP_LOW_SPEED_TIME"] = "60"
    if not (os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH")):
        configured = subprocess.run(
            ["git", "config", "--get", "core.sshCommand"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if not configured:
            env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=20"
    return env


def _kill_group(proc: subprocess.Popen[str], grace: float = 3.0) -> None:
    """End the clone's process group (git, its helpers, ssh) and reap git."""
    if proc.poll() is None:
        kill_group(proc.pid, grace, leader=proc)


def _clone_failure(url: str, dest: Path, lines: list[str], kept: bool) -> UserError:
    """Turn git's stderr into one line a user can act on."""
    text = "\n".join(lines).lower()
    failing_url = url
    for line in lines:
        m = re.search(r"(?:unable to access|clone of) '([^']+)'", line)
        if m:
            failing_url = m.group(1).rstrip("/")
    keep = (
        f"; {dest} is kept: fix this, then run git -C {dest} submodule update --init"
        if kept
        else ""
    )
    if any(s in text for s in _SSH_AUTH_ERRORS):
        return UserError(
            f"cannot clone {failing_url} over SSH: GitHub needs an SSH key for this "
            f"(ssh -T git@github.com must work){keep}"
        )
    if any(s in text for s in _NETWORK_ERRORS):
        return UserError(f"cannot reach {failing_url}: no network?{keep}")
    return UserError(
        f"git clone {url} failed: {_one_line(chr(10).join(lines)) or 'no output'}{keep}"
    )


def clone_ukl(
    url: str,
    dest: str | os.PathLike[str],
    progress_cb: Callable[[CloneProgress], None] | None = None,
    *,
    branch: str | None = None,
    log_path: Path | None = None,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Clone a ukl repository with its submodules into ``dest`` and return the checkout path.

    Runs ``git clone --recurse-submodules --progress`` in its own process group and feeds
    git's progress lines through a GitPython ``RemoteProgress`` to ``progress_cb``. Setting
    ``cancel`` or exceeding ``timeout`` (seconds) kills the whole group. Every line goes to
    ``log_path`` (default: a timestamped file under the cache directory's ``logs/``).

    Failures raise UserError with one line: ``cannot reach URL: no network?`` when a host
    cannot be reached, an SSH-key hint for GitHub SSH submodules (ukl's glibc). When the main
    repository arrived but a submodule failed, the partial checkout is kept (the download may
    be large) and the message says how to finish it; otherwise ``dest`` is removed.
    """
    import git

    dest_path = Path(dest).expanduser().absolute()
    if dest_path.exists() and (not dest_path.is_dir() or any(dest_path.iterdir())):
        raise UserError(f"{dest_path} already exists and is not empty: choose another place")
    created = not dest_path.exists()
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path is None:
        from ukl_tui.paths import cache_dir

        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        log_path = cache_dir() / "logs" / f"clone-{stamp}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)

    class _Progress(git.RemoteProgress):
        """Adapter from git's progress lines to :class:`CloneProgress` callbacks."""

        _names = {
            git.RemoteProgress.COUNTING: "Counting objects",
            git.RemoteProgress.COMPRESSING: "Compressing objects",
            git.RemoteProgress.RECEIVING: "Receiving objects",
            git.RemoteProgress.RESOLVING: "Resolving deltas",
            git.RemoteProgress.CHECKING_OUT: "Checking out files",
            git.RemoteProgress.FINDING_SOURCES: "Finding sources",
            git.RemoteProgress.WRITING: "Writing objects",
        }

        def __init__(self) -> None:
            super().__init__()
            self.repository = ""

        def _emit(self, stage: str, cur: float | None, total: float | None, msg: str) -> None:
            if progress_cb is not None:
                progress_cb(CloneProgress(self.repository, stage, cur, total, msg))

        def update(
            self,
            op_code: int,
            cur_count: str | float,
            max_count: str | float | None = None,
            message: str = "",
        ) -> None:
            stage = self._names.get(op_code & self.OP_MASK, "working")
            cur = float(cur_count) if cur_count not in (None, "") else None
            total = float(max_count) if max_count not in (None, "") else None
            self._emit(stage, cur, total, message)

        def line_dropped(self, line: str) -> None:
            m = re.match(r"Cloning into '(.*)'\.\.\.", line)
            if m:
                target = Path(m.group(1))
                with contextlib.suppress(ValueError):
                    rel = target.relative_to(dest_path) if target.is_absolute() else target
                    self.repository = "" if target == dest_path else str(rel)
                self._emit("Cloning", None, None, line)

    argv = ["git", "clone", "--progress", "--recurse-submodules"]
    if branch:
        argv += ["--branch", branch]
    argv += ["--", url, str(dest_path)]
    progress = _Progress()
    lines: list[str] = []
    lock = threading.Lock()
    finished = threading.Event()
    reason: list[str] = []

    with log_path.open("w", encoding="utf-8") as log:
        log.write("$ " + " ".join(argv) + "\n")
        auto = git.Git().execute(
            argv,
            as_process=True,
            env=_clone_env(),
            universal_newlines=True,
            start_new_session=True,
        )
        proc: subprocess.Popen[str] = auto.proc

        def write(line: str) -> None:
            with lock:
                log.write(line + "\n")
                log.flush()

        def drain_stdout() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                write(raw.rstrip("\n"))

        def watchdog() -> None:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not finished.wait(0.1):
                if cancel is not None and cancel.is_set():
                    reason.append("cancelled")
                elif deadline is not None and time.monotonic() > deadline:
                    reason.append("timeout")
                else:
                    continue
                _kill_group(proc)
                return

        out_thread = threading.Thread(target=drain_stdout, daemon=True)
        dog = threading.Thread(target=watchdog, daemon=True)
        out_thread.start()
        dog.start()
        try:
            assert proc.stderr is not None
            for raw in proc.stderr:
                line = raw.rstrip("\n")
                if not line:
                    continue
                write(line)
                lines.append(line)
                del lines[:-200]
                progress._parse_progress_line(line)
            rc = proc.wait()
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            finished.set()
            out_thread.join(5)
            dog.join(5)
        write(f"[exit {rc}]")

    if rc == 0 and not reason:
        return dest_path
    kept = (dest_path / ".git").exists() and not reason
    if not kept and dest_path.exists() and created:
        shutil.rmtree(dest_path, ignore_errors=True)
    elif not kept and dest_path.exists():
        for child in dest_path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    if reason and reason[0] == "cancelled":
        raise UserError(f"clone of {url} cancelled")
    if reason and reason[0] == "timeout":
        raise UserError(f"cannot reach {url}: no network? (no result after {timeout:g} s)")
    raise _clone_failure(url, dest_path, lines, kept)
