"""The one way a Pilot test waits for the app: a condition, polled, with a time limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_for(
    pilot,  # noqa: ANN001
    condition: Callable[[], object],
    timeout: float = 10.0,
    *,
    what: str = "the app",
) -> None:
    """Let the app run (workers and messages included) until ``condition()`` holds.

    Fails the test with ``what`` after ``timeout`` seconds instead of hanging it.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)
    await asyncio.sleep(0)
