"""A skill's side of the write gate: file proposals, act on one only once a person approved it.

Used by every gated action (a commit, a cancel of someone else's job),
so the flow is written once: `propose` stores the action for a person to
approve; `approved` says whether *this* turn may act on it now (read-only);
`spend` checks again and consumes the approval in one transaction right before
the action; `close` records how it ended. Every refusal is a `GateRefused`
whose message tells the model what to do next; the turn ids and approvals come
from the ledger, never from what the model says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.approvers import Deciders, deciders
from core.ledger import Confirmation, GateRefused, Ledger, LedgerError, Proposal
from core.routes import Route, Routes, RoutesError
from core.skill_env import SkillEnvironment


@dataclass(frozen=True)
class GateContext:
    """What one skill's gate knows of every skill (`mcp_servers.registry.gate_context`):
    each proposal kind they declare with how a refusal names it, and each sweep's base
    job by sweep id (a sweep's conversation is routed by its base job)."""

    kinds: Mapping[str, str] = field(default_factory=dict)
    sweep_base_jobs: Callable[[Path], Mapping[str, str]] = lambda _state: {}


# No kind declared: every proposal is refused as unknown (a skill built without its gate).
NO_CONTEXT = GateContext()


@dataclass(frozen=True)
class Approval:
    proposal: Proposal
    confirmation: Confirmation


class GatedProposals:
    def __init__(
        self,
        ledger: Ledger,
        approvers: frozenset[str],
        routes: Routes | None = None,
        sweep_base_job: Callable[[str], str | None] = lambda _: None,
        *,
        kinds: Mapping[str, str],
    ) -> None:
        """`approvers`: everyone who may approve at all. With `routes`, a proposal is decided
        by an approver of each route it involves (`core.approvers`); without, by any of them.
        `kinds`: every kind of proposal the skills declare, and how a refusal names it."""
        self.kinds = dict(kinds)
        self.ledger = ledger
        self.approvers = approvers
        self.routes = routes or Routes.load(None, allowed_users=approvers, default_channel=None)
        self.sweep_base_job = sweep_base_job

    @classmethod
    def from_env(cls, env: SkillEnvironment, context: GateContext) -> GatedProposals:
        """The ledger the service made in the state dir; LedgerError when there is none
        (the service creates the ledger and its key; a skill never makes its own)."""
        if not env.ledger_path.exists():
            raise LedgerError(f"no guard ledger at {env.ledger_path}: start the service first")
        try:
            ledger = Ledger.from_files(
                env.ledger_path, env.key_file, proposal_ttl_s=env.proposal_ttl_s
            )
        except ValueError as exc:
            raise LedgerError(str(exc)) from None
        if env.routes_file is None:
            return cls(ledger, env.allowed_users, kinds=context.kinds)
        try:
            routes = Routes.load(
                env.routes_file, allowed_users=env.allowed_users, default_channel=None
            )
        except RoutesError as exc:
            raise LedgerError(str(exc)) from None
        state = env.state
        return cls(
            ledger,
            env.allowed_users,
            routes,
            lambda sweep: context.sweep_base_jobs(state).get(sweep),
            kinds=context.kinds,
        )

    def route_of(self, conversation: str) -> Route:
        """The conversation's route (the default one on a site without a routes file)."""
        return self.routes.for_conversation(conversation, self.sweep_base_job)

    def route_of_turn(self, turn_id: str) -> Route | None:
        turn = self.ledger.turn(turn_id)
        return self.route_of(turn.conversation) if turn is not None else None

    def deciders(self, kind: str, payload: dict[str, Any], conversation: str) -> Deciders:
        return deciders(self.routes, payload, self.route_of(conversation))

    def approvers_of(self, proposal_id: str) -> frozenset[str]:
        """Who may approve this proposal: an approver of every route it involves."""
        proposal = self.ledger.proposal(proposal_id)
        if proposal is None:
            return frozenset()
        return self.deciders(proposal.kind, proposal.payload, proposal.conversation).people

    def require_turn(self, turn_id: str) -> None:
        """Refuse a forged or stale turn id before any work is done for it."""
        if self.ledger.turn(turn_id) is None:
            raise GateRefused(
                f"unknown turn_id {turn_id!r}: pass the turn_id shown in this turn's header"
            )

    def propose(self, turn_id: str, kind: str, payload: dict[str, Any], summary: str) -> Proposal:
        """File a proposal, unless no one could ever approve it (it spans routes that share
        no approver): then GateRefused says how to split it."""
        if kind not in self.kinds:
            raise LedgerError(f"unknown proposal kind {kind!r}; valid: {sorted(self.kinds)}")
        turn = self.ledger.turn(turn_id)
        if turn is not None:
            who = self.deciders(kind, payload, turn.conversation)
            if not who.people:
                names = ", ".join(r.name for r in who.routes)
                raise GateRefused(
                    f"not proposed: it involves routes {names} and no one is an approver of all"
                    " of them; propose each route's part separately (in its own thread)"
                )
        return self.ledger.propose(turn_id, kind, payload, summary)

    def approved(self, proposal_id: str, turn_id: str, kind: str) -> Approval:
        """The approval that lets `turn_id` act on `proposal_id` now, or GateRefused.

        Read-only: `spend` checks again and consumes it right before acting."""
        confirmation = self.ledger.gate(proposal_id, turn_id, self.approvers_of(proposal_id))
        proposal = self.ledger.proposal(proposal_id)
        if proposal is None or proposal.kind != kind:
            found = self.kinds.get(proposal.kind, proposal.kind) if proposal else "unknown"
            raise GateRefused(
                f"proposal {proposal_id} is a {found} proposal, not a {self.kinds.get(kind, kind)}"
            )
        return Approval(proposal, confirmation)

    def spend(self, proposal_id: str, turn_id: str) -> Confirmation:
        """Check the gate again and consume the approval: one approval, one action."""
        return self.ledger.mark_used(proposal_id, turn_id, self.approvers_of(proposal_id))

    def close(self, proposal_id: str, status: str, outcome: str) -> Proposal:
        """`applied` (outcome: what was done) or `expired` (outcome: why not)."""
        return self.ledger.close(proposal_id, status, outcome)

    def audit(self, turn_id: str, action: str, **detail: object) -> None:
        self.ledger.audit(action, actor="agent", turn_id=turn_id, detail=detail)
