"""The app catalogue read from real ukl-shaped checkouts, configure options and their effects."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import kconfiglib
import pytest

from tests.support.gitrepos import (
    GIT_ENV,
    clone_checkout,
    configure_ac_text,
    git,
    make_ukl_upstream,
    write_kernel_tree,
    write_program_dir,
)
from ukl_tui.apps import (
    OPTIONS,
    ConfigureOptions,
    app_change_steps,
    check_options,
    configure_argv,
    custom_app,
    find_app,
    kconfig_effects,
    kconfig_lines,
    kconfig_quote,
    list_apps,
    option_spec,
)
from ukl_tui.errors import UserError
from ukl_tui.workspace import inspect_workspace

MAIN_PROGRAMS = ["dnsmasq", "hello", "memcached", "mpc-bench", "fio", "valkey", "event-tester"]


def by_name(apps):
    return {a.name: a for a in apps}


# ------------------------------------------------------------------------------------------
# The catalogue


def test_programs_of_main_in_configure_order_with_notes(checkout: Path):
    ws = inspect_workspace(checkout)
    apps = list_apps(ws)
    assert [a.name for a in apps] == MAIN_PROGRAMS  # initrd/ and libupcall/ are not programs
    apps = by_name(apps)
    hello = apps["hello"]
    assert hello.is_default and hello.known and hello.kind == "one-shot"
    assert hello.banner == "hello, from the UKL world"
    assert hello.directory == ws.root / "hello" and hello.checkout == ws.root
    assert hello.warnings == () and hello.clones == ()
    assert (apps["memcached"].ports, apps["memcached"].kind) == ((11211,), "server")
    assert apps["valkey"].ports == (6379,)
    assert apps["event-tester"].ports == (7272,)
    assert apps["mpc-bench"].ports == (8000,)
    assert all(apps[n].is_server for n in ("memcached", "valkey", "event-tester", "mpc-bench"))
    assert not apps["fio"].is_server


def test_clone_needs_come_from_the_program_makefiles(checkout: Path):
    apps = by_name(list_apps(inspect_workspace(checkout)))
    memcached = apps["memcached"]
    assert [(c.url, c.transport) for c in memcached.clones] == [
        ("git@github.com:libevent/libevent.git", "ssh"),
        ("git@github.com:unikernelLinux/memcached.git", "ssh"),
    ]
    assert len(memcached.warnings) == 2
    assert all("needs a GitHub SSH key" in w for w in memcached.warnings)
    assert any("SSH key" in w for w in apps["fio"].warnings)
    valkey = apps["valkey"]
    assert [c.transport for c in valkey.clones] == ["https"]
    assert valkey.warnings == ()


def test_dnsmasq_warns_until_its_submodule_is_initialised(checkout: Path):
    dnsmasq = find_app(inspect_workspace(checkout), "dnsmasq")
    assert dnsmasq.warnings == (
        "dnsmasq needs the dnsmasq/dnsmasq submodule, which is not initialised",
    )
    git(checkout, "submodule", "update", "--init", "--", "dnsmasq/dnsmasq")
    assert find_app(inspect_workspace(checkout), "dnsmasq").warnings == ()


def test_a_program_added_to_the_checkout_is_listed_without_notes(checkout: Path):
    write_program_dir(checkout, "nginx", ["git clone git@github.com:example/nginx.git"])
    dirs = ["initrd", "libupcall", *MAIN_PROGRAMS, "nginx"]
    (checkout / "configure.ac").write_text(configure_ac_text(dirs))
    apps = list_apps(inspect_workspace(checkout))
    assert [a.name for a in apps][-1] == "nginx"
    nginx = by_name(apps)["nginx"]
    assert not nginx.known and nginx.kind == "unknown"
    assert nginx.ports == () and nginx.banner is None and nginx.notes == ()
    assert nginx.clones[0].needs_ssh_key  # read from its Makefile.am, not from notes
    assert nginx.in_configure


def test_program_dir_missing_from_ac_config_files(checkout: Path):
    write_program_dir(checkout, "sqlite")
    ws = inspect_workspace(checkout)
    assert "sqlite" not in [a.name for a in list_apps(ws)]
    sqlite = by_name(list_apps(ws, include_unconfigured=True))["sqlite"]
    assert not sqlite.in_configure
    assert "not in configure.ac's AC_CONFIG_FILES" in sqlite.warnings[-1]


def test_known_programs_absent_from_the_checkout_are_not_listed(tmp_path: Path):
    up = make_ukl_upstream(tmp_path / "up", programs=["hello", "event-tester"])
    co = clone_checkout(up, tmp_path / "co")
    assert [a.name for a in list_apps(inspect_workspace(co))] == ["hello", "event-tester"]
    # configure.ac still naming a directory that is gone: not buildable, not listed
    shutil.rmtree(co / "event-tester")
    assert [a.name for a in list_apps(inspect_workspace(co))] == ["hello"]


def test_older_checkout_with_redis(tmp_path: Path):
    up = make_ukl_upstream(tmp_path / "up", programs=["hello", "redis"])
    apps = by_name(list_apps(inspect_workspace(clone_checkout(up, tmp_path / "co"))))
    assert apps["redis"].known and apps["redis"].ports == (6379,)


def test_plain_kernel_tree_has_no_programs(tmp_path: Path):
    ws = inspect_workspace(write_kernel_tree(tmp_path / "linux"))
    assert list_apps(ws) == []


def test_find_app_names_the_choices(checkout: Path):
    with pytest.raises(UserError) as err:
        find_app(inspect_workspace(checkout), "nginx")
    assert "no program 'nginx'" in str(err.value)
    assert "hello, memcached" in str(err.value)


# ------------------------------------------------------------------------------------------
# Custom UKL.a


def build_archive(tmp_path: Path, *, prefix: bool, thin: bool = False) -> Path:
    src = tmp_path / "app.c"
    src.write_text("int app_counter;\nint main(void) { return app_counter; }\n")
    obj = tmp_path / "app.o"
    subprocess.run(
        ["gcc", "-c", "-mcmodel=kernel", "-mno-red-zone", "-fno-PIE", "-o", obj, src], check=True
    )
    archive = tmp_path / ("thin.a" if thin else "UKL.a")
    subprocess.run(["ar", "crT" if thin else "cr", archive, obj], check=True)
    if prefix:
        subprocess.run(["objcopy", "--prefix-symbols=ukl_", archive], check=True)
    return archive


def test_custom_archive_with_ukl_symbols(tmp_path: Path, checkout: Path):
    archive = build_archive(tmp_path, prefix=True)
    app = custom_app(archive, inspect_workspace(checkout))
    assert app.is_custom and app.archive == archive.resolve()
    assert app.warnings == ()
    assert app.checkout == checkout.resolve()
    opts = ConfigureOptions.for_app(app)
    assert configure_argv(opts) == [
        "./configure",
        "--with-program=hello",
        f"--with-ukl-archive={archive.resolve()}",
    ]
    assert kconfig_effects(opts)["UKL_ARCHIVE_PATH"] == f'"{archive.resolve()}"'


def test_custom_archive_without_prefix_gets_a_warning(tmp_path: Path):
    app = custom_app(build_archive(tmp_path, prefix=False))
    assert len(app.warnings) == 1 and "no ukl_-prefixed symbols" in app.warnings[0]


def test_custom_archive_rejections(tmp_path: Path):
    with pytest.raises(UserError, match="does not exist"):
        custom_app(tmp_path / "missing.a")
    with pytest.raises(UserError, match="is not a file"):
        custom_app(tmp_path)
    build_archive(tmp_path, prefix=False)
    with pytest.raises(UserError, match=r"is not an ar archive \(a UKL.a starts with !<arch>\)"):
        custom_app(tmp_path / "app.o")
    with pytest.raises(UserError, match="thin archive"):
        custom_app(build_archive(tmp_path, prefix=False, thin=True))


# ------------------------------------------------------------------------------------------
# configure options


def test_configure_argv_defaults_and_everything():
    assert configure_argv(ConfigureOptions()) == ["./configure", "--with-program=hello"]
    opts = ConfigureOptions(
        program="event-tester",
        ukl_archive="/srv/UKL.a",
        ukl_trigger="/data/UKL",
        use_ret=True,
        shortcuts=True,
        bypass=True,
        event_system="iouring",
        libupcall=True,
        same_stack=True,
        use_ist_pf=True,
    )
    assert configure_argv(opts) == [
        "./configure",
        "--with-program=event-tester",
        "--with-ukl-archive=/srv/UKL.a",
        "--with-ukl-trigger=/data/UKL",
        "--enable-bypass",
        "--enable-use-ret",
        "--enable-shortcuts",
        "--enable-same-stack",
        "--enable-use-ist-pf",
        "--enable-libupcall",
        "--with-event-system=iouring",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event_system": "kqueue"}, "not one of epoll, iouring, upcall, threads"),
        ({"ukl_trigger": "UKL"}, "must be an absolute path"),
        ({"ukl_trigger": "/my app"}, "without spaces"),
        ({"ukl_archive": '../UKL".a'}, "without spaces, quotes"),
        ({"program": "../etc"}, "not a plain directory name"),
    ],
)
def test_invalid_options(kwargs, message):
    with pytest.raises(UserError, match=message):
        configure_argv(ConfigureOptions(**kwargs))


def test_option_warnings_and_requirements():
    opts = ConfigureOptions(bypass=True, shortcuts=True, same_stack=True, use_ist_pf=True)
    warnings = opts.warnings()
    assert "--enable-bypass: known to break the glibc build on main (ukl issue #37)" in warnings
    assert sum("no effect on 6.x trees" in w for w in warnings) == 2
    assert opts.requires_kconfig == {"INET": "y"}
    assert ConfigureOptions().warnings() == [] and ConfigureOptions().requires_kconfig == {}
    upcall = ConfigureOptions(program="hello", event_system="upcall").warnings()
    assert "--with-event-system only changes event-tester" in upcall
    assert any("--enable-libupcall" in w for w in upcall)


def test_every_option_field_has_a_spec_with_meaning():
    fields = [f.name for f in dataclasses.fields(ConfigureOptions)]
    assert set(fields) == {s.field for s in OPTIONS}
    assert all(len(s.meaning) > 30 for s in OPTIONS)
    assert {s.field for s in OPTIONS if s.no_effect_on_6x} == {"same_stack", "use_ist_pf"}
    assert option_spec("event_system").choices == ("epoll", "iouring", "upcall", "threads")
    for spec in OPTIONS:
        assert getattr(ConfigureOptions(), spec.field) in (spec.default, None)


def test_check_options_against_an_older_checkout(tmp_path: Path):
    up = make_ukl_upstream(tmp_path / "up", programs=["hello", "event-tester"])
    co = clone_checkout(up, tmp_path / "co")
    conf = co / "configure.ac"
    text = conf.read_text()
    start = text.index("dnl Use the selected event system")
    conf.write_text(text[:start] + text[text.index("dnl Produce output files.") :])
    ws = inspect_workspace(co)
    opts = ConfigureOptions(program="event-tester", event_system="threads")
    assert check_options(opts, ws)[0] == (
        "--with-event-system is not in this checkout's configure.ac: configure ignores it"
    )
    assert check_options(ConfigureOptions(program="event-tester"), ws) == []
    with pytest.raises(UserError, match="no program 'memcached'"):
        check_options(ConfigureOptions(program="memcached"), ws)


# ------------------------------------------------------------------------------------------
# Kconfig effects


def test_kconfig_effects_quote_strings():
    assert kconfig_effects(ConfigureOptions()) == {
        "UNIKERNEL_LINUX": "y",
        "UKL_TLS": "y",
        "UKL_ARCHIVE_PATH": '"../UKL.a"',
        "UKL_NAME": '"/UKL"',
    }
    opts = ConfigureOptions(ukl_trigger="/data/UKL", use_ret=True, shortcuts=True)
    effects = kconfig_effects(opts)
    assert effects["UKL_NAME"] == '"/data/UKL"'
    assert effects["UKL_USE_RET"] == "y" and effects["UKL_DEEP_SHORTCUT"] == "y"
    assert kconfig_effects(opts, quoted=False)["UKL_NAME"] == "/data/UKL"
    assert kconfig_lines(opts)[3] == 'CONFIG_UKL_NAME="/data/UKL"'
    assert kconfig_quote('a"b\\c') == '"a\\"b\\\\c"'


KCONFIG = """\
config INET
\tbool "TCP/IP networking"
menuconfig UNIKERNEL_LINUX
\tbool "Unikernel Linux"
config UKL_TLS
\tbool "UKL TLS"
\tdepends on UNIKERNEL_LINUX
config UKL_NAME
\tstring "UKL Exec target"
\tdefault "/UKL"
\tdepends on UNIKERNEL_LINUX
config UKL_ARCHIVE_PATH
\tstring "UKL archive"
\tdefault "../UKL.a"
\tdepends on UNIKERNEL_LINUX
config UKL_USE_RET
\tbool "ret instead of iret"
\tdepends on UNIKERNEL_LINUX
config UKL_DEEP_SHORTCUT
\tbool "deep shortcuts"
\tdepends on UNIKERNEL_LINUX && INET
"""


def load_with_kconfiglib(tmp_path: Path, lines: list[str]) -> kconfiglib.Kconfig:
    (tmp_path / "Kconfig").write_text(KCONFIG)
    (tmp_path / "test.config").write_text("CONFIG_INET=y\n" + "\n".join(lines) + "\n")
    kconf = kconfiglib.Kconfig(str(tmp_path / "Kconfig"), warn_to_stderr=False)
    kconf.load_config(str(tmp_path / "test.config"))
    return kconf


def test_kconfig_lines_are_taken_by_kconfig_unlike_the_makefiles(tmp_path: Path):
    opts = ConfigureOptions(ukl_trigger="/data/UKL", ukl_archive="/srv/app/UKL.a", use_ret=True)
    kconf = load_with_kconfiglib(tmp_path, kconfig_lines(opts))
    assert kconf.syms["UKL_NAME"].str_value == "/data/UKL"
    assert kconf.syms["UKL_ARCHIVE_PATH"].str_value == "/srv/app/UKL.a"
    assert kconf.syms["UKL_USE_RET"].str_value == "y"
    assert not [w for w in kconf.warnings if "malformed" in w]
    # What ukl's Makefile echoes (unquoted) is dropped: the default silently wins.
    raw = [f"CONFIG_{k}={v}" for k, v in kconfig_effects(opts, quoted=False).items()]
    kconf = load_with_kconfiglib(tmp_path, raw)
    assert kconf.syms["UKL_NAME"].str_value == "/UKL"
    assert any("malformed string literal" in w for w in kconf.warnings)


def test_quoting_round_trips_odd_characters_through_kconfiglib(tmp_path: Path):
    value = 'a "quoted" \\ path'
    kconf = load_with_kconfiglib(
        tmp_path, ["CONFIG_UNIKERNEL_LINUX=y", f"CONFIG_UKL_NAME={kconfig_quote(value)}"]
    )
    assert kconf.syms["UKL_NAME"].str_value == value


@pytest.mark.slow
def test_real_autotools_agree_with_configure_argv_and_kconfig_effects(checkout: Path):
    """autoreconf + ./configure (our argv) + the Makefile's linux/.config recipe, for real."""
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["autoreconf", "-i"], cwd=checkout, env=env, check=True, capture_output=True)
    opts = ConfigureOptions(
        program="event-tester",
        ukl_trigger="/data/UKL",
        use_ret=True,
        shortcuts=True,
        event_system="threads",
    )
    done = subprocess.run(
        configure_argv(opts), cwd=checkout, env=env, check=True, capture_output=True, text=True
    )
    assert "checking which program to compile... event-tester" in done.stdout
    assert "unrecognized options" not in done.stderr
    subprocess.run(["make", "linux/.config"], cwd=checkout, check=True, capture_output=True)
    saved = (checkout / "saveconfig").read_text().splitlines()
    appended = (checkout / "linux" / ".config").read_text().splitlines()[len(saved) :]
    written = dict(line.removeprefix("CONFIG_").split("=", 1) for line in appended)
    assert written == kconfig_effects(opts, quoted=False)
    # Changing the application: the generated Makefile has app-clean, and it runs.
    ws = inspect_workspace(checkout)
    steps = app_change_steps(find_app(ws, "event-tester"), find_app(ws, "hello"), ws)
    assert steps == [["make", "-C", str(ws.root), "app-clean"]]
    ran = subprocess.run(steps[0], capture_output=True, text=True)
    assert ran.returncode == 0 and "cd event-tester && make clean" in ran.stdout


# ------------------------------------------------------------------------------------------
# Changing the application


def test_app_change_uses_app_clean_when_the_makefile_has_it(checkout: Path):
    ws = inspect_workspace(checkout)
    hello, valkey = find_app(ws, "hello"), find_app(ws, "valkey")
    assert app_change_steps(None, hello, ws) == []
    assert app_change_steps(hello, hello, ws) == []
    assert app_change_steps(hello, valkey) == [["make", "-C", str(ws.root), "app-clean"]]


def test_app_change_cleans_linux_without_app_clean(tmp_path: Path):
    up = make_ukl_upstream(tmp_path / "up", programs=["hello", "valkey"], app_clean=False)
    co = clone_checkout(up, tmp_path / "co", init=True)
    ws = inspect_workspace(co)
    steps = app_change_steps(find_app(ws, "hello"), find_app(ws, "valkey"), ws)
    assert steps == [["make", "-C", str(ws.root / "linux"), "clean"]]
    ran = subprocess.run(steps[0], capture_output=True, text=True)
    assert ran.returncode == 0 and "cleaning fake kernel tree" in ran.stdout


def test_generated_makefile_decides_over_makefile_am(checkout: Path, tmp_path: Path):
    (checkout / "Makefile").write_text("all:\n\ttrue\n")  # configured from an older Makefile.am
    ws = inspect_workspace(checkout)
    custom = custom_app(build_archive(tmp_path, prefix=True), ws)
    steps = app_change_steps(find_app(ws, "hello"), custom)
    assert steps == [["make", "-C", str(ws.root / "linux"), "clean"]]


def test_app_change_without_a_checkout_is_a_user_error(tmp_path: Path):
    a = custom_app(build_archive(tmp_path, prefix=True))
    b = dataclasses.replace(a, archive=tmp_path / "other.a")
    with pytest.raises(UserError, match="needs the ukl checkout"):
        app_change_steps(a, b)
