"""The skill's exceptions; the MCP boundary (`mcp_servers.tooling`) turns each into a
tool error the model reads.

SchedulerError (backends/base.py)  the backend refused or failed
InvalidRequest                     a tool argument is wrong; the message says what is valid
Refused                            a rule of the skill said no
 ├── NeedsHuman                    the action touches someone else's job
 ├── BudgetExceeded                the agent's job or GPU-hour budget is spent
 ├── QuietHoursRefused             no new trial starts in quiet hours (sweeps/quiet.py)
 └── SweepLimitReached             a sweep's trial limits (sweeps/book.py)
LedgerError (core.ledger)          the write gate: no approval yet, a stale turn... (GateRefused)
"""

from __future__ import annotations

from core.ledger import LedgerError

from .backends.base import SchedulerError


class InvalidRequest(Exception):
    pass


class Refused(Exception):
    pass


class NeedsHuman(Refused):
    pass


class BudgetExceeded(Refused):
    pass


# What the server reports to the model as a tool error.
ERRORS = (SchedulerError, InvalidRequest, Refused, LedgerError)
