"""One unit of work in a plan: the contract between ``plan.py`` (who decides) and ``runner.py``.

A step is plain data (argv, directory, added environment) so that the Review screen can show
exactly what will run, a plan file can store it, and the runner can execute it without a shell:
nothing a user typed is ever interpreted by ``sh``. ``shell_line()`` exists only so a human can
copy the command and run it by hand.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, cast

from ukl_tui.errors import UserError

StepKind = Literal["prep", "build", "boot"]
STEP_KINDS: tuple[StepKind, ...] = ("prep", "build", "boot")

#: Step ids name log files (``NN-<id>.log``): keep them file-name safe and readable.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: POSIX environment variable names; anything else could not be written as ``VAR=val``.
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Step:
    """A command to run: argv without a shell, in ``cwd``, with ``env`` added to the inherited one.

    ``success_markers`` are console lines that mean the step did what it should (a boot step
    never exits on its own); ``interactive`` keeps stdin open as a pipe for console input;
    ``expected_failure_note`` marks a stage that is known to fail (ukl's first glibc make):
    its errors are labelled as expected and its failure does not stop the chain.
    """

    id: str
    title: str
    argv: tuple[str, ...]
    cwd: str
    env: Mapping[str, str]
    kind: StepKind
    timeout: float | None
    success_markers: tuple[str, ...] = ()
    interactive: bool = False
    expected_failure_note: str = ""

    def __post_init__(self) -> None:
        """Normalise containers (lists from TOML become tuples) and reject unusable values early."""
        argv = tuple(self.argv)
        env = dict(self.env)
        markers = tuple(self.success_markers)
        if not isinstance(self.id, str) or not _ID_RE.match(self.id):
            raise UserError(
                f"step id {self.id!r} must be 1-64 letters, digits, '.', '_' or '-' "
                "(it names the log file)"
            )
        if self.kind not in STEP_KINDS:
            raise UserError(
                f"step {self.id}: kind {self.kind!r} is not one of {', '.join(STEP_KINDS)}"
            )
        if not argv or not all(isinstance(a, str) for a in argv) or not argv[0]:
            raise UserError(f"step {self.id}: argv must be a non-empty list of strings")
        if any("\0" in a for a in argv):
            raise UserError(f"step {self.id}: argv contains a NUL byte")
        if not isinstance(self.cwd, str) or not self.cwd:
            raise UserError(f"step {self.id}: cwd must be a directory path")
        for name, value in env.items():
            if not isinstance(name, str) or not _ENV_NAME_RE.match(name):
                raise UserError(
                    f"step {self.id}: {name!r} is not a valid environment variable name"
                )
            if not isinstance(value, str) or "\0" in value:
                raise UserError(f"step {self.id}: environment value of {name} must be a string")
        if self.timeout is not None and (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int | float)
            or self.timeout <= 0
        ):
            raise UserError(f"step {self.id}: timeout must be a positive number of seconds")
        if not all(isinstance(m, str) and m for m in markers):
            raise UserError(f"step {self.id}: success markers must be non-empty strings")
        object.__setattr__(self, "argv", argv)
        object.__setattr__(self, "env", MappingProxyType(env))
        object.__setattr__(self, "success_markers", markers)

    def __hash__(self) -> int:
        """Hash by value; the env mapping itself is not hashable, its sorted items are."""
        return hash((self.id, self.argv, self.cwd, tuple(sorted(self.env.items())), self.kind))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML data; ``timeout`` is left out when None because TOML has no null."""
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "argv": list(self.argv),
            "cwd": self.cwd,
            "env": dict(self.env),
            "kind": self.kind,
            "success_markers": list(self.success_markers),
            "interactive": self.interactive,
            "expected_failure_note": self.expected_failure_note,
        }
        if self.timeout is not None:
            data["timeout"] = self.timeout
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        """Read a step back from a plan file; a malformed entry is a ``UserError``, not a crash."""
        if not isinstance(data, Mapping):
            raise UserError("a step must be a table of fields")
        known = {
            "id",
            "title",
            "argv",
            "cwd",
            "env",
            "kind",
            "timeout",
            "success_markers",
            "interactive",
            "expected_failure_note",
        }
        unknown = sorted(set(data) - known)
        sid = data.get("id", "?")
        if unknown:
            raise UserError(f"step {sid}: unknown field(s) {', '.join(unknown)}")
        for required in ("id", "argv", "cwd", "kind"):
            if required not in data:
                raise UserError(f"step {sid}: missing field {required!r}")
        argv = data["argv"]
        if isinstance(argv, str) or not isinstance(argv, list | tuple):
            raise UserError(f"step {sid}: argv must be a list of strings, not a shell line")
        env = data.get("env", {})
        if not isinstance(env, Mapping):
            raise UserError(f"step {sid}: env must be a table")
        markers = data.get("success_markers", ())
        if isinstance(markers, str) or not isinstance(markers, list | tuple):
            raise UserError(f"step {sid}: success_markers must be a list of strings")
        interactive = data.get("interactive", False)
        if not isinstance(interactive, bool):
            raise UserError(f"step {sid}: interactive must be true or false")
        title = data.get("title", data["id"])
        note = data.get("expected_failure_note", "")
        if not isinstance(title, str) or not isinstance(note, str):
            raise UserError(f"step {sid}: title and expected_failure_note must be strings")
        return cls(
            id=data["id"],
            title=title,
            argv=tuple(argv),
            cwd=data["cwd"],
            env=dict(env),
            kind=cast(StepKind, data["kind"]),
            timeout=data.get("timeout"),
            success_markers=tuple(markers),
            interactive=interactive,
            expected_failure_note=note,
        )

    def shell_line(self, base: str | None = None) -> str:
        """A POSIX shell line a user can paste to do by hand what the runner does.

        ``cd DIR &&`` is added when the step's directory differs from ``base`` (the directory
        the user is assumed to be in); added environment becomes a ``VAR=value`` prefix.
        """
        parts: list[str] = []
        if base is None or _norm(base) != _norm(self.cwd):
            parts += ["cd", shlex.quote(self.cwd), "&&"]
        parts += [f"{name}={shlex.quote(value)}" for name, value in self.env.items()]
        parts += [shlex.quote(arg) for arg in self.argv]
        return " ".join(parts)


def _norm(path: str) -> str:
    """Compare directories textually, ignoring a trailing slash."""
    return path.rstrip("/") or "/"
