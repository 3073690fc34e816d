"""The steps the supervisor runs around each turn (see `base.TurnStep`).

Before: `Approvals`. After, in order: `ToolAudit`, `ProposalCards`, `Attachments`.
"""

from agent.steps.approvals import Approvals, is_confirmation
from agent.steps.attachments import Attachments
from agent.steps.base import TurnContext, TurnStep
from agent.steps.cards import ProposalCards
from agent.steps.tool_audit import ToolAudit

__all__ = [
    "Approvals",
    "Attachments",
    "ProposalCards",
    "ToolAudit",
    "TurnContext",
    "TurnStep",
    "is_confirmation",
]
