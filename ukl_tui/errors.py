"""The one error type the command line turns into a clear line and exit status 2.

Every check of user input (paths, presets, addresses, .config files) raises ``UserError``
with a message that already names the problem, so faces never print tracebacks for
mistakes a user can fix.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input: a message for the user, shown as one line, exit status 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
