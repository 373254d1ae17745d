"""A parse cache: a parsed Kconfig tree pickled to the user cache directory.

Parsing Linux's 1,500 Kconfig files with kconfiglib takes about two seconds, a third of it
compiler probes. Unpickling the parsed object (with the garbage collector paused) takes a
tenth of that. A cache entry is only used when nothing the parse read has changed: every
Kconfig file (size, mtime) and the directories holding them (a new file for an ``osource``
or a glob), each environment variable the parse looked up (found or not), the toolchain's
binaries, kconfiglib's and this compatibility layer's versions. A stale entry is never
used; it is simply replaced.

File format: one JSON header line (key, fingerprint, list of files), then the pickle.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import kconfiglib

from ukl_tui import fsutil
from ukl_tui.kconfig.env import toolchain_fingerprint
from ukl_tui.paths import cache_dir

#: Bump when the compat layer or the pickled shape changes.
FORMAT_VERSION = 3


def _stat_digest(paths: Iterable[str]) -> str:
    digest = hashlib.sha256()
    dirs: set[str] = set()
    for path in paths:
        try:
            st = os.stat(path)
            digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}:missing\n".encode())
        dirs.add(os.path.dirname(path))
    for directory in sorted(dirs):
        try:
            digest.update(f"{directory}:{os.stat(directory).st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{directory}:missing\n".encode())
    return digest.hexdigest()


def fingerprint(files: list[str], env: Mapping[str, str], looked_up: Iterable[str]) -> str:
    """Everything a parse depends on, as one digest (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(f"{FORMAT_VERSION}:{kconfiglib.VERSION}:{sys.version}\n".encode())
    digest.update(_stat_digest(files).encode())
    for name in sorted(set(looked_up)):
        digest.update(f"{name}={env.get(name)!r}\n".encode())
    digest.update(toolchain_fingerprint(dict(env)).encode())
    return digest.hexdigest()


def cache_key(srctree: Path, top: str) -> str:
    """Which cache file a tree (and its top Kconfig, overlays included) uses."""
    text = f"{os.path.realpath(srctree)}\0{top}\0{FORMAT_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cache_path(key: str) -> Path:
    """The file of one cache entry."""
    return cache_dir() / "kconfig" / f"{key}.pickle"


def absolute_files(srctree: Path, kconf: kconfiglib.Kconfig) -> list[str]:
    """Every Kconfig file the parse read, as absolute paths."""
    return [
        name if os.path.isabs(name) else os.path.join(srctree, name)
        for name in dict.fromkeys(kconf.kconfig_filenames)
    ]


def load(key: str, env: Mapping[str, str]) -> Any | None:
    """The cached Kconfig object for ``key`` if still valid, else None."""
    path = cache_path(key)
    try:
        with open(path, "rb") as handle:
            header = json.loads(handle.readline())
            if header.get("format") != FORMAT_VERSION:
                return None
            current = fingerprint(header["files"], env, header["looked_up"])
            if current != header["fingerprint"]:
                return None
            payload = handle.read()
    except (OSError, ValueError, KeyError):
        return None
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        kconf = pickle.loads(payload)
        # The tree lives as long as the session: park its million objects outside the
        # collector, or the first collection after re-enabling it scans them all (~0.25 s).
        gc.freeze()
        return kconf
    except Exception:  # noqa: BLE001  (a corrupt entry is just a miss)
        return None
    finally:
        if was_enabled:
            gc.enable()


def _serialise(kconf: Any, header: dict[str, Any]) -> bytes:
    saved = kconf._readline, kconf._functions
    kconf._readline, kconf._functions = None, {}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 100_000))
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return json.dumps(header).encode() + b"\n" + pickle.dumps(kconf, protocol=5)
    finally:
        if was_enabled:
            gc.enable()
        sys.setrecursionlimit(limit)
        kconf._readline, kconf._functions = saved


def store(
    key: str,
    kconf: Any,
    env: Mapping[str, str],
    looked_up: Iterable[str],
    srctree: Path,
    background: bool = True,
) -> None:
    """Save a freshly parsed tree; in a forked child when that is safe, so no one waits.

    Pickling takes a fifth of the parse. A CLI process is single-threaded and can fork: the
    child writes the cache while the parent gets on with the command. With other threads
    running (the TUI), forking is unsafe, so the caller's (worker) thread writes it.
    """
    looked = sorted(set(looked_up))
    env = dict(env)

    def write() -> None:
        # The fingerprint stats every Kconfig file: done here, i.e. in the child when forked.
        files = absolute_files(srctree, kconf)
        header = {
            "format": FORMAT_VERSION,
            "files": files,
            "looked_up": looked,
            "fingerprint": fingerprint(files, env, looked),
        }
        path = cache_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fsutil.write_atomic(path, _serialise(kconf, header), mode=0o644, fsync=False)

    if background and threading.active_count() == 1 and hasattr(os, "fork"):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # child: write and vanish without running the parent's cleanups
            try:
                os.setsid()
                write()
            finally:
                os._exit(0)
        _reap_later(pid)
        return
    try:
        write()
    except (OSError, pickle.PicklingError, RecursionError):
        pass


_children: list[int] = []


def _reap_later(pid: int) -> None:
    """Remember a cache-writing child so it is reaped (no zombies) and can be waited for."""
    _children.append(pid)
    for child in list(_children):
        try:
            done, _ = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            done = child
        if done:
            _children.remove(child)


def wait_for_writers() -> None:
    """Block until background cache writers have finished (tests and benchmarks use this)."""
    while _children:
        child = _children.pop()
        try:
            os.waitpid(child, 0)
        except ChildProcessError:
            pass
