"""Widgets of the Run screen: a batch-fed log whose lines can be found again, and chip strips.

:class:`PaneLog` is Textual's ``Log`` (a line widget: MEASURED.md has it ~60x faster than
``RichLog``) plus bookkeeping: every line written is numbered, and each step's first line is
remembered, so "line 1234 of the bzImage log" can be scrolled to while the pane only keeps its
last ``max_lines`` lines. Rich styling is kept to :class:`ChipStrip`, a one-line row of
coloured labels (steps, milestones) that changes a few times per run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.geometry import Size
from textual.widgets import Log, Static

from ukl_tui.lines import strip_sgr

#: What would make ``Log.write_lines`` show a line as zero or several lines, or that a
#: terminal would interpret: an escape (the runner keeps colour codes; ``Log`` would pass
#: them to the terminal raw) and the separators ``str.splitlines`` splits on.
_ODD_RE = re.compile("[\x1b\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_SPLIT_RE = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def display_line(line: str) -> str:
    """One output line as exactly one pane line: colours dropped, separators made spaces."""
    if not line:
        return " "  # Log.write_lines drops empty strings: keep the numbering
    if not _ODD_RE.search(line):
        return line
    return _SPLIT_RE.sub(" ", strip_sgr(line)) or " "


class PaneLog(Log):
    """A ``Log`` fed in batches, whose lines can be found by (step id, line number).

    ``written`` counts every line ever written; the first ``written - len(lines)`` were
    dropped by ``max_lines``. While the user has scrolled up, dropping old lines would slide
    the text under their eyes: the scroll position is moved back by as many lines.
    """

    def __init__(
        self,
        *,
        max_lines: int = 20_000,
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
    ) -> None:
        """A pane keeping at most ``max_lines`` lines on screen (the log file keeps all)."""
        super().__init__(
            highlight=False, max_lines=max_lines, auto_scroll=True, id=id, classes=classes
        )
        self.written = 0
        self._step_start: dict[str, int] = {}
        self._follow = True

    def add_lines(self, lines: Sequence[str]) -> None:
        """Append output lines (one batch from the runner)."""
        if not lines:
            return
        shown = [
            line if line and not _ODD_RE.search(line) else display_line(line) for line in lines
        ]
        before = len(self.lines)
        following = self.following
        self.write_lines(shown, scroll_end=False)
        self.written += len(shown)
        if following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
            return
        dropped = before + len(shown) - len(self.lines)
        if dropped > 0:
            self.scroll_to(y=max(0, self.scroll_y - dropped), animate=False, immediate=True)

    @property
    def following(self) -> bool:
        """Whether new lines scroll the view (the user has not scrolled away from the end)."""
        return self._follow

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Follow the output again once the user scrolls back to the end; stop when they leave.

        Decided on scroll changes only, not on geometry: ``Log`` measures line widths in a
        worker, and the horizontal scrollbar that may appear afterwards takes a row, which
        moves the end away from a view that nobody scrolled.
        """
        super().watch_scroll_y(old_value, new_value)
        self._follow = new_value >= self.max_scroll_y

    def watch_virtual_size(self, size: Size) -> None:
        """Keep a following view at the end when the content grows wider or taller later.

        ``Log`` measures line widths in a worker after the lines were written; a horizontal
        scrollbar that appears then takes a row, and the view would end short of the last line.
        """
        if self._follow:
            self.call_after_refresh(self._stick)

    def _stick(self) -> None:
        if self._follow and self.scroll_y < self.max_scroll_y:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def note(self, *lines: str) -> None:
        """ukl-tui's own lines (a step header, its end); they count like output lines."""
        self.add_lines(list(lines))

    def begin_step(self, step_id: str, header: Iterable[str] = ()) -> None:
        """Remember where a step's output starts (after its header lines)."""
        self.note(*header)
        self._step_start[step_id] = self.written

    @property
    def first_kept(self) -> int:
        """The absolute number (from 0) of the oldest line still in the pane."""
        return self.written - len(self.lines)

    def index_of(self, step_id: str, line_no: int) -> int | None:
        """Where line ``line_no`` (1-based) of a step's log is in the pane, None if not kept."""
        start = self._step_start.get(step_id)
        if start is None or line_no < 1:
            return None
        y = start + line_no - 1 - self.first_kept
        if not 0 <= y < len(self.lines):
            return None
        return y

    def jump_to(self, step_id: str, line_no: int, context: int = 3) -> bool:
        """Scroll so that a step's line is near the top (stops following the output)."""
        y = self.index_of(step_id, line_no)
        if y is None:
            return False
        self.scroll_to(y=max(0, y - context), animate=False, immediate=True)
        return True


Chip = tuple[str, str]  # (text, rich style)


class ChipStrip(Static):
    """One line of coloured labels, e.g. ``✓ build-dir  ● bzImage  ○ boot``."""

    DEFAULT_CSS = """
    ChipStrip { height: auto; width: 1fr; padding: 0 1; }
    """

    def __init__(self, label: str = "", *, id: str | None = None) -> None:  # noqa: A002
        """``label`` is shown first, dimmed (e.g. ``steps``)."""
        super().__init__("", id=id, markup=False)
        self.label = label
        self.chips: list[Chip] = []

    def set_chips(self, chips: Sequence[Chip]) -> None:
        """Show these chips (only repaints when they changed)."""
        chips = list(chips)
        if chips == self.chips:
            return
        self.chips = chips
        text = Text(no_wrap=False, overflow="fold")
        if self.label:
            text.append(f"{self.label} ", style="dim")
        for i, (chip, style) in enumerate(chips):
            if i:
                text.append("  ")
            text.append(chip, style=style)
        self.update(text)
