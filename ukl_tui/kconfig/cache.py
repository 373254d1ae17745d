"""A parse cache: a parsed Kconfig tree pickled to the user cache directory.

Parsing Linux's 1,500 Kconfig files with kconfiglib takes about two seconds, a third of it
compiler probes. Unpickling the parsed object (with the garbage collector paused) takes a
tenth of that. A cache entry is only used when nothing the parse read has changed: every
Kconfig file (size, mtime) and the directories holding them (a new file for an ``osource``
or a glob), each environment variable the parse looked up (found or not), the toolchain's
binaries, kconfiglib's and this compatibility layer's versions, and the tree's
``scripts/kconfig`` C files the compatibility layer reads its rules from. A stale entry is never
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
FORMAT_VERSION = 4


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


def cache_key(srctree: Path, top: str, cc: str | None = None) -> str:
    """Which cache file a tree (and its top Kconfig, overlays included) uses.

    Each ``CC=`` gets its own entry: the wizard parses with kbuild's gcc and a plan's
    Kconfig step with the build's wrapper, and one shared entry would be re-parsed by each
    in turn (the fingerprint tells them apart, the key keeps both).
    """
    text = f"{os.path.realpath(srctree)}\0{top}\0{FORMAT_VERSION}"
    if cc:
        text += f"\0CC={cc}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cache_path(key: str) -> Path:
    """The file of one cache entry."""
    return cache_dir() / "kconfig" / f"{key}.pickle"


def absolute_files(srctree: Path, kconf: kconfiglib.Kconfig) -> list[str]:
    """Every file the parse read, as absolute paths: the Kconfig files and the C sources
    the compat layer took the tree's rules from.
    """
    names = [*kconf.kconfig_filenames, *getattr(kconf, "c_sources", ())]
    return [
        name if os.path.isabs(name) else os.path.join(srctree, name)
        for name in dict.fromkeys(names)
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


#: Pickling a parsed Linux tree recurses about 55,000 levels deep (measured on 6.1 and 6.12;
#: the order of kconfiglib's sets moves it by a few thousand from run to run). Each level costs
#: C stack: on a 4 MiB stack the 6.1 tree crashes, on 8 MiB (the main thread's) it passed, and
#: one CI run crashed there with SIGSEGV inside pickle.dumps. So the pickling runs on a thread
#: of its own whose stack is sized for it; the pages are only touched as deep as it goes.
_PICKLE_STACK_BYTES = 256 * 1024 * 1024
#: Deeper than this is a RecursionError (a cache miss), long before the stack above is used up.
_PICKLE_RECURSION_LIMIT = 400_000
_stack_size_lock = threading.Lock()


def _serialise(kconf: Any) -> bytes:
    """The pickle of a parsed tree, made on the pickling thread (see above).

    The file handle and the preprocessor functions cannot be pickled and are not needed
    after the parse: they are set aside for the dump and put back after it.
    """
    saved = kconf._readline, kconf._functions
    kconf._readline, kconf._functions = None, {}
    outcome: list[bytes | BaseException] = []

    def dump() -> None:
        try:
            outcome.append(pickle.dumps(kconf, protocol=5))
        except BaseException as exc:  # noqa: BLE001  (handed to the caller's thread)
            outcome.append(exc)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _PICKLE_RECURSION_LIMIT))
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        # threading.stack_size is process-wide: set it only around this one start.
        with _stack_size_lock:
            previous = threading.stack_size(_PICKLE_STACK_BYTES)
            try:
                worker = threading.Thread(target=dump, name="ukl-tui-pickle")
                worker.start()
            finally:
                threading.stack_size(previous)
        worker.join()
    finally:
        if was_enabled:
            gc.enable()
        sys.setrecursionlimit(limit)
        kconf._readline, kconf._functions = saved
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def store(
    key: str,
    kconf: Any,
    env: Mapping[str, str],
    looked_up: Iterable[str],
    srctree: Path,
    background: bool = True,
) -> None:
    """Save a freshly parsed tree; the file is written by a thread, so no one waits for it.

    Pickling (about a fifth of the parse) happens here, before the caller can change a value:
    the cache holds the tree as parsed. Stating every Kconfig file for the fingerprint and
    writing the file go to a writer thread. It is not a daemon: the interpreter joins it at
    exit, so a CLI command that ends at once still leaves a whole cache entry (or none) and
    no process behind; there is no fork (forking a process that runs threads and an event loop
    is fragile, and the child had to be reaped). A cache that cannot be written is a miss next
    time, nothing worse.
    """
    looked = sorted(set(looked_up))
    env = dict(env)
    try:
        payload = _serialise(kconf)
    except (pickle.PicklingError, RecursionError, RuntimeError):
        return  # too deep, or no thread to pickle on: a miss next time, nothing worse
    files = absolute_files(srctree, kconf)

    def write() -> None:
        header = {
            "format": FORMAT_VERSION,
            "files": files,
            "looked_up": looked,
            "fingerprint": fingerprint(files, env, looked),
        }
        path = cache_path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = json.dumps(header).encode() + b"\n" + payload
            fsutil.write_atomic(path, data, mode=0o644, fsync=False)
        except OSError:
            pass

    if not background:
        write()
        return
    writer = threading.Thread(target=write, name="kconfig-cache-writer")
    with _writers_lock:
        _writers.append(writer)
    writer.start()


_writers: list[threading.Thread] = []
_writers_lock = threading.Lock()


def wait_for_writers() -> None:
    """Block until the cache writers have finished (tests and benchmarks use this)."""
    with _writers_lock:
        writers, _writers[:] = list(_writers), []
    for writer in writers:
        writer.join()
