"""Plan: TOML round trip, file errors, steps for both workspace kinds, bad input.

The ukl checkouts are real git repositories from ``tests/support/gitrepos.py``; their
autoreconf, configure, ``make linux/.config`` and ``ukl-tui apply`` steps really run. The
plain-tree tests use Debian's linux-source-6.1 with the UKL stand-in overlay.
"""

from __future__ import annotations

import gzip
import lzma
import os
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.gitrepos import (
    UklUpstream,
    allow_file_protocol,
    clone_checkout,
    write_kernel_tree,
)
from ukl_tui.apps import ConfigureOptions
from ukl_tui.boot import NetworkSpec, parse_forward
from ukl_tui.errors import UserError
from ukl_tui.host import KvmStatus
from ukl_tui.plan import (
    GLIBC_NOTE,
    Plan,
    configured_app,
    default_build_dir,
    default_plan_path,
    dumps_toml,
)
from ukl_tui.run_session import RunJob
from ukl_tui.steps import Step

NO_KVM = KvmStatus(False, "the CPU flags show neither vmx nor svm")
KVM = KvmStatus(True, "/dev/kvm works and the CPU has vmx")
HAVE_AUTOTOOLS = all(shutil.which(t) for t in ("autoreconf", "automake", "make", "gcc"))


def one_line_error(fn, *args, **kw) -> str:
    with pytest.raises(UserError) as info:
        fn(*args, **kw)
    message = str(info.value)
    assert message and "\n" not in message
    return message


def run_step(step: Step, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a step the way the runner does: argv, no shell, cwd, env added to ours."""
    env = {**os.environ, **(extra_env or {}), **step.env}
    return subprocess.run(
        list(step.argv), cwd=step.cwd, env=env, capture_output=True, text=True, timeout=900
    )


#: The steps of a plan on a plain kernel tree with an initramfs, in order.
PLAIN_TREE_STEPS = (
    "build-dir",
    "kconfig",
    "kconfig-copy",
    "olddefconfig",
    "kconfig-check",
    "bzImage",
    "initramfs",
    "boot",
)


def by_id(steps: list[Step]) -> dict[str, Step]:
    return {s.id: s for s in steps}


# ------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def ready_checkout(upstream: UklUpstream, tmp_path: Path) -> Path:
    """A clone with its submodules checked out (linux/ is a kernel tree)."""
    return clone_checkout(upstream, tmp_path / "ukl-ready", init=True)


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    """A kernel-shaped tree (not a git repository) with the UKL symbols."""
    return write_kernel_tree(tmp_path / "linux-small")


def ar_archive(path: Path, symbol: str = "ukl_main") -> Path:
    """A real ar archive with a symbol index, made by gcc and ar."""
    src = path.parent / "app.c"
    obj = path.parent / "app.o"
    src.write_text(f"int {symbol}(void) {{ return 0; }}\n")
    subprocess.run(["gcc", "-c", str(src), "-o", str(obj)], check=True)
    subprocess.run(["ar", "crs", str(path), str(obj)], check=True)
    return path


# ------------------------------------------------------------------------------------------
# TOML round trip


def rich_plan(tree: Path, tmp_path: Path) -> Plan:
    overlay = tmp_path / "Kconfig.extra"
    overlay.write_text("")
    return Plan(
        tree=tree,
        overlays=(overlay,),
        base="tinyconfig",
        presets=("qemu-smoke", "ukl-base"),
        edits={"LOCALVERSION": '-a "quoted" \\ back$(id);`x`', "NR_CPUS": "4", "E1000": "y"},
        ukl_a=tmp_path / "my UKL.a",
        configure=ConfigureOptions(ukl_trigger="/bin/app", use_ret=True, event_system="iouring"),
        network=NetworkSpec(
            mode="user",
            forwards=(parse_forward("8080:80"), parse_forward("5353:53/udp")),
            address_via="init",
            mac="52:54:00:aa:bb:cc",
        ),
        auto_forwards=False,
        memory_mib=2048,
        cpus=2,
        append=("loglevel=7", "quiet"),
        init_args=("--verbose",),
        initrd="minimal",
        accel="tcg",
        build_dir=tmp_path / "out dir",
        jobs=3,
        ccache=False,
    )


def test_round_trip_keeps_every_field(tmp_path):
    plan = rich_plan(tmp_path / "tree", tmp_path)
    path = plan.save(tmp_path / "saved.toml")
    assert path == tmp_path / "saved.toml"
    loaded = Plan.load(path)
    assert loaded == plan
    assert loaded.source == path
    # the file is real TOML that tomllib reads on its own
    data = tomllib.loads(path.read_text())
    assert data["edits"]["LOCALVERSION"] == '-a "quoted" \\ back$(id);`x`'
    assert data["boot"]["memory_mib"] == 2048


def test_round_trip_of_defaults_and_tap_and_none_networks(tmp_path):
    for network in (
        NetworkSpec(),
        NetworkSpec.tap_on_bridge(tap="tap7"),
        NetworkSpec(mode="none", address=None, gateway=None),
        NetworkSpec(mode="user", address_via="none", address=None, gateway=None),
    ):
        plan = Plan(tree=tmp_path, network=network)
        loaded = Plan.load(plan.save(tmp_path / "p.toml"))
        assert loaded == plan, network


def test_plan_file_keeps_only_the_network_keys_the_user_chose(tmp_path):
    """A key the user did not choose stays out of the file, so a preset can still set it; a
    key chosen with the default value stays in (it wins over a preset's).
    """
    plan = Plan(
        tree=tmp_path,
        network=NetworkSpec.user(["8080:80"]),
        network_keys=("nic",),  # e1000, the default, chosen by hand
    )
    assert plan.network_keys == ("forwards", "nic")
    data = tomllib.loads(plan.save(tmp_path / "p.toml").read_text())
    assert data["network"] == {"forwards": ["8080:80"], "nic": "e1000", "auto_forwards": True}
    loaded = Plan.load(tmp_path / "p.toml")
    assert loaded == plan and loaded.network_keys == ("forwards", "nic")
    # an old file (every key written) keeps every key as chosen
    (tmp_path / "old.toml").write_text(
        'tree = "/t"\n[network]\nmode = "user"\naddress = "10.0.2.15/24"\ngateway = ""\n'
    )
    assert Plan.load(tmp_path / "old.toml").network_keys == ("mode", "address", "gateway")


def test_preset_network_fills_in_what_the_user_did_not_choose(tmp_path):
    from ukl_tui.presets import Boot, NetSetting

    asks = Boot(
        network=(
            NetSetting("forwards", (parse_forward("8080:80"),), "web"),
            NetSetting("nic", "virtio-net-pci", "web"),
        )
    )
    plain = Plan(tree=tmp_path)
    net = plain.network_for(asks)
    assert [str(f) for f in net.forwards] == ["8080:80"] and net.nic == "virtio-net-pci"
    assert plain.boot_spec(asks).network == net and plain.network_clashes(asks) == {}
    mine = Plan(tree=tmp_path, network=NetworkSpec.user(["9090:90"]))
    net = mine.network_for(asks)
    assert [str(f) for f in net.forwards] == ["9090:90"] and net.nic == "virtio-net-pci"
    assert mine.network_clashes(asks) == {
        "forwards": "network forwards: kept your 9090:90; web wants 8080:80"
    }
    # a chosen tap keeps the preset's user-networking settings out, and says so
    tap = Plan(tree=tmp_path, network=NetworkSpec.tap_on_bridge())
    assert tap.network_for(asks) == NetworkSpec.tap_on_bridge()
    assert "do not apply" in tap.network_clashes(asks)["mode"]
    # a preset that switches mode: the keys nobody set take that mode's defaults
    bridged = Boot(network=(NetSetting("mode", "tap", "b"), NetSetting("tap", "tap3", "b")))
    assert plain.network_for(bridged) == NetworkSpec.tap_on_bridge(tap="tap3")
    # "use the preset's": the user's choice is dropped and the preset's applies again
    mine.drop_network_keys(["forwards"])
    assert mine.network_keys == () and mine.network_for(asks) == plain.network_for(asks)


def test_paths_inside_the_plan_directory_are_written_relative(tmp_path):
    tree = tmp_path / "checkout"
    tree.mkdir()
    plan = Plan(tree=tree, ukl_a=tree / "prebuilt" / "UKL.a")
    path = plan.save(tree / "ukl-tui.toml")
    data = tomllib.loads(path.read_text())
    assert data["tree"] == "."
    assert data["app"]["ukl_a"] == "prebuilt/UKL.a"
    # moved elsewhere, the plan still names its own checkout
    moved = tmp_path / "moved"
    tree.rename(moved)
    loaded = Plan.load(moved / "ukl-tui.toml")
    assert loaded.tree == moved
    assert loaded.ukl_a == moved / "prebuilt" / "UKL.a"


def test_a_hand_written_minimal_plan_loads_with_defaults(tmp_path):
    (tmp_path / "p.toml").write_text('tree = "/somewhere"\n[network]\nmode = "tap"\n')
    plan = Plan.load(tmp_path / "p.toml")
    assert plan.tree == Path("/somewhere")
    assert plan.network == NetworkSpec.tap_on_bridge()
    assert plan.memory_mib == 1024 and plan.initrd == "auto"


def test_dumps_toml_escapes_what_toml_needs():
    text = dumps_toml({"a": 'q"\\\n\t\x01\x7fé', "t": {"k-1": [1, True], "odd key": "v"}})
    assert tomllib.loads(text) == {
        "a": 'q"\\\n\t\x01\x7fé',
        "t": {"k-1": [1, True], "odd key": "v"},
    }


BAD_FILES = [
    ('tree = "/t"\ncolour = "red"\n', "colour"),
    ('tree = "/t"\n[boot]\nmemory = 512\n', "boot.memory"),
    ('tree = "/t"\n[boot]\nmemory_mib = "lots"\n', "boot.memory_mib"),
    ('tree = "/t"\n[boot]\nmemory_mib = 16\n', "boot.memory_mib"),
    ('tree = "/t"\n[boot]\ncpus = true\n', "boot.cpus"),
    ('tree = "/t"\n[boot]\nappend = "quiet loglevel=7"\n', "boot.append"),
    ('tree = "/t"\n[boot]\nappend = ["a b"]\n', "boot.append"),
    ('tree = "/t"\n[boot]\naccel = "hvf"\n', "boot.accel"),
    ('tree = "/t"\n[network]\naddress = "10.0.2.300/24"\n', "network.address"),
    ('tree = "/t"\n[network]\ngateway = "gw"\n', "network.gateway"),
    ('tree = "/t"\n[network]\nforwards = ["80:99999"]\n', "network.forwards"),
    ('tree = "/t"\n[network]\nmode = "bridge"\n', "network.mode"),
    ('tree = "/t"\n[network]\nmac = "01:00:00:00:00:01"\n', "network.mac"),
    ('tree = "/t"\n[network]\nspeed = 10\n', "network.speed"),
    ('tree = "/t"\n[app]\nuse_ret = "yes"\n', "app.use_ret"),
    ('tree = "/t"\n[app]\nprogram = "hello"\n', "app.program"),
    ('tree = "/t"\n[app]\nukl_trigger = "relative"\n', "app"),
    ('tree = "/t"\n[edits]\n"BAD NAME" = "y"\n', "BAD NAME"),
    ('tree = "/t"\n[edits]\nE1000 = ["y"]\n', "edits.E1000"),
    ('tree = "/t"\njobs = 0\n', "jobs"),
    ('tree = "/t"\nformat = 99\n', "format"),
    ('tree = "/t"\npresets = "ukl-base"\n', "presets"),
    ('tree = "/t"\nedits = 3\n', "edits"),
    ("jobs = 2\n", "tree"),
    ('tree = "/t"\n[boot\n', "line 2"),
]


@pytest.mark.parametrize(("text", "key"), BAD_FILES)
def test_bad_plan_files_name_file_and_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    message = one_line_error(Plan.load, path)
    assert str(path) in message
    assert key in message


def test_missing_and_binary_plan_files(tmp_path):
    assert "does not exist" in one_line_error(Plan.load, tmp_path / "none.toml")
    (tmp_path / "bin.toml").write_bytes(b"tree = \xff\xfe\n")
    assert str(tmp_path / "bin.toml") in one_line_error(Plan.load, tmp_path / "bin.toml")
    assert "directory" in one_line_error(Plan.load, tmp_path)


def test_save_refuses_unwritable_places_and_writes_nothing(tmp_path):
    plan = Plan(tree=tmp_path)
    assert "does not exist" in one_line_error(plan.save, tmp_path / "no" / "dir" / "p.toml")
    assert "directory" in one_line_error(plan.save, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_default_places(tmp_path, checkout, small_tree):
    from ukl_tui.paths import cache_dir
    from ukl_tui.workspace import inspect_workspace

    ws = inspect_workspace(checkout)
    assert default_plan_path(ws) == checkout / "ukl-tui.toml"
    kernel_ws = inspect_workspace(small_tree)
    build = default_build_dir(small_tree)
    assert build.is_relative_to(cache_dir()) and not build.is_relative_to(small_tree)
    assert build.name.startswith("linux-small-")
    assert default_build_dir(small_tree) == build  # stable
    assert default_build_dir(tmp_path / "other" / "linux-small") != build
    assert default_plan_path(kernel_ws) == build / "ukl-tui.toml"


# ------------------------------------------------------------------------------------------
# A ukl checkout


def test_fresh_checkout_steps_in_order(checkout):
    built = Plan(tree=checkout).build(NO_KVM)
    ids = [s.id for s in built.steps]
    assert ids == [
        "submodules",
        "autoreconf",
        "configure",
        "ukl-config",
        "kconfig",
        "build",
        "initramfs",
        "boot",
    ]
    steps = by_id(built.steps)
    assert steps["submodules"].argv[:4] == ("git", "-C", str(checkout), "submodule")
    assert "linux" in steps["submodules"].argv
    assert steps["configure"].argv == ("./configure", "--with-program=hello")
    assert steps["ukl-config"].argv == ("make", "-W", "saveconfig", "linux/.config")
    kconfig = steps["kconfig"].argv
    assert f"--config={checkout}/linux/.config" in kconfig
    assert f"--out={checkout}/linux/.config" in kconfig
    assert "--set=UKL_NAME=/UKL" in kconfig and "--set=UKL_TLS=y" in kconfig
    # options with no effect on 6.x kernels are not forced in when linux/ cannot be read
    assert not any("SAME_STACK" in a for a in kconfig)
    assert any("not checked out yet" in w for w in built.warnings)
    boot = steps["boot"]
    assert boot.kind == "boot" and boot.interactive
    assert boot.success_markers == ("UKL BOOTED", "hello, from the UKL world")
    assert boot.argv[boot.argv.index("-kernel") + 1] == str(checkout / "vmlinuz")
    assert boot.argv[boot.argv.index("-initrd") + 1] == str(built.initrd)
    assert "--placeholder" in steps["initramfs"].argv
    assert all(s.cwd == str(checkout) for s in built.steps)


@pytest.mark.skipif(not HAVE_AUTOTOOLS, reason="autotools not installed")
def test_checkout_steps_really_run_and_quote_the_kernel_strings(checkout, monkeypatch):
    allow_file_protocol(monkeypatch)
    plan = Plan(tree=checkout, configure=ConfigureOptions(ukl_trigger="/bin/my-app"))
    built = plan.build(NO_KVM)
    assert built.replan_after == "submodules"
    steps = list(built.steps)
    ran = []
    while steps[0].id not in ("build", "initramfs", "boot"):
        step = steps.pop(0)
        done = run_step(step)
        ran.append(step.id)
        assert done.returncode == 0, (step.id, done.stdout[-2000:], done.stderr[-2000:])
        if step.id == built.replan_after:  # what a runner does: the rest from a new plan
            again = plan.build(NO_KVM)
            assert again.replan_after is None
            steps = [s for s in again.steps if s.id not in ran]
    assert ran == ["submodules", "autoreconf", "configure", "ukl-config", "kconfig"]
    config = (checkout / "linux" / ".config").read_text()
    # ukl's recipe appended the trigger unquoted; ukl-tui's apply rewrote it quoted
    assert 'CONFIG_UKL_NAME="/bin/my-app"' in config
    assert "CONFIG_UNIKERNEL_LINUX=y" in config
    assert "CONFIG_UKL_NAME=/bin" not in config
    assert configured_app(checkout).name == "hello"

    # planned again now that linux/ exists: only symbols the kernel defines are set
    replanned = plan.build(NO_KVM)
    assert not any("not checked out yet" in w for w in replanned.warnings)
    assert [s.id for s in replanned.steps][0] == "autoreconf"
    kconfig = by_id(replanned.steps)["kconfig"].argv
    assert "--set=UKL_NAME=/bin/my-app" in kconfig
    assert not any(a.startswith("--set=UKL_TLS") for a in kconfig)  # not in this fork stand-in
    assert run_step(by_id(replanned.steps)["kconfig"]).returncode == 0


@pytest.mark.skipif(not HAVE_AUTOTOOLS, reason="autotools not installed")
def test_changing_the_application_cleans_first(ready_checkout):
    plan = Plan(tree=ready_checkout)
    for step in plan.build(NO_KVM).steps[:2]:  # autoreconf, configure (hello)
        assert run_step(step).returncode == 0
    assert configured_app(ready_checkout).name == "hello"
    assert "app-clean" not in by_id(plan.build(NO_KVM).steps)

    steps = replace(plan, app="memcached").build(NO_KVM, check_ports=False).steps
    ids = [s.id for s in steps]
    assert ids.index("app-clean") < ids.index("autoreconf")
    clean = by_id(steps)["app-clean"]
    assert clean.argv == ("make", "-C", str(ready_checkout), "app-clean")
    assert run_step(clean).returncode == 0
    assert "Clean" in clean.title and "hello -> memcached" in clean.title


def test_custom_ukl_a_in_a_checkout(ready_checkout, tmp_path):
    archive = ar_archive(tmp_path / "UKL.a")
    built = Plan(tree=ready_checkout, ukl_a=archive).build(NO_KVM)
    steps = by_id(built.steps)
    assert f"--with-ukl-archive={archive}" in steps["configure"].argv
    assert f"--set=UKL_ARCHIVE_PATH={archive}" in steps["kconfig"].argv
    assert built.app is not None and built.app.is_custom
    assert steps["boot"].success_markers == ("UKL BOOTED",)


def test_full_ukl_makefile_gets_glibc_and_vmlinuz_steps(ready_checkout):
    """With ukl's real targets (libc.a, vmlinuz) the glibc stage is its own labelled step."""
    am = ready_checkout / "Makefile.am"
    am.write_text(
        am.read_text()
        + "\nlibc.a: stamp-glibc-configure\n\t-cd glibc-build && $(MAKE)\n"
        + "\tcp glibc-build/libc.a $@\n\nvmlinuz: linux/arch/x86/boot/bzImage\n\tcp $< $@\n"
    )
    steps = Plan(tree=ready_checkout, jobs=3).build(NO_KVM).steps
    ids = [s.id for s in steps]
    assert ids.index("configure") < ids.index("glibc") < ids.index("ukl-config")
    assert ids.index("kconfig") < ids.index("build")
    glibc = by_id(steps)["glibc"]
    assert glibc.argv == ("make", "-j3", "libc.a")
    assert glibc.expected_failure_note == GLIBC_NOTE
    assert by_id(steps)["build"].argv == ("make", "-j3", "vmlinuz")
    assert not by_id(steps)["build"].expected_failure_note


def test_ukl_initrd_choice(ready_checkout):
    built = Plan(tree=ready_checkout, initrd="ukl").build(NO_KVM)
    steps = by_id(built.steps)
    assert steps["ukl-initrd"].argv == ("make", "ukl-initrd.cpio.xz")
    assert any("docker exec -it" in w for w in built.warnings)
    # buildinitrd.sh: xz --format=lzma
    cpio = b"070701" + b"0" * 104
    (ready_checkout / "ukl-initrd.cpio.xz").write_bytes(lzma.compress(cpio, lzma.FORMAT_ALONE))
    for choice in ("ukl", "auto"):
        built = Plan(tree=ready_checkout, initrd=choice).build(NO_KVM)
        assert "ukl-initrd" not in by_id(built.steps) and "initramfs" not in by_id(built.steps)
        assert built.initrd == ready_checkout / "ukl-initrd.cpio.xz"


def test_server_app_forwards_and_probe_ports(ready_checkout):
    plan = Plan(tree=ready_checkout, app="memcached")
    built = plan.build(NO_KVM, check_ports=False)
    assert [str(f) for f in built.boot.network.forwards] == ["11211:11211"]
    assert built.probe_ports == [11211]
    # what summary.json records of the run, for a tree's run history
    job = RunJob.from_built(built)
    assert job.application == "memcached" and job.tree == str(ready_checkout.resolve())
    # a hand-made forward of the same guest port replaces the default one
    mine = replace(plan, network=NetworkSpec.user([parse_forward("11311:11211")]))
    assert [str(f) for f in mine.build(NO_KVM, check_ports=False).boot.network.forwards] == [
        "11311:11211"
    ]
    off = replace(plan, auto_forwards=False)
    assert off.build(NO_KVM, check_ports=False).boot.network.forwards == ()


def test_kvm_verdict_decides_the_accelerator(ready_checkout):
    plan = Plan(tree=ready_checkout)
    boot = by_id(plan.build(KVM).steps)["boot"].argv
    assert "kvm" in boot and "host,-smap,-smep" in boot
    built = plan.build(NO_KVM)
    boot = by_id(built.steps)["boot"].argv
    assert "tcg" in boot and "max,-smap,-smep" in boot
    assert any("TCG" in w for w in built.warnings)
    assert "not usable" in one_line_error(replace(plan, accel="kvm").build, NO_KVM)


def test_presets_give_the_boot_command_line(ready_checkout):
    steps = Plan(tree=ready_checkout, presets=("ukl-prereqs",)).build(NO_KVM).steps
    assert "--preset=ukl-prereqs" in by_id(steps)["kconfig"].argv
    boot = by_id(steps)["boot"].argv
    assert "clearcpuid=smap,smep" in boot[boot.index("-append") + 1]


def test_a_busy_gdb_port_moves_the_stub_to_a_free_one_and_says_where(ready_checkout):
    """ukl-debug's stub is on 1234; a second debug run at once gets a free port, named."""
    import errno
    import socket

    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 1234))
        holder.listen(1)
    except OSError as exc:  # something on this machine holds it already: busy all the same
        assert exc.errno == errno.EADDRINUSE
    try:
        built = Plan(tree=ready_checkout, presets=("ukl-debug",)).build(NO_KVM)
    finally:
        holder.close()
    argv = by_id(built.steps)["boot"].argv
    stub = argv[argv.index("-gdb") + 1]
    port = int(stub.rsplit(":", 1)[1])
    assert stub.startswith("tcp:127.0.0.1:") and port != 1234
    warning = next(w for w in built.warnings if w.startswith("gdb stub:"))
    assert "1234/tcp is already in use" in warning
    assert f"target remote 127.0.0.1:{port}" in warning
    # unchecked (the wizard's preview) or free: the asked port stays
    quiet = Plan(tree=ready_checkout, presets=("ukl-debug",)).build(NO_KVM, check_ports=False)
    assert "tcp:127.0.0.1:1234" in by_id(quiet.steps)["boot"].argv


def test_preset_network_reaches_the_boot_and_a_hand_choice_wins(
    ready_checkout, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    presets = tmp_path / "config" / "ukl-tui" / "presets"
    presets.mkdir(parents=True)
    (presets / "web.toml").write_text(
        'summary = "w"\nextends = ["ukl-prereqs"]\n[network]\nforwards = ["8080:80"]\n'
        'nic = "virtio-net-pci"\n'
    )
    built = Plan(tree=ready_checkout, presets=("web",)).build(NO_KVM, check_ports=False)
    argv = by_id(built.steps)["boot"].argv
    assert "user,id=net0,hostfwd=tcp:127.0.0.1:8080-10.0.2.15:80" in argv
    assert any(a.startswith("virtio-net-pci,") for a in argv)
    assert not any("network" in w for w in built.warnings)
    mine = Plan(tree=ready_checkout, presets=("web",), network=NetworkSpec.user(["9090:90"]))
    built = mine.build(NO_KVM, check_ports=False)
    argv = by_id(built.steps)["boot"].argv
    assert "user,id=net0,hostfwd=tcp:127.0.0.1:9090-10.0.2.15:90" in argv
    assert any(a.startswith("virtio-net-pci,") for a in argv)  # not chosen: the preset's
    assert "network forwards: kept your 9090:90; web wants 8080:80" in built.warnings


# ------------------------------------------------------------------------------------------
# Bad input: one line each, at build time


def bad(plan: Plan, **kw) -> str:
    return one_line_error(plan.build, kw.pop("kvm", NO_KVM), **kw)


def test_unknown_app_and_missing_ukl_a(ready_checkout, tmp_path, small_tree):
    assert "no program 'nginx'" in bad(Plan(tree=ready_checkout, app="nginx"))
    assert "does not exist" in bad(Plan(tree=ready_checkout, ukl_a=tmp_path / "UKL.a"))
    (tmp_path / "text.a").write_text("not an archive")
    assert "not an ar archive" in bad(Plan(tree=small_tree, ukl_a=tmp_path / "text.a"))
    assert "no programs" in bad(Plan(tree=small_tree, app="hello"))
    both = Plan(tree=ready_checkout, app="hello", ukl_a=ar_archive(tmp_path / "UKL.a"))
    assert "either" in bad(both)


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"address": "10.0.2.300/24"}, "bad guest address"),
        ({"address": "10.0.2.15/33"}, "bad guest address"),
        ({"address": "10.0.2.15/4"}, "prefix"),
        ({"address": "192.168.122.128/24"}, "bridge network"),
        ({"gateway": "10.0.3.1"}, "outside the guest's subnet"),
        ({"forwards": ("8080:80", "8080:81")}, "forwarded twice"),
        ({"forwards": ("8080:0",)}, "8080:0"),
        ({"mode": "none", "forwards": ("8080:80",)}, "need a network"),
        ({"mode": "tap", "tap": "tap0,script=/x"}, "tap name"),
    ],
)
def test_bad_network(ready_checkout, kw, fragment):
    message = one_line_error(
        lambda: Plan(tree=ready_checkout, network=NetworkSpec(**kw)).build(NO_KVM)
    )
    assert fragment in message


@pytest.mark.parametrize("text", ["0:80", "80:65536", "http", "8080:80/sctp"])
def test_bad_ports(text):
    assert text in one_line_error(parse_forward, text)


def test_taken_host_port(ready_checkout):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        plan = Plan(tree=ready_checkout, network=NetworkSpec.user([f"{port}:80"]))
        assert "already in use" in bad(plan)
        plan.build(NO_KVM, check_ports=False)  # the TUI may defer the check to run time


def test_missing_qemu(ready_checkout, tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert "qemu-system-x86_64 not found" in bad(Plan(tree=ready_checkout))


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"append": ("quiet;reboot -f",)}, "single word"),
        ({"append": ("a b",)}, "single word"),
        ({"append": ("--",)}, "'--'"),
        ({"init_args": ("$(id)\n",)}, "init argument"),
        ({"memory_mib": 10}, "memory"),
        ({"cpus": 0}, "cpus"),
        ({"jobs": 0}, "jobs"),
        ({"initrd": "/nonexistent/initrd.img"}, "does not exist"),
        ({"accel": "xen"}, "accelerator"),
        ({"edits": {"BAD NAME": "y"}}, "not a Kconfig symbol"),
        ({"edits": {"E1000": "y\nCONFIG_X=y"}}, "newline"),
        ({"configure": ConfigureOptions(ukl_trigger="/UKL; reboot")}, "trigger"),
        ({"configure": ConfigureOptions(event_system="poll")}, "event system"),
        ({"overlays": (Path(__file__),)}, "--overlay"),
        ({"overlays": (Path("/nonexistent/Kconfig"),)}, "does not exist"),
        ({"base": "tinyconfig"}, "--base"),
    ],
)
def test_bad_values(ready_checkout, kw, fragment):
    assert fragment in bad(Plan(tree=ready_checkout, **kw))


def test_a_checkouts_own_linux_config_is_accepted_as_the_start(ready_checkout, tmp_path):
    """A loaded tree started from linux/.config: ukl's recipe rewrites that file anyway."""
    own = ready_checkout / "linux" / ".config"
    own.write_text("CONFIG_INET=y\n")
    steps = by_id(Plan(tree=ready_checkout, config=own).build(NO_KVM).steps)
    assert steps["ukl-config"].argv == ("make", "-W", "saveconfig", "linux/.config")
    other = tmp_path / "my.config"
    other.write_text("CONFIG_INET=y\n")
    assert "--config" in bad(Plan(tree=ready_checkout, config=other))


def test_unknown_symbol_in_edits_is_caught_by_the_kernel_model(ready_checkout):
    assert "unknown symbol NOPE" in bad(Plan(tree=ready_checkout, edits={"NOPE": "y"}))
    message = bad(Plan(tree=ready_checkout, edits={"INET": "maybe"}))
    assert "INET" in message and "maybe" in message


def test_paths_make_cannot_take(tmp_path, upstream):
    spaced = clone_checkout(upstream, tmp_path / "my ukl")
    assert "spaces, colons, '$'" in bad(Plan(tree=spaced))
    ok = clone_checkout(upstream, tmp_path / "ukl")
    for build_dir in ("/tmp/a b", "/tmp/$(reboot)", "/tmp/x:y", '/tmp/"q"'):
        assert "build directory" in bad(Plan(tree=ok, build_dir=Path(build_dir)))


def test_plain_tree_must_be_clean(small_tree):
    (small_tree / ".config").write_text("CONFIG_INET=y\n")
    assert "make mrproper" in bad(Plan(tree=small_tree))


def test_not_a_tree_at_all(tmp_path):
    assert "neither" in bad(Plan(tree=tmp_path))


# ------------------------------------------------------------------------------------------
# A plain kernel tree


def test_plain_tree_steps(small_tree, tmp_path):
    archive = ar_archive(tmp_path / "UKL.a")
    plan = Plan(tree=small_tree, build_dir=tmp_path / "out", jobs=2, ukl_a=archive, ccache=False)
    built = plan.build(NO_KVM)
    steps = by_id(built.steps)
    assert [s.id for s in built.steps] == list(PLAIN_TREE_STEPS)
    out = tmp_path / "out"
    make = ("make", "-C", str(small_tree), f"O={out}", "ARCH=x86_64")
    assert steps["olddefconfig"].argv == (*make, "olddefconfig")
    assert steps["kconfig-copy"].argv == ("cp", "--", f"{out}/.config", f"{out}/.config.ukl-tui")
    check = steps["kconfig-check"].argv
    assert check[1:4] == ("-m", "ukl_tui.cli", "verify")
    assert f"--config={out}/.config" in check and f"--written={out}/.config.ukl-tui" in check
    assert steps["bzImage"].argv == (*make, "-j2", "bzImage")
    assert steps["bzImage"].env["KBUILD_BUILD_TIMESTAMP"]
    assert steps["kconfig"].argv[1:4] == ("-m", "ukl_tui.cli", "apply")
    assert f"--out={out}/.config" in steps["kconfig"].argv
    assert f"--set=UKL_ARCHIVE_PATH={archive}" in steps["kconfig"].argv
    boot = steps["boot"].argv
    assert boot[boot.index("-kernel") + 1] == str(out / "arch/x86/boot/bzImage")
    assert all(s.cwd == str(out) for s in built.steps[1:])
    assert not out.exists()  # planning writes nothing
    # without an application, no UKL values are forced into a plain tree
    plain = by_id(replace(plan, ukl_a=None).build(NO_KVM).steps)["kconfig"].argv
    assert not any(a.startswith("--set=") for a in plain)


@pytest.mark.skipif(shutil.which("ccache") is None, reason="ccache not installed")
def test_plain_tree_uses_ccache_for_both_make_steps(small_tree, tmp_path):
    steps = by_id(Plan(tree=small_tree, build_dir=tmp_path / "o").build(NO_KVM).steps)
    assert "CC=ccache gcc" in steps["olddefconfig"].argv
    assert "CC=ccache gcc" in steps["bzImage"].argv
    off = by_id(Plan(tree=small_tree, build_dir=tmp_path / "o", ccache=False).build(NO_KVM).steps)
    assert not any(a.startswith("CC=") for a in off["bzImage"].argv)


def test_plain_tree_rejects_checkout_only_choices(small_tree):
    assert "a plain tree has none" in bad(Plan(tree=small_tree, initrd="ukl"))
    assert "not both" in bad(
        Plan(tree=small_tree, base="tinyconfig", config=small_tree / "Kconfig")
    )


@pytest.mark.realtree
def test_real_tree_config_steps_run_and_olddefconfig_agrees(real_tree, ukl_overlay, tmp_path):
    """The printed kconfig and olddefconfig steps, really run: UNIKERNEL_LINUX=y survives."""
    plan = Plan(
        tree=real_tree,
        overlays=(ukl_overlay,),
        presets=("qemu-smoke", "ukl-base"),
        base="tinyconfig",
        edits={"LOCALVERSION": "-plan test"},
        build_dir=tmp_path / "build",
    )
    built = plan.build(NO_KVM)
    steps = by_id(built.steps)
    make = steps["olddefconfig"].argv
    wrapper = next(a for a in make if a.startswith("KBUILD_KCONFIG="))
    assert Path(wrapper.split("=", 1)[1]).is_file()
    for step_id in ("build-dir", "kconfig", "kconfig-copy"):
        done = run_step(steps[step_id])
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    dot = tmp_path / "build" / ".config"
    written = dot.read_text()
    for step_id in ("olddefconfig", "kconfig-check"):
        done = run_step(steps[step_id])
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "every value as ukl-tui wrote it; the UKL rules pass" in done.stdout
    settled = dot.read_text()
    for line in (
        "CONFIG_UNIKERNEL_LINUX=y",
        "CONFIG_UKL_TLS=y",
        'CONFIG_UKL_NAME="/UKL"',
        "CONFIG_64BIT=y",
        "CONFIG_E1000=y",
        'CONFIG_LOCALVERSION="-plan test"',
    ):
        assert line in settled.splitlines(), line
    assert "# CONFIG_RANDOMIZE_BASE is not set" in settled or "RANDOMIZE_BASE" not in settled
    values = lambda text: sorted(  # noqa: E731
        ln for ln in text.splitlines() if ln.startswith("CONFIG_")
    )
    assert values(settled) == values(written)
    # the build's first act (syncconfig, with the same CC) leaves the file alone too
    sync = Step.from_dict({**steps["olddefconfig"].to_dict(), "argv": [*make[:-1], "syncconfig"]})
    assert run_step(sync).returncode == 0
    assert dot.read_text() == settled


def test_plan_on_a_checkout_shows_shell_lines_that_parse_back(ready_checkout, tmp_path):
    initrd = tmp_path / "my initrd $(touch PWNED) 'q'.img"
    initrd.write_bytes(gzip.compress(b"070701" + b"0" * 104))
    plan = Plan(tree=ready_checkout, initrd=str(initrd), edits={"INET": "y"})
    for step in plan.build(NO_KVM).steps:
        words = shlex.split(step.shell_line())
        assert words[:3] == ["cd", step.cwd, "&&"]
        env = [f"{k}={v}" for k, v in step.env.items()]
        assert words[3:] == [*env, *step.argv]
    assert not (Path.cwd() / "PWNED").exists()


# ------------------------------------------------------------------------------------------
# Conflict rules over the plan


def test_conflicts_are_found_in_what_the_plan_asks(ready_checkout):
    clean = Plan(tree=ready_checkout).build(NO_KVM)
    assert [c for c in clean.conflicts if c.severity == "error"] == []
    shortcut = Plan(
        tree=ready_checkout,
        configure=ConfigureOptions(shortcuts=True),
        edits={"INET": "n"},
    ).build(NO_KVM)
    errors = [c for c in shortcut.conflicts if c.severity == "error"]
    assert [c.id for c in errors] == ["shortcut-inet"]
    assert errors[0].fix is not None and errors[0].fix.kconfig["INET"] == "y"
    bypass = Plan(tree=ready_checkout, configure=ConfigureOptions(bypass=True)).build(NO_KVM)
    assert "bypass" in [c.id for c in bypass.conflicts]
    # said once: as the conflict (with its fix), not again as a plain warning
    assert not any(w.startswith("--enable-bypass") for w in bypass.warnings)


def test_an_initrd_the_kernel_cannot_unpack_is_refused(ready_checkout, tmp_path):
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"MZ not an initrd")
    assert "not a cpio archive" in bad(Plan(tree=ready_checkout, initrd=str(junk)))


@pytest.mark.realtree
def test_kaslr_conflict_on_the_real_tree(real_tree, ukl_overlay, tmp_path):
    plan = Plan(
        tree=real_tree,
        overlays=(ukl_overlay,),
        edits={"UNIKERNEL_LINUX": "y", "RANDOMIZE_BASE": "y"},
        build_dir=tmp_path / "b",
    )
    conflicts = plan.build(NO_KVM).conflicts
    assert conflicts[0].id == "kaslr" and conflicts[0].severity == "error"
    assert conflicts[0].fix.kconfig == {"RANDOMIZE_BASE": "n"}
