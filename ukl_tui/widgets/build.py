"""The Build fields of the Network & boot step: distcc hosts and ``-j``, checked as typed.

The host list is parsed on every keystroke with :func:`ukl_tui.distcc.parse_hosts` (the same
check ``--distcc`` gets, so the same one-line message); once the typing pauses the hosts are
probed in a worker thread and each one's answer is shown, the unreachable ones marked as left
out, exactly as the plan will do before the build. The widget only holds values: the screen
reads :attr:`hosts`, :attr:`jobs` and :attr:`problem` when its fields change.
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from ukl_tui.distcc import HostList, Probe, implicit_hosts, parse_hosts, probe
from ukl_tui.errors import UserError

#: How long typing must pause before the hosts are probed, in seconds.
PROBE_DELAY = 0.4


class BuildFields(Vertical):
    """distcc hosts and the compile jobs, with the hosts' probe (see the module docstring)."""

    DEFAULT_CSS = """
    BuildFields { height: auto; }
    BuildFields #distcc-probe { height: auto; margin-top: 1; }
    """

    def __init__(self, **kw: Any) -> None:
        """Empty fields; :meth:`set_values` fills them."""
        super().__init__(**kw)
        #: The host list on one line (None: no distcc), once valid.
        self.hosts: str | None = None
        #: ``make -j`` (None: the hosts' slots, else the CPU count), once valid.
        self.jobs: int | None = None
        #: The first problem of the two fields, or None.
        self.problem: str | None = None
        #: The last probe's answers, for the list :attr:`hosts` names.
        self.probes: list[Probe] = []
        self._parsed: HostList | None = None
        self._timer: Timer | None = None
        #: distcc's own list (spec, where from): a new plan starts with it, and says so here.
        self._own: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        """Two fields and the probe's answer."""
        yield Label("distcc hosts  host[:port][/limit] …  (empty: compile here)", markup=False)
        yield Input(
            placeholder="e.g. 192.168.1.20/8 192.168.1.21:3633/8", id="distcc-hosts", compact=True
        )
        yield Label("Compile jobs  -j  (empty: the hosts' slots, else the CPUs)", markup=False)
        yield Input(id="build-jobs", type="integer", compact=True)
        yield Static("", id="distcc-probe")

    def set_values(self, hosts: str | None, jobs: int | None) -> None:
        """Fill the fields (from the session); they are checked as if typed."""
        try:
            self._own = implicit_hosts()
        except UserError:
            self._own = None
        self.query_one("#distcc-hosts", Input).value = hosts or ""
        self.query_one("#build-jobs", Input).value = "" if jobs is None else str(jobs)
        self._check()

    @on(Input.Changed, "#distcc-hosts, #build-jobs")
    def _typed(self) -> None:
        self._check()

    def _check(self) -> None:
        text = self.query_one("#distcc-hosts", Input).value
        jobs_text = self.query_one("#build-jobs", Input).value.strip()
        self.problem = None
        self.probes = []
        try:
            parsed = parse_hosts(text, "distcc hosts") if text.strip() else None
            jobs = int(jobs_text) if jobs_text else None
            if jobs is not None and not 1 <= jobs <= 1024:
                raise UserError(f"compile jobs must be 1 to 1024, not {jobs}")
        except ValueError:
            self._show_problem(f"compile jobs must be a whole number, not {jobs_text!r}")
            return
        except UserError as exc:
            self._show_problem(exc.message)
            return
        self._parsed, self.hosts, self.jobs = parsed, parsed.spec() if parsed else None, jobs
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if parsed is None:
            self._show(Content.styled("compiles on this machine (no distcc)", "$text-muted"))
            return
        self._show(Content.styled(f"{self._slots_line(parsed)}; asking the hosts…", "$text-muted"))
        self._timer = self.set_timer(PROBE_DELAY, self._probe)

    def _slots_line(self, parsed: HostList) -> str:
        jobs = f"-j{self.jobs}" if self.jobs is not None else f"-j{parsed.slots} (distcc -j)"
        line = f"{len(parsed.hosts)} host(s), {parsed.slots} slots: make {jobs}"
        if self._own is not None and self._parsed is not None and self._own[0] == self.hosts:
            line += f" (the hosts in {self._own[1]})"
        return line

    def _show_problem(self, message: str) -> None:
        self.problem = message
        self._parsed = None
        self._show(Content.assemble(("✗ ", "$error"), (message, "$error")))

    def _show(self, content: Content) -> None:
        self.query_one("#distcc-probe", Static).update(content)

    def _probe(self) -> None:
        self._timer = None
        if self._parsed is not None:
            self._ask(self._parsed)

    @work(thread=True, exclusive=True, group="distcc-probe")
    def _ask(self, parsed: HostList) -> None:
        results = probe(parsed)
        self.app.call_from_thread(self._answered, parsed, results)

    def _answered(self, parsed: HostList, results: list[Probe]) -> None:
        if parsed is not self._parsed:
            return  # the list changed while the hosts were asked
        self.probes = results
        up = parsed.keeping(p.host for p in results if p.ok)
        lines = [Content.styled(self._slots_line(up) if up.hosts else "", "$text-muted")]
        for p in results:
            mark, style = ("✓ ", "$success") if p.ok else ("✗ ", "$error")
            left = "" if p.ok else " (left out)"
            lines.append(Content.assemble((mark, style), f"{p.host.label}: {p.detail}{left}"))
        if not up.hosts:
            lines[0] = Content.styled("no host answers: the kernel would build here", "$warning")
        self._show(Content("\n").join(lines))
