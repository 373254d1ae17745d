"""The symbol panel: what the entry under the cursor is, why it has its value, and the fix.

Everything shown comes from the model's ``Explanation`` (``Tree.why``): the blocking
dependency terms with their current values and the one-key fix. The panel only decides
how to lay that out, and keeps long lists (a symbol selected by 200 drivers) short.
"""

from __future__ import annotations

import os
from pathlib import Path

from kconfiglib import COMMENT, MENU, Choice, MenuNode, Symbol, expr_str, expr_value
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from ukl_tui.kconfig import Explanation
from ukl_tui.kconfig import menu as mm

#: How many "selected by" / "implied by" / defaults entries are listed before "and N more".
LIST_LIMIT = 6

Part = str | tuple[str, str]


def _line(*parts: Part) -> Content:
    return Content.assemble(*parts)


def relative_site(site: str, srctree: Path | None) -> str:
    """A ``file:line`` made relative to the tree, or to its basename when outside it.

    Keeps the panel short and free of machine-specific paths (snapshots stay stable).
    """
    filename, sep, linenr = site.rpartition(":")
    if not sep:
        return site
    if os.path.isabs(filename):
        try:
            if srctree is None:
                raise ValueError
            filename = str(Path(filename).relative_to(srctree))
        except ValueError:
            filename = os.path.basename(filename)
    return f"{filename}:{linenr}"


def explanation_lines(
    exp: Explanation, srctree: Path | None, fixes: dict[str, str] | None = None
) -> list[Content]:
    """Lay an explanation out as the panel shows it; ``fixes`` is the checked one-key fix
    (None: the model's, unchecked).
    """
    out: list[Content] = []
    title: list[Part] = [(exp.name, "bold"), (f"  {exp.type} = ", "dim")]
    title.append((exp.value if exp.value else '""', "bold $accent"))
    if exp.assignable and len(exp.assignable) > 1:
        title.append((f"   can be {' / '.join(exp.assignable)}", "dim"))
    out.append(_line(*title))
    if exp.prompt:
        out.append(_line((exp.prompt, "italic")))
    summary_style = "$warning" if exp.blockers else "" if exp.visible else "dim"
    out.append(_line((exp.summary, summary_style)))
    if exp.direct_deps:
        out += [Content(""), _line(("Depends on", "bold"))]
        for term in exp.direct_deps:
            ok = term.value != "n"
            mark = ("  ✓ ", "$success") if ok else ("  ✗ ", "$error")
            out.append(_line(mark, term.describe()))
    if exp.blockers:
        out += [Content(""), _line((f"Why it cannot be {exp.want}", "bold"))]
        out += [_line(("  • " + t.describe(), "$error")) for t in exp.blockers]
    if fixes is None:
        fixes = exp.fix_assignments()
    if fixes:
        out += [
            Content(""),
            _line(
                ("Fix ", "bold"),
                ("(press f)", "bold $accent"),
                ": " + "  ".join(f"{k}={v}" for k, v in fixes.items()),
            ),
        ]
    for heading, items in (("Selected by", exp.selected_by), ("Implied by", exp.implied_by)):
        if not items:
            continue
        active = [r for r in items if r.active]
        ordered = active + [r for r in items if not r.active]
        out += [Content(""), _line((f"{heading} ({len(active)} of {len(items)} active)", "bold"))]
        for rev in ordered[:LIST_LIMIT]:
            mark = ("  on  ", "$success") if rev.active else ("  off ", "dim")
            cond = (f" if {rev.condition}", "dim") if rev.condition != "y" else ""
            out.append(_line(mark, rev.symbol, cond))
        if len(ordered) > LIST_LIMIT:
            out.append(_line((f"  … and {len(ordered) - LIST_LIMIT} more", "dim")))
    if exp.defaults:
        out += [Content(""), _line(("Defaults", "bold"))]
        for default in exp.defaults[:LIST_LIMIT]:
            mark = ("  → ", "$accent") if default.active else "    "
            cond = (f" if {default.condition}", "dim") if default.condition != "y" else ""
            out.append(_line(mark, default.value, cond))
        if len(exp.defaults) > LIST_LIMIT:
            out.append(_line((f"  … and {len(exp.defaults) - LIST_LIMIT} more", "dim")))
    if exp.ranges:
        out += [Content(""), _line(("Range  ", "bold"), "; ".join(exp.ranges))]
    if exp.defined_at:
        sites = ", ".join(relative_site(s, srctree) for s in exp.defined_at)
        out += [Content(""), _line(("Defined at  ", "bold"), sites)]
    if exp.help:
        out += [Content(""), _line(("Help", "bold")), Content(exp.help.strip())]
    return out


def node_lines(node: MenuNode, srctree: Path | None) -> list[Content]:
    """For entries that are not symbols: menus, comments and choices."""
    out: list[Content] = []
    kind = mm.kind_of(node)
    out.append(_line((mm.prompt_of(node), "bold"), (f"  {kind}", "dim")))
    item = node.item
    if isinstance(item, Choice):
        mode = ("n", "m", "y")[item.tri_value]
        out.append(Content(f"A choice (mode {mode}): exactly one option is selected."))
        if item.selection is not None:
            out.append(_line("Selected: ", (item.selection.name, "bold $accent")))
        out.append(_line(("Options: " + ", ".join(s.name for s in item.syms), "dim")))
    elif item is MENU:
        out.append(Content("A menu: open it with → or Enter."))
        vis = node.visibility
        if vis is not None and not (isinstance(vis, Symbol) and vis.is_constant):
            ok = bool(expr_value(vis))
            out.append(_line((f"visible if {expr_str(vis)}", "" if ok else "$error")))
    elif item is COMMENT:
        out.append(Content("A comment: nothing to set."))
    dep = node.dep
    if dep is not None and not (isinstance(dep, Symbol) and dep.is_constant):
        ok = bool(expr_value(dep))
        out.append(_line(("depends on ", "bold"), (expr_str(dep), "" if ok else "$error")))
    site = relative_site(f"{node.filename}:{node.linenr}", srctree)
    out += [Content(""), _line(("Defined at  ", "bold"), site)]
    helptext = getattr(node, "help", None)  # only set on nodes that have help
    if helptext:
        out += [Content(""), _line(("Help", "bold")), Content(helptext.strip())]
    return out


class SymbolInfo(VerticalScroll):
    """A scrollable panel showing one explanation (see module docstring)."""

    DEFAULT_CSS = """
    SymbolInfo { height: 1fr; }
    SymbolInfo > #info-body { width: 1fr; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.plain = ""

    def compose(self) -> ComposeResult:
        """One Static holds the whole text; the container scrolls it."""
        yield Static("", id="info-body")

    def _show(self, lines: list[Content]) -> None:
        content = Content("\n").join(lines)
        self.plain = content.plain
        self.query_one("#info-body", Static).update(content)
        self.scroll_home(animate=False)

    def show_explanation(
        self, exp: Explanation, srctree: Path | None, fixes: dict[str, str] | None = None
    ) -> None:
        """Show the explanation of a symbol (with the checked one-key fix, if any)."""
        self._show(explanation_lines(exp, srctree, fixes))

    def show_node(self, node: MenuNode, srctree: Path | None) -> None:
        """Show a menu, comment or choice."""
        self._show(node_lines(node, srctree))

    def show_text(self, text: str) -> None:
        """A plain message (nothing selected yet)."""
        self._show([_line((text, "dim"))])


__all__ = ["SymbolInfo", "explanation_lines", "node_lines", "relative_site"]
