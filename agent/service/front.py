"""The service's HTTP side: the webhook, health and readiness, Slack's HTTP mode and the web
page, served by one uvicorn server, and the lines that say where people find the page."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from agent.settings import Settings

if TYPE_CHECKING:
    from agent.engine.db import Database
    from agent.engine.hub import Hub
    from agent.engine.routing import Routing
    from agent.engine.transcript import Transcript
    from agent.intake.webhook import TrainingHook
    from agent.web.bridge import WebBridge
    from agent.web.page import WebPage
    from core.ledger import Ledger

log = logging.getLogger("agent.service")  # the service's own lines, as before the split


def people_url(settings: Settings) -> str:
    """Where people reach the service: MLOPS_PUBLIC_URL, else its address on this machine."""
    if settings.public_url:
        return settings.public_url
    host = settings.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{host}:{settings.port}"


def http_server(
    settings: Settings,
    hook: TrainingHook,
    ready: Callable[[], Awaitable[dict[str, bool]]],
    slack_endpoint: Any,
    page_routes: list[Any],
) -> uvicorn.Server:
    from agent.service.app import build_app

    app = build_app(
        hook, ready, slack_endpoint, page_routes, trusted_proxies=settings.trusted_proxies
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        # Forwarding headers are believed only from MLOPS_TRUSTED_PROXIES (build_app),
        # not from uvicorn's default of 127.0.0.1.
        proxy_headers=False,
    )
    return uvicorn.Server(config)


async def open_page(
    settings: Settings,
    *,
    db: Database,
    hub: Hub,
    transcript: Transcript,
    bridge: WebBridge,
    ledger: Ledger,
    attachments: Path,
    routing: Routing,
) -> WebPage:
    from agent.web.page import WebPage

    page = WebPage(
        settings=settings,
        db=db,
        hub=hub,
        transcript=transcript,
        bridge=bridge,
        ledger=ledger,
        attachments=attachments,
        base_url=people_url(settings),
        routing=routing,
    )
    await page.open()
    return page


async def announce_page(
    page: WebPage, settings: Settings, made_operator: bool, sign_in_urls: dict[str, str]
) -> None:
    """Where the page is; for an operator this start created, a one-time sign-in link."""
    from agent.accounts.users import OPERATOR
    from agent.web.page import exposure_warning

    url = people_url(settings)
    if not url.startswith("https://") and (warning := exposure_warning(settings.host)):
        log.warning(warning)
    log.info("web page: %s", url)
    if made_operator:
        # Like a notebook server, once: the way in for the operator this start created.
        # Printed, not logged: a sign-in secret has no business in a log collector.
        link = sign_in_urls[OPERATOR] = await page.sign_in_link(OPERATOR)
        print(f"web page: sign in as {OPERATOR!r} with this one-time link: {link}", flush=True)
    for name, user in page.users.items():
        if user.password is None and not (made_operator and name == OPERATOR):
            log.info(
                "web page: %r signs in by one-time link: `mlops-agent web-user %s --link`"
                " prints a new one",
                name,
                name,
            )
