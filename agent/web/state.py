"""The page's state: what it needs from the service, and the parts made from it.

The endpoints (`routes`, `auth_routes`) read it from the app's state
(`page_of(request)`); `page.WebPage` adds the app that serves them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from agent.accounts.passwords import PasswordChecker
from agent.accounts.users import WebUser, read_users_file, set_user
from agent.engine.conversations import Conversations
from agent.engine.db import Database
from agent.engine.hub import Hub
from agent.engine.routing import Routing
from agent.engine.transcript import Transcript
from agent.settings import Settings
from agent.web.bridge import WebBridge
from agent.web.guard import Guard
from agent.web.markup import FILTERS
from agent.web.sessions import OneTimeLinks, Sessions
from agent.web.throttle import LoginThrottle
from agent.web.timeline import Timeline
from agent.web.visibility import Visibility
from core.ledger import Ledger

# Its log lines keep the name they had when this was part of `page`.
log = logging.getLogger("agent.web.page")

HERE = Path(__file__).resolve().parent


@dataclass
class PageState:
    """What the page's endpoints need from the service, read from the app's state
    (`request.app.state.page`, set by `WebPage.app`)."""

    settings: Settings
    db: Database
    hub: Hub
    transcript: Transcript
    bridge: WebBridge
    ledger: Ledger
    attachments: Path
    base_url: str
    routing: Routing | None = None  # the service's; by default read from the settings
    users: dict[str, WebUser] = field(init=False)

    def __post_init__(self) -> None:
        self.users = dict(self.settings.web_users)
        self.site = self.routing or Routing(self.settings.load_routes(), self.settings.state_dir)
        self.visibility = Visibility(self.site, Conversations(self.db))
        self.sessions = Sessions(self.db, self.users)
        self.links = OneTimeLinks(self.db)
        self.throttle = LoginThrottle()
        self.passwords = PasswordChecker()
        # Behind https (MLOPS_PUBLIC_URL): cookies only over TLS, and browsers told to stay.
        self.secure = self.base_url.startswith("https://")
        self.timeline = Timeline(self.db)
        self.guard = Guard(self.sessions, self.users)
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.filters.update(FILTERS)
        self.attachments = self.attachments.resolve()

    async def open(self) -> None:
        await self.sessions.open()
        await self.timeline.open()

    async def sign_in_link(self, name: str) -> str:
        """A new one-time sign-in URL for `name` (their last one stops working)."""
        return link_url(self.base_url, await self.links.issue(name))

    async def upgrade_password(self, name: str, password: str) -> None:
        """Hash a password made with old parameters again, now that it is known; only where
        the users file holds it (MLOPS_WEB_USERS is the operator's to change)."""
        path = self.settings.resolved_web_users_file
        stored = await asyncio.to_thread(read_users_file, path)
        current = self.users.get(name)
        if current is None or stored.get(name) != current:
            log.info("web user %r: the password hash is old; set it again with web-user", name)
            return
        upgraded = current.model_copy(update={"password": await self.passwords.rehash(password)})
        await asyncio.to_thread(set_user, path, name, upgraded)
        self.users[name] = upgraded
        log.info("web user %r: password hash upgraded to the current scrypt parameters", name)

    def render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> Any:
        context.setdefault("viewer", getattr(request.state, "viewer", None))
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)


def page_of(request: Request) -> PageState:
    """The page an endpoint serves (`WebPage.app` puts it in the app's state)."""
    page: PageState = request.app.state.page
    return page


def link_url(base_url: str, token: str) -> str:
    return f"{base_url}/login/once?token={token}"
