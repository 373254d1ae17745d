"""Cost of diagnosing a failed step on a 200,000-line log.

Usage: python bench/bench_diagnose.py [LINES]   (default 200,000)

The log is a kernel build in Kbuild's quiet form (``  CC      path/file.o`` for the tree's real
source files when $UKL_TUI_TEST_TREE is set, invented paths otherwise) with a real failure
from tests/fixtures/logs/ spliced in: at the end (the usual place, and the worst case: every
cause's needle is searched through the whole text), near the start, and not at all (the
fallback reads the log's tail). A boot log of the same length ends in a real panic.
Figures are one machine's: the best and median wall time of 5 runs of ``diagnose()`` and the
best CPU time (on a loaded machine the wall time mostly measures the wait for a core).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ukl_tui.diagnose import StepContext, diagnose

LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
LOGS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "logs"
REPEAT = 5


def kbuild_lines(count: int) -> list[str]:
    """Quiet Kbuild object lines, cycling over the tree's C files (or invented names)."""
    tree = os.environ.get("UKL_TUI_TEST_TREE")
    sources: list[str] = []
    if tree and Path(tree).is_dir():
        for path in Path(tree).glob("[a-k]*/**/*.c"):
            sources.append(str(path.relative_to(tree))[:-2] + ".o")
            if len(sources) >= 20_000:
                break
    if not sources:
        sources = [f"drivers/sub{i % 97}/file{i}.o" for i in range(20_000)]
    return [f"  CC      {sources[i % len(sources)]}" for i in range(count)]


def timed(log: Path, ctx: StepContext) -> tuple[float, float, float, str]:
    """Best and median wall time, best CPU time (less disturbed by a loaded machine)."""
    runs, cpu = [], []
    for _ in range(REPEAT):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = diagnose(log, ctx)
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(runs), statistics.median(runs), min(cpu), result.cause_id


def main() -> None:
    body = kbuild_lines(LINES)
    failure = (LOGS / "make-compile-error.log").read_text().splitlines()
    panic = (LOGS / "boot-no-working-init.log").read_text(errors="replace").splitlines()
    build = StepContext("kernel", "build", ("make",), "/tmp", 2)
    boot = StepContext(
        "boot", "boot", ("qemu-system-x86_64", "-append", "console=ttyS0"), "/", None, "fatal"
    )
    cases = {
        "build, failure at the end": (body[: LINES - len(failure)] + failure, build),
        "build, failure near the start": (body[:100] + failure + body[100 + len(failure) :], build),
        "build, no known cause (fallback)": (body, build),
        "boot, panic at the end": (
            [f"[{i / 1000:12.6f}] random: noise line {i}" for i in range(LINES - len(panic))]
            + panic,
            boot,
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{LINES:,} lines a log; {os.cpu_count()} CPUs, load average {load}")
        for name, (lines, ctx) in cases.items():
            log = Path(tmp) / "step.log"
            log.write_text("\n".join(lines) + "\n")
            size = log.stat().st_size / 1e6
            best, median, cpu, cause = timed(log, ctx)
            print(
                f"  {name:34s} {size:5.1f} MB  best {best * 1000:6.1f} ms"
                f"  median {median * 1000:6.1f} ms  cpu {cpu * 1000:6.1f} ms  -> {cause}"
            )


if __name__ == "__main__":
    main()
