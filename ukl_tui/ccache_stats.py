"""ccache's own counters around a build step: how much of it came from the cache.

A repeated kernel build is fast or slow mostly by its ccache hit rate; ``ccache --print-stats``
(ccache >= 4) prints machine-readable counters, so reading them before and after a step gives
that step's hits and misses without parsing the build's output. Only steps that compile through
ccache (``CC=ccache gcc``, as ukl-tui's kernel recipe does) are measured.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

from ukl_tui.steps import Step

_HITS = ("direct_cache_hit", "preprocessed_cache_hit")
_MISSES = ("cache_miss",)


def uses_ccache(step: Step) -> bool:
    """Whether a build step compiles through ccache (``CC=ccache gcc`` or a ccache argv)."""
    return step.kind == "build" and any("ccache" in arg for arg in step.argv)


def counters(env: Mapping[str, str]) -> dict[str, int] | None:
    """The counters of the ccache ``env`` selects (``CCACHE_DIR``), None if unreadable."""
    ccache = shutil.which("ccache", path=env.get("PATH"))
    if ccache is None:
        return None
    try:
        out = subprocess.run(
            [ccache, "--print-stats"],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=10,
            start_new_session=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    result: dict[str, int] = {}
    for line in out.splitlines():
        name, _, value = line.partition("\t")
        if value.strip().isdigit():
            result[name] = int(value)
    return result or None


def step_env(step: Step) -> dict[str, str]:
    """The environment the step runs with (ccache reads its directory from it)."""
    return {**os.environ, **step.env}


def difference(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int | float]:
    """Hits, misses and the hit rate (percent) between two readings."""
    hits = sum(after.get(k, 0) - before.get(k, 0) for k in _HITS)
    misses = sum(after.get(k, 0) - before.get(k, 0) for k in _MISSES)
    total = hits + misses
    return {
        "hits": hits,
        "misses": misses,
        "hit_rate": round(100 * hits / total, 1) if total else 0.0,
    }
