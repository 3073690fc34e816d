"""Who sees which conversation on the web page: the page's one rule, asked by every route.

A web user sees the threads of the routes they belong to (a route's approvers
and members, `core.routes`) and the conversations they started themselves; a DM
or a web page thread of someone else's never; an admin sees everything. A
person's conversation from before this rule (no record of who started it) is
shown to admins only. What a user may not see answers 404, as if it did not
exist: the thread, its parts, its files, its audit rows, its live updates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from agent.engine.conversations import Conversations
from agent.engine.routing import Routing
from agent.web.guard import Viewer
from core.routes import Routes
from mcp_servers.registry import sweep_base_jobs


class Visibility:
    def __init__(self, routing: Routing, conversations: Conversations) -> None:
        self.routing = routing
        self.conversations = conversations

    async def may_see(self, viewer: Viewer, conversation: str | None) -> bool:
        return conversation in await self.visible(viewer, [conversation])

    async def visible(self, viewer: Viewer, conversations: Iterable[str | None]) -> set[str | None]:
        """The ones of `conversations` the viewer may see (None: operational notices, which
        every signed-in person sees)."""
        keys = set(conversations)
        if viewer.admin:
            return keys
        named = sorted(k for k in keys if k is not None)
        starts = await self.conversations.starts([k for k in named if k.startswith("chat:")])
        sweeps: dict[str, str] = {}
        if any(k.startswith("sweep:") for k in named):
            sweeps = await asyncio.to_thread(sweep_base_jobs, self.routing.state_dir)
        routes: Routes = self.routing.routes
        seen: set[str | None] = {None} if None in keys else set()
        for key in named:
            start = starts.get(key)
            if start is not None and start.person == viewer.id:
                seen.add(key)  # their own
                continue
            if start is not None and start.private:
                continue  # someone else's DM or web thread
            if start is None and key.startswith("chat:"):
                continue  # started before who-started-it was kept: admins only
            if viewer.id in routes.for_conversation(key, sweeps.get).people:
                seen.add(key)
        return seen
