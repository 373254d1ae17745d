"""Soak, long version: hundreds of random interruptions of a run, every ending checked.

    python bench/soak_run.py [--rounds 300] [--seed 1] [--face session|screen|both]

Each round draws a face (the headless session or the Run screen), an interruption (stop, a
signal, an exception, quit) and a moment (before the child starts, while it floods output,
while its group is being killed, after it exited), runs it and checks it as
``tests/support/soak.py`` describes. Prints one line per failed round, then the figures:
rounds per kind, the longest interruption-to-end time, the machine's load. Exit 1 if any round
failed. The short version (each combination once) is ``tests/test_soak.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.soak import (  # noqa: E402
    KINDS,
    MOMENTS,
    Round,
    make_round,
    screen_round,
    session_round,
)


async def one(rnd: Round, workdir: Path) -> Round:
    """Run a round with a hard limit of its own, so a hang is a failed round, not a stuck run."""
    runner = session_round if rnd.face == "session" else screen_round
    try:
        async with asyncio.timeout(120):  # in this task: the round checks for other tasks
            return await runner(rnd, workdir)
    except TimeoutError:
        rnd.problems.append("HUNG: no end within 120 s")
        return rnd


def main() -> int:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--face", choices=("session", "screen", "both"), default="both")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    faces = ("session", "screen") if args.face == "both" else (args.face,)
    counts: collections.Counter[str] = collections.Counter()
    failed: list[Round] = []
    longest: Round | None = None
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ukl-soak-") as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        for n in range(args.rounds):
            face = rng.choice(faces)
            kinds = KINDS if face == "screen" else tuple(k for k in KINDS if k != "quit")
            rnd = make_round(face, rng.choice(kinds), rng.choice(MOMENTS), rng.randrange(1 << 30))
            workdir = Path(tmp) / f"round-{n}"
            workdir.mkdir()
            rnd = asyncio.run(one(rnd, workdir))
            counts[f"{rnd.face} {rnd.kind}"] += 1
            if rnd.problems:
                failed.append(rnd)
                print(f"FAILED {rnd.describe()}: {'; '.join(rnd.problems)}", flush=True)
            if rnd.stop_to_end is not None and (
                longest is None or rnd.stop_to_end > (longest.stop_to_end or 0)
            ):
                longest = rnd
    took = time.monotonic() - start
    load = os.getloadavg()
    print(f"soak: {args.rounds} rounds (seed {args.seed}) in {took:.0f} s, {len(failed)} failed")
    print("  " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    if longest is not None:
        print(f"  longest interruption-to-end: {longest.describe()}")
    cpus = os.cpu_count()
    print(f"  load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {cpus} CPUs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
