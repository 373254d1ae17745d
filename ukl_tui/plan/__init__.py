"""The whole session as data (``ukl-tui.toml``) and the exact commands it turns into.

A :class:`Plan` holds every choice a user makes in the wizard or on the command line: the
tree, presets and hand edits, the application and its configure options, the network and the
boot. :meth:`Plan.build` checks all of it at once (one ``UserError`` line for the first bad
input) and returns ordered :class:`~ukl_tui.steps.Step` objects, which the Review screen shows,
``ukl-tui plan`` prints and writes as a reproducer script, and the runner executes. Nothing
here runs a build; the only side effects are those of loading the kernel tree to check
symbol names (its parse cache, and the wrapper Kconfig that sources the overlays).

What the steps follow, read from the public unikernelLinux repositories with the project's
search tool: ukl's ``Makefile.am`` at commits 007415a0 and 4c8304ea, ``initrd/init.in``,
``initrd/buildinitrd.sh`` and ``initrd/create-initrd.sh``, and the linux fork's ``fs/exec.c``
patch (``check_ukl_exec``). From those:

- ``linux/.config: saveconfig`` copies ``saveconfig`` and appends ``echo CONFIG_...`` lines,
  strings unquoted (kconfig then ignores them). ``linux/arch/x86/boot/bzImage: linux/.config
  UKL.a`` runs ``olddefconfig`` and the kernel build; ``vmlinuz`` copies the bzImage. So the
  plan runs ``make -W saveconfig linux/.config`` (always rewritten from saveconfig, so a plan
  is reproducible), then ``ukl-tui apply`` on that file (presets, configure's values quoted,
  hand edits), then ``make vmlinuz``, whose olddefconfig keeps the fixed file: it is newer than
  saveconfig, so ukl's recipe does not overwrite it.
- ``libc.a`` runs glibc's first make with ``-`` (its iconv failure is ignored) and then copies
  ``libc.a``; it is its own step so only that stage's errors are labelled as expected.
- ``ukl-initrd.cpio.xz`` is built in Docker with ``docker exec -it`` (needs a terminal) and
  copies ``perf`` (ukl issue #38); its init runs the trigger path by name.
- The fork starts the application when an exec names ``CONFIG_UKL_NAME``, compared before the
  file is opened, so the trigger file's content does not matter (inferred from the patch).
  ukl-tui's minimal initramfs only execs the trigger when a file is there: the plan asks for a
  placeholder file so the exec happens.

The package keeps each part in a module of its own: :mod:`.model` (the value and
:meth:`Plan.build`), :mod:`.tomlfile` (the file form), :mod:`.check` (input checks),
:mod:`.kernel`, :mod:`.ukl` and :mod:`.initrd` (the recipes), :mod:`.script` (shell lines and
the reproducer script) and :mod:`.common` (constants and small checks they share).
"""

from __future__ import annotations

from ukl_tui.plan.common import (
    ARCH,
    BUILD_ENV,
    FORMAT_VERSION,
    GLIBC_NOTE,
    INITRD_CHOICES,
    MINIMAL_INITRD,
    PLAN_FILE,
    UKL_INITRD,
    apply_argv,
    check_make_path,
    check_writable,
    configured_app,
    default_build_dir,
    default_plan_path,
    write_text_atomic,
)
from ukl_tui.plan.model import Built, Plan, base_cmdline
from ukl_tui.plan.script import comment_line, script_text, step_lines
from ukl_tui.plan.tomlfile import BOOT_TABLE, dumps_toml

__all__ = [
    "ARCH",
    "BOOT_TABLE",
    "BUILD_ENV",
    "Built",
    "FORMAT_VERSION",
    "GLIBC_NOTE",
    "INITRD_CHOICES",
    "MINIMAL_INITRD",
    "PLAN_FILE",
    "Plan",
    "UKL_INITRD",
    "apply_argv",
    "base_cmdline",
    "check_make_path",
    "check_writable",
    "comment_line",
    "configured_app",
    "default_build_dir",
    "default_plan_path",
    "dumps_toml",
    "script_text",
    "step_lines",
    "write_text_atomic",
]
