"""distcc host lists: parsing against distcc's own ``distcc -j``, the probe, the client's log."""

from __future__ import annotations

import os
import socket
import subprocess
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.support.distccd import daemons, distccd, free_port, require_distcc
from ukl_tui.distcc import (
    Host,
    LogWatch,
    count_jobs,
    default_hosts,
    hosts_option,
    parse_host,
    parse_hosts,
    probe,
    read_job_counts,
    step_report,
)
from ukl_tui.errors import UserError

pytestmark = pytest.mark.timeout(120)

#: Lists distcc itself accepts, in every form the man page gives (no name is ever resolved).
VALID = [
    "localhost",
    "localhost/7",
    "127.0.0.1",
    "127.0.0.1:3633",
    "127.0.0.1:3633/3",
    "127.0.0.1/5:3634",
    "[::1]:3633/2",
    "red green blue",
    "localhost/2 @bigman/16:/opt/bin/distccd oldmachine:4200/1 distant/3,lzo",
    "--randomize a/1 b",
    "--localslots=9 --localslots_cpp=3 localhost/3 a",
    "user@box/6,lzo a:4000,auth",
    "a # a comment\n b/3  # down: c\n",
]


def distcc_j(hosts: str) -> int:
    """``distcc -j`` for a list: the C client's own concurrency level."""
    result = subprocess.run(
        ["distcc", "-j"],
        env={**os.environ, "DISTCC_HOSTS": hosts},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@pytest.mark.parametrize("hosts", VALID)
def test_slots_are_distccs_own_concurrency(hosts):
    require_distcc()
    assert parse_hosts(hosts).slots == distcc_j(hosts)


@pytest.mark.parametrize("hosts", VALID)
def test_spec_round_trips_to_the_same_list(hosts):
    parsed = parse_hosts(hosts)
    again = parse_hosts(parsed.spec())
    assert again == parsed and "\n" not in parsed.spec() and "#" not in parsed.spec()


def test_host_fields():
    assert parse_host("127.0.0.1:3633/3") == Host("127.0.0.1:3633/3", "tcp", "127.0.0.1", 3, 3633)
    old = parse_host("box/5:4000,lzo")
    assert (old.name, old.port, old.limit, old.options) == ("box", 4000, 5, ("lzo",))
    assert parse_host("box").port == 3632 and parse_host("box").limit == 4
    assert parse_host("localhost").limit == 2 and parse_host("localhost").kind == "local"
    ssh = parse_host("me@build-1/8:/opt/distccd")
    assert (ssh.kind, ssh.user, ssh.name, ssh.limit, ssh.command) == (
        "ssh",
        "me",
        "build-1",
        8,
        "/opt/distccd",
    )
    v6 = parse_host("[::1]:3633/2")
    assert v6.name == "::1" and v6.address == "[::1]:3633"
    lst = parse_hosts("--randomize --localslots=4 a b/1")
    assert lst.randomize and lst.localslots == 4 and lst.slots == 5


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ("a:0", "distcc host 'a:0': port 0 is not within 1-65535"),
        ("a:70000", "distcc host 'a:70000': port 70000 is not within 1-65535"),
        ("a/0", "distcc host 'a/0': limit 0 is not within 1-1024"),
        ("a:3632/x", "distcc host 'a:3632/x': limit 'x' is not a number"),
        ("a:", "distcc host 'a:': missing port"),
        ("a:b", "distcc host 'a:b': port 'b' is not a number"),
        ("localhost/0", "distcc host 'localhost/0': limit 0 is not within 1-1024"),
        ("bad_host!", "distcc host 'bad_host!' is malformed"),
        ("x@@y", "distcc host 'x@@y' is malformed"),
        ("a,zip", "distcc host 'a,zip': unknown option ',zip'"),
        ("a,lzo,cpp", "',cpp' (pump mode)"),
        ("+zeroconf", "ukl-tui needs the hosts listed"),
        ("--localslots=0 a", "localslots 0 is not within"),
        ("a b a:3632", "distcc host a:3632 is listed twice"),
        ("# nothing\n", "no distcc hosts"),
    ],
)
def test_bad_lists_are_one_clear_line(hosts, message):
    with pytest.raises(UserError) as err:
        parse_hosts(hosts, "--distcc")
    text = str(err.value)
    assert text.startswith("--distcc: ") and message in text and "\n" not in text


def test_where_the_hosts_come_from(tmp_path):
    env = {"HOME": str(tmp_path), "DISTCC_HOSTS": "a/2 b"}
    assert default_hosts(env) == ("a/2 b", "$DISTCC_HOSTS")
    env = {"HOME": str(tmp_path)}
    with pytest.raises(UserError, match=r"\$DISTCC_HOSTS and .*/\.distcc/hosts are all empty"):
        default_hosts(env)
    (tmp_path / ".distcc").mkdir()
    (tmp_path / ".distcc" / "hosts").write_text("# farm\nbuild1/8\nbuild2/8 # spare\n")
    text, source = default_hosts(env)
    assert source == str(tmp_path / ".distcc" / "hosts")
    assert parse_hosts(text).spec() == "build1/8 build2/8"
    # DISTCC_DIR moves the file, as it does for distcc; the option beats both
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "hosts").write_text("other:4000\n")
    assert default_hosts({**env, "DISTCC_DIR": str(tmp_path / "d")})[0] == "other:4000\n"
    assert hosts_option(None, env) is None
    assert hosts_option("", env) == "build1/8 build2/8"
    assert hosts_option("x/1\ny # c", env) == "x/1 y"
    with pytest.raises(UserError, match="^--distcc: distcc host 'x:0'"):
        hosts_option("x:0", env)


# ----- the probe ---------------------------------------------------------------------------


@contextmanager
def silent_port():
    """A loopback port whose connects hang: a listener with a full backlog never accepts."""
    with ExitStack() as stack:
        server = stack.enter_context(socket.socket())
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        for _ in range(3):  # fill the accept queue; later SYNs are dropped
            client = stack.enter_context(socket.socket())
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
        yield port


def test_probe_tells_up_refused_and_silent_apart():
    with socket.socket() as up, silent_port() as silent:
        up.bind(("127.0.0.1", 0))
        up.listen(8)
        dead = free_port()
        hosts = parse_hosts(
            f"localhost/1 127.0.0.1:{up.getsockname()[1]}/2 127.0.0.1:{dead}/3 "
            f"127.0.0.1:{silent}/4 me@buildbox/5"
        )
        results = {p.host.limit: p for p in probe(hosts, timeout=0.5)}
    assert results[1].ok and "no daemon" in results[1].detail
    assert results[2].ok and results[2].detail == "accepts connections"
    assert not results[3].ok and results[3].detail == "connection refused"
    assert not results[4].ok and results[4].detail == "no answer within 0.5 s"
    assert results[4].host.port == silent
    assert results[5].ok and results[5].detail == "reached through ssh (not probed)"


# ----- the client's log, from real daemons ------------------------------------------------


def sources(tmp_path: Path, count: int) -> Path:
    """``count`` one-function C files to compile through distcc (which must be installed)."""
    require_distcc()
    src = tmp_path / "src"
    src.mkdir()
    for i in range(count):
        (src / f"f{i}.c").write_text(f"int f{i}(int x) {{ return x * {i}; }}\n")
    return src


def test_job_counts_from_a_real_client_log_match_the_daemons(tmp_path):
    """Compile through two loopback daemons plus a dead port; count per host from the log."""
    src = sources(tmp_path, 6)
    (src / "bad.c").write_text("int broken = ;\n")
    log = tmp_path / "distcc.log"
    dead = free_port()
    with daemons(tmp_path, 2) as (one, two):
        hosts = f"127.0.0.1:{dead}/2 {one.host} {two.host}"
        env = {**os.environ, "DISTCC_HOSTS": hosts, "DISTCC_LOG": str(log)}
        env.pop("DISTCC_VERBOSE", None)
        procs = [
            subprocess.Popen(["distcc", "gcc", "-c", f"f{i}.c"], cwd=src, env=env) for i in range(6)
        ]
        assert [p.wait(timeout=60) for p in procs] == [0] * 6
        bad = subprocess.run(
            ["distcc", "gcc", "-c", "bad.c"], cwd=src, env=env, capture_output=True, timeout=60
        )
        assert bad.returncode != 0
        daemon_jobs = {f"127.0.0.1:{d.port}": d.jobs() for d in (one, two)}
    counts = read_job_counts(log)
    compiled = {name: counts.hosts[name].compiled for name in daemon_jobs if name in counts.hosts}
    assert sum(daemon_jobs.values()) == 6  # bad.c was a COMPILE_ERROR, not a COMPILE_OK
    assert {n: c for n, c in compiled.items() if c} == {n: c for n, c in daemon_jobs.items() if c}
    assert counts.total == 6
    assert counts.hosts[f"127.0.0.1:{dead}"].refused >= 1
    # a genuine compile error fails on localhost too: no host is blamed for it
    assert all(h.failed == 0 for h in counts.hosts.values())
    assert any(f"127.0.0.1:{dead} refused" in line for line in counts.problems())


def test_a_daemon_that_answers_but_refuses_jobs_is_named(tmp_path):
    """The probe cannot tell (the port accepts); distcc's log can: every job fell back."""
    src = sources(tmp_path, 3)
    log = tmp_path / "distcc.log"
    with distccd(tmp_path, "picky", allow="127.0.0.2") as picky:
        hosts = parse_hosts(picky.host)
        assert [p.ok for p in probe(hosts)] == [True]
        env = {**os.environ, "DISTCC_HOSTS": picky.host, "DISTCC_LOG": str(log)}
        for i in range(3):
            subprocess.run(["distcc", "gcc", "-c", f"f{i}.c"], cwd=src, env=env, check=True)
        assert picky.jobs() == 0
    counts = read_job_counts(log)
    name = f"127.0.0.1:{picky.port}"
    # the first job fails there; then distcc avoids the host for a while and says so
    assert counts.hosts[name].failed == 1 and counts.hosts[name].compiled == 0
    assert counts.hosts["localhost"].compiled == 3 and counts.fell_back == 2
    assert counts.problems() == [
        f"distcc host {name} failed 1 job(s) that distcc then compiled locally "
        "(last: f0.c not compiled there)",
        "distcc compiled 2 more job(s) locally, avoiding the hosts that had failed",
    ]


def test_a_host_that_fails_jobs_is_named():
    """distcc's lines when a host's compile failed but the local retry worked."""
    lines = [
        "distcc[7] compile from a.c to a.o",
        "distcc[7] exec on 10.0.0.9:3632/4: x86_64-linux-gnu-gcc -c a.c -o a.o",
        "distcc[7] ERROR: compile a.c on 10.0.0.9:3632/4 failed",
        "distcc[7] Warning: failed to distribute a.c to 10.0.0.9:3632/4, running locally instead",
        "distcc[7] exec on localhost: x86_64-linux-gnu-gcc -c a.c -o a.o",
        "distcc[7] compile a.c on localhost completed ok",
        "distcc[8] compile b.c on 10.0.0.9:3632/4 completed ok",
    ]
    counts = count_jobs(lines)
    assert counts.hosts["10.0.0.9:3632"].failed == 1
    assert counts.hosts["10.0.0.9:3632"].compiled == 1
    assert counts.hosts["localhost"].compiled == 1
    assert counts.summary(["10.0.0.9:3632", "x:1"]) == "10.0.0.9:3632 1, x:1 0, localhost 1"
    assert counts.problems() == [
        "distcc host 10.0.0.9:3632 failed 1 job(s) that distcc then compiled locally "
        "(last: compile a.c failed)"
    ]
    report = step_report({"DISTCC_HOSTS": "10.0.0.9/4 10.0.0.8/2 localhost"}, counts)
    assert report["jobs"] == {"10.0.0.9:3632": 1, "10.0.0.8:3632": 0, "localhost": 1}
    assert report["failed"] == {"10.0.0.9:3632": 1} and report["refused"] == {}
    assert report["summary"] == "10.0.0.9:3632 1, 10.0.0.8:3632 0, localhost 1"
    assert report["problems"] == counts.problems()


def test_missing_log_counts_nothing(tmp_path: Path):
    assert read_job_counts(tmp_path / "none.log").total == 0


def test_log_watch_reads_a_growing_log_and_restarts_when_emptied(tmp_path: Path):
    log = tmp_path / "distcc.log"
    watch = LogWatch(log)
    assert watch.poll().total == 0  # not there yet
    with open(log, "w") as fh:
        fh.write("distcc[1] compile a.c on h:1/2 completed ok\ndistcc[2] compile b.c on h:1")
        fh.flush()
        assert watch.poll().total == 1  # the half-written line waits
        fh.write("/2 completed ok\n")
        fh.flush()
        assert watch.poll().hosts["h:1"].compiled == 2
    log.write_text("distcc[3] compile c.c on g:2 completed ok\n")  # emptied, new build
    assert watch.poll().summary() == "g:2 1"


def test_host_checks_show_distcc_with_its_package_when_asked():
    from ukl_tui.host import check_prerequisites

    assert "distcc" not in {p.name for p in check_prerequisites()}
    entry = {p.name: p for p in check_prerequisites(distcc=True)}["distcc"]
    assert entry.debian_package == "distcc" and not entry.optional
    assert entry.ok and entry.detail.endswith("/distcc")  # .ci/setup installs it
