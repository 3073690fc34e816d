"""The web page: what it needs from the service, and the Starlette app that serves it.

Built by `Service` when the page is on (`MLOPS_WEB=on`, or `MLOPS_CHAT=web`)
and mounted beside the webhook on the service's own port. Everything it shows
comes from the service database (transcript, inbox, turns), the guard ledger
(proposals, the audit trail) and the sweeps table; everything people do on it
goes through the web bridge into the chat intake, as any chat's would.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from agent.engine.conversations import Conversations
from agent.engine.db import Database
from agent.engine.hub import Hub
from agent.engine.routing import Routing
from agent.engine.transcript import Transcript
from agent.settings import Settings
from agent.web import auth_routes, routes
from agent.web.accounts import OPERATOR, WebUser, read_users_file, set_user
from agent.web.bridge import WebBridge
from agent.web.guard import MAX_SIGN_IN_BYTES, BodyLimit, Guard, SecurityHeaders
from agent.web.markup import FILTERS
from agent.web.passwords import PasswordChecker
from agent.web.sessions import OneTimeLinks, Sessions
from agent.web.throttle import LoginThrottle
from agent.web.timeline import Timeline
from agent.web.visibility import Visibility
from core.ledger import Ledger

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def with_first_operator(settings: Settings) -> Settings:
    """On a fresh machine (no web user anywhere), one local operator who may approve and
    signs in through a one-time link; kept in the users file."""
    if not settings.web_enabled or settings.web_users:
        return settings
    operator = WebUser(password=None, approver=True, admin=True)
    set_user(settings.resolved_web_users_file, OPERATOR, operator)
    log.info("created the web user %r in %s", OPERATOR, settings.resolved_web_users_file)
    return settings.model_copy(update={"web_users": {OPERATOR: operator}})


def exposure_warning(host: str) -> str | None:
    if host in LOOPBACK or host.startswith("127."):
        return None
    return (
        f"the web page listens on {host} (MLOPS_HOST), not only on this machine: its"
        " passwords and session cookies travel in clear text unless a TLS proxy is in front"
    )


@dataclass
class WebPage:
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

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                *auth_routes.routes(self),
                *routes.routes(self),
                Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            ],
            middleware=[
                Middleware(SecurityHeaders, hsts=self.secure),
                Middleware(BodyLimit, limits={"/login": MAX_SIGN_IN_BYTES}),
            ],
        )


def link_url(base_url: str, token: str) -> str:
    return f"{base_url}/login/once?token={token}"


def page_routes(page: WebPage) -> list[Route | Mount]:
    """The page as one mount, for the service's app."""
    return [Mount("/", app=page.app())]
