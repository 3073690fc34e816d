"""Routes as the supervisor uses them: where a conversation's thread starts, who may approve
its writes, and whom its job's owner is in chat.

The routes themselves (`core.routes`) come from the operator's `MLOPS_ROUTES`
file, validated at start; a sweep's conversation follows its base job, read
from the sweeps the skills keep (`mcp_servers.registry`).
"""

from __future__ import annotations

from pathlib import Path

from core.approvers import Deciders, deciders
from core.ledger import Proposal
from core.routes import Route, Routes
from mcp_servers.registry import sweep_base_jobs


class Routing:
    def __init__(self, routes: Routes, state_dir: Path) -> None:
        self.routes = routes
        self.state_dir = state_dir

    def base_job(self, sweep: str) -> str | None:
        """The base job of a sweep (its route is the base job's)."""
        return sweep_base_jobs(self.state_dir).get(sweep)

    def route(self, conversation: str) -> Route:
        sweeps: dict[str, str] | None = None

        def base_job(sweep: str) -> str | None:
            nonlocal sweeps
            sweeps = sweep_base_jobs(self.state_dir) if sweeps is None else sweeps
            return sweeps.get(sweep)

        return self.routes.for_conversation(conversation, base_job)

    def channels(self) -> frozenset[str]:
        """Every channel a route (the default one too) starts its threads in."""
        return frozenset(r.channel for r in self.routes.all if r.channel)

    def channel(self, conversation: str) -> str | None:
        """Where the conversation's thread starts (None: no channel configured anywhere)."""
        return self.route(conversation).channel

    def deciders(self, proposal: Proposal) -> Deciders:
        """Who may approve or reject `proposal` (`core.approvers`)."""
        return deciders(self.routes, proposal.payload, self.route(proposal.conversation))

    def mentionable(self, allowed_users: frozenset[str]) -> frozenset[str]:
        """Who a post may mention: the allowlist and the people map."""
        return allowed_users | frozenset(self.routes.people.values())
