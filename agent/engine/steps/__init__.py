"""The steps the supervisor runs around each turn (see `base.TurnStep`).

Before, in order: `RouteNotes`, `Approvals`.
After, in order: `ToolAudit`, `ProposalCards`, `Attachments`.
"""

from agent.engine.steps.approvals import Approvals, is_confirmation
from agent.engine.steps.attachments import Attachments
from agent.engine.steps.base import TurnContext, TurnStep
from agent.engine.steps.cards import ProposalCards
from agent.engine.steps.route_notes import RouteNotes
from agent.engine.steps.tool_audit import ToolAudit

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
