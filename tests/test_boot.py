"""Boot spec: network validation, kernel command line, QEMU argv, injection, host facts."""

from __future__ import annotations

import socket
import subprocess
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from ukl_tui.boot import (
    SERVER_FORWARDS,
    SSH_FORWARD,
    BootSpec,
    Forward,
    NetworkSpec,
    app_args_problem,
    cmdline_clears_smap_smep,
    cpu_flags_clear_smap_smep,
    default_forwards,
    parse_address,
    parse_forward,
    split_kernel_cmdline,
)
from ukl_tui.errors import UserError
from ukl_tui.host import KvmStatus, check_prerequisites, elf_is_static, kvm_usable

NO_KVM = KvmStatus(False, "the CPU flags show neither vmx nor svm")
KVM = KvmStatus(True, "/dev/kvm works and the CPU has vmx")


def one_line_error(fn, *args, **kw) -> str:
    with pytest.raises(UserError) as info:
        fn(*args, **kw)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def value_after(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


# --- parsers -------------------------------------------------------------------------------


def test_parse_forward_forms():
    assert parse_forward("8080:80") == Forward(8080, 80, "tcp")
    assert parse_forward("11211") == Forward(11211, 11211, "tcp")
    assert parse_forward("5353:53/udp") == Forward(5353, 53, "udp")
    assert str(parse_forward("5353:53/udp")) == "5353:53/udp"


@pytest.mark.parametrize(
    "text",
    ["", "80-8080", "http", "8080:", ":80", "0:80", "8080:70000", "8080:80/sctp", "+80:80", " 80"],
)
def test_parse_forward_rejects_garbage(text):
    message = one_line_error(parse_forward, text)
    assert repr(text) in message or "port" in message


def test_parse_address():
    assert parse_address("10.0.2.15/24") == IPv4Interface("10.0.2.15/24")
    assert parse_address("10.0.2.15") == IPv4Interface("10.0.2.15/24")  # ukl's init uses /24


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("10.0.2.300/24", "bad guest address"),
        ("hello", "bad guest address"),
        ("10.0.2.0/24", "network address"),
        ("10.0.2.255/24", "broadcast address"),
        ("127.0.0.1/8", "cannot be given"),
        ("10.0.2.15/32", "prefix /32"),
        ("10.0.2.15/24\n", "newline"),
    ],
)
def test_parse_address_errors(text, fragment):
    assert fragment in one_line_error(parse_address, text)


def test_default_forwards_for_known_servers():
    assert default_forwards("memcached") == [Forward(11211, 11211)]
    assert default_forwards("valkey") == [Forward(6379, 6379)]
    assert default_forwards("event-tester") == [Forward(7272, 7272)]
    assert default_forwards("mpc-bench") == [Forward(8000, 8000)]
    assert default_forwards("hello") == []
    assert default_forwards("hello", ssh=True) == [SSH_FORWARD]
    assert SSH_FORWARD.guest_port == 22 and SSH_FORWARD.host_port != 22
    assert set(SERVER_FORWARDS) == {"memcached", "valkey", "event-tester", "mpc-bench"}


# --- network validation ----------------------------------------------------------------------


def test_default_user_network_is_valid():
    NetworkSpec().validate(check_ports=False)


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"address": "192.168.122.128/24", "gateway": "192.168.122.1"}, "bridge network"),
        ({"address": "172.16.0.5/24", "gateway": "172.16.0.1"}, "outside user networking"),
        ({"address": "10.0.2.2/24"}, "QEMU's gateway"),
        ({"address": "10.0.2.3/24"}, "QEMU's DNS"),
        ({"gateway": "10.0.3.2"}, "outside the guest's subnet"),
        ({"address": "10.0.2.15/16", "gateway": "10.0.5.1"}, "gateway is 10.0.2.2"),
        ({"gateway": "10.0.2.15"}, "guest's own address"),
        ({"forwards": ("8080:80", "8080:81")}, "forwarded twice"),
        ({"forwards": (Forward(0, 80),)}, "outside 1-65535"),
        ({"forwards": (Forward(8080, 65536),)}, "outside 1-65535"),
        ({"mac": "01:00:5e:00:00:01"}, "multicast"),
        ({"mac": "52:54:00:12:34"}, "bad MAC"),
        ({"mode": "bridge"}, "not one of"),
        ({"nic": "rtl8139"}, "not one of"),
        ({"address_via": "init", "address": "10.0.2.15/25"}, "always adds the address as /24"),
    ],
)
def test_user_network_errors(kw, fragment):
    spec = NetworkSpec(**kw)
    assert fragment in one_line_error(spec.validate, check_ports=False)


def test_same_port_tcp_and_udp_is_not_a_duplicate():
    NetworkSpec(forwards=("5353:53", "5353:53/udp")).validate(check_ports=False)


def test_taken_host_port_is_reported():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        spec = NetworkSpec(forwards=(f"{port}:80",))
        message = one_line_error(spec.validate)
        assert f"host port {port}/tcp is already in use" in message
        spec.validate(check_ports=False)  # a plan for later is still fine
    spec.validate()  # free again


def test_tap_mode_validation_and_host_check(tmp_path):
    spec = NetworkSpec.tap_on_bridge()
    spec.validate()
    assert spec.address == IPv4Interface("192.168.122.128/24")
    assert "port forwards only apply" in one_line_error(
        NetworkSpec.tap_on_bridge(forwards=("8080:80",)).validate
    )
    assert "bad tap name" in one_line_error(NetworkSpec.tap_on_bridge(tap="tap0,x=1").validate)
    assert "bad bridge name" in one_line_error(NetworkSpec.tap_on_bridge(bridge="a b").validate)
    # The host check is separate: this machine has no bridge with this name.
    missing = NetworkSpec.tap_on_bridge(bridge="nobr-ukltest")
    missing.validate()
    message = one_line_error(missing.check_host)
    assert "nobr-ukltest" in message or "root" in message
    assert NetworkSpec().check_host() is None
    assert spec.tap_setup_argv()[1] == ["ip", "link", "set", "dev", "tap0", "master", "virbr0"]


def test_none_mode_refuses_forwards():
    assert "need a network" in one_line_error(
        NetworkSpec(mode="none", forwards=("8080:80",)).validate
    )


def test_network_dict_round_trip():
    spec = NetworkSpec(forwards=("8080:80", "5353:53/udp"), nic="virtio-net-pci")
    again = NetworkSpec.from_dict(spec.to_dict())
    assert again == spec
    tap = NetworkSpec.tap_on_bridge()
    assert NetworkSpec.from_dict(tap.to_dict()) == tap
    assert "unknown field" in one_line_error(NetworkSpec.from_dict, {"modus": "user"})


# --- kernel command line ---------------------------------------------------------------------


def test_kernel_cmdline_with_ip_param():
    spec = BootSpec(kernel="/k/vmlinuz")
    assert spec.kernel_cmdline() == (
        "console=ttyS0 clearcpuid=smap,smep mitigations=off "
        "ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off"
    )


def test_kernel_cmdline_with_ukl_init_args():
    net = NetworkSpec.tap_on_bridge(address_via="init", mac="52:54:00:82:c1:3a")
    spec = BootSpec(kernel="/k", network=net, init_args=("-p11211",))
    spec.validate()
    line = spec.kernel_cmdline()
    assert line.endswith(" -- 192.168.122.128 52:54:00:82:c1:3a -p11211")
    assert "ip=" not in line
    assert split_kernel_cmdline(line)[-4:] == [
        "--",
        "192.168.122.128",
        "52:54:00:82:c1:3a",
        "-p11211",
    ]


def test_init_args_need_the_address_handed_over_as_init_args():
    spec = BootSpec(kernel="/k", init_args=("x",))
    assert "IP MAC APP-ARGS" in one_line_error(spec.validate, check_ports=False)


def test_app_args_must_be_one_word():
    assert app_args_problem("-p11211") is None
    problem = app_args_problem("-p 11211 -U 0")
    assert problem is not None and "one word" in problem and "4" in problem
    assert "empty" in (app_args_problem("  ") or "")


# --- injection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "param",
    [
        "quiet init=/bin/sh",  # a space would add a parameter
        'a="b init=/bin/sh"',  # quotes would glue words
        "x='y'",
        "panic=1\ninit=/bin/sh",  # newline
        "tab\there",
        "bell\x07",
        "--",  # would turn the rest into init arguments
        "",
    ],
)
def test_extra_kernel_params_cannot_inject(param):
    spec = BootSpec(kernel="/k", extra_params=(param,))
    one_line_error(spec.validate, check_ports=False)
    one_line_error(spec.kernel_cmdline)
    one_line_error(spec.qemu_argv, NO_KVM)


def test_preset_cmdline_is_checked_too():
    spec = BootSpec(kernel="/k", cmdline_base=("console=ttyS0 rdinit=/x",))
    one_line_error(spec.validate, check_ports=False)


@pytest.mark.parametrize("arg", ["a b", "a\nb", "'x'", '"x"', "", "x\x00"])
def test_init_args_cannot_inject(arg):
    net = NetworkSpec(address_via="init")
    spec = BootSpec(kernel="/k", network=net, init_args=(arg,))
    one_line_error(spec.validate, check_ports=False)
    one_line_error(spec.kernel_cmdline)


@pytest.mark.parametrize(
    "kw",
    [
        {"kernel": "/tmp/a,b/vmlinuz"},  # QEMU option separator
        {"kernel": "/tmp/vmlinuz\n-append x"},
        {"kernel": "/k", "initrd": "/tmp/i,format=raw"},
        {"kernel": "/k", "qemu_cpu_flags": ("-smap,pmu=on",)},
        {"kernel": "/k", "qemu_cpu_flags": ("-smap -enable-kvm",)},
        {"kernel": "/k", "network": NetworkSpec(tap="tap0,script=/tmp/evil", mode="tap")},
        {"kernel": "/k", "qemu": "qemu-system-x86_64 -S"},
        {"kernel": "/k", "memory_mib": "1024,slots=4"},
    ],
)
def test_qemu_options_cannot_inject(kw):
    spec = BootSpec(**kw)
    one_line_error(spec.qemu_argv, NO_KVM)


def test_forward_strings_cannot_inject_hostfwd_options():
    for text in ("8080:80,hostfwd=tcp::22-:22", "8080:80\n", "8080:80/tcp,guestfwd=x"):
        one_line_error(parse_forward, text)
    one_line_error(NetworkSpec, forwards=("8080:80,smb=/",))


def test_forward_bind_is_parsed_not_pasted():
    one_line_error(NetworkSpec, forward_bind="127.0.0.1,hostfwd=tcp::22-:22")


# --- QEMU argv ---------------------------------------------------------------------------------


def test_qemu_argv_tcg_fallback(tmp_path):
    spec = BootSpec(
        kernel=str(tmp_path / "vmlinuz"),
        initrd=str(tmp_path / "initrd.cpio.gz"),
        memory_mib=512,
        cpus=2,
        network=NetworkSpec(forwards=("8080:80",)),
    )
    argv = spec.qemu_argv(NO_KVM)
    assert argv[0] == "qemu-system-x86_64"
    assert value_after(argv, "-accel") == "tcg"
    assert value_after(argv, "-cpu") == "max,-smap,-smep"
    assert value_after(argv, "-m") == "512" and value_after(argv, "-smp") == "2"
    assert value_after(argv, "-serial") == "stdio"
    assert {"-nodefaults", "-nographic", "-no-reboot"} <= set(argv)
    assert value_after(argv, "-netdev") == ("user,id=net0,hostfwd=tcp:127.0.0.1:8080-10.0.2.15:80")
    assert value_after(argv, "-device") == "e1000,netdev=net0,mac=52:54:00:12:34:56"
    assert value_after(argv, "-kernel") == str(tmp_path / "vmlinuz")
    assert value_after(argv, "-initrd") == str(tmp_path / "initrd.cpio.gz")
    assert value_after(argv, "-append") == spec.kernel_cmdline()
    note = spec.accel_note(NO_KVM)
    assert note.startswith("TCG") and NO_KVM.reason in note
    assert "-gdb" not in argv and "-s" not in argv


def test_qemu_argv_kvm_when_usable():
    spec = BootSpec(kernel="/k")
    argv = spec.qemu_argv(KVM)
    assert value_after(argv, "-accel") == "kvm"
    assert value_after(argv, "-cpu") == "host,-smap,-smep"
    assert "-initrd" not in argv


def test_explicit_accel_choices():
    assert "KVM was requested" in one_line_error(
        BootSpec(kernel="/k", accel="kvm").qemu_argv, NO_KVM
    )
    argv = BootSpec(kernel="/k", accel="tcg").qemu_argv(KVM)
    assert value_after(argv, "-accel") == "tcg"
    assert "requested" in BootSpec(kernel="/k", accel="tcg").accel_note(KVM)


def test_qemu_argv_tap_none_virtio_and_gdb():
    tap = BootSpec(kernel="/k", network=NetworkSpec.tap_on_bridge()).qemu_argv(NO_KVM)
    assert value_after(tap, "-netdev") == "tap,id=net0,ifname=tap0,script=no,downscript=no"
    assert value_after(tap, "-device").startswith("virtio-net-pci,netdev=net0,mac=")
    none = BootSpec(kernel="/k", network=NetworkSpec(mode="none")).qemu_argv(NO_KVM)
    assert "-netdev" not in none and "-device" not in none
    assert "ip=" not in value_after(none, "-append")
    gdb = BootSpec(kernel="/k", gdb=True).qemu_argv(NO_KVM)
    assert value_after(gdb, "-gdb") == "tcp:127.0.0.1:1234"  # never every interface


def test_qemu_accepts_the_argv_it_is_given(tmp_path):
    """QEMU itself parses our option strings (hostfwd, netdev, device, cpu) without error."""
    spec = BootSpec(
        kernel=str(tmp_path / "no-such-kernel"),
        network=NetworkSpec(forwards=("18080:80", "15353:53/udp")),
        extra_params=("loglevel=3",),
    )
    argv = spec.qemu_argv(NO_KVM)
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    # Every option was understood: the only complaint is about the missing kernel file.
    assert result.returncode != 0
    assert "no-such-kernel" in result.stderr, result.stderr
    assert "Invalid parameter" not in result.stderr and "invalid option" not in result.stderr


def test_to_step_is_an_interactive_boot_step(tmp_path):
    step = BootSpec(kernel="/k").to_step(NO_KVM, str(tmp_path), timeout=90)
    assert step.kind == "boot" and step.interactive and step.timeout == 90
    assert step.success_markers == ("UKL BOOTED",)
    assert step.argv[0] == "qemu-system-x86_64"


def test_boot_dict_round_trip():
    spec = BootSpec(kernel="/k", initrd="/i", network=NetworkSpec(forwards=("8080:80",)))
    again = BootSpec.from_dict(spec.to_dict())
    assert again == spec
    assert "unknown field" in one_line_error(BootSpec.from_dict, {"kernel": "/k", "ram": 1})


def test_memory_and_cpus_are_range_checked():
    assert "memory" in one_line_error(BootSpec(kernel="/k", memory_mib=10).validate, False)
    assert "cpus" in one_line_error(BootSpec(kernel="/k", cpus=0).validate, False)


# --- rule hooks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        ("console=ttyS0 clearcpuid=smap,smep", True),
        ("clearcpuid=smep,smap mitigations=off", True),
        ("clearcpuid=smap clearcpuid=smep", True),
        ("clearcpuid=308,295", True),  # feature numbers
        ("nosmap nosmep", True),
        ("clearcpuid=smap", False),
        ("nosmap", False),
        ("console=ttyS0", False),
        ("console=ttyS0 -- clearcpuid=smap,smep", False),  # init arguments, not parameters
        ('x="clearcpuid=smap,smep"', False),
    ],
)
def test_cmdline_clears_smap_smep(cmdline, expected):
    assert cmdline_clears_smap_smep(cmdline) is expected


@pytest.mark.parametrize(
    ("cpu", "expected"),
    [
        ("max,-smap,-smep", True),
        ("host,smap=off,smep=off", True),
        ("-smap,-smep", True),
        ("host,-smap", False),
        ("max,-smap,-smep,+smap", False),  # the last setting wins
        ("host", False),
    ],
)
def test_cpu_flags_clear_smap_smep(cpu, expected):
    assert cpu_flags_clear_smap_smep(cpu) is expected


def test_default_spec_satisfies_its_own_rules():
    spec = BootSpec(kernel="/k")
    argv = spec.qemu_argv(NO_KVM)
    assert cmdline_clears_smap_smep(value_after(argv, "-append"))
    assert cpu_flags_clear_smap_smep(value_after(argv, "-cpu"))


# --- host facts ----------------------------------------------------------------------------------


def test_kvm_status_explains_itself(tmp_path):
    status = kvm_usable()
    assert status.reason
    flags = Path("/proc/cpuinfo").read_text()
    if " vmx" not in flags and " svm" not in flags:
        assert not status.usable and "vmx" in status.reason
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor : 0\nflags : fpu sse2\n")
    assert "neither vmx nor svm" in kvm_usable(cpuinfo=fake).reason
    fake.write_text("processor : 0\nflags : fpu vmx\n")
    missing = kvm_usable(dev=tmp_path / "kvm", cpuinfo=fake)
    assert not missing.usable and "does not exist" in missing.reason


def test_elf_is_static(tmp_path):
    assert elf_is_static(Path("/bin/busybox"))
    assert not elf_is_static(Path("/bin/sh"))  # dash is dynamically linked
    script = tmp_path / "s"
    script.write_text("#!/bin/sh\n")
    assert not elf_is_static(script)


def test_prerequisites_are_complete():
    prereqs = check_prerequisites()
    names = {p.name for p in prereqs}
    for name in ("gcc", "make", "flex", "bison", "bc", "autoconf", "automake", "docker", "KVM"):
        assert name in names
    assert {"libelf headers", "openssl headers", "qemu-system-x86_64", "busybox (static)"} <= names
    for p in prereqs:
        assert p.detail
        # every tool names the package that provides it; KVM is hardware, no package helps
        assert bool(p.debian_package) == (p.name != "KVM"), p
    by_name = {p.name: p for p in prereqs}
    assert by_name["busybox (static)"].ok  # busybox-static is a CI package
    assert by_name["docker"].optional and by_name["KVM"].optional
