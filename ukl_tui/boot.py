"""How the unikernel is booted: network, kernel command line, init arguments and QEMU argv.

Everything here is a pure function of the spec (plus the KVM verdict handed in), so the Review
screen, ``ukl-tui plan`` and the runner all show and run the same command. User input reaches
two parsers that split on characters: the kernel splits its command line on spaces (and
honours quotes), QEMU splits option values on commas. Every user string is therefore checked
here so that it can never become an extra kernel parameter, an extra init argument or an extra
QEMU option; a bad value is a ``UserError`` with one line that says what to type instead.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

from ukl_tui.errors import UserError
from ukl_tui.host import KvmStatus
from ukl_tui.steps import Step

NetMode = Literal["user", "tap", "none"]
NicModel = Literal["e1000", "virtio-net-pci"]
AddressVia = Literal["ip", "init", "none"]
Accel = Literal["auto", "kvm", "tcg"]

NET_MODES: tuple[NetMode, ...] = ("user", "tap", "none")
NIC_MODELS: tuple[NicModel, ...] = ("e1000", "virtio-net-pci")
ADDRESS_VIA: tuple[AddressVia, ...] = ("ip", "init", "none")
ACCELS: tuple[Accel, ...] = ("auto", "kvm", "tcg")

#: QEMU user networking (slirp): fixed subnet, gateway and DNS, first guest address .15.
USER_NET = IPv4Network("10.0.2.0/24")
USER_GATEWAY = IPv4Address("10.0.2.2")
USER_DNS = IPv4Address("10.0.2.3")
USER_GUEST = IPv4Interface("10.0.2.15/24")
#: libvirt's default bridge virbr0, which ukl's ``make boot-priv`` uses.
BRIDGE_NET = IPv4Network("192.168.122.0/24")
BRIDGE_GATEWAY = IPv4Address("192.168.122.1")
BRIDGE_GUEST = IPv4Interface("192.168.122.128/24")
#: QEMU's own default MAC for the first NIC.
DEFAULT_MAC = "52:54:00:12:34:56"
#: x86 COMMAND_LINE_SIZE is 2048 including the terminating NUL.
MAX_CMDLINE = 2047
#: The command line ukl's presets start from.
DEFAULT_CMDLINE: tuple[str, ...] = ("console=ttyS0", "clearcpuid=smap,smep", "mitigations=off")
DEFAULT_CPU_FLAGS: tuple[str, ...] = ("-smap", "-smep")

_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")  # IFNAMSIZ is 16 with the NUL
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")
#: Characters that would split or quote a kernel parameter, plus every control character.
_UNSAFE_WORD_RE = re.compile(r"[\s\"'\x00-\x1f\x7f-\x9f]")
_CPU_FLAG_RE = re.compile(r"^(?:[+-][A-Za-z0-9_.-]+|[A-Za-z0-9_.-]+=(?:on|off|true|false))$")
_CPU_MODEL_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class Forward(NamedTuple):
    """A host port that QEMU user networking forwards to a guest port."""

    host_port: int
    guest_port: int
    proto: str = "tcp"

    def __str__(self) -> str:
        suffix = "" if self.proto == "tcp" else f"/{self.proto}"
        return f"{self.host_port}:{self.guest_port}{suffix}"


#: Ports the known UKL servers listen on; forwarded one to one by default.
SERVER_FORWARDS: dict[str, tuple[Forward, ...]] = {
    "memcached": (Forward(11211, 11211),),
    "valkey": (Forward(6379, 6379),),
    "event-tester": (Forward(7272, 7272),),
    "mpc-bench": (Forward(8000, 8000),),
}
#: ssh (dropbear in ukl's initrd, root password "root") only when asked, and never on host
#: port 22, which the host's own sshd usually holds.
SSH_FORWARD = Forward(2222, 22)


def default_forwards(app: str, ssh: bool = False) -> list[Forward]:
    """The forwards a known server needs (none for hello and unknown apps), plus ssh if asked."""
    result = list(SERVER_FORWARDS.get(app, ()))
    if ssh:
        result.append(SSH_FORWARD)
    return result


def _reject_controls(what: str, text: str) -> None:
    if re.search(r"[\x00-\x1f\x7f]", text):
        raise UserError(f"{what} {text!r} contains a newline or control character")


def parse_forward(text: str) -> Forward:
    """``HOST:GUEST`` (``8080:80``), ``PORT`` (same both sides), optionally ``/udp`` or ``/tcp``."""
    if not isinstance(text, str):
        raise UserError(f"bad port forward {text!r}: expected HOST:GUEST such as 8080:80")
    _reject_controls("port forward", text)
    body, slash, proto = text.partition("/")
    proto = proto.lower() if slash else "tcp"
    if proto not in ("tcp", "udp"):
        raise UserError(f"bad port forward {text!r}: protocol must be tcp or udp")
    host, colon, guest = body.partition(":")
    if not colon:
        guest = host
    if not _PORT_RE.match(host) or not _PORT_RE.match(guest):
        raise UserError(
            f"bad port forward {text!r}: expected HOST:GUEST such as 8080:80 (optionally /udp)"
        )
    fwd = Forward(int(host), int(guest), proto)
    _check_forward(fwd)
    return fwd


def _check_forward(fwd: Forward) -> None:
    for port in (fwd.host_port, fwd.guest_port):
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise UserError(f"port {port!r} in forward {fwd} is outside 1-65535")
    if fwd.proto not in ("tcp", "udp"):
        raise UserError(f"forward {fwd}: protocol must be tcp or udp")


def parse_address(text: str) -> IPv4Interface:
    """A guest address with prefix, ``10.0.2.15/24``; a bare address means /24 like ukl's init."""
    if not isinstance(text, str) or not text:
        raise UserError("empty guest address: expected e.g. 10.0.2.15/24")
    _reject_controls("guest address", text)
    if "/" not in text:
        text += "/24"
    try:
        iface = IPv4Interface(text)
    except ValueError:
        raise UserError(
            f"bad guest address {text!r}: expected an IPv4 address with prefix, e.g. 10.0.2.15/24"
        ) from None
    if not 8 <= iface.network.prefixlen <= 30:
        raise UserError(f"guest address {iface}: prefix /{iface.network.prefixlen} is not 8-30")
    ip = iface.ip
    if ip.is_loopback or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        raise UserError(f"guest address {ip} cannot be given to an interface")
    if ip in (iface.network.network_address, iface.network.broadcast_address):
        raise UserError(
            f"guest address {iface} is the network's "
            f"{'network' if ip == iface.network.network_address else 'broadcast'} address"
        )
    return iface


def parse_gateway(text: str, what: str = "gateway") -> IPv4Address:
    """A plain IPv4 address (no prefix): a gateway, or the host address forwards listen on."""
    if not isinstance(text, str):
        raise UserError(f"bad {what} {text!r}: expected an IPv4 address")
    _reject_controls(what, text)
    try:
        return IPv4Address(text)
    except ValueError:
        raise UserError(f"bad {what} {text!r}: expected an IPv4 address such as 10.0.2.2") from None


def parse_mac(text: str) -> str:
    """A unicast MAC address, normalised to lower case."""
    if not isinstance(text, str) or not _MAC_RE.match(text):
        raise UserError(f"bad MAC address {text!r}: expected six hex pairs, e.g. {DEFAULT_MAC}")
    mac = text.lower()
    if int(mac[:2], 16) & 1:
        raise UserError(f"MAC address {mac} is a multicast address (first byte must be even)")
    if mac == "00:00:00:00:00:00":
        raise UserError("MAC address 00:00:00:00:00:00 is not usable")
    return mac


def _check_ifname(what: str, name: str) -> None:
    if not isinstance(name, str) or not _IFNAME_RE.match(name):
        raise UserError(
            f"bad {what} name {name!r}: 1-15 letters, digits, '.', '_' or '-' "
            "(no commas, spaces or slashes)"
        )


def port_problem(port: int, proto: str = "tcp", host: str = "127.0.0.1") -> str | None:
    """Why QEMU could not listen on ``host:port``, or None when it can.

    Binds briefly with SO_REUSEADDR, like QEMU's own hostfwd socket, so a port lingering in
    TIME_WAIT is not reported as taken.
    """
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"host port {port}/{proto} is already in use on {host}"
            if exc.errno == errno.EACCES:
                return f"host port {port} is privileged (below 1024) and needs root"
            return f"host port {port}/{proto} cannot be bound on {host}: {exc.strerror}"
    return None


@dataclass(frozen=True)
class NetworkSpec:
    """The guest's network: QEMU user networking with forwards, a tap on a bridge, or none.

    ``address_via`` says how the guest learns its address: the kernel's ``ip=`` parameter
    (needs CONFIG_IP_PNP), ukl's init arguments ``IP MAC APP-ARGS`` after ``--``, or not at all.
    Strings are accepted for every field (as read from TOML) and parsed on construction.
    """

    mode: NetMode = "user"
    address: IPv4Interface | None = USER_GUEST
    gateway: IPv4Address | None = USER_GATEWAY
    forwards: tuple[Forward, ...] = ()
    tap: str = "tap0"
    bridge: str = "virbr0"
    mac: str = DEFAULT_MAC
    nic: NicModel = "e1000"
    address_via: AddressVia = "ip"
    forward_bind: IPv4Address = IPv4Address("127.0.0.1")

    def __post_init__(self) -> None:
        """Turn strings from plan files or the command line into parsed values."""
        if isinstance(self.address, str):
            object.__setattr__(self, "address", parse_address(self.address))
        if isinstance(self.gateway, str):
            object.__setattr__(self, "gateway", parse_gateway(self.gateway))
        if isinstance(self.forward_bind, str):
            object.__setattr__(
                self, "forward_bind", parse_gateway(self.forward_bind, "forward bind address")
            )
        forwards: list[Forward] = []
        for fwd in self.forwards:
            if isinstance(fwd, str):
                forwards.append(parse_forward(fwd))
            elif isinstance(fwd, Sequence) and len(fwd) in (2, 3):
                forwards.append(Forward(*fwd))
            else:
                raise UserError(f"bad port forward {fwd!r}: expected HOST:GUEST such as 8080:80")
        object.__setattr__(self, "forwards", tuple(forwards))

    @classmethod
    def for_mode(cls, mode: str) -> NetworkSpec:
        """The defaults of ``mode``: what a plan or preset file's left-out keys mean."""
        if mode not in NET_MODES:
            raise UserError(f"network mode {mode!r} is not one of {', '.join(NET_MODES)}")
        return cls.tap_on_bridge() if mode == "tap" else cls(mode=cast(NetMode, mode))

    def chosen_keys(self) -> tuple[str, ...]:
        """The keys that differ from the defaults of this spec's mode (``mode`` itself when
        it is not user networking): what a file must say to give this spec back.
        """
        default = NetworkSpec.for_mode(self.mode)
        keys = [] if self.mode == "user" else ["mode"]
        keys += [k for k in NETWORK_KEYS if k != "mode" and getattr(self, k) != getattr(default, k)]
        return tuple(keys)

    @classmethod
    def user(cls, forwards: Iterable[Forward | str] = (), **kw: Any) -> NetworkSpec:
        """User networking at QEMU's first guest address, 10.0.2.15/24 via 10.0.2.2."""
        return cls(mode="user", forwards=tuple(forwards), **kw)

    @classmethod
    def tap_on_bridge(cls, **kw: Any) -> NetworkSpec:
        """The layout of ukl's ``boot-priv``: tap0 on virbr0, guest 192.168.122.128/24."""
        kw.setdefault("address", BRIDGE_GUEST)
        kw.setdefault("gateway", BRIDGE_GATEWAY)
        kw.setdefault("nic", "virtio-net-pci")
        return cls(mode="tap", **kw)

    def validate(self, check_ports: bool = True) -> None:
        """Raise ``UserError`` for the first inconsistency; ``check_ports`` binds each host port."""
        if self.mode not in NET_MODES:
            raise UserError(f"network mode {self.mode!r} is not one of {', '.join(NET_MODES)}")
        if self.nic not in NIC_MODELS:
            raise UserError(f"network card {self.nic!r} is not one of {', '.join(NIC_MODELS)}")
        if self.address_via not in ADDRESS_VIA:
            raise UserError(
                f"address hand-over {self.address_via!r} is not one of {', '.join(ADDRESS_VIA)}"
            )
        parse_mac(self.mac)
        if self.mode == "none":
            if self.forwards:
                raise UserError("port forwards need a network: mode 'none' has no interface")
            return
        if self.address_via != "none" and self.address is None:
            raise UserError("the guest needs an address, e.g. 10.0.2.15/24")
        if self.address is not None:
            self._validate_address(self.address)
        if self.mode == "tap":
            _check_ifname("tap", self.tap)
            _check_ifname("bridge", self.bridge)
            if self.forwards:
                raise UserError(
                    "port forwards only apply to user networking; on a tap the guest is "
                    "reached at its own address"
                )
            return
        if not isinstance(self.forward_bind, IPv4Address):
            raise UserError(f"bad forward bind address {self.forward_bind!r}")
        seen: dict[tuple[int, str], Forward] = {}
        for fwd in self.forwards:
            _check_forward(fwd)
            key = (fwd.host_port, fwd.proto)
            if key in seen:
                raise UserError(
                    f"host port {fwd.host_port}/{fwd.proto} is forwarded twice "
                    f"({seen[key]} and {fwd})"
                )
            seen[key] = fwd
        if check_ports:
            for fwd in self.forwards:
                problem = port_problem(fwd.host_port, fwd.proto, str(self.forward_bind))
                if problem:
                    raise UserError(f"{problem}: forward another host port to {fwd.guest_port}")

    def _validate_address(self, address: IPv4Interface) -> None:
        if not isinstance(address, IPv4Interface):
            raise UserError(f"bad guest address {address!r}")
        gateway = self.gateway
        if gateway is not None and not isinstance(gateway, IPv4Address):
            raise UserError(f"bad gateway {gateway!r}")
        ip = address.ip
        if self.mode == "user":
            if ip in BRIDGE_NET:
                raise UserError(
                    f"guest address {ip} belongs to the bridge network ({BRIDGE_NET}, tap mode); "
                    f"under user networking use {USER_GUEST}"
                )
            if ip not in USER_NET:
                raise UserError(
                    f"guest address {ip} is outside user networking's {USER_NET}; use {USER_GUEST}"
                )
            if ip in (USER_GATEWAY, USER_DNS):
                raise UserError(
                    f"guest address {ip} is QEMU's {'gateway' if ip == USER_GATEWAY else 'DNS'} "
                    f"under user networking; use {USER_GUEST.ip}"
                )
        if gateway is not None:
            if gateway not in address.network:
                raise UserError(
                    f"gateway {gateway} is outside the guest's subnet {address.network}"
                )
            if gateway == ip:
                raise UserError(f"gateway {gateway} is the guest's own address")
            if self.mode == "user" and gateway != USER_GATEWAY:
                raise UserError(
                    f"under user networking the gateway is {USER_GATEWAY}, not {gateway}"
                )
        if self.address_via == "init" and address.network.prefixlen != 24:
            raise UserError(
                f"ukl's init always adds the address as /24: {address} cannot be handed over "
                "as init arguments (use the ip= parameter)"
            )

    def check_host(self) -> None:
        """What must be true on the machine that boots: root and an existing bridge for tap.

        Kept apart from ``validate()`` so a plan can be made on a machine without the bridge.
        """
        if self.mode != "tap":
            return
        if os.geteuid() != 0:
            raise UserError(
                f"tap networking needs root (QEMU opens /dev/net/tun for {self.tap}); "
                "run as root or use user networking"
            )
        if not Path("/sys/class/net", self.bridge, "bridge").exists():
            raise UserError(
                f"bridge {self.bridge} does not exist (libvirt's default network creates "
                "virbr0: 'virsh net-start default')"
            )
        master = Path("/sys/class/net", self.tap, "master")
        if master.exists() and master.resolve().name != self.bridge:
            raise UserError(
                f"{self.tap} is attached to {master.resolve().name}, not to {self.bridge}"
            )

    def tap_setup_argv(self) -> list[list[str]]:
        """Commands (argv, as root) that create the tap and attach it to the bridge.

        QEMU with ``script=no`` only opens the tap; without these the guest is cut off.
        """
        return [
            ["ip", "tuntap", "add", "dev", self.tap, "mode", "tap"],
            ["ip", "link", "set", "dev", self.tap, "master", self.bridge],
            ["ip", "link", "set", "dev", self.tap, "up"],
        ]

    def ip_param(self, dev: str = "eth0") -> str | None:
        """The kernel's ``ip=client:server:gw:netmask:host:dev:autoconf`` parameter, if used."""
        if self.mode == "none" or self.address_via != "ip" or self.address is None:
            return None
        _check_ifname("interface", dev)
        gw = "" if self.gateway is None else str(self.gateway)
        return f"ip={self.address.ip}::{gw}:{self.address.netmask}::{dev}:off"

    def init_address_args(self) -> list[str]:
        """``IP MAC`` for ukl's init (it adds IP/24 to the interface with that MAC), if used."""
        if self.mode == "none" or self.address_via != "init" or self.address is None:
            return []
        return [str(self.address.ip), parse_mac(self.mac)]

    def qemu_args(self) -> list[str]:
        """``-netdev``/``-device`` arguments; every value is validated, so no comma can slip in."""
        if self.mode == "none":
            return []
        mac = parse_mac(self.mac)
        if self.mode == "tap":
            _check_ifname("tap", self.tap)
            netdev = f"tap,id=net0,ifname={self.tap},script=no,downscript=no"
        else:
            parts = ["user", "id=net0"]
            guest = "" if self.address is None else str(self.address.ip)
            for fwd in self.forwards:
                _check_forward(fwd)
                parts.append(
                    f"hostfwd={fwd.proto}:{self.forward_bind}:{fwd.host_port}"
                    f"-{guest}:{fwd.guest_port}"
                )
            netdev = ",".join(parts)
        return ["-netdev", netdev, "-device", f"{self.nic},netdev=net0,mac={mac}"]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for plan files (TOML has no null: absent values are left out)."""
        data: dict[str, Any] = {
            "mode": self.mode,
            "forwards": [str(f) for f in self.forwards],
            "tap": self.tap,
            "bridge": self.bridge,
            "mac": self.mac,
            "nic": self.nic,
            "address_via": self.address_via,
            "forward_bind": str(self.forward_bind),
        }
        if self.address is not None:
            data["address"] = str(self.address)
        if self.gateway is not None:
            data["gateway"] = str(self.gateway)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkSpec:
        """Read a spec back; absent address/gateway mean none (for the tap/none modes)."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"network: unknown field(s) {', '.join(unknown)}")
        kw = dict(data)
        kw.setdefault("address", None)
        kw.setdefault("gateway", None)
        return cls(**kw)


#: The keys of a ``[network]`` table (plan files and presets alike): NetworkSpec's fields.
NETWORK_KEYS: tuple[str, ...] = tuple(f.name for f in fields(NetworkSpec))


def parse_network_value(key: str, value: Any) -> Any:
    """One ``[network]`` key as a file gives it, parsed to the NetworkSpec field's value.

    The one reader of network values for plan files and presets: addresses, gateways, MACs
    and forwards go through this module's parsers; an empty address or gateway means none.
    ``UserError`` (without a location: the caller adds file and key) on anything else.
    """
    if key not in NETWORK_KEYS:
        raise UserError(f"unknown network key {key!r} (known: {', '.join(NETWORK_KEYS)})")
    if key == "forwards":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise UserError('expected a list of forwards such as ["8080:80", "5353/udp"]')
        return tuple(parse_forward(f) for f in value)
    if not isinstance(value, str):
        raise UserError(f"expected a string, not {value!r}")
    choices = {"mode": NET_MODES, "nic": NIC_MODELS, "address_via": ADDRESS_VIA}
    if key in choices:
        if value not in choices[key]:
            raise UserError(f"expected one of {', '.join(choices[key])}, not {value!r}")
        return value
    if key in ("address", "gateway") and value == "":
        return None
    if key == "address":
        return parse_address(value)
    if key in ("gateway", "forward_bind"):
        return parse_gateway(value, "gateway" if key == "gateway" else "forward bind address")
    if key == "mac":
        return parse_mac(value)
    _check_ifname(key, value)  # tap, bridge
    return value


def network_value_data(key: str, value: Any) -> Any:
    """A NetworkSpec field's value as a file writes it (the inverse of
    :func:`parse_network_value`): strings, forwards as ``HOST:GUEST``, none as ``""``.
    """
    if key == "forwards":
        return [str(f) for f in value]
    return "" if value is None else str(value)


def check_word(what: str, word: str) -> None:
    """One kernel parameter or init argument: it must stay exactly one word.

    Whitespace would split it, quotes would make the kernel join words, control characters
    (a newline above all) could end the line anywhere; ``--`` would start the init arguments.
    """
    if not isinstance(word, str) or not word:
        raise UserError(f"empty {what}")
    if _UNSAFE_WORD_RE.search(word):
        raise UserError(
            f"{what} {word!r} contains a space, quote or control character; "
            "each must be a single word"
        )


def check_param(param: str) -> None:
    """A kernel parameter the user or a preset adds before ``--``."""
    check_word("kernel parameter", param)
    if param == "--":
        raise UserError("'--' cannot be a kernel parameter: init arguments have their own field")


def check_cpu_flag(flag: str) -> None:
    """One flag of QEMU's ``-cpu`` value (a comma or space would inject other options)."""
    if not isinstance(flag, str) or not _CPU_FLAG_RE.match(flag):
        raise UserError(
            f"QEMU CPU flag {flag!r} must look like -smap, +pdpe1gb or smap=off "
            "(no commas or spaces)"
        )


def edit_cmdline(cmdline: str, add: Sequence[str], remove: Sequence[str] = ()) -> str:
    """The kernel command line with parameters removed and added (before any ``--``).

    A word of ``remove`` drops that parameter; one ending in ``=`` (``clearcpuid=``) drops
    every parameter of that name. Added parameters already there are not added twice.
    """
    words = cmdline.split()
    tail: list[str] = []
    if "--" in words:
        cut = words.index("--")
        words, tail = words[:cut], words[cut:]
    kept = [w for w in words if not param_dropped(w, remove)]
    kept += [w for w in add if w not in kept]
    return " ".join(kept + tail)


def param_dropped(word: str, remove: Sequence[str]) -> bool:
    """Does ``remove`` (words, or ``name=`` prefixes) drop the kernel parameter ``word``?"""
    return any(word == r or (r.endswith("=") and word.startswith(r)) for r in remove)


def add_cpu_flags(cpu: str, flags: Sequence[str]) -> str:
    """QEMU's ``-cpu`` value with ``flags`` set (a flag's earlier setting is replaced)."""
    items = [i for i in cpu.split(",") if i]
    names = {f.lstrip("+-").split("=", 1)[0].lower() for f in flags}
    kept = [
        item
        for index, item in enumerate(items)
        if (index == 0 and item[0] not in "+-" and "=" not in item)
        or item.lstrip("+-").split("=", 1)[0].lower() not in names
    ]
    return ",".join(kept + list(flags))


def app_args_problem(text: str) -> str | None:
    """Why ``text`` cannot be ukl's APP-ARGS init argument, or None when it can.

    The kernel passes each word after ``--`` to init as its own argument, and ukl's init hands
    only one of them to the app, so ``-p 11211`` silently loses ``11211``.
    """
    words = text.split()
    if not words:
        return "APP-ARGS is empty"
    if len(words) > 1:
        return (
            f"APP-ARGS must be one word: ukl's init passes each word after '--' as a separate "
            f"argument and {text!r} has {len(words)}"
        )
    if _UNSAFE_WORD_RE.search(text):
        return f"APP-ARGS {text!r} contains a quote or control character"
    return None


def _check_path(what: str, path: str) -> None:
    if not isinstance(path, str) or not path:
        raise UserError(f"empty {what} path")
    _reject_controls(f"{what} path", path)
    if "," in path:
        raise UserError(
            f"{what} path {path!r} contains a comma, which QEMU reads as an option separator"
        )


class AccelChoice(NamedTuple):
    """The accelerator QEMU gets, the CPU model that goes with it, and a note for the user."""

    accel: str
    cpu_model: str
    note: str


@dataclass(frozen=True)
class BootSpec:
    """Everything that decides the QEMU command: files, sizes, command line, network, accel."""

    kernel: str
    initrd: str | None = None
    memory_mib: int = 1024
    cpus: int = 1
    cmdline_base: tuple[str, ...] = DEFAULT_CMDLINE
    extra_params: tuple[str, ...] = ()
    init_args: tuple[str, ...] = ()
    qemu_cpu_flags: tuple[str, ...] = DEFAULT_CPU_FLAGS
    network: NetworkSpec = field(default_factory=NetworkSpec)
    accel: Accel = "auto"
    gdb: bool = False
    gdb_port: int = 1234
    qemu: str = "qemu-system-x86_64"

    def __post_init__(self) -> None:
        """Accept lists (TOML) and path objects, store tuples and strings."""
        for name in ("cmdline_base", "extra_params", "init_args", "qemu_cpu_flags"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise UserError(f"boot {name} must be a list of words, not one string")
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "kernel", os.fspath(self.kernel))
        if self.initrd is not None:
            object.__setattr__(self, "initrd", os.fspath(self.initrd))
        if isinstance(self.network, Mapping):
            object.__setattr__(self, "network", NetworkSpec.from_dict(self.network))

    def with_network(self, network: NetworkSpec) -> BootSpec:
        """A copy with another network (the Network screen edits only that part)."""
        return replace(self, network=network)

    def validate(self, check_ports: bool = True) -> None:
        """Raise ``UserError`` for anything that would break or inject into the command."""
        _check_path("kernel", self.kernel)
        if self.initrd is not None:
            _check_path("initrd", self.initrd)
        for name, value, low, high in (
            ("memory", self.memory_mib, 64, 1 << 20),
            ("cpus", self.cpus, 1, 256),
            ("gdb port", self.gdb_port, 1, 65535),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise UserError(
                    f"{name} must be a whole number from {low} to {high}, not {value!r}"
                )
        if self.accel not in ACCELS:
            raise UserError(f"accelerator {self.accel!r} is not one of {', '.join(ACCELS)}")
        check_word("QEMU binary", self.qemu)
        for param in (*self.cmdline_base, *self.extra_params):
            check_param(param)
        for arg in self.init_args:
            check_word("init argument", arg)
        for flag in self.qemu_cpu_flags:
            check_cpu_flag(flag)
        self.network.validate(check_ports=check_ports)
        if self.init_args and self.network.address_via != "init" and self.network.mode != "none":
            raise UserError(
                "ukl's init reads its arguments as IP MAC APP-ARGS: hand the address over as "
                "init arguments (address_via 'init') to pass app arguments"
            )
        if len(self.kernel_cmdline()) > MAX_CMDLINE:
            raise UserError(f"the kernel command line is longer than {MAX_CMDLINE} characters")

    def check_files(self) -> None:
        """The kernel and initrd exist (only at boot time: a plan names files not built yet)."""
        for what, path in (("kernel", self.kernel), ("initrd", self.initrd)):
            if path is not None and not Path(path).is_file():
                raise UserError(f"{what} {path} does not exist (build it first)")
        self.network.check_host()

    def init_argv(self) -> list[str]:
        """The words after ``--``: ``IP MAC`` when the address goes that way, then app args."""
        return [*self.network.init_address_args(), *self.init_args]

    def kernel_cmdline(self) -> str:
        """Base parameters, user extras, ``ip=`` if used, then ``-- init args``."""
        for param in (*self.cmdline_base, *self.extra_params):
            check_param(param)
        words = [*self.cmdline_base, *self.extra_params]
        ip = self.network.ip_param()
        if ip:
            words.append(ip)
        init = self.init_argv()
        for arg in init:
            check_word("init argument", arg)
        if init:
            words += ["--", *init]
        return " ".join(words)

    def resolve_accel(self, kvm: KvmStatus) -> AccelChoice:
        """KVM only when it really works; otherwise TCG with ``-cpu max`` and a note why."""
        if self.accel == "kvm" and not kvm.usable:
            raise UserError(f"KVM was requested but is not usable: {kvm.reason}")
        if self.accel == "kvm" or (self.accel == "auto" and kvm.usable):
            return AccelChoice("kvm", "host", f"KVM: {kvm.reason}")
        if self.accel == "tcg":
            return AccelChoice(
                "tcg", "max", "TCG (software emulation) as requested: expect boots of seconds"
            )
        return AccelChoice(
            "tcg",
            "max",
            f"TCG (software emulation, many times slower than KVM) because {kvm.reason}",
        )

    def accel_note(self, kvm: KvmStatus) -> str:
        """The one-line explanation of the accelerator choice, for the status line."""
        return self.resolve_accel(kvm).note

    def cpu_value(self, cpu_model: str) -> str:
        """QEMU's ``-cpu`` value for a model: ``max,-smap,-smep``."""
        return ",".join([cpu_model, *self.qemu_cpu_flags])

    def qemu_argv(self, kvm: KvmStatus) -> list[str]:
        """The full QEMU command; the serial console is on stdio (a pipe from the runner)."""
        self.validate(check_ports=False)
        choice = self.resolve_accel(kvm)
        cpu = self.cpu_value(choice.cpu_model)
        argv = [
            self.qemu,
            "-accel",
            choice.accel,
            "-cpu",
            cpu,
            "-m",
            str(self.memory_mib),
            "-smp",
            str(self.cpus),
            "-nodefaults",
            "-nographic",
            "-serial",
            "stdio",
            "-no-reboot",
            *self.network.qemu_args(),
            "-kernel",
            self.kernel,
        ]
        if self.initrd is not None:
            argv += ["-initrd", self.initrd]
        argv += ["-append", self.kernel_cmdline()]
        if self.gdb:
            # Never `-s`: it listens on every interface.
            argv += ["-gdb", f"tcp:127.0.0.1:{self.gdb_port}"]
        return argv

    def to_step(
        self,
        kvm: KvmStatus,
        cwd: str,
        *,
        step_id: str = "boot",
        title: str = "Boot under QEMU",
        timeout: float | None = None,
        success_markers: Sequence[str] = ("UKL BOOTED",),
    ) -> Step:
        """The runner step for this boot: interactive, so the console takes typed lines."""
        return Step(
            id=step_id,
            title=title,
            argv=tuple(self.qemu_argv(kvm)),
            cwd=cwd,
            env={},
            kind="boot",
            timeout=timeout,
            success_markers=tuple(success_markers),
            interactive=True,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for plan files (``initrd`` left out when there is none)."""
        data: dict[str, Any] = {
            "kernel": self.kernel,
            "memory_mib": self.memory_mib,
            "cpus": self.cpus,
            "cmdline_base": list(self.cmdline_base),
            "extra_params": list(self.extra_params),
            "init_args": list(self.init_args),
            "qemu_cpu_flags": list(self.qemu_cpu_flags),
            "network": self.network.to_dict(),
            "accel": self.accel,
            "gdb": self.gdb,
            "gdb_port": self.gdb_port,
            "qemu": self.qemu,
        }
        if self.initrd is not None:
            data["initrd"] = self.initrd
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BootSpec:
        """Read a spec back from a plan file."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"boot: unknown field(s) {', '.join(unknown)}")
        if "kernel" not in data:
            raise UserError("boot: missing field 'kernel'")
        kw = dict(data)
        if "network" in kw and isinstance(kw["network"], Mapping):
            kw["network"] = NetworkSpec.from_dict(kw["network"])
        return cls(**cast(dict[str, Any], kw))


# --- rule hooks: pure checks other modules (rules.py) build conflicts from -------------------

#: X86_FEATURE_SMEP is word 9 bit 7, X86_FEATURE_SMAP word 9 bit 20: clearcpuid takes numbers too.
_FEATURE_NUMBERS = {"295": "smep", "308": "smap"}


def split_kernel_cmdline(cmdline: str) -> list[str]:
    """Split like the kernel's ``next_arg``: on whitespace, with double quotes grouping."""
    words: list[str] = []
    current: list[str] = []
    in_quote = False
    started = False
    for ch in cmdline:
        if ch == '"':
            in_quote = not in_quote
            started = True
            continue
        if ch.isspace() and not in_quote:
            if started:
                words.append("".join(current))
                current, started = [], False
            continue
        current.append(ch)
        started = True
    if started:
        words.append("".join(current))
    return words


def cmdline_clears_smap_smep(cmdline: str) -> bool:
    """True when the kernel parameters (before ``--``) turn off both SMAP and SMEP.

    ``clearcpuid=smap,smep`` (names or feature numbers, over one or several clearcpuid
    parameters) on current kernels; ``nosmap nosmep`` on older trees.
    """
    cleared: set[str] = set()
    for word in split_kernel_cmdline(cmdline):
        if word == "--":
            break
        name, eq, value = word.partition("=")
        if name == "clearcpuid" and eq:
            for item in value.split(","):
                item = item.strip().lower()
                cleared.add(_FEATURE_NUMBERS.get(item, item))
        elif word in ("nosmap", "nosmep"):
            cleared.add(word[2:])
    return {"smap", "smep"} <= cleared


def cpu_flags_clear_smap_smep(cpu_arg: str) -> bool:
    """True when a QEMU ``-cpu`` value (``max,-smap,-smep``) leaves SMAP and SMEP off.

    Later settings win, as in QEMU; a value made only of flags (``-smap,-smep``) is accepted.
    A model without an explicit flag keeps its default, which for host/max includes both.
    """
    state: dict[str, bool] = {}
    items = [i.strip() for i in cpu_arg.split(",") if i.strip()]
    if items and items[0][0] not in "+-" and _CPU_MODEL_RE.match(items[0]):
        items = items[1:]
    for item in items:
        if item[0] in "+-":
            state[item[1:].lower()] = item[0] == "+"
        elif "=" in item:
            key, _, value = item.partition("=")
            state[key.lower()] = value.lower() in ("on", "true", "yes")
    return state.get("smap") is False and state.get("smep") is False
