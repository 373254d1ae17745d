"""The plan's check after ``make olddefconfig``: values as ukl-tui wrote them, rules pass."""

from __future__ import annotations

from pathlib import Path

from ukl_tui.cli import main
from ukl_tui.kconfig import load_tree
from ukl_tui.settled import IGNORE_ENV, check_settled, with_settle_check, written_copy
from ukl_tui.steps import Step


def _written(mini_tree: Path, overlay: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    """A .config ukl-tui wrote (UKL on, prerequisites off) and its copy, as the plan does."""
    dot = tmp_path / ".config"
    tree = load_tree(mini_tree, config=None, overlays=[overlay], use_cache=False)
    tree.set_many(
        {
            "RANDOMIZE_BASE": "n",
            "PAGE_TABLE_ISOLATION": "n",
            "UNIKERNEL_LINUX": "y",
            "UKL_TLS": "y",
        }
    )
    text = tree.config_text()
    dot.write_text(text)
    written_copy(dot).write_text(text)
    return dot, written_copy(dot), text


def test_unchanged_settled_config_passes(mini_tree, ukl_overlay, tmp_path, capsys) -> None:
    dot, copy, _ = _written(mini_tree, ukl_overlay, tmp_path)
    report = check_settled(mini_tree, dot, copy, [ukl_overlay])
    assert report.ok and report.lines() == []
    args = ["verify", "--tree", str(mini_tree), "--config", str(dot), "--written", str(copy)]
    assert main([*args, "--overlay", str(ukl_overlay)]) == 0
    assert "every value as ukl-tui wrote it; the UKL rules pass" in capsys.readouterr().out


def test_a_changed_value_stops_the_run_unless_ignored(
    mini_tree, ukl_overlay, tmp_path, capsys, monkeypatch
) -> None:
    dot, copy, text = _written(mini_tree, ukl_overlay, tmp_path)
    # as if the kernel's tool had turned KASLR back on, and UKL off with it
    settled = text.replace("# CONFIG_RANDOMIZE_BASE is not set", "CONFIG_RANDOMIZE_BASE=y")
    settled = settled.replace("CONFIG_UNIKERNEL_LINUX=y", "# CONFIG_UNIKERNEL_LINUX is not set")
    dot.write_text(settled)
    report = check_settled(mini_tree, dot, copy, [ukl_overlay])
    assert [d.name for d in report.differences] == ["RANDOMIZE_BASE", "UNIKERNEL_LINUX"]
    assert any("RANDOMIZE_BASE=y" in e for e in report.errors)
    args = ["verify", "--tree", str(mini_tree), "--config", str(dot), "--written", str(copy)]
    args += ["--overlay", str(ukl_overlay)]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "CHANGED    RANDOMIZE_BASE: ukl-tui wrote n, make olddefconfig left y" in out
    assert "CHANGED    UNIKERNEL_LINUX: ukl-tui wrote y, make olddefconfig left n" in out
    assert "RULE       KASLR is on" in out
    assert "'ukl-tui run --ignore-conflicts' goes on anyway" in out
    monkeypatch.setenv(IGNORE_ENV, "1")
    assert main(args) == 0
    assert "warning: 2 symbol(s) changed" in capsys.readouterr().out


def test_written_needs_the_settled_config(mini_tree, tmp_path, capsys) -> None:
    assert main(["verify", "--tree", str(mini_tree), "--written", str(tmp_path / "x")]) == 2
    assert "--written needs --config" in capsys.readouterr().err


def test_hook_adds_the_two_steps_only_around_kconfig_and_olddefconfig(tmp_path) -> None:
    def step(step_id: str) -> Step:
        return Step(step_id, step_id, ("true",), str(tmp_path), {}, "prep", 10)

    dot = tmp_path / ".config"
    steps = [step("kconfig"), step("olddefconfig"), step("bzImage")]
    ids = [s.id for s in with_settle_check(steps, tmp_path, dot, ())]
    assert ids == ["kconfig", "kconfig-copy", "olddefconfig", "kconfig-check", "bzImage"]
    no_olddefconfig = [step("kconfig"), step("bzImage")]
    assert with_settle_check(no_olddefconfig, tmp_path, dot, ()) == no_olddefconfig
