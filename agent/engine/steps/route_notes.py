"""Route notes before a turn: which route a conversation belongs to, and whom an event's
owner is in chat.

Code never decides to mention anyone: it only makes the owner's mention
available (mapped people only) and the brief says when to use it. An owner
without a mapping is shown by name, never as a mention.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.engine.render import token
from agent.engine.routing import Routing
from agent.engine.steps.base import TurnContext, TurnStep
from core.routes import DEFAULT


class RouteNotes(TurnStep):
    def __init__(self, routing: Routing, mention: Callable[[str], str]) -> None:
        self.routing = routing
        self.mention = mention  # how the chat writes a mention of a user id

    async def before(self, turn: TurnContext) -> None:
        route = self.routing.route(turn.conversation)
        if route.name != DEFAULT and turn.conversation.startswith(("chat:", "digest:")):
            jobs = ", ".join(route.jobs)
            turn.notes.append(f"route {route.name}: its jobs are {jobs}")
        # A job's events name its owner; so does what the scheduler watcher saw of it.
        owners = {i.payload.get("owner") for i in turn.items if i.kind in ("event", "watch")}
        for owner in sorted(o for o in owners if isinstance(o, str) and o):
            user = self.routing.routes.mention(owner)
            name = token(owner)  # the event's word: quoted unless it is one plain word
            if user is not None:
                turn.notes.append(f"owner {name} is {self.mention(user)} in chat")
            else:
                turn.notes.append(f"owner {name} has no chat id: write the name, no mention")
