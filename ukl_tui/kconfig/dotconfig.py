"""A strict reader for ``.config`` files and merge fragments.

kconfiglib and the C tools both skip malformed lines with at most a warning, and both
ignore an unquoted string value (``CONFIG_UKL_NAME=/UKL``, exactly what ukl's Makefile
writes), falling back to the default without a word. ukl-tui reads the file itself first
so that garbage is refused before anything is written, and so the rules can point at the
unquoted strings by line number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ukl_tui.errors import UserError

_SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set\s*$")
_QUOTED = re.compile(r'^"(?:[^"\\]|\\.)*"$')
_WORD = re.compile(r"^[^\s\"#]+$")


@dataclass(frozen=True)
class Assignment:
    """One ``CONFIG_X=...`` or ``# CONFIG_X is not set`` line."""

    name: str
    raw: str  # the value as written, quotes included; "n" for "is not set"
    line: int
    quoted: bool

    @property
    def value(self) -> str:
        """The value with string quoting and escapes removed."""
        if self.quoted:
            return re.sub(r"\\(.)", r"\1", self.raw[1:-1])
        return self.raw


@dataclass
class DotConfig:
    """What a ``.config`` (or fragment) file assigns, with problems kept for the rules."""

    path: Path
    assignments: dict[str, Assignment] = field(default_factory=dict)
    garbage: list[tuple[int, str]] = field(default_factory=list)
    duplicates: list[tuple[str, int, int]] = field(default_factory=list)

    def values(self) -> dict[str, str]:
        """Name to unquoted value (``n`` for "is not set")."""
        return {name: a.value for name, a in self.assignments.items()}

    def require_clean(self) -> None:
        """Refuse a file with lines that are neither assignments nor comments."""
        if self.garbage:
            line, text = self.garbage[0]
            more = f" (and {len(self.garbage) - 1} more)" if len(self.garbage) > 1 else ""
            raise UserError(f"{self.path}:{line}: not a .config line: {text.strip()[:60]!r}{more}")


def parse_text(text: str, path: Path) -> DotConfig:
    """Read assignments line by line; later assignments win, as in the C tools."""
    result = DotConfig(path=path)
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.rstrip("\r")
        stripped = line.strip()
        if not stripped:
            continue
        match = _UNSET.match(stripped)
        if match:
            assignment = Assignment(match.group(1), "n", lineno, quoted=False)
        elif stripped.startswith("#"):
            continue
        else:
            match = _SET.match(stripped)
            if not match:
                result.garbage.append((lineno, line))
                continue
            value = match.group(2)
            quoted = bool(_QUOTED.match(value))
            if not quoted and not _WORD.match(value):
                result.garbage.append((lineno, line))
                continue
            assignment = Assignment(match.group(1), value, lineno, quoted)
        previous = result.assignments.get(assignment.name)
        if previous is not None:
            result.duplicates.append((assignment.name, previous.line, lineno))
        result.assignments[assignment.name] = assignment
    return result


def read_dotconfig(path: Path) -> DotConfig:
    """Read and parse a ``.config`` file; unreadable files are a clear user error."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such .config file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    if b"\0" in data:
        raise UserError(f"{path}: binary file, not a .config")
    return parse_text(data.decode("utf-8", errors="replace"), path)
