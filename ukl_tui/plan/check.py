"""The plan's checker: input checks that need no build, and hand edits checked against the tree.

:class:`PlanChecks` is mixed into :class:`ukl_tui.plan.Plan`; :meth:`Plan.build` calls it
before any recipe, so the first bad input is one ``UserError`` and nothing has run.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from ukl_tui.boot import ACCELS, check_param, check_word
from ukl_tui.errors import UserError
from ukl_tui.plan.common import (
    INITRD_CHOICES,
    SYMBOL_RE,
    absolute,
    check_text,
    kernel_tree_unclean,
)

if TYPE_CHECKING:
    from ukl_tui.kconfig import Tree
    from ukl_tui.workspace import Workspace


class PlanChecks:
    """Checks over the plan's fields, mixed into :class:`ukl_tui.plan.Plan`."""

    def _check_inputs(self, ws: Workspace) -> None:
        """Input checks that need no tree model: files exist, kind-specific options fit."""
        for overlay in self.overlays:
            check_text("overlay path", str(overlay))
            if not overlay.is_file():
                raise UserError(f"overlay {overlay} does not exist")
        if self.config is not None:
            check_text("config path", str(self.config))
            if not self.config.is_file():
                raise UserError(f".config {self.config} does not exist")
        for name in self.presets:
            check_text("preset name", name)
        for word in self.append:
            check_param(word)
        for word in self.init_args:
            check_word("init argument", word)
        if self.initrd not in INITRD_CHOICES:
            path = absolute(self.initrd)
            check_text("initrd path", str(path))
            if not path.is_file():
                raise UserError(f"initrd {path} does not exist (or use 'minimal')")
        if self.ccache and shutil.which("ccache") is None:
            raise UserError("ccache was asked for but is not installed (Debian: ccache)")
        if self.accel not in ACCELS:
            raise UserError(f"accelerator {self.accel!r} is not one of {', '.join(ACCELS)}")
        if ws.is_ukl:
            # The checkout's own linux/.config (what a loaded tree started from) is the file
            # ukl's recipe rewrites anyway: naming it changes nothing. Any other file would.
            own = self.config is not None and self.config == ws.root / "linux" / ".config"
            for what, given in (
                ("--overlay", bool(self.overlays)),
                ("--config", self.config is not None and not own),
                ("--base", self.base is not None),
            ):
                if given:
                    raise UserError(
                        f"{what} applies to plain kernel trees: in a ukl checkout, linux/.config "
                        "is made by ukl's Makefile from its saveconfig, and ukl's make builds "
                        "the kernel without overlays"
                    )
        else:
            unclean = kernel_tree_unclean(ws.root)
            if unclean is not None:
                raise UserError(
                    f"{ws.root} is not clean ({unclean} exists): the kernel refuses O= builds "
                    "from it; run 'make mrproper' there (keep a copy of its .config and pass "
                    "it with --config)"
                )
            if self.initrd == "ukl":
                raise UserError("initrd 'ukl' is ukl's ukl-initrd.cpio.xz: a plain tree has none")

    def _checked_edits(self, model: Tree | None, ws: Workspace) -> dict[str, str]:
        """Hand edits validated against the tree (name, type, range); canonical values."""
        out: dict[str, str] = {}
        for name, value in self.edits.items():
            if not SYMBOL_RE.match(name):
                raise UserError(f"edit {name!r}: not a Kconfig symbol name")
            if not isinstance(value, str):
                raise UserError(f"edit {name}: value must be a string, not {value!r}")
            check_text(f"value of {name}", value)
            out[name] = model.normalise(name, value) if model is not None else value
        return out
