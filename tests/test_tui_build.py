"""The Build fields of the Network & boot step: distcc hosts and -j, checked and probed live.

The hosts are real loopback sockets: one listening, one closed port.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from tests.support.distccd import free_port
from tests.support.waiting import wait_for
from tests.support.wizard import make_app

pytestmark = [pytest.mark.realtree, pytest.mark.timeout(120)]


def shown(screen, selector: str) -> str:  # noqa: ANN001
    return str(screen.query_one(selector, Static).render())


async def test_hosts_and_jobs_are_checked_as_typed_and_probed(
    tree, real_tree: Path, ukl_overlay: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(tree, real_tree, ukl_overlay)
    with socket.socket() as live:
        live.bind(("127.0.0.1", 0))
        live.listen(8)
        up, dead = live.getsockname()[1], free_port()
        async with app.run_test(size=(160, 45)) as pilot:
            app.goto("network")
            await wait_for(pilot, lambda: app.current_step() == "network")
            screen = app.screen
            await pilot.pause()
            assert screen.problem is None and app.session.plan.distcc is None
            assert "compiles on this machine" in shown(screen, "#distcc-probe")
            hosts = screen.query_one("#distcc-hosts", Input)
            hosts.value = "127.0.0.1:0"
            await pilot.pause()
            assert (
                screen.problem
                == "distcc hosts: distcc host '127.0.0.1:0': port 0 is not within 1-65535"
            )
            await pilot.press("ctrl+n")  # refused while invalid
            assert app.current_step() == "network"
            hosts.value = f"127.0.0.1:{up}/3  127.0.0.1:{dead}/2"
            await pilot.pause()
            assert screen.problem is None
            assert app.session.plan.distcc == f"127.0.0.1:{up}/3 127.0.0.1:{dead}/2"
            await wait_for(pilot, lambda: "✗" in shown(screen, "#distcc-probe"), timeout=15)
            probe = shown(screen, "#distcc-probe")
            assert f"✓ 127.0.0.1:{up}: accepts connections" in probe
            assert f"✗ 127.0.0.1:{dead}: connection refused (left out)" in probe
            assert "3 slots: make -j3 (distcc -j)" in probe  # only the host that answered
            jobs = screen.query_one("#build-jobs", Input)
            jobs.value = "0"
            await pilot.pause()
            assert screen.problem == "compile jobs must be 1 to 1024, not 0"
            jobs.value = "6"
            await pilot.pause()
            assert screen.problem is None and app.session.plan.jobs == 6
            plan = app.session.plan
            assert (plan.distcc, plan.jobs) == (f"127.0.0.1:{up}/3 127.0.0.1:{dead}/2", 6)
            hosts.value = ""
            await pilot.pause()
            assert app.session.plan.distcc is None


async def test_a_new_plan_starts_with_distccs_own_hosts_and_says_where_from(
    tree, real_tree: Path, ukl_overlay: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$DISTCC_HOSTS fills the field of a new plan; the probe line names where it came from,
    and a list typed by hand does not claim to come from there.
    """
    from ukl_tui.session import new_plan

    monkeypatch.chdir(tmp_path)
    with socket.socket() as live:
        live.bind(("127.0.0.1", 0))
        live.listen(8)
        up = live.getsockname()[1]
        monkeypatch.setenv("DISTCC_HOSTS", f"127.0.0.1:{up}/2")
        app = make_app(tree, real_tree, ukl_overlay)
        fresh = new_plan(tree=real_tree, config=tree.config_path, overlays=(ukl_overlay,))
        app.session.plan = fresh
        async with app.run_test(size=(160, 45)) as pilot:
            app.goto("network")
            await wait_for(pilot, lambda: app.current_step() == "network")
            screen = app.screen
            await pilot.pause()
            hosts = screen.query_one("#distcc-hosts", Input)
            assert hosts.value == f"127.0.0.1:{up}/2"
            await wait_for(pilot, lambda: "✓" in shown(screen, "#distcc-probe"), timeout=15)
            assert "2 slots: make -j2 (distcc -j) (the hosts in $DISTCC_HOSTS)" in shown(
                screen, "#distcc-probe"
            )
            hosts.value = f"127.0.0.1:{up}/1"
            await wait_for(pilot, lambda: "1 slots" in shown(screen, "#distcc-probe"))
            assert "$DISTCC_HOSTS" not in shown(screen, "#distcc-probe")
            assert app.session.plan.distcc == f"127.0.0.1:{up}/1"
