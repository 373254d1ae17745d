"""Soak, short version: every interruption at every moment, once, for both faces.

See ``tests/support/soak.py`` for what a round checks; ``bench/soak_run.py`` runs the long
version (hundreds of random rounds). ``UKL_TUI_SOAK_SEED`` varies the random details.
"""

from __future__ import annotations

import os
import zlib

import pytest

from tests.support.soak import KINDS, MOMENTS, make_round, screen_round, session_round

SEED = int(os.environ.get("UKL_TUI_SOAK_SEED", "0"))


def _seed(*parts: str) -> int:
    return SEED + zlib.crc32("/".join(parts).encode())


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("kind", [k for k in KINDS if k != "quit"])
async def test_session_ends_cleanly(kind, moment, tmp_path):
    rnd = await session_round(make_round("session", kind, moment, _seed(kind, moment)), tmp_path)
    assert rnd.problems == [], rnd.describe()


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("kind", KINDS)
async def test_run_screen_ends_cleanly(kind, moment, tmp_path):
    rnd = make_round("screen", kind, moment, _seed("screen", kind, moment))
    rnd = await screen_round(rnd, tmp_path)
    assert rnd.problems == [], rnd.describe()
