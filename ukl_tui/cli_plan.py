"""``ukl-tui plan``: a session's exact commands, printed, saved or written as a script.

Also ``ukl-tui initramfs``, the command a plan's initramfs step runs: a step must be a process
(the runner executes argv lists, and a reproducer script must be able to do the same), so
building ukl-tui's minimal initramfs needs a command line of its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from ukl_tui.cli_common import parse_assignment, print_json
from ukl_tui.errors import UserError


def register(sub: Any) -> None:
    """Add ``plan`` and ``initramfs``."""
    p = sub.add_parser(
        "plan",
        help="print the exact commands from a tree or checkout to a booted unikernel",
        description="Turn a tree or ukl checkout plus choices (presets, edits, application, "
        "network, boot) into ordered commands: printed as copy-pasteable shell lines, saved as "
        "a plan file (TOML) and/or written as a reproducer script. Options given here replace "
        "the loaded plan's values (lists too); --set adds to its edits. Exit 0 when the plan "
        "is valid, 1 when the conflict rules find an error in it (the commands are still "
        "printed and files written), 2 on bad input (nothing is written then).",
    )
    src = p.add_argument_group("what to build")
    src.add_argument(
        "--tree", help="kernel tree or ukl checkout (default: . if it is one, else $UKL_DIR)"
    )
    src.add_argument("--plan", metavar="FILE", help="start from a saved plan file")
    src.add_argument("--overlay", action="append", metavar="KCONFIG", help="extra Kconfig file")
    src.add_argument("--config", metavar="FILE", help=".config to start from (plain trees)")
    src.add_argument("--base", help="reset to defconfig or tinyconfig first (plain trees)")
    src.add_argument("--preset", action="append", metavar="NAME", help="preset (repeatable)")
    src.add_argument("--set", dest="assignments", action="append", default=[], metavar="SYM=VAL")
    src.add_argument("--build-dir", metavar="DIR", help="O= directory (plain trees)")
    src.add_argument("--jobs", type=int, metavar="N", help="make -jN (default: CPU count)")
    src.add_argument(
        "--ccache",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compile the kernel through ccache (default: when installed; in a ukl checkout "
        "only the kernel, not glibc or gcc)",
    )
    add_distcc_options(src)
    app = p.add_argument_group("application")
    app.add_argument("--app", help="program of the ukl checkout (hello, memcached, ...)")
    app.add_argument("--ukl-a", metavar="FILE", help="a prebuilt UKL.a instead of a program")
    app.add_argument(
        "--configure",
        action="append",
        default=[],
        metavar="FLAG[=VALUE]",
        help="a configure option, e.g. enable-use-ret or with-ukl-trigger=/UKL (repeatable)",
    )
    net = p.add_argument_group("network")
    add_network_options(net)
    net.add_argument(
        "--no-default-forwards",
        action="store_true",
        help="do not forward the known servers' ports automatically",
    )
    boot = p.add_argument_group("boot")
    boot.add_argument("--initrd", metavar="FILE|minimal|ukl|auto", help="initrd to boot with")
    boot.add_argument("--memory", type=int, metavar="MiB", help="guest memory")
    boot.add_argument("--cpus", type=int, metavar="N", help="guest CPUs")
    boot.add_argument("--append", action="append", metavar="PARAM", help="kernel parameter")
    boot.add_argument("--init-arg", action="append", metavar="ARG", help="argument for init")
    boot.add_argument("--accel", choices=("auto", "kvm", "tcg"), help="QEMU accelerator")
    out = p.add_argument_group("output")
    out.add_argument(
        "--save",
        nargs="?",
        const="",
        metavar="FILE",
        help="write the plan file (default: the loaded file, else ukl-tui.toml in the "
        "checkout, or in the build directory for a plain tree)",
    )
    out.add_argument("--script", metavar="FILE", help="write an executable reproducer script")
    out.add_argument("--json", action="store_true", help="print the steps as JSON")
    p.set_defaults(func=cmd_plan)

    i = sub.add_parser(
        "initramfs",
        help="build ukl-tui's minimal busybox initramfs (a plan step runs this)",
        description="Write a gzip newc initramfs made from the host's static busybox: /init "
        "mounts proc, sys and devtmpfs, configures the network from ukl's init arguments, "
        "prints UKL BOOTED and runs the trigger path.",
    )
    i.add_argument("--out", required=True, metavar="FILE", help="where to write the archive")
    i.add_argument("--trigger", default="/UKL", help="path init executes (default /UKL)")
    payload = i.add_mutually_exclusive_group()
    payload.add_argument("--payload", metavar="FILE", help="file installed at the trigger path")
    payload.add_argument(
        "--placeholder",
        action="store_true",
        help="install a small script at the trigger path, so init executes it (a UKL kernel "
        "starts its application on the exec, by name)",
    )
    i.add_argument("--after", choices=("shell", "reboot"), default="shell")
    i.set_defaults(func=cmd_initramfs)


# ----- plan ---------------------------------------------------------------------------------------


def add_distcc_options(group: Any) -> None:
    """``--distcc [HOSTS]`` and ``--no-distcc`` (``plan`` and ``run --plan`` share them)."""
    group.add_argument(
        "--distcc",
        nargs="?",
        const="",
        metavar="HOSTS",
        help="compile the kernel through distcc on HOSTS, in distcc's syntax "
        "('host[:port][/limit] ...', 'localhost/2'); -j becomes their total of slots unless "
        "--jobs is given; without HOSTS: $DISTCC_HOSTS, else ~/.distcc/hosts, which a new "
        "plan also uses when neither --distcc nor --no-distcc is given",
    )
    group.add_argument(
        "--no-distcc", action="store_true", help="build without distcc (drops a plan's hosts)"
    )


def add_network_options(group: Any) -> None:
    """The network options (``plan`` and ``preset save`` share them; :func:`network_change`
    reads them).
    """
    from ukl_tui.boot import ADDRESS_VIA, NET_MODES, NIC_MODELS

    group.add_argument("--net", choices=NET_MODES, help="network mode")
    group.add_argument("--ip", metavar="ADDR/PREFIX", help="guest address ('' for none)")
    group.add_argument("--gateway", metavar="GW", help="guest gateway ('' for none)")
    group.add_argument(
        "--forward", action="append", metavar="HOST:GUEST", help="port forward (repeatable)"
    )
    group.add_argument("--address-via", choices=ADDRESS_VIA, help="ip= or init args")
    group.add_argument("--mac", help="guest MAC address")
    group.add_argument("--tap", help="tap interface (tap mode)")
    group.add_argument("--bridge", help="bridge (tap mode)")
    group.add_argument("--nic", choices=NIC_MODELS, help="network card model")


def network_change(
    args: argparse.Namespace, network: Any, keys: tuple[str, ...] = ()
) -> tuple[Any, tuple[str, ...]]:
    """The network the options make of ``network`` and the keys the user chose: ``keys``
    plus every option given. ``--net`` with another mode starts from that mode's defaults
    (the old keys go). Values go through the plan file's parsers
    (``boot.parse_network_value``); a bad one is a ``UserError`` naming the option.
    """
    from ukl_tui.boot import NETWORK_KEYS, NetworkSpec, parse_network_value

    chosen = set(keys)
    if args.net is not None:
        if args.net != network.mode:
            network, chosen = NetworkSpec.for_mode(args.net), set()
        chosen.add("mode")
    changes: dict[str, Any] = {}
    options = {
        "address": ("ip", args.ip),
        "gateway": ("gateway", args.gateway),
        "forwards": ("forward", args.forward),
        "address_via": ("address-via", args.address_via),
        "mac": ("mac", args.mac),
        "tap": ("tap", args.tap),
        "bridge": ("bridge", args.bridge),
        "nic": ("nic", args.nic),
    }
    for key, (option, value) in options.items():
        if value is None:
            continue
        for item in value if key == "forwards" else [value]:
            try:  # each forward alone, so the message names the bad one
                parse_network_value(key, [item] if key == "forwards" else item)
            except UserError as exc:
                raise UserError(f"--{option} {item!r}: {exc.message}") from None
        changes[key] = parse_network_value(key, value)
    address = changes.get("address")
    if address is not None and args.gateway is None and network.gateway not in address.network:
        changes["gateway"] = None  # the old gateway is outside the new subnet
    chosen |= set(changes)
    if changes:
        network = replace(network, **changes)
    return network, tuple(k for k in NETWORK_KEYS if k in chosen)


def distcc_change(args: argparse.Namespace, *, new_plan: bool = False) -> dict[str, Any]:
    """The plan change ``--distcc``/``--no-distcc`` ask for.

    With neither, a plan file keeps its own setting (it is the record of what was meant); a
    new plan takes distcc's own list ($DISTCC_HOSTS, else ~/.distcc/hosts) when the user has
    one, and says so on stderr with the way out.
    """
    from ukl_tui.distcc import hosts_option, implicit_hosts

    if args.no_distcc:
        if args.distcc is not None:
            raise UserError("give either --distcc or --no-distcc, not both")
        return {"distcc": None}
    if args.distcc is None and new_plan:
        found = implicit_hosts()
        if found is None:
            return {}
        sys.stderr.write(
            f"ukl-tui: compiling through distcc on the hosts in {found[1]}: {found[0]} "
            "(--no-distcc compiles on this machine)\n"
        )
        return {"distcc": found[0]}
    hosts = hosts_option(args.distcc)
    return {} if hosts is None else {"distcc": hosts}


def _configure_changes(items: list[str]) -> dict[str, Any]:
    """``--configure`` words as ConfigureOptions fields (``enable-x``, ``with-y=v``...)."""
    from ukl_tui.apps import OPTIONS

    by_flag = {spec.flag.removeprefix("--"): spec for spec in OPTIONS}
    changes: dict[str, Any] = {}
    for item in items:
        word = item.removeprefix("--")
        name, eq, value = word.partition("=")
        negate = name.startswith("disable-")
        key = "enable-" + name.removeprefix("disable-") if negate else name
        spec = by_flag.get(key)
        if spec is None:
            known = ", ".join(sorted(by_flag))
            raise UserError(f"--configure {item!r}: unknown option (known: {known})")
        if spec.field == "program":
            raise UserError("--configure with-program: choose the program with --app NAME")
        if spec.kind == "bool":
            if eq and value not in ("yes", "no"):
                raise UserError(f"--configure {item!r}: a switch takes no value (or yes/no)")
            changes[spec.field] = not negate and value != "no"
        else:
            if not eq:
                raise UserError(f"--configure {item!r}: expected {key}=VALUE")
            changes[spec.field] = value
    return changes


def build_plan(args: argparse.Namespace) -> Any:
    """The plan the arguments describe: the loaded file (if any) with the options applied."""
    from ukl_tui.cli_common import tree_path
    from ukl_tui.plan import Plan

    if args.plan:
        plan = Plan.load(args.plan)
        if args.tree:
            plan = replace(plan, tree=Path(args.tree))
    else:
        plan = Plan(tree=tree_path(args))

    changes: dict[str, Any] = {}
    if args.overlay is not None:
        changes["overlays"] = tuple(Path(o) for o in args.overlay)
    for name in ("config", "build_dir"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = Path(value)
    for name in ("base", "jobs", "ccache", "initrd", "accel"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if args.preset is not None:
        changes["presets"] = tuple(args.preset)
    if args.assignments:
        changes["edits"] = {**plan.edits, **dict(parse_assignment(a) for a in args.assignments)}
    if args.app is not None:
        changes["app"], changes["ukl_a"] = args.app, None
    if args.ukl_a is not None:
        if args.app is not None:
            raise UserError("choose either a program (--app) or a prebuilt UKL.a (--ukl-a)")
        changes["ukl_a"], changes["app"] = Path(args.ukl_a), None
    if args.configure:
        changes["configure"] = replace(plan.configure, **_configure_changes(args.configure))
    if args.memory is not None:
        changes["memory_mib"] = args.memory
    if args.cpus is not None:
        changes["cpus"] = args.cpus
    if args.append is not None:
        changes["append"] = tuple(args.append)
    if args.init_arg is not None:
        changes["init_args"] = tuple(args.init_arg)
    if args.no_default_forwards:
        changes["auto_forwards"] = False
    changes.update(distcc_change(args, new_plan=not args.plan))

    network, keys = network_change(args, plan.network, plan.network_keys)
    if network is not plan.network or keys != plan.network_keys:
        changes["network"], changes["network_keys"] = network, keys
    return replace(plan, **changes) if changes else plan


def cmd_plan(args: argparse.Namespace) -> int:
    """Check the plan, then print it; write the plan file / script only when all is valid."""
    from ukl_tui.plan import (
        check_writable,
        comment_line,
        default_plan_path,
        script_text,
        step_lines,
        write_text_atomic,
    )

    plan = build_plan(args)
    built = plan.build()
    save_to: Path | None = None
    make_parent = False
    if args.save is not None:
        if args.save:
            save_to = Path(args.save).expanduser().absolute()
        else:
            save_to = plan.source or default_plan_path(built.workspace, built.build_dir)
        make_parent = save_to.parent == built.build_dir and not save_to.parent.exists()
        if make_parent:
            # a plain tree's plan lives in its build directory, which may not exist yet
            existing = next(p for p in save_to.parents if p.exists())
            if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
                raise UserError(f"cannot create {save_to.parent}: {existing} is not writable")
        else:
            check_writable("plan file", save_to)
    script_to = Path(args.script).expanduser().absolute() if args.script else None
    if script_to is not None:
        check_writable("script", script_to)

    ws = built.workspace
    kind = "ukl checkout" if ws.is_ukl else "kernel tree"
    version = f", Linux {ws.kernel_version}" if ws.kernel_version else ""
    header = f"ukl-tui plan for {ws.root} ({kind}{version})"
    if save_to is not None:
        if make_parent:
            save_to.parent.mkdir(parents=True, exist_ok=True)
        plan.save(save_to)
    if script_to is not None:
        write_text_atomic(script_to, script_text(built.steps, header=header), mode=0o755)

    for warning in built.warnings:
        sys.stderr.write(f"ukl-tui: warning: {warning}\n")
    for conflict in built.conflicts:
        for line in conflict.lines():
            sys.stderr.write(f"ukl-tui: {line}\n")
    status = 1 if any(c.severity == "error" for c in built.conflicts) else 0
    if args.json:
        print_json(
            {
                "tree": str(ws.root),
                "kind": ws.kind,
                "kernel_version": ws.kernel_version,
                "build_dir": str(built.build_dir),
                "kernel": str(built.kernel),
                "initrd": None if built.initrd is None else str(built.initrd),
                "title": header,
                "application": None if built.app is None else built.app.name,
                "accel": built.accel_note,
                "probe_ports": built.probe_ports,
                "probe_host": str(built.boot.network.forward_bind),
                "replan_after": built.replan_after,
                "warnings": built.warnings,
                "distcc": [
                    {"host": p.host.label, "ok": p.ok, "detail": p.detail}
                    for p in built.compiler.probes
                ],
                "conflicts": [c.to_dict() for c in built.conflicts],
                "plan_file": None if save_to is None else str(save_to),
                "script": None if script_to is None else str(script_to),
                "steps": [step.to_dict() for step in built.steps],
            }
        )
        return status
    print(comment_line(header))
    for line in step_lines(built.steps):
        print(line)
    if save_to is not None:
        print(comment_line(f"plan saved to {save_to}"))
    if script_to is not None:
        print(comment_line(f"reproducer script written to {script_to}"))
    return status


# ----- initramfs ----------------------------------------------------------------------------------

_PLACEHOLDER = """#!/bin/sh
# ukl-tui placeholder: a UKL kernel starts its application when init executes this path
# (it compares the exec's file name), so this script only runs on a kernel without UKL.
echo "ukl-init: $0 ran as an ordinary program: this kernel did not start a UKL application"
"""


def cmd_initramfs(args: argparse.Namespace) -> int:
    """Build the initramfs (cached by content) and copy it to ``--out``."""
    from ukl_tui.initramfs import build_minimal_initramfs

    out = Path(args.out).expanduser().absolute()
    payload = Path(args.payload).expanduser() if args.payload else None
    tmp: str | None = None
    try:
        if args.placeholder:
            fd, tmp = tempfile.mkstemp(prefix="ukl-tui-placeholder-")
            with os.fdopen(fd, "w") as fh:
                fh.write(_PLACEHOLDER)
            payload = Path(tmp)
        written = build_minimal_initramfs(
            out, trigger=args.trigger, payload=payload, after_trigger=args.after
        )
    finally:
        if tmp is not None:
            os.unlink(tmp)
    print(written)
    return 0
