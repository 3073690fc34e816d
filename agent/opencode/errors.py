"""Exceptions of the opencode runtime.

    OpencodeError
    ├── OpencodeStartError   opencode exited or stayed silent before listening
    ├── OpencodeHTTPError    opencode answered a request with an error status
    ├── OpencodeUnavailable  opencode could not be reached (not started, or gone)
    ├── OpencodeRestarted    opencode died during a turn and was restarted: retry the turn
    └── TurnTimeout          a turn ran past its time limit and was aborted

A model failure is not an exception: it ends the turn normally, with
`TurnResult.error` set.
"""

from __future__ import annotations


class OpencodeError(Exception):
    pass


class OpencodeStartError(OpencodeError):
    pass


class OpencodeHTTPError(OpencodeError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"opencode {method} {path} answered {status}: {body[:500]}")
        self.status = status
        self.body = body


class OpencodeUnavailable(OpencodeError):
    pass


class OpencodeRestarted(OpencodeError):
    pass


class TurnTimeout(OpencodeError):
    pass
