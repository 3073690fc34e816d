"""The web page: the Starlette app that serves the page's state (`state.PageState`).

Built by `Service` when the page is on (`MLOPS_WEB=on`, or `MLOPS_CHAT=web`)
and mounted beside the webhook on the service's own port. Everything it shows
comes from the service database (transcript, inbox, turns), the guard ledger
(proposals, the audit trail) and the sweeps table; everything people do on it
goes through the web bridge into the chat intake, as any chat's would.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from agent.accounts.users import OPERATOR, WebUser, set_user
from agent.settings import Settings
from agent.web import auth_routes, routes
from agent.web.guard import MAX_SIGN_IN_BYTES, BodyLimit, SecurityHeaders
from agent.web.state import HERE, PageState

log = logging.getLogger(__name__)

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


class WebPage(PageState):
    """The page's state and the Starlette app that serves it."""

    def app(self) -> Starlette:
        app = Starlette(
            routes=[
                *auth_routes.routes(self.guard),
                *routes.routes(self.guard),
                Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            ],
            middleware=[
                Middleware(SecurityHeaders, hsts=self.secure),
                Middleware(BodyLimit, limits={"/login": MAX_SIGN_IN_BYTES}),
            ],
        )
        app.state.page = self  # what the endpoints read (`state.page_of`)
        return app


def page_routes(page: WebPage) -> list[Route | Mount]:
    """The page as one mount, for the service's app."""
    return [Mount("/", app=page.app())]
