"""What every ukl-tui app owns for exactly its lifetime: the stop signals and a settling animator.

:class:`AppLifetime` is a mixin for the Textual apps (the wizard and ``ukl-tui run``'s app),
written before ``App`` in the bases so Textual dispatches its ``on_load``/``on_unmount`` too:

- SIGINT, SIGTERM and SIGHUP from the app's Load to its Unmount: a signal stops the running
  run, if any (its process groups, its summary), and the app exits with 128 + N, restoring the
  terminal; a second signal while stopping forces it; the handlers the process had before come
  back on Unmount (a crash included), once the run has finished stopping. All of it is
  :class:`~ukl_tui.run_session.StopSignals`, which the headless run uses too.
- An animator that cannot be left waiting: see :class:`SettlingAnimator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual._animator import Animator

from ukl_tui.run_session import StopSignals, runs_ended, runs_in_progress, signal_exit_status

if TYPE_CHECKING:
    from textual.app import App


#: Seconds an app that is going waits for its run to finish stopping (the Runner's grace period,
#: the SIGKILL, draining the pipe); a second signal ends the wait at once.
RUN_STOP_BOUND = 15.0


class SettlingAnimator(Animator):
    """Textual's animator, except that an animation asked for after it stopped ends at once.

    Textual 8's Animator clears its "all complete" event for each new animation, and only its
    timer sets it again. The app stops the animator when it exits; an animation started after
    that (``Tabs`` moves its underline on a 20 ms timer after the active tab changes, and the
    Run screen changes it when the boot starts) would leave the event clear for good, and
    whatever waits for animations to complete (Pilot's ``press``) would wait forever (issue 9:
    ctrl+q pressed just as QEMU started). Here such an animation jumps to its final value.
    """

    _stopped = False

    async def start(self) -> None:
        """Run animations normally from now on."""
        self._stopped = False
        await super().start()

    async def stop(self) -> None:
        """Stop the timer; later animations end at once."""
        self._stopped = True
        await super().stop()

    def animate(self, obj: object, attribute: str, value: Any, **kwargs: Any) -> None:
        """As Textual's, without a delay once stopped (its timer would never fire)."""
        if self._stopped:
            kwargs["delay"] = 0.0
        super().animate(obj, attribute, value, **kwargs)

    def _animate(self, obj: object, attribute: str, value: Any, **kwargs: Any) -> None:
        if not self._stopped:
            super()._animate(obj, attribute, value, **kwargs)
            return
        final = kwargs.get("final_value", ...)
        setattr(obj, attribute, value if final is ... else final)
        on_complete = kwargs.get("on_complete")
        if on_complete is not None:
            self.app.call_later(on_complete)


class AppLifetime:
    """The mixin (see the module docstring): ``class UklApp(AppLifetime, App[int])``."""

    _stop_signals: StopSignals | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Textual's App, with the settling animator."""
        super().__init__(*args, **kwargs)
        self._animator = SettlingAnimator(self)

    def on_load(self) -> None:
        """Catch the signals as the app starts (before the driver takes the terminal)."""
        app = cast("App[Any]", self)
        signals = StopSignals(
            self._exit_on_signal,
            alive=lambda: app.is_running or runs_in_progress(),
            full_screen=True,
        )
        try:
            signals.install()
        except (RuntimeError, ValueError, NotImplementedError):
            return  # not the main thread: the Runner's atexit hook still applies
        self._stop_signals = signals

    async def on_unmount(self) -> None:
        """Let a run that is stopping finish (a second signal still forces it), then give the
        process its previous handlers back.
        """
        await runs_ended(RUN_STOP_BOUND)
        if self._stop_signals is not None:
            self._stop_signals.restore()

    def _exit_on_signal(self, sig: int) -> None:
        cast("App[Any]", self).exit(signal_exit_status(sig))
