"""distcc and ccache in the plan: probed hosts, CC= and environment, -j, files, the CLI.

The hosts are real loopback sockets (one listening, one closed port), so the probe really
runs; the kernel build itself through distcc is tests/test_distcc_build.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.distccd import free_port
from tests.support.gitrepos import UklUpstream, clone_checkout, write_kernel_tree
from ukl_tui.errors import UserError
from ukl_tui.host import KvmStatus
from ukl_tui.plan import Plan, script_text
from ukl_tui.settled import check_argv, written_copy
from ukl_tui.steps import Step

#: distcc must be installed (.ci/setup does it): without it the plan refuses --distcc.
pytestmark = pytest.mark.timeout(300)

NO_KVM = KvmStatus(False, "the CPU flags show neither vmx nor svm")

#: ukl main's kernel targets (Makefile.am at 007415a0), added to the fixture checkout.
UKL_KERNEL_TARGETS = (
    "\nvmlinuz: linux/arch/x86/boot/bzImage\n\tcp $< $@\n\n"
    "linux/arch/x86/boot/bzImage: linux/.config UKL.a\n"
    "\t$(MAKE) -C $(srcdir)/linux olddefconfig O=$(abs_builddir)/linux\n"
    "\t$(MAKE) -C $(srcdir)/linux WERROR=0 O=$(abs_builddir)/linux\n"
)


def by_id(steps: list[Step]) -> dict[str, Step]:
    return {s.id: s for s in steps}


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    return write_kernel_tree(tmp_path / "linux-small")


@pytest.fixture
def ukl_checkout(upstream: UklUpstream, tmp_path: Path) -> Path:
    root = clone_checkout(upstream, tmp_path / "ukl", init=True)
    am = root / "Makefile.am"
    am.write_text(am.read_text() + UKL_KERNEL_TARGETS)
    return root


@pytest.fixture
def live() -> Iterator[int]:
    """A loopback port that accepts connections (what the probe asks of a daemon)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_plain_tree_through_ccache_and_the_hosts_that_answer(small_tree, tmp_path, live):
    dead = free_port()
    plan = Plan(
        tree=small_tree,
        build_dir=tmp_path / "out",
        ccache=True,
        distcc=f"127.0.0.1:{dead}/4 127.0.0.1:{live}/3 localhost/1",
    )
    built = plan.build(NO_KVM)
    steps = by_id(built.steps)
    env = {
        "DISTCC_HOSTS": f"127.0.0.1:{live}/3 localhost/1",
        "DISTCC_LOG": str(tmp_path / "out" / "distcc.log"),
        "CCACHE_PREFIX": "distcc",
    }
    for sid in ("olddefconfig", "bzImage"):
        assert "CC=ccache gcc" in steps[sid].argv
    assert {k: steps["bzImage"].env[k] for k in env} == env
    # olddefconfig's compiler probes go through distcc too, but stay out of the build's log
    assert dict(steps["olddefconfig"].env) == {k: v for k, v in env.items() if k != "DISTCC_LOG"}
    assert "-j4" in steps["bzImage"].argv  # distcc -j of the two that answered
    ids = [s.id for s in built.steps]
    assert ids[ids.index("olddefconfig") :][:4] == [
        "olddefconfig",
        "kconfig-check",
        "distcc-log",
        "bzImage",
    ]
    assert steps["distcc-log"].argv == ("truncate", "-s", "0", "--", env["DISTCC_LOG"])
    assert "through ccache and distcc (4 slots)" in steps["bzImage"].title
    assert f"distcc host 127.0.0.1:{dead} left out: connection refused" in built.warnings
    assert [p.ok for p in built.compiler.probes] == [False, True, True]
    # the reproducer carries the same environment
    script = script_text(built.steps)
    assert f"DISTCC_HOSTS='127.0.0.1:{live}/3 localhost/1'" in script
    assert "CCACHE_PREFIX=distcc" in script


def test_distcc_without_ccache_and_explicit_jobs(small_tree, tmp_path, live):
    plan = Plan(tree=small_tree, build_dir=tmp_path / "o", ccache=False, jobs=7)
    plan = replace(plan, distcc=f"127.0.0.1:{live}")
    steps = by_id(plan.build(NO_KVM).steps)
    assert (
        "CC=distcc gcc" in steps["bzImage"].argv and "CC=distcc gcc" in steps["olddefconfig"].argv
    )
    assert "CCACHE_PREFIX" not in steps["bzImage"].env
    assert "-j7" in steps["bzImage"].argv  # the user's -j wins over the slots


def test_no_host_answers_builds_locally_and_says_so(small_tree, tmp_path):
    dead = free_port()
    plan = Plan(tree=small_tree, build_dir=tmp_path / "o", ccache=False, jobs=2)
    built = replace(plan, distcc=f"127.0.0.1:{dead}").build(NO_KVM)
    steps = by_id(built.steps)
    assert not any(a.startswith("CC=") for a in steps["bzImage"].argv)
    assert "DISTCC_HOSTS" not in steps["bzImage"].env
    assert "no distcc host answered: the kernel builds locally" in built.warnings
    assert f"distcc host 127.0.0.1:{dead} left out: connection refused" in built.warnings


def test_unprobed_build_keeps_every_host(small_tree, tmp_path):
    hosts = f"127.0.0.1:{free_port()}/2 127.0.0.1:{free_port()}/2"
    plan = Plan(tree=small_tree, build_dir=tmp_path / "o", ccache=False, distcc=hosts)
    steps = by_id(plan.build(NO_KVM, probe_hosts=False).steps)
    assert steps["bzImage"].env["DISTCC_HOSTS"] == hosts and "-j4" in steps["bzImage"].argv


def test_bad_hosts_in_a_plan_are_one_line(small_tree, tmp_path):
    plan = Plan(tree=small_tree, build_dir=tmp_path / "o", distcc="a:70000")
    with pytest.raises(UserError, match=r"^--distcc: distcc host 'a:70000': port 70000"):
        plan.build(NO_KVM)


def test_plan_file_keeps_the_hosts_on_one_line(small_tree, tmp_path):
    plan = Plan(tree=small_tree, build_dir=tmp_path / "o", distcc="a/2 # first\nb:4000\n")
    assert plan.distcc == "a/2 b:4000"
    path = plan.save(tmp_path / "ukl-tui.toml")
    assert 'distcc = "a/2 b:4000"' in path.read_text()
    assert Plan.load(path).distcc == "a/2 b:4000"
    path.write_text(path.read_text().replace("b:4000", "b:0"))
    with pytest.raises(UserError, match=r"key 'distcc': distcc host 'b:0': port 0 is not"):
        Plan.load(path)


def test_ukl_checkout_kernel_goes_through_ccache_and_glibc_does_not(ukl_checkout, live):
    plan = Plan(tree=ukl_checkout, ccache=True, distcc=f"127.0.0.1:{live}/2", jobs=3)
    built = plan.build(NO_KVM)
    ids = [s.id for s in built.steps]
    assert ids[ids.index("kconfig") :] == [
        "kconfig",
        "kconfig-copy",
        "build",
        "kernel-config",
        "kconfig-check",
        "build-dir",
        "distcc-log",
        "kernel",
        "vmlinuz",
        "initramfs",
        "boot",
    ]
    steps = by_id(built.steps)
    # gcc, glibc and UKL.a: ukl's make with no CC= and no distcc or ccache environment
    assert steps["build"].argv == ("make", "-j3", "UKL.a") and not steps["build"].env
    assert "their own compilers" in steps["build"].title
    linux = str(ukl_checkout / "linux")
    assert steps["kernel-config"].argv == (
        "make",
        "-C",
        linux,
        f"O={linux}",
        "CC=ccache gcc",
        "olddefconfig",
    )
    assert steps["kernel"].argv == (
        "make",
        "-C",
        linux,
        f"O={linux}",
        "CC=ccache gcc",
        "WERROR=0",
        "-j3",
    )
    assert steps["kernel"].env["CCACHE_PREFIX"] == "distcc"
    assert "DISTCC_LOG" not in steps["kernel-config"].env
    assert steps["kernel-config"].env["DISTCC_HOSTS"] == f"127.0.0.1:{live}/2"
    log = Path(steps["kernel"].env["DISTCC_LOG"])
    assert not log.is_relative_to(ukl_checkout)  # the log (and ccache) live outside the clone
    assert steps["build-dir"].argv == ("mkdir", "-p", "--", str(log.parent))
    assert steps["distcc-log"].argv == ("truncate", "-s", "0", "--", str(log))
    assert steps["vmlinuz"].argv == ("make", "vmlinuz")
    # the settled linux/.config is checked right after the kernel's own olddefconfig
    dot = ukl_checkout / "linux" / ".config"
    assert steps["kconfig-copy"].argv == ("cp", "--", str(dot), str(written_copy(dot)))
    assert steps["kconfig-check"].argv == tuple(check_argv(ukl_checkout, dot, (), "ccache gcc"))
    assert "--cc=ccache gcc" in steps["kconfig"].argv  # Kconfig sees the kernel make's CC=


def test_ukl_checkout_without_wrapping_keeps_ukls_single_make(ukl_checkout):
    built = Plan(tree=ukl_checkout, ccache=False, jobs=2).build(NO_KVM)
    steps = by_id(built.steps)
    assert steps["build"].argv == ("make", "-j2", "vmlinuz")
    assert "kernel" not in steps
    assert not any(a.startswith("--cc") for a in steps["kconfig"].argv)  # ukl's make: gcc


def test_ukl_checkout_without_kernel_targets_warns(upstream, tmp_path):
    root = clone_checkout(upstream, tmp_path / "old", init=True)
    built = Plan(tree=root, ccache=True, jobs=2).build(NO_KVM)
    assert "kernel" not in by_id(built.steps)
    assert any("not through ccache" in w for w in built.warnings)


# ----- the commands ----------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ukl_tui.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("hosts", "fragment"),
    [
        ("host:0", "port 0 is not within 1-65535"),
        ("host:70000", "port 70000 is not within 1-65535"),
        ("host/0", "limit 0 is not within 1-1024"),
        ("host:port:extra", "port 'port:extra' is not a number"),
        ("bad_host!", "is malformed"),
    ],
)
def test_bad_hosts_exit_2_with_one_line(small_tree, tmp_path, hosts, fragment):
    out = tmp_path / "plan.toml"
    done = cli("plan", "--tree", str(small_tree), "--distcc", hosts, "--save", str(out))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and fragment in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def test_cli_hosts_from_the_environment_and_run_override(small_tree, tmp_path, live):
    out = tmp_path / "plan.toml"
    env = {"DISTCC_HOSTS": f"127.0.0.1:{live}/2", "HOME": str(tmp_path)}
    done = cli(
        "plan", "--tree", str(small_tree), "--build-dir", str(tmp_path / "b"), "--distcc",
        "--save", str(out), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"DISTCC_HOSTS=127.0.0.1:{live}/2" in done.stdout
    assert Plan.load(out).distcc == f"127.0.0.1:{live}/2"
    done = cli("plan", "--plan", str(out), "--json", env=env)
    assert done.returncode == 0, done.stderr
    probes = json.loads(done.stdout)["distcc"]
    assert probes == [{"host": f"127.0.0.1:{live}", "ok": True, "detail": "accepts connections"}]
    # no option, no host list anywhere: asking for distcc's own list is one line, exit 2
    done = cli("plan", "--tree", str(small_tree), "--distcc", env={"HOME": str(tmp_path)})
    assert done.returncode == 2 and "$DISTCC_HOSTS and" in done.stderr
    # run: --distcc needs a plan; bad hosts are refused before anything runs
    steps = tmp_path / "steps.json"
    steps.write_text("[]")
    done = cli("run", "--steps", str(steps), "--no-tui", "--distcc", "a")
    assert done.returncode == 2 and "--distcc and --no-distcc apply to --plan" in done.stderr
    done = cli("run", "--plan", str(out), "--no-tui", "--distcc", "a/0")
    assert done.returncode == 2 and "limit 0" in done.stderr and "Traceback" not in done.stderr


def test_a_new_plan_takes_distccs_own_list_when_the_option_is_absent(small_tree, tmp_path, live):
    """Neither --distcc nor --no-distcc: a new plan uses $DISTCC_HOSTS, else the hosts file,
    and says so; a saved plan keeps its own setting; no list anywhere means no distcc.
    """
    out = tmp_path / "plan.toml"
    base = ["plan", "--tree", str(small_tree), "--build-dir", str(tmp_path / "b")]
    distcc_dir = tmp_path / "distcc"
    distcc_dir.mkdir()
    (distcc_dir / "hosts").write_text(f"# the farm\n127.0.0.1:{live}/3\n")
    done = cli(*base, "--save", str(out), env={"DISTCC_DIR": str(distcc_dir)})
    assert done.returncode == 0, done.stderr
    assert f"hosts in {distcc_dir / 'hosts'}: 127.0.0.1:{live}/3" in done.stderr
    assert "--no-distcc compiles on this machine" in done.stderr
    assert Plan.load(out).distcc == f"127.0.0.1:{live}/3"
    # $DISTCC_HOSTS comes first, as for distcc itself
    env = {"DISTCC_DIR": str(distcc_dir), "DISTCC_HOSTS": f"127.0.0.1:{live}/2"}
    done = cli(*base, env=env)
    assert done.returncode == 0 and f"DISTCC_HOSTS=127.0.0.1:{live}/2" in done.stdout
    # --no-distcc wins, and a saved plan without distcc stays without it
    done = cli(*base, "--no-distcc", "--save", str(out), env=env)
    assert done.returncode == 0 and "DISTCC_HOSTS" not in done.stdout + done.stderr
    assert Plan.load(out).distcc is None
    done = cli("plan", "--plan", str(out), env=env)
    assert done.returncode == 0 and "DISTCC_HOSTS" not in done.stdout + done.stderr
    # nothing anywhere: a local build, no message
    done = cli(*base)
    assert done.returncode == 0 and "DISTCC" not in done.stdout
    assert "through distcc" not in done.stderr
    # a malformed list the user set is bad input, named with where it came from
    done = cli(*base, "--save", str(tmp_path / "p2.toml"), env={"DISTCC_HOSTS": "h:0"})
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "$DISTCC_HOSTS" in done.stderr and "port 0" in done.stderr
    assert not (tmp_path / "p2.toml").exists()


def test_the_wizards_new_plan_takes_distccs_own_list(small_tree, monkeypatch, live):
    from ukl_tui.session import Session

    session = Session()
    monkeypatch.setenv("DISTCC_HOSTS", f"127.0.0.1:{live}/2")
    session.choose_tree(small_tree, "picked")
    assert session.choices.distcc == f"127.0.0.1:{live}/2"
    monkeypatch.setenv("DISTCC_HOSTS", "h:0")  # malformed: left out, the field starts empty
    session = Session()
    session.choose_tree(small_tree, "picked")
    assert session.choices.distcc is None


def test_distcc_asked_for_but_not_installed(small_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    plan = Plan(tree=small_tree, build_dir=tmp_path / "o", ccache=False, distcc="127.0.0.1")
    with pytest.raises(UserError, match=r"^distcc hosts were given but distcc is not installed"):
        plan.build(NO_KVM)


@pytest.mark.realtree
@pytest.mark.parametrize("ccache", [False, True], ids=["distcc-gcc", "ccache-distcc"])
def test_the_kconfig_steps_see_the_builds_cc_and_the_settled_check_passes(
    real_tree, ukl_overlay, tmp_path, ccache
):
    """``distcc gcc --version`` names the compiler x86_64-linux-gnu-gcc: the kernel's
    olddefconfig writes that as CC_VERSION_TEXT, so ukl-tui's Kconfig step must parse with
    the build's CC= too, or the settled check stops every distcc build without ccache.
    """
    from tests.support.distccd import daemons

    with daemons(tmp_path, 1) as (daemon,):
        plan = Plan(
            tree=real_tree,
            overlays=(ukl_overlay,),
            presets=("qemu-smoke", "ukl-base"),
            base="tinyconfig",
            build_dir=tmp_path / "b",
            ccache=ccache,
            distcc=daemon.host,
        )
        steps = plan.build(NO_KVM, check_ports=False).steps
        cc = "ccache gcc" if ccache else "distcc gcc"
        for step in steps:
            if step.id in ("kconfig", "kconfig-check"):
                assert f"--cc={cc}" in step.argv
            if step.kind not in ("prep",) or step.id == "distcc-log":
                continue
            done = subprocess.run(
                list(step.argv),
                cwd=step.cwd,
                env={**os.environ, **step.env},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"{step.id}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    version = subprocess.run(
        [*cc.split(), "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "DISTCC_HOSTS": "localhost"},
    ).stdout.splitlines()[0]
    settled = (tmp_path / "b" / ".config").read_text()
    assert f'CONFIG_CC_VERSION_TEXT="{version}"' in settled
    assert ("x86_64-linux-gnu-gcc" in version) == (not ccache)
