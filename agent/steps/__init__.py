"""The steps the supervisor runs around each turn (see `base.TurnStep`).

Before, in order: `RouteNotes`, `Approvals`.
After, in order: `ToolAudit`, `ProposalCards`, `Attachments`.
"""

from agent.steps.approvals import Approvals, is_confirmation
from agent.steps.attachments import Attachments
from agent.steps.base import TurnContext, TurnStep
from agent.steps.cards import ProposalCards
from agent.steps.route_notes import RouteNotes
from agent.steps.tool_audit import ToolAudit

__all__ = [
    "Approvals",
    "Attachments",
    "ProposalCards",
    "RouteNotes",
    "ToolAudit",
    "TurnContext",
    "TurnStep",
    "is_confirmation",
]
