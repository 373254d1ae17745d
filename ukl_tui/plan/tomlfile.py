"""The plan's file form, ``ukl-tui.toml``: writing TOML (tomllib only reads) and reading it back.

Every bad key or value is one :class:`~ukl_tui.errors.UserError` naming the file and the key;
the plan class gets its ``to_dict``/``to_toml``/``save``/``load``/``from_dict`` from
:class:`PlanFile`, so this module never imports the value object.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Self

from ukl_tui.apps import OPTIONS, ConfigureOptions
from ukl_tui.boot import (
    ACCELS,
    NETWORK_KEYS,
    NetworkSpec,
    check_cpu_flag,
    check_param,
    check_word,
    network_value_data,
)
from ukl_tui.errors import UserError
from ukl_tui.fsutil import read_input
from ukl_tui.plan.common import (
    FORMAT_VERSION,
    INITRD_CHOICES,
    SYMBOL_RE,
    absolute,
    check_text,
    check_writable,
    write_text_atomic,
)

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b"}


def _toml_str(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise UserError(f"{text!r} cannot be written to TOML (undecodable bytes)")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_str(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps_toml(data: Mapping[str, Any], comment: str = "") -> str:
    """TOML for plain data: scalars and lists first, then one ``[table]`` per nested mapping."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]

    def emit(table: Mapping[str, Any], prefix: str) -> None:
        subtables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
        if prefix:
            lines.append("")
            lines.append(f"[{prefix}]")
        for key, value in table.items():
            if value is None or isinstance(value, Mapping):
                continue
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in subtables:
            emit(value, f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key))

    emit(data, "")
    return "\n".join(lines) + "\n"


class _Reader:
    """Typed access to one table of a plan file; every error names the file and the key."""

    def __init__(self, source: str, table: Mapping[str, Any], prefix: str = "") -> None:
        self.source = source
        self.table = table
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def error(self, name: str, message: str) -> UserError:
        return UserError(f"{self.source}: key '{self.key(name)}': {message}")

    def check_keys(self, known: Iterable[str]) -> None:
        allowed = set(known)
        for name in self.table:
            if name not in allowed:
                raise UserError(
                    f"{self.source}: unknown key '{self.key(name)}' "
                    f"(known here: {', '.join(sorted(allowed))})"
                )

    def get(self, name: str, kind: type | tuple[type, ...], what: str, default: Any = None) -> Any:
        if name not in self.table:
            return default
        value = self.table[name]
        bad_bool = isinstance(value, bool) and kind in (int, (int, float))
        if not isinstance(value, kind) or bad_bool:
            raise self.error(name, f"expected {what}, not {value!r}")
        return value

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.get(name, str, "a string", default)
        if value is not None:
            try:
                check_text("value", value)
            except UserError as exc:
                raise self.error(name, exc.message) from None
        return value

    def flag(self, name: str, default: bool) -> bool:
        return bool(self.get(name, bool, "true or false", default))

    def number(self, name: str, default: int | None) -> int | None:
        return self.get(name, int, "a whole number", default)

    def words(self, name: str) -> tuple[str, ...]:
        value = self.get(name, list, "a list of strings", [])
        for item in value:
            if not isinstance(item, str):
                raise self.error(name, f"expected a list of strings, found {item!r}")
        return tuple(value)

    def sub(self, name: str) -> _Reader:
        value = self.get(name, dict, "a table", {})
        return _Reader(self.source, value, f"{self.prefix}{name}.")


_CONFIGURE_FIELDS = tuple(spec.field for spec in OPTIONS if spec.field != "program") + (
    "ukl_archive",
)
#: The plan's fields kept in its file's [boot] table (the Network and boot step edits them).
BOOT_TABLE = ("memory_mib", "cpus", "append", "remove", "cpu_flags", "init_args", "initrd", "accel")


class PlanFile:
    """The plan's TOML form, mixed into :class:`ukl_tui.plan.Plan` (which has the fields)."""

    def to_dict(self, base_dir: Path | None = None) -> dict[str, Any]:
        """Plain data for the TOML file; paths inside ``base_dir`` are written relative."""

        def p(path: Path | None) -> str | None:
            if path is None:
                return None
            if base_dir is not None:
                try:
                    rel = path.relative_to(base_dir)
                except ValueError:
                    return str(path)
                return str(rel) if str(rel) != "." else "."
            return str(path)

        data: dict[str, Any] = {"format": FORMAT_VERSION, "tree": p(self.tree)}
        data["overlays"] = [p(o) for o in self.overlays]
        data["config"] = p(self.config)
        data["base"] = self.base
        data["presets"] = list(self.presets)
        data["build_dir"] = p(self.build_dir)
        data["jobs"] = self.jobs
        data["ccache"] = self.ccache
        data["distcc"] = self.distcc
        data["edits"] = dict(self.edits)
        app: dict[str, Any] = {"name": self.app, "ukl_a": p(self.ukl_a)}
        for name in _CONFIGURE_FIELDS:
            app[name] = getattr(self.configure, name)
        data["app"] = app
        # Only the keys the user chose: the others are the mode's defaults or what the
        # plan's presets ask for, which a later preset change may change.
        net = {k: network_value_data(k, getattr(self.network, k)) for k in self.network_keys}
        net["auto_forwards"] = self.auto_forwards
        data["network"] = net
        data["boot"] = {
            "memory_mib": self.memory_mib,
            "cpus": self.cpus,
            "append": list(self.append),
            "remove": list(self.remove),
            "cpu_flags": list(self.cpu_flags),
            "init_args": list(self.init_args),
            "initrd": self.initrd,
            "accel": self.accel,
        }
        return data

    def to_toml(self, base_dir: Path | None = None) -> str:
        """The plan file's text."""
        comment = (
            "ukl-tui plan: the whole session (tree, presets, edits, app, network, boot).\n"
            "'ukl-tui plan --plan THIS-FILE' prints its commands; relative paths are relative "
            "to this file."
        )
        return dumps_toml(self.to_dict(base_dir), comment)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the plan as TOML (atomically); paths under the file's directory are relative."""
        target = absolute(path)
        check_writable("plan file", target)
        text = self.to_toml(target.parent)
        write_text_atomic(target, text)
        self.source = target
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read a plan file; any bad key or value is one UserError naming the file and key."""
        source = absolute(path)
        raw = read_input(source, "plan file")
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{source}: not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise UserError(f"{source}: not valid TOML: not UTF-8 text") from None
        plan = cls.from_dict(data, str(source), source.parent)
        plan.source = source
        return plan

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str, base_dir: Path) -> Self:
        """Build a plan from parsed TOML (``source`` names the file in error messages)."""
        top = _Reader(source, data)
        top.check_keys(
            (
                "format",
                "tree",
                "overlays",
                "config",
                "base",
                "presets",
                "build_dir",
                "jobs",
                "ccache",
                "distcc",
                "edits",
                "app",
                "network",
                "boot",
            )
        )
        version = top.number("format", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise top.error("format", f"this ukl-tui reads format {FORMAT_VERSION}, not {version}")
        tree = top.text("tree")
        if not tree:
            raise UserError(f"{source}: key 'tree' is missing (the kernel tree or ukl checkout)")

        def path(value: str | None) -> Path | None:
            return None if value is None else absolute(value, base_dir)

        jobs = top.number("jobs", None)
        if jobs is not None and not 1 <= jobs <= 1024:
            raise top.error("jobs", f"expected 1 to 1024, not {jobs}")
        ccache = top.get("ccache", bool, "true or false", None)
        distcc = top.text("distcc")
        if distcc is not None:
            from ukl_tui.distcc import parse_hosts

            try:
                distcc = parse_hosts(distcc).spec()
            except UserError as exc:
                raise top.error("distcc", exc.message) from None
        edits_reader = top.sub("edits")
        edits: dict[str, str] = {}
        for name, value in edits_reader.table.items():
            if isinstance(value, bool):
                value = "y" if value else "n"
            elif isinstance(value, int):
                value = str(value)
            if not isinstance(value, str) or not SYMBOL_RE.match(name.removeprefix("CONFIG_")):
                raise edits_reader.error(name, f'expected SYMBOL = "value", not {value!r}')
            edits[name.removeprefix("CONFIG_")] = value

        app_r = top.sub("app")
        app_r.check_keys(("name", "ukl_a", *_CONFIGURE_FIELDS))
        kw: dict[str, Any] = {}
        for spec in OPTIONS:
            if spec.field == "program" or spec.field not in app_r.table:
                continue
            if spec.kind == "bool":
                kw[spec.field] = app_r.flag(spec.field, False)
            else:
                kw[spec.field] = app_r.text(spec.field)
        configure = ConfigureOptions(**kw)
        try:
            configure.validate()
        except UserError as exc:
            raise UserError(f"{source}: table 'app': {exc.message}") from None

        network, auto_forwards, network_keys = _read_network(top.sub("network"))
        boot_r = top.sub("boot")
        boot_r.check_keys(BOOT_TABLE)
        memory = boot_r.number("memory_mib", 1024)
        cpus = boot_r.number("cpus", 1)
        for name, value, low, high in (("memory_mib", memory, 64, 1 << 20), ("cpus", cpus, 1, 256)):
            if not low <= value <= high:  # type: ignore[operator]
                raise boot_r.error(name, f"expected {low} to {high}, not {value}")
        words: dict[str, tuple[str, ...]] = {}
        for key, check in (
            ("append", check_param),
            ("remove", check_param),
            ("cpu_flags", check_cpu_flag),
            ("init_args", partial(check_word, "init argument")),
        ):
            words[key] = boot_r.words(key)
            for word in words[key]:
                try:
                    check(word)
                except UserError as exc:
                    raise boot_r.error(key, exc.message) from None
        initrd = boot_r.text("initrd", "auto") or "auto"
        if initrd not in INITRD_CHOICES:
            initrd = str(absolute(initrd, base_dir))
        accel = boot_r.text("accel", "auto") or "auto"
        if accel not in ACCELS:
            raise boot_r.error("accel", f"expected one of {', '.join(ACCELS)}, not {accel!r}")

        return cls(
            tree=absolute(tree, base_dir),
            overlays=tuple(absolute(o, base_dir) for o in top.words("overlays")),
            config=path(top.text("config")),
            base=top.text("base"),
            presets=tuple(
                str(absolute(p, base_dir)) if p.endswith(".toml") or "/" in p else p
                for p in top.words("presets")
            ),
            edits=edits,
            app=app_r.text("name"),
            ukl_a=path(app_r.text("ukl_a")),
            configure=configure,
            network=network,
            network_keys=network_keys,
            auto_forwards=auto_forwards,
            memory_mib=memory,  # type: ignore[arg-type]
            cpus=cpus,  # type: ignore[arg-type]
            append=words["append"],
            remove=words["remove"],
            cpu_flags=words["cpu_flags"],
            init_args=words["init_args"],
            initrd=initrd,
            accel=accel,
            build_dir=path(top.text("build_dir")),
            jobs=jobs,
            ccache=ccache,
            distcc=distcc,
        )


def _read_network(reader: _Reader) -> tuple[NetworkSpec, bool, tuple[str, ...]]:
    """The [network] table: each key parsed on its own (``boot.parse_network_value``, the
    presets' parser too) so an error names it; also the keys the file gives.

    Keys left out take the mode's defaults (tap: ukl's boot-priv layout), or a preset's
    network settings when the plan names presets that have some; an empty address or
    gateway means none.
    """
    from ukl_tui.boot import parse_network_value

    reader.check_keys((*NETWORK_KEYS, "auto_forwards"))
    auto = reader.flag("auto_forwards", True)
    kw: dict[str, Any] = {}
    for name in NETWORK_KEYS:
        if name not in reader.table:
            continue
        try:
            kw[name] = parse_network_value(name, reader.table[name])
        except UserError as exc:
            raise reader.error(name, exc.message) from None
    base = NetworkSpec.for_mode(kw.pop("mode", "user"))
    keys = tuple(k for k in NETWORK_KEYS if k in reader.table)
    return replace(base, **kw), auto, keys
