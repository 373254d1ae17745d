"""The runner with real processes: make builds, process groups, logs, batching, cleaning."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from pathlib import Path

import pytest

from tests.support.boot_fixtures import alive, live_group
from ukl_tui.errors import UserError
from ukl_tui.runner import (
    Milestone,
    OutputLines,
    Problem,
    Progress,
    RunFinished,
    Runner,
    StepFinished,
    StepStarted,
    event_as_dict,
    probe_tcp,
)
from ukl_tui.steps import Step

PY = sys.executable


def step(sid: str, argv, cwd: Path, kind: str = "build", timeout: float | None = 60, **kw) -> Step:
    return Step(
        id=sid, title=sid, argv=tuple(argv), cwd=str(cwd), env={}, kind=kind, timeout=timeout, **kw
    )


def py_step(sid: str, code: str, cwd: Path, **kw) -> Step:
    return step(sid, [PY, "-c", code], cwd, **kw)


class Collector:
    def __init__(self) -> None:
        self.events: list = []

    def __call__(self, event) -> None:
        self.events.append(event)

    def of(self, kind, step_id: str | None = None) -> list:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (step_id is None or getattr(e, "step_id", None) == step_id)
        ]

    def lines(self, step_id: str) -> list[str]:
        return [line for e in self.of(OutputLines, step_id) for line in e.lines]

    def finished(self, step_id: str) -> StepFinished:
        (event,) = self.of(StepFinished, step_id)
        return event


async def run(steps, log_dir: Path, **kw) -> tuple[str, Collector, Runner]:
    events = Collector()
    runner = Runner(steps, log_dir, events, **kw)
    status = await asyncio.wait_for(runner.run(), timeout=60)
    return status, events, runner


# --- a real make project ---------------------------------------------------------------------

MAKEFILE = """\
OBJS = a.o b.o c.o
prog: $(OBJS)
\t@echo '  LD      $@'
\t@$(CC) -o $@ $(OBJS)
%.o: %.c
\t@echo '  CC      $@'
\t@$(CC) -c -o $@ $<
clean:
\trm -f prog $(OBJS)
"""


def make_project(root: Path, broken: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Makefile").write_text(MAKEFILE)
    (root / "a.c").write_text("int b(void);\nint c(void);\nint main(void) { return b() + c(); }\n")
    (root / "b.c").write_text("int b(void) { return 0; }\n")
    body = "int c(void) {\n  return 0\n}\n" if broken else "int c(void) { return 0; }\n"
    (root / "c.c").write_text(body)
    return root


async def test_make_build_succeeds_with_progress(tmp_path):
    proj = make_project(tmp_path / "proj")
    runs = tmp_path / "runs"
    status, ev, _ = await run([step("build", ["make", "-j2"], proj)], runs / "1")
    assert status == "ok"
    assert (proj / "prog").is_file()
    progress = ev.of(Progress, "build")
    assert progress[-1].done == 4  # three CC lines and the LD line
    assert all(p.total is None for p in progress)  # no earlier run to estimate from
    assert ev.finished("build").status == "ok" and ev.finished("build").returncode == 0
    summary = json.loads((runs / "1" / "summary.json").read_text())
    assert summary["steps"][0]["objects"] == 4

    # A second run in a sibling directory takes its total from the first run's summary.
    subprocess_clean = step("clean", ["make", "clean"], proj, kind="prep")
    status, ev2, _ = await run([subprocess_clean, step("build", ["make"], proj)], runs / "2")
    assert status == "ok"
    assert ev2.of(Progress, "build")[-1] == Progress("build", 4, 4)
    assert not ev2.of(Progress, "clean")  # only build steps count objects


async def test_failing_build_stops_the_chain(tmp_path):
    proj = make_project(tmp_path / "proj", broken=True)
    steps = [
        step("build", ["make"], proj),
        step("after", ["touch", str(tmp_path / "ran")], tmp_path, kind="prep"),
    ]
    status, ev, runner = await run(steps, tmp_path / "log")
    assert status == "failed"
    assert ev.finished("build").status == "failed"
    assert ev.finished("build").returncode not in (0, None)
    assert not ev.of(StepStarted, "after") and not (tmp_path / "ran").exists()
    assert ev.events[-1] == RunFinished("failed", str(tmp_path / "log" / "summary.json"), "build")

    log = (tmp_path / "log" / "01-build.log").read_text().splitlines()
    errors = [p for p in ev.of(Problem, "build") if p.severity == "error"]
    gcc_error = next(p for p in errors if "c.c:2" in p.text)
    assert "error:" in gcc_error.text
    assert log[gcc_error.line_no - 1] == gcc_error.text  # line numbers point into the log
    assert any("Error 1" in p.text for p in errors)  # make's own line

    summary = json.loads((tmp_path / "log" / "summary.json").read_text())
    assert summary["status"] == "failed"
    by_id = {s["id"]: s for s in summary["steps"]}
    assert by_id["after"]["status"] == "not-run"
    assert by_id["build"]["status"] == "failed"
    assert any("c.c:2" in e for e in summary["errors"])
    assert not (tmp_path / "log" / "02-after.log").exists()


async def test_expected_failure_is_labelled_and_does_not_stop(tmp_path):
    note = "glibc's first make fails in iconv; ukl continues past it"
    steps = [
        py_step(
            "glibc",
            "print('iconv_open.c:1: error: boom'); raise SystemExit(2)",
            tmp_path,
            expected_failure_note=note,
        ),
        py_step("next", "print('carried on')", tmp_path),
    ]
    status, ev, _ = await run(steps, tmp_path / "log")
    assert status == "ok"
    (problem,) = ev.of(Problem, "glibc")
    assert problem.severity == "expected" and problem.hint == note
    assert ev.lines("next") == ["carried on"]
    summary = json.loads((tmp_path / "log" / "summary.json").read_text())
    assert summary["steps"][0]["expected_failure"] is True


async def test_missing_program_and_directory(tmp_path):
    status, ev, _ = await run([step("x", ["ukl-no-such-program"], tmp_path)], tmp_path / "a")
    assert status == "failed"
    assert "cannot start ukl-no-such-program" in ev.of(Problem)[0].text
    status, ev, _ = await run([step("y", ["true"], tmp_path / "nope")], tmp_path / "b")
    assert status == "failed" and "does not exist" in ev.of(Problem)[0].text


# --- process groups: cancel and timeout --------------------------------------------------------

GRANDCHILD = "sleep 300 & echo child=$!; sh -c 'trap \"\" TERM; sleep 300' & echo stubborn=$!; wait"


async def test_cancel_kills_the_whole_group(tmp_path):
    events = Collector()
    runner = Runner(
        [step("spawn", ["sh", "-c", GRANDCHILD], tmp_path)], tmp_path / "log", events, kill_grace=1
    )
    task = asyncio.ensure_future(runner.run())
    while len([ln for ln in events.lines("spawn")]) < 2:
        await asyncio.sleep(0.05)
    pids = dict(line.split("=") for line in events.lines("spawn"))
    child, stubborn = int(pids["child"]), int(pids["stubborn"])
    (started,) = events.of(StepStarted)
    assert alive(child) and alive(stubborn)
    leader = runner._current.pgid
    assert set(live_group(leader)) >= {leader, child, stubborn}

    # cancel() from another thread, as a UI thread or signal handler would.
    threading.Thread(target=runner.cancel).start()
    status = await asyncio.wait_for(task, 30)
    assert status == "cancelled"
    assert events.finished("spawn").status == "cancelled"
    # The stubborn grandchild ignores SIGTERM: only the SIGKILL after the grace period ends it.
    assert not alive(child) and not alive(stubborn) and not alive(leader)
    assert live_group(leader) == []
    assert started.log_path.endswith("01-spawn.log")


async def test_timeout_kills_and_reports(tmp_path):
    steps = [
        step("slow", ["sh", "-c", "sleep 300 & echo child=$!; wait"], tmp_path, timeout=1),
        step("later", ["true"], tmp_path),
    ]
    status, ev, runner = await run(steps, tmp_path / "log")
    assert status == "timeout"
    assert runner.summary()["steps"][0]["stopped_because"] == "timeout"
    finished = ev.finished("slow")
    assert finished.status == "timeout" and finished.returncode == -15
    assert not ev.of(StepStarted, "later")
    child = int(ev.lines("slow")[0].split("=")[1])
    assert not alive(child)


async def test_leftover_background_children_are_reaped(tmp_path):
    """A step that exits but leaves a child holding its output pipe still ends, child killed."""
    status, ev, _ = await run(
        [step("bg", ["sh", "-c", "sleep 300 & echo child=$!"], tmp_path)], tmp_path / "log"
    )
    assert status == "ok"
    child = int(ev.lines("bg")[0].split("=")[1])
    assert not alive(child)


async def test_cancel_while_the_process_starts_is_not_lost(tmp_path):
    events = Collector()
    runner = Runner([step("s", ["sleep", "30"], tmp_path)], tmp_path / "log", events)

    def on_event(event):
        events(event)
        if isinstance(event, StepStarted):
            runner.cancel()  # before the process exists

    runner.on_event = on_event
    assert await asyncio.wait_for(runner.run(), 20) == "cancelled"
    assert events.finished("s").status == "cancelled"
    assert events.finished("s").returncode == -15  # the sleep was stopped, not waited for


async def test_cancel_before_start_runs_nothing(tmp_path):
    runner = Runner([step("a", ["true"], tmp_path)], tmp_path / "log")
    runner.cancel()
    assert await runner.run() == "cancelled"
    assert not (tmp_path / "log" / "01-a.log").exists()


# --- logs, summary, batching, cleaning ----------------------------------------------------------

RAW = (
    b"plain\r\n"
    b"\x1b[0;32mgreen\x1b[0m text\r\n"
    b"\x1bc\x1b[?7l\x1b[2J\x1b[HLinux version 6.1\r\n"
    b"progress 10%\rprogress 50%\rprogress 100%\n"
    b"\x1b]0;title\x07bell\x07 and tab\tkept\n"
    b"caf\xc3\xa9 \xff end\n"
    b"no newline at the end"
)


async def test_logs_are_raw_and_lines_are_clean(tmp_path):
    code = f"import sys; sys.stdout.buffer.write({RAW!r})"
    status, ev, runner = await run([py_step("out", code, tmp_path)], tmp_path / "log")
    assert status == "ok"
    assert (tmp_path / "log" / "01-out.log").read_bytes() == RAW
    assert ev.lines("out") == [
        "plain",
        "\x1b[0;32mgreen\x1b[0m text",
        "Linux version 6.1",
        "progress 100%",
        "bell and tab\tkept",
        "café \ufffd end",
        "no newline at the end",
    ]
    summary = json.loads(runner.summary_path.read_text())
    entry = summary["steps"][0]
    assert entry["argv"] == [PY, "-c", code]
    assert entry["cwd"] == str(tmp_path) and entry["returncode"] == 0
    assert entry["log"] == "01-out.log" and entry["lines"] == 7
    assert entry["duration"] > 0 and summary["status"] == "ok"


async def test_lines_are_batched(tmp_path):
    """A flood is delivered in batches of ``batch_lines`` (the timer is out of the way here)."""
    code = "import sys\nfor i in range(20000): print(f'line {i}')"
    status, ev, _ = await run(
        [py_step("flood", code, tmp_path)], tmp_path / "log", batch_lines=1000, batch_interval=3600
    )
    assert status == "ok"
    batches = ev.of(OutputLines, "flood")
    lines = [line for b in batches for line in b.lines]
    assert lines == [f"line {i}" for i in range(20000)]
    assert len(batches) <= 20  # never one per line: only full batches, and the rest at the end
    assert all(len(b.lines) >= 1000 for b in batches[:-1])
    assert max(len(b.lines) for b in batches) <= 1000 + 4096  # one read's worth past the cap


async def test_slow_output_arrives_while_the_step_runs(tmp_path):
    """A line short of a full batch is delivered by the timer while the step still runs."""
    code = "import sys\nprint(0, flush=True)\nsys.stdin.readline()\nprint(1)"
    events = Collector()
    slow = py_step("slow", code, tmp_path, kind="boot", interactive=True)
    runner = Runner([slow], tmp_path / "log", events)
    task = asyncio.ensure_future(runner.run())
    while not events.lines("slow"):
        await asyncio.sleep(0.01)
    assert not task.done()  # the step waits for input: the line came by the timer
    assert events.lines("slow") == ["0"]
    assert runner.send_input("go on")
    await asyncio.wait_for(task, 30)
    assert events.lines("slow") == ["0", "1"]


async def test_partial_prompt_and_console_input(tmp_path):
    events = Collector()
    code = (
        "import sys\n"
        "sys.stdout.write('prompt> '); sys.stdout.flush()\n"
        "line = sys.stdin.readline()\n"
        "print('got', line.strip()); print('UKL BOOTED', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    boot = py_step("console", code, tmp_path, kind="boot", interactive=True)
    runner = Runner([boot], tmp_path / "log", events)
    task = asyncio.ensure_future(runner.run())
    while not any(e.partial == "prompt> " for e in events.of(OutputLines)):
        await asyncio.sleep(0.01)
    assert runner.send_input("hello")
    while "UKL BOOTED" not in events.lines("console"):
        await asyncio.sleep(0.01)
    assert "prompt> got hello" in events.lines("console")
    assert runner.send_input("bye")
    assert await asyncio.wait_for(task, 30) == "ok"
    assert not runner.send_input("too late")


async def test_send_input_needs_an_interactive_step(tmp_path):
    events = Collector()
    runner = Runner([step("s", ["sleep", "5"], tmp_path)], tmp_path / "log", events)
    task = asyncio.ensure_future(runner.run())
    while not events.of(StepStarted):
        await asyncio.sleep(0.01)
    assert runner.send_input("x") is False
    runner.cancel()
    assert await task == "cancelled"


# --- boot steps: milestones, failures, watchdog ----------------------------------------------

FAKE_BOOT = (
    "import sys, time\n"
    "w = lambda s: (sys.stdout.write(s + '\\r\\n'), sys.stdout.flush())\n"
    "w('\\x1bc[    0.000000] Linux version 6.3.0-ukl')\n"
    "w('[    0.100000] Clearing SMEP for 0')\n"
    "w('[    0.100001] Clearing SMAP for 0')\n"
    "w('[    2.000000] Run /init as init process')\n"
    "w('UKL BOOTED')\n"
    "w('hello, from the UKL world')\n"
    "{tail}"
)


async def test_boot_milestones_in_order_and_stop_on_success(tmp_path):
    code = FAKE_BOOT.format(tail="time.sleep(300)\n")
    boot = py_step(
        "boot",
        code,
        tmp_path,
        kind="boot",
        interactive=True,
        success_markers=("UKL BOOTED", "hello, from the UKL world"),
    )
    status, ev, _ = await run([boot], tmp_path / "log", stop_boot_on_success=True)
    assert status == "ok"
    keys = [m.key for m in ev.of(Milestone, "boot")]
    assert keys == [
        "Linux version",
        "Clearing SMEP",
        "Clearing SMAP",
        "Run /init",
        "UKL BOOTED",
        "hello, from the UKL world",
    ]
    elapsed = [m.elapsed for m in ev.of(Milestone, "boot")]
    assert elapsed == sorted(elapsed)
    assert ev.finished("boot").status == "ok" and ev.finished("boot").returncode == -15


async def test_kernel_panic_fails_the_boot_with_a_hint(tmp_path):
    tail = (
        "w('[    2.1] Kernel panic - not syncing: VFS: '\n"
        "  'Unable to mount root fs on unknown-block(0,0)')\n"
        "time.sleep(300)\n"
    )
    boot = py_step("boot", FAKE_BOOT.format(tail=tail), tmp_path, kind="boot", timeout=60)
    status, ev, runner = await run([boot], tmp_path / "log", panic_grace=0.2)
    assert status == "failed"
    # Stopped after the panic (not at the step's timeout): the runner says why it stopped it.
    assert runner.summary()["steps"][0]["stopped_because"] == "fatal"
    (problem,) = ev.of(Problem, "boot")
    assert problem.severity == "error" and "#38" in problem.hint
    assert problem.line_no == 7


async def test_page_fault_is_reported_with_smap_hint(tmp_path):
    tail = "w('BUG: unable to handle page fault for address: 00007ffd')\n"
    boot = py_step("boot", FAKE_BOOT.format(tail=tail), tmp_path, kind="boot")
    status, ev, _ = await run([boot], tmp_path / "log")
    assert status == "failed"
    (problem,) = ev.of(Problem, "boot")
    assert "SMAP" in problem.hint and "#30" in problem.hint


async def test_boot_that_exits_without_its_marker_fails(tmp_path):
    boot = py_step(
        "boot", "print('Linux version x')", tmp_path, kind="boot", success_markers=("UKL BOOTED",)
    )
    status, ev, _ = await run([boot], tmp_path / "log")
    assert status == "failed"
    assert "UKL BOOTED" in ev.of(Problem, "boot")[-1].text


async def test_silent_boot_watchdog(tmp_path):
    boot = step("boot", ["sleep", "300"], tmp_path, kind="boot", success_markers=("UKL BOOTED",))
    status, ev, runner = await run([boot], tmp_path / "log", boot_silence=0.5, kill_on_silence=True)
    assert status == "timeout"
    assert runner.summary()["steps"][0]["stopped_because"] == "silent"
    (problem,) = ev.of(Problem, "boot")
    assert problem.text == "silent for 0.5 s"


# --- events as an async iterator, broken callbacks, throughput -------------------------------


async def test_async_iterator_yields_the_same_events(tmp_path):
    runner = Runner([py_step("a", "print('x')", tmp_path)], tmp_path / "log")
    seen = [type(e).__name__ async for e in runner.events()]
    assert seen[0] == "StepStarted" and seen[-1] == "RunFinished"
    assert "OutputLines" in seen and "StepFinished" in seen


def test_step_ids_must_be_unique(tmp_path):
    with pytest.raises(UserError, match="unique"):
        Runner([step("a", ["true"], tmp_path), step("a", ["false"], tmp_path)], tmp_path / "l")


async def test_events_serialise_for_json_output(tmp_path):
    status, ev, _ = await run([py_step("a", "print('x')", tmp_path)], tmp_path / "log")
    rows = [json.loads(json.dumps(event_as_dict(e))) for e in ev.events]
    assert [r["event"] for r in rows][0] == "StepStarted"
    assert rows[-1] == {
        "event": "RunFinished",
        "status": "ok",
        "summary_path": str(tmp_path / "log" / "summary.json"),
        "failed_step": None,
    }


async def test_a_broken_callback_does_not_break_the_run(tmp_path):
    def bad(event):
        raise RuntimeError("display gone")

    runner = Runner([py_step("a", "print('x')", tmp_path)], tmp_path / "log", bad)
    assert await runner.run() == "ok"
    assert runner.errors and "display gone" in runner.errors[0]


async def test_a_flood_is_delivered_whole(tmp_path):
    """Every line of a 200,000-line build arrives and counts (throughput: bench/bench_run.py)."""
    n = 200_000
    code = (
        "import sys\n"
        "w = sys.stdout.write\n"
        f"for i in range({n}): w(f'  CC      drivers/some/dir/file{{i}}.o\\n')\n"
    )
    count = 0

    def on_event(event):
        nonlocal count
        if isinstance(event, OutputLines):
            count += len(event.lines)

    runner = Runner([py_step("flood", code, tmp_path)], tmp_path / "log", on_event)
    assert await asyncio.wait_for(runner.run(), 100) == "ok"
    assert count == n
    assert json.loads(runner.summary_path.read_text())["steps"][0]["objects"] == n


# --- port probe -------------------------------------------------------------------------------


async def test_probe_tcp(tmp_path):
    async def hold(reader, writer):
        await asyncio.sleep(2)
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    assert await probe_tcp("127.0.0.1", port, timeout=3)
    server.close()
    await server.wait_closed()

    # Accepting and closing at once is what QEMU's forward does with no guest server.
    async def slam(reader, writer):
        writer.close()

    slammer = await asyncio.start_server(slam, "127.0.0.1", 0)
    port = slammer.sockets[0].getsockname()[1]
    assert not await probe_tcp("127.0.0.1", port, timeout=1.5)
    slammer.close()
    await slammer.wait_closed()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert not await probe_tcp("127.0.0.1", free, timeout=0.5)


# --- steps: the contract --------------------------------------------------------------------------


def test_step_round_trip_and_shell_line(tmp_path):
    s = Step(
        id="kernel",
        title="Build the kernel",
        argv=("make", "-C", "/src/linux", "O=/b d", "WERROR=0"),
        cwd="/work/ukl",
        env={"KCFLAGS": "-O2 -g"},
        kind="build",
        timeout=None,
        success_markers=(),
        expected_failure_note="",
    )
    data = s.to_dict()
    assert "timeout" not in data  # TOML has no null
    json.dumps(data)
    assert Step.from_dict(data) == s
    assert hash(Step.from_dict(data)) == hash(s)
    assert s.shell_line() == (
        "cd /work/ukl && KCFLAGS='-O2 -g' make -C /src/linux 'O=/b d' WERROR=0"
    )
    assert s.shell_line(base="/work/ukl/").startswith("KCFLAGS=")
    with pytest.raises(TypeError):
        s.env["X"] = "1"  # the step is immutable, env too


@pytest.mark.parametrize(
    "data",
    [
        {"id": "a b", "argv": ["x"], "cwd": "/", "kind": "build"},
        {"id": "a", "argv": "make -j2", "cwd": "/", "kind": "build"},
        {"id": "a", "argv": [], "cwd": "/", "kind": "build"},
        {"id": "a", "argv": ["x"], "cwd": "/", "kind": "deploy"},
        {"id": "a", "argv": ["x"], "cwd": "/", "kind": "build", "env": {"A B": "1"}},
        {"id": "a", "argv": ["x"], "cwd": "/", "kind": "build", "timeout": -1},
        {"id": "a", "argv": ["x"], "cwd": "/", "kind": "build", "shell": True},
        {"id": "a", "argv": ["x"], "kind": "build"},
    ],
)
def test_step_from_dict_rejects_bad_data(data):
    with pytest.raises(UserError):
        Step.from_dict(data)
