"""The skill's exceptions; server.py turns each into a ToolError for the model.

SchedulerError (backend.py)  the backend refused or failed
InvalidRequest               a tool argument is wrong; the message says what is valid
Refused                      a rule of the skill said no
 ├── NeedsHuman              the action touches someone else's job
 └── BudgetExceeded          the agent's job or GPU-hour budget is spent
"""

from __future__ import annotations


class InvalidRequest(Exception):
    pass


class Refused(Exception):
    pass


class NeedsHuman(Refused):
    pass


class BudgetExceeded(Refused):
    pass
