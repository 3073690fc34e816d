"""The git skill's exceptions; the MCP boundary (`mcp_servers.tooling`) turns each into a
tool error the model reads.

GitSkillError                 a request the skill refuses; the message says what would be valid
 └── DiffDoesNotApply         the stored diff no longer applies to the branch head (patches.py)
LedgerError (core.ledger)     the write gate: no approval yet, a stale turn... (GateRefused)
ConfigError (a ValueError)    a setting is missing or invalid: the skill does not start
"""

from __future__ import annotations

from core.ledger import LedgerError


class GitSkillError(Exception):
    pass


class ConfigError(ValueError):
    """The message names the variable."""


# What the server reports to the model as a tool error.
ERRORS = (GitSkillError, LedgerError)
