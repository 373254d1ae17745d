"""``ukl-tui plan`` and ``ukl-tui initramfs`` through the real command line (subprocesses).

Hostile inputs must either be refused with one line and exit 2 (nothing written) or come out
as exactly one argv word: the printed lines and the reproducer script are parsed back and
run, and nothing a user typed may execute.
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.gitrepos import UklUpstream, clone_checkout, make_ukl_upstream
from tests.test_plan import PLAIN_TREE_STEPS
from ukl_tui.plan import Plan

CLI = [sys.executable, "-m", "ukl_tui.cli"]


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def refused(done: subprocess.CompletedProcess) -> str:
    """Exit 2 with exactly one line on stderr and nothing on stdout."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ukl-tui: "), done.stderr
    return lines[0]


@pytest.fixture
def checkout(upstream: UklUpstream, tmp_path: Path) -> Path:
    return clone_checkout(upstream, tmp_path / "ukl", init=True)


def printed_steps(stdout: str) -> list[list[str]]:
    """The shell lines of ``plan`` output (comments skipped), split like a shell would."""
    return [shlex.split(line) for line in stdout.splitlines() if not line.startswith("#")]


def test_plan_prints_valid_shell_that_matches_the_json(checkout):
    text = cli("plan", "--tree", str(checkout), "--app", "hello", "--jobs", "2")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"# ukl-tui plan for {checkout} (ukl checkout")
    assert subprocess.run(["bash", "-n"], input=text.stdout, text=True).returncode == 0
    data = json.loads(cli("plan", "--tree", str(checkout), "--jobs", "2", "--json").stdout)
    assert data["kind"] == "ukl" and data["tree"] == str(checkout)
    lines = printed_steps(text.stdout)
    assert len(lines) == len(data["steps"])
    for words, step in zip(lines, data["steps"], strict=True):
        env = [f"{k}={v}" for k, v in step["env"].items()]
        assert words == ["cd", step["cwd"], "&&", *env, *step["argv"]]
    assert [s["id"] for s in data["steps"]][-1] == "boot"


def test_save_load_and_override(checkout, tmp_path):
    plan_file = tmp_path / "session.toml"
    done = cli(
        "plan",
        "--tree",
        str(checkout),
        "--app",
        "memcached",
        "--configure",
        "enable-use-ret",
        "--configure",
        "with-ukl-trigger=/srv/app",
        "--forward",
        "18080:80",
        "--append",
        "loglevel=7",
        "--memory",
        "2048",
        "--set",
        "INET=y",
        "--save",
        str(plan_file),
    )
    assert done.returncode == 0, done.stderr
    assert f"plan saved to {plan_file}" in done.stdout
    plan = Plan.load(plan_file)
    assert plan.app == "memcached" and plan.configure.use_ret
    assert plan.configure.ukl_trigger == "/srv/app"
    assert [str(f) for f in plan.network.forwards] == ["18080:80"]
    assert plan.append == ("loglevel=7",) and plan.memory_mib == 2048
    assert plan.edits == {"INET": "y"}

    again = json.loads(cli("plan", "--plan", str(plan_file), "--cpus", "2", "--json").stdout)
    boot = next(s for s in again["steps"] if s["id"] == "boot")["argv"]
    assert boot[boot.index("-smp") + 1] == "2"
    assert boot[boot.index("-m") + 1] == "2048"
    netdev = boot[boot.index("-netdev") + 1]
    assert "hostfwd=tcp:127.0.0.1:18080-10.0.2.15:80" in netdev
    assert ":11211-10.0.2.15:11211" in netdev  # memcached's default forward, added
    configure = next(s for s in again["steps"] if s["id"] == "configure")["argv"]
    assert configure == [
        "./configure",
        "--with-program=memcached",
        "--with-ukl-trigger=/srv/app",
        "--enable-use-ret",
    ]
    # --save without a file writes back to the loaded one
    assert cli("plan", "--plan", str(plan_file), "--cpus", "3", "--save").returncode == 0
    assert Plan.load(plan_file).cpus == 3


def test_default_save_goes_into_the_checkout(checkout):
    done = cli("plan", "--tree", str(checkout), "--save")
    assert done.returncode == 0, done.stderr
    saved = checkout / "ukl-tui.toml"
    assert tomllib.loads(saved.read_text())["tree"] == "."


def test_script_is_executable_quoted_and_lints(checkout, tmp_path):
    script = tmp_path / "repro.sh"
    initrd = tmp_path / "odd initrd $(touch PWNED) `id` 'q'.img"
    initrd.write_bytes(gzip.compress(b"070701" + b"0" * 104))
    done = cli(
        "plan",
        "--tree",
        str(checkout),
        "--initrd",
        str(initrd),
        "--append",
        "ukl.note=$(reboot)",
        "--script",
        str(script),
    )
    assert done.returncode == 0, done.stderr
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    if shutil.which("shellcheck"):
        lint = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
    boot_line = next(ln for ln in text.splitlines() if "qemu-system-x86_64" in ln)
    words = shlex.split(boot_line)
    assert words[words.index("-initrd") + 1] == str(initrd)
    append = words[words.index("-append") + 1]
    assert append.split()[-2:] == [
        "ukl.note=$(reboot)",
        "ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off",
    ]
    assert not (tmp_path / "PWNED").exists()


def test_script_runs_and_tolerates_only_the_expected_failure(tmp_path):
    """A plan whose glibc stage fails keeps going; a failing later step stops the script."""
    upstream = make_ukl_upstream(tmp_path / "up", programs=["hello"])
    checkout = clone_checkout(upstream, tmp_path / "ukl", init=True)
    am = checkout / "Makefile.am"
    am.write_text(
        am.read_text()
        + "\nlibc.a:\n\t@echo 'iconv: error: expected'; exit 1\n"
        + "\nvmlinuz:\n\t@echo 'kernel build fails'; exit 3\n"
    )
    script = tmp_path / "repro.sh"
    done = cli("plan", "--tree", str(checkout), "--script", str(script), "--json")
    assert done.returncode == 0, done.stderr
    initrd = Path(json.loads(done.stdout)["initrd"])
    run = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert "failed as expected, continuing" in run.stderr
    assert "kernel build fails" in run.stdout
    assert run.returncode == 2  # make's status: stopped at the build ...
    assert not initrd.exists()  # ... before the initramfs and QEMU steps
    assert 'CONFIG_UKL_NAME="/UKL"' in (checkout / "linux" / ".config").read_text()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--append", "quiet; reboot"], "single word"),
        (["--append", "a\nb"], "control character"),
        (["--append", "x --"], "single word"),
        (["--init-arg", "$(touch PWNED) x"], "single word"),
        (["--ip", "10.0.2.15/40"], "bad guest address"),
        (["--ip", "10.0.2.300"], "bad guest address"),
        (["--ip", "192.168.122.128/24"], "bridge network"),
        (["--gateway", "10.9.9.9"], "outside the guest's subnet"),
        (["--forward", "0:80"], "forward"),
        (["--forward", "80:65536"], "forward"),
        (["--forward", "8080:80", "--forward", "8080:81"], "forwarded twice"),
        (["--forward", "8080:80,hostfwd=tcp::22-:22"], "forward"),
        (["--mac", "52:54:00:12:34:56,x=y"], "MAC"),
        (["--net", "tap", "--tap", "tap0,script=/tmp/x"], "tap name"),
        (["--app", "nosuchapp"], "no program 'nosuchapp'"),
        (["--ukl-a", "/nonexistent/UKL.a"], "does not exist"),
        (["--configure", "with-ukl-trigger=/U KL"], "trigger"),
        (["--configure", "enable-rocket"], "unknown option"),
        (["--configure", "with-program=x"], "--app"),
        (["--set", "NOSUCHSYMBOL=y"], "unknown symbol NOSUCHSYMBOL"),
        (["--set", "garbage"], "SYMBOL=VALUE"),
        (["--initrd", "/nonexistent.img"], "does not exist"),
        (["--build-dir", "/tmp/a b"], "build directory"),
        (["--save", "/nonexistent-dir/plan.toml"], "does not exist"),
        (["--script", "/nonexistent-dir/run.sh"], "does not exist"),
        (["--memory", "12"], "memory"),
        (["--preset", "no-such-preset"], "no-such-preset"),
        (["--overlay", "/etc/hostname"], "plain kernel trees"),
        (["--plan", "/nonexistent/plan.toml"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(checkout, tmp_path, args, fragment):
    save = tmp_path / "out.toml"
    script = tmp_path / "out.sh"
    extra = [] if "--save" in args or "--script" in args else ["--save", str(save)]
    extra += [] if "--script" in args else ["--script", str(script)]
    done = cli("plan", "--tree", str(checkout), *args, *extra, cwd=tmp_path)
    assert fragment in refused(done)
    assert not save.exists() and not script.exists()
    assert not (checkout / "ukl-tui.toml").exists()
    assert not (tmp_path / "PWNED").exists()


def test_missing_qemu_is_refused(checkout, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("git",):  # workspace inspection may use git; QEMU is not there
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    done = cli("plan", "--tree", str(checkout), env={"PATH": str(bindir)})
    assert "qemu-system-x86_64 not found" in refused(done)


def test_plan_file_errors_through_the_cli(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('tree = "/x"\n[boot]\nmemory_mib = "much"\n')
    message = refused(cli("plan", "--plan", str(bad)))
    assert str(bad) in message and "boot.memory_mib" in message


def test_a_path_save_target_that_is_a_directory(checkout, tmp_path):
    assert "is a directory" in refused(
        cli("plan", "--tree", str(checkout), "--save", str(tmp_path))
    )


def test_preset_network_with_hand_options_on_top(checkout, tmp_path):
    """--preset brings a network; --forward / --net are the user's and win, with a warning;
    the saved plan keeps only what the user chose, so the preset still fills in the rest.
    """
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    presets = tmp_path / "config" / "ukl-tui" / "presets"
    presets.mkdir(parents=True)
    (presets / "web.toml").write_text(
        'summary = "w"\n[network]\nforwards = ["18080:80"]\nnic = "virtio-net-pci"\n'
    )
    base = ["plan", "--tree", str(checkout), "--preset", "web", "--json"]

    def boot_argv(done: subprocess.CompletedProcess) -> list[str]:
        assert done.returncode == 0, done.stderr
        return next(s for s in json.loads(done.stdout)["steps"] if s["id"] == "boot")["argv"]

    argv = boot_argv(cli(*base, env=env))
    assert "user,id=net0,hostfwd=tcp:127.0.0.1:18080-10.0.2.15:80" in argv
    saved = tmp_path / "p.toml"
    done = cli(*base, "--forward", "19090:90", "--save", str(saved), env=env)
    argv = boot_argv(done)
    assert "user,id=net0,hostfwd=tcp:127.0.0.1:19090-10.0.2.15:90" in argv
    assert any(a.startswith("virtio-net-pci,") for a in argv)
    assert "network forwards: kept your 19090:90; web wants 18080:80" in done.stderr
    network = tomllib.loads(saved.read_text())["network"]
    assert network == {"forwards": ["19090:90"], "auto_forwards": True}
    done = cli(*base, "--net", "none", env=env)
    assert "-netdev" not in boot_argv(done)
    assert "network mode: kept your none; the network settings of web" in done.stderr
    assert "--forward '1:99999'" in refused(cli(*base, "--forward", "1:99999", env=env))
    # a preset with a bad network value: its file and line, exit 2, no plan file written
    bad = presets / "bad.toml"
    bad.write_text('summary = "b"\n[network]\nnic = "e1000"\naddress = "10.0.2.2/24"\n')
    target = tmp_path / "not-written.toml"
    line = refused(
        cli("plan", "--tree", str(checkout), "--preset", "bad", "--save", str(target), env=env)
    )
    assert line.startswith(f"ukl-tui: {bad}:2: [network]:") and "QEMU's gateway" in line
    assert not target.exists()


@pytest.mark.realtree
def test_plain_tree_plan_on_the_real_tree(real_tree, ukl_overlay, tmp_path):
    done = cli(
        "plan",
        "--tree",
        str(real_tree),
        "--overlay",
        str(ukl_overlay),
        "--preset",
        "qemu-smoke",
        "--preset",
        "ukl-base",
        "--base",
        "tinyconfig",
        "--build-dir",
        str(tmp_path / "build"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    ids = [s["id"] for s in data["steps"]]
    assert ids == list(PLAIN_TREE_STEPS)
    kconfig = data["steps"][1]["argv"]
    assert "--preset=qemu-smoke" in kconfig and "--base=tinyconfig" in kconfig
    assert not (tmp_path / "build").exists()
    # conflicting preset bases are caught when planning, not in the middle of a run
    message = refused(
        cli("plan", "--tree", str(real_tree), "--preset", "qemu-smoke", "--preset", "ukl-base")
    )
    assert "--base" in message


def test_initramfs_command_with_placeholder(tmp_path):
    if not Path("/bin/busybox").is_file():
        pytest.skip("busybox-static not installed")
    out = tmp_path / "sub" / "initrd.cpio.gz"
    done = cli("initramfs", "--out", str(out), "--trigger", "/srv/app", "--placeholder")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    archive = gzip.decompress(out.read_bytes())
    assert b"srv/app\x00" in archive
    assert b"did not start a UKL application" in archive
    assert b"TRIGGER=/srv/app" in archive
    bad = cli("initramfs", "--out", str(out), "--trigger", "/x;reboot")
    assert "trigger path" in refused(bad)


def test_error_conflicts_exit_1_but_still_print_and_save(checkout, tmp_path):
    save = tmp_path / "p.toml"
    done = cli(
        "plan",
        "--tree",
        str(checkout),
        "--configure",
        "enable-shortcuts",
        "--set",
        "INET=n",
        "--save",
        str(save),
    )
    assert done.returncode == 1, done.stderr
    assert "error    shortcut-inet:" in done.stderr and "fix: set INET=y" in done.stderr
    assert printed_steps(done.stdout) and save.is_file()
    data = json.loads(cli("plan", "--plan", str(save), "--json").stdout)
    assert [c["id"] for c in data["conflicts"] if c["severity"] == "error"] == ["shortcut-inet"]


def test_default_save_for_a_plain_tree_goes_beside_its_build(tmp_path):
    from tests.support.gitrepos import write_kernel_tree

    tree = write_kernel_tree(tmp_path / "linux")
    build = tmp_path / "builds" / "linux"
    done = cli("plan", "--tree", str(tree), "--build-dir", str(build), "--save")
    assert done.returncode == 0, done.stderr
    assert Plan.load(build / "ukl-tui.toml").tree == tree
    assert sorted(p.name for p in tree.iterdir()) == [
        "Kconfig",
        "Makefile",
        "arch",
        "init",
        "kernel",
    ]
