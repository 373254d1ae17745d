"""The Config browser: the kernel's menu tree, live values, search, why, fixes, undo, save.

Every change goes through the session (``Session.set_values``: the model validates, settles
and reads back; the value becomes a hand edit), and every change is one undo step of the
session's history. A conflict's fix is the session's one ``apply_fix``. After a change the
screen refreshes what depends on values: the built part of the tree, the change marks
(``Session.changes``: against the saved ``.config``), the symbol panel and the conflicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from kconfiglib import HEX, INT, STRING, Choice, Symbol
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static, Tree

from ukl_tui.errors import UserError
from ukl_tui.kconfig import SetResult
from ukl_tui.kconfig import menu as mm
from ukl_tui.paths import display_path
from ukl_tui.screens.dialogs import AskValue
from ukl_tui.screens.messages import SaveConfig
from ukl_tui.screens.search import SearchScreen
from ukl_tui.session import STEPS, Session
from ukl_tui.widgets.conflicts import ConflictList, fix_message
from ukl_tui.widgets.menu_tree import Entry, MenuTree
from ukl_tui.widgets.steps import StepBar
from ukl_tui.widgets.symbol_info import SymbolInfo


def result_text(result: SetResult) -> str:
    """``NAME=y (was n)`` or ``NAME=y (already)``."""
    empty = '""'
    was = "already" if result.status == "already" else f"was {result.before or empty}"
    return f"{result.name}={result.requested or empty} ({was})"


class BrowserScreen(Screen[None]):
    """The config browser (see module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle", "Toggle"),
        Binding("enter", "activate", "Open/Edit", show=False),
        Binding("y", "set('y')", "y", show=False),
        Binding("m", "set('m')", "m", show=False),
        Binding("n", "set('n')", "n", show=False),
        Binding("slash", "search", "Search"),
        Binding("f", "fix", "Fix"),
        Binding("a", "show_all", "Show all", show=False),
        Binding("ctrl+z", "undo", "Undo"),
        Binding("ctrl+y", "redo", "Redo", show=False),
        Binding("d", "diff", "Diff"),
        Binding("ctrl+s", "save", "Save"),
        # Not in the footer (F1 lists it): at 80 columns it pushed Quit and Back out of it.
        Binding("p", "save_preset", "Save as preset", show=False),
        Binding("c", "conflicts", "Conflicts"),
        Binding("i", "toggle_info", "Info", show=False),
    ]

    def __init__(self, session: Session, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.session = session
        self.changed: frozenset[str] = frozenset()
        self.conflicts: list[Any] = []
        self.last_message = ""
        self._marks_pending = False

    @property
    def model(self):  # noqa: ANN201
        """The loaded Kconfig model."""
        return self.session.tree

    def compose(self) -> ComposeResult:
        """Step bar, tree | (symbol panel / conflicts), message line, status line, footer."""
        yield StepBar(STEPS, "browser")
        with Horizontal(id="browser-main"):
            yield MenuTree(self.model.kconf.top_node, id="menu")
            with Vertical(id="browser-side"):
                yield SymbolInfo(id="info")
                yield Static("Conflicts", id="conflicts-title", classes="panel-title")
                yield ConflictList(id="conflicts")
        yield Static("", id="message", markup=False)
        yield Static("", id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Focus the tree; take the first picture of what differs from the saved file."""
        self.query_one(MenuTree).focus()
        self.after_change(initial=True)

    # ----- helpers --------------------------------------------------------------------

    @property
    def menu(self) -> MenuTree:
        """The tree widget."""
        return self.query_one(MenuTree)

    def say(self, text: str, error: bool = False) -> None:
        """The message line under the tree: results of the last action, errors inline."""
        self.last_message = text
        line = self.query_one("#message", Static)
        line.update(text)
        line.set_class(error, "-error")

    def after_change(self, initial: bool = False) -> None:
        """Refresh everything that depends on values (see module docstring).

        The change marks need a diff of two whole .config texts (tens of milliseconds on a
        real tree), so they follow one frame later: the value itself is redrawn at once.
        """
        menu = self.menu
        if initial:
            self._update_marks()
        else:
            menu.sync()
            if not self._marks_pending:
                self._marks_pending = True
                self.call_after_refresh(self._update_marks)
        self.update_info()
        self.conflicts = self.session.conflicts()
        self.query_one(ConflictList).show(self.conflicts)
        self.update_status()

    def refresh_values(self) -> None:
        """Another step changed values, or the .config was saved (the app calls this)."""
        self.after_change()

    def _update_marks(self) -> None:
        self._marks_pending = False
        self.changed = frozenset(c.name for c in self.session.changes())
        menu = self.menu
        if menu.changed != self.changed:
            menu.changed = self.changed
            menu.refresh_labels()
        self.update_status()

    def update_status(self) -> None:
        """Config file, unsaved changes, undo depth, show-all."""
        tree = self.model
        count = len(self.changed)
        parts = [
            display_path(tree.config_path),
            f"{count} unsaved" if count else "saved",
            f"{len(self.conflicts)} conflict{'s' if len(self.conflicts) != 1 else ''} (c)"
            if self.conflicts
            else "no conflicts",
            f"undo {len(self.session.history.undo)}",
        ]
        if self.menu.show_all:
            parts.append("showing hidden entries")
        self.query_one("#status", Static).update("  ·  ".join(parts))

    def update_info(self) -> None:
        """Show the entry under the cursor in the symbol panel."""
        info = self.query_one(SymbolInfo)
        node = self.menu.current
        if node is None:
            info.show_text("Move the cursor onto an entry to see what it is and why.")
            return
        item = node.item
        if isinstance(item, Symbol) and self.model.has(item.name):
            exp = self.model.why(item.name)
            info.show_explanation(exp, self.model.srctree, self.session.one_key_fix(exp))
        else:
            info.show_node(node, self.model.srctree)

    @on(Tree.NodeHighlighted, "#menu")
    def _highlighted(self) -> None:
        self.update_info()

    # ----- changing values ------------------------------------------------------------

    def change(self, assignments: Mapping[str, str], label: str) -> list[SetResult] | None:
        """Apply assignments as one undoable action and report what happened."""
        try:
            results = self.session.set_values(assignments, label)
        except UserError as exc:
            self.say(exc.message, error=True)
            self.app.bell()
            return None
        failed = [r for r in results if not r.took]
        if failed:
            self.say(
                "  ".join(f"{r.name}={r.requested} did not stick: {r.reason}" for r in failed),
                error=True,
            )
        else:
            self.say("Set " + ", ".join(result_text(r) for r in results) + ".")
        self.after_change()
        return results

    def _symbol_here(self) -> Symbol | None:
        node = self.menu.current
        if node is not None and isinstance(node.item, Symbol):
            return node.item
        return None

    def _explain_refusal(self, sym: Symbol, want: str) -> None:
        """Say why ``sym`` cannot take ``want`` and what the fix would be."""
        exp = self.model.why(sym.name, want)
        fixes = self.session.one_key_fix(exp)
        hint = (
            f"  Press f to set {' '.join(f'{k}={v}' for k, v in fixes.items())}." if fixes else ""
        )
        self.say(f"{exp.summary}{hint}", error=True)
        self.app.bell()

    def action_toggle(self) -> None:
        """Space: next value of a bool/tristate, select a choice option, edit others."""
        node = self.menu.current
        if node is None:
            return
        kind = mm.kind_of(node)
        if kind in ("menu", "comment", "choice"):
            tnode = self.menu.cursor_node
            if tnode is not None and tnode.allow_expand:
                tnode.toggle()
            return
        if kind in ("int", "hex", "string"):
            self.action_edit()
            return
        sym = node.item
        assert isinstance(sym, Symbol)
        value = mm.next_value(node)
        if value is None:
            want = "n" if sym.tri_value else "y"
            self._explain_refusal(sym, want)
            return
        self.change({sym.name: value}, f"{sym.name}={value}")

    def action_set(self, value: str) -> None:
        """Y / m / n: set a bool or tristate directly, like menuconfig."""
        sym = self._symbol_here()
        if sym is None or sym.orig_type in (INT, HEX, STRING):
            return
        level = {"n": 0, "m": 1, "y": 2}[value]
        if sym.tri_value == level:
            self.say(f"{sym.name} is already {value}")
            return
        if level not in sym.assignable:
            self._explain_refusal(sym, value)
            return
        self.change({sym.name: value}, f"{sym.name}={value}")

    @on(Tree.NodeSelected, "#menu")
    def _selected(self, event: Tree.NodeSelected[Entry]) -> None:
        event.stop()
        self.action_activate()

    def action_activate(self) -> None:
        """Enter or a click: open/close a menu, toggle a bool, edit a value."""
        tnode = self.menu.cursor_node
        node = self.menu.current
        if tnode is None or node is None:
            return
        kind = mm.kind_of(node)
        if kind in ("int", "hex", "string"):
            self.action_edit()
        elif tnode.allow_expand and (node.is_menuconfig or kind in ("menu", "choice")):
            tnode.toggle()
        elif kind in ("bool", "tristate"):
            self.action_toggle()
        elif tnode.allow_expand:
            tnode.toggle()

    def action_edit(self) -> None:
        """Edit an int/hex/string value in a dialog that checks it as you type."""
        sym = self._symbol_here()
        if sym is None or sym.orig_type not in (INT, HEX, STRING):
            return
        node = self.menu.current
        if node is None or not mm.changeable(node):
            exp = self.model.why(sym.name)
            self.say(exp.summary, error=True)
            self.app.bell()
            return
        exp = self.model.why(sym.name)
        kind = exp.type
        info = f"{exp.prompt or sym.name}  ({kind}"
        info += f", range {'; '.join(exp.ranges)})" if exp.ranges else ")"
        name = sym.name

        def validate(text: str) -> object:
            return self.model.normalise(name, text)

        def done(value: str | None) -> None:
            if value is not None:
                self.change({name: value}, f"{name}={value}")

        self.app.push_screen(AskValue(f"Set {name}", sym.str_value, validate, info), done)

    def action_fix(self) -> None:
        """f: apply the fix the symbol panel shows (the blocking terms' assignments)."""
        sym = self._symbol_here()
        if sym is None:
            self.say("Put the cursor on a symbol to fix it.")
            return
        exp = self.model.why(sym.name)
        fixes = self.session.one_key_fix(exp)
        if not fixes:
            reason = "no single assignment lifts what blocks it" if exp.blockers else ""
            self.say(f"No one-key fix for {sym.name}: {reason or exp.summary}")
            return
        self.change(fixes, "fix " + sym.name)

    # ----- undo / redo ----------------------------------------------------------------

    def action_undo(self) -> None:
        """Ctrl+Z: back to the values before the last action."""
        label = self.session.undo()
        self.say(f"Undone: {label}" if label is not None else "Nothing to undo.")
        if label is not None:
            self.after_change()

    def action_redo(self) -> None:
        """Ctrl+Y: redo what was undone."""
        label = self.session.redo()
        self.say(f"Redone: {label}" if label is not None else "Nothing to redo.")
        if label is not None:
            self.after_change()

    # ----- views ----------------------------------------------------------------------

    def action_show_all(self) -> None:
        """a: show hidden entries too (greyed), or hide them again."""
        menu = self.menu
        menu.set_show_all(not menu.show_all)
        self.say(
            "Showing every entry; hidden ones are greyed."
            if menu.show_all
            else "Showing visible entries only."
        )
        self.update_status()

    def action_toggle_info(self) -> None:
        """i: hide or show the side panel (more room for the tree on small terminals)."""
        side = self.query_one("#browser-side")
        side.display = not side.display

    def action_search(self) -> None:
        """/: find a symbol and jump to it."""
        self.app.push_screen(SearchScreen(self.model), self._jump_result)

    def _jump_result(self, name: str | None) -> None:
        if name:
            self.jump_to(name)

    def jump_to(self, name: str) -> bool:
        """Put the cursor on a symbol, opening menus (and show-all, if it is hidden)."""
        sym = self.model.kconf.syms.get(name) or self.model.kconf.named_choices.get(name)
        if not isinstance(sym, (Symbol, Choice)) or not sym.nodes:
            self.say(f"{name} is not defined in this tree.", error=True)
            return False
        target = mm.best_node(sym)
        assert target is not None
        menu = self.menu
        if not menu.show_all and not mm.reachable(target):
            menu.pin_path(target)
            self.say(
                f"{name} is hidden (its dependencies are not met): shown greyed; "
                "a shows every hidden entry."
            )
        else:
            self.say(f"{name}: {mm.prompt_of(target)}")
        menu.focus()
        ok = menu.focus_node(target)
        self.update_status()
        return ok

    def action_diff(self) -> None:
        """d: what would change in the saved .config; Enter on a line jumps to it."""
        from ukl_tui.screens.diff import DiffScreen

        changes = self.session.changes()
        self.app.push_screen(DiffScreen(self.model, changes), self._jump_result)

    def action_save(self) -> None:
        """Ctrl+S: write .config atomically, keeping the previous one as .config.old (the
        app saves and says so).
        """
        self.post_message(SaveConfig())

    def action_save_preset(self) -> None:
        """p: Save as preset... what you chose (not what follows), as a preset of your own."""
        from ukl_tui.screens.save_preset import SavePresetScreen

        self.app.push_screen(SavePresetScreen.for_session(self.session))

    # ----- conflicts ------------------------------------------------------------------

    def action_conflicts(self) -> None:
        """c: move between the tree and the conflicts list (shown instead of the info on
        narrow terminals).
        """
        conflicts = self.query_one(ConflictList)
        narrow = self.has_class("-narrow")
        if conflicts.has_focus:
            self.menu.focus()
            if narrow:
                self.set_class(False, "-show-conflicts")
            return
        self.query_one("#browser-side").display = True
        if narrow:
            self.set_class(True, "-show-conflicts")
        conflicts.focus()

    @on(OptionList.OptionSelected, "#conflicts")
    def _fix_conflict(self, event: OptionList.OptionSelected) -> None:
        """Enter on a conflict: apply its fix (``Session.apply_fix``) as one undoable change."""
        event.stop()
        conflict = self.query_one(ConflictList).current
        if conflict is None:
            return
        try:
            results = self.session.apply_fix(conflict)
        except UserError as exc:
            self.say(exc.message, error=True)
            return
        self.say(*fix_message(conflict, results))
        self.after_change()
