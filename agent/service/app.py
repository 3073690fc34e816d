"""The HTTP surface: webhook, health, readiness, metrics, Slack's HTTP mode, and the web page.

Who a request comes from is the connection's address, unless the connection is
from a proxy listed in MLOPS_TRUSTED_PROXIES: then the proxy's X-Forwarded-For
(the nearest address it did not add itself) and X-Forwarded-Proto are believed.
Nothing else's forwarding headers are, loopback included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from agent.intake.webhook import TrainingHook


def build_app(
    hook: TrainingHook,
    ready: Callable[[], Awaitable[dict[str, bool]]],
    slack_endpoint: Callable[[Request], Awaitable[Response]] | None = None,
    page: Sequence[BaseRoute] = (),
    trusted_proxies: Sequence[str] = (),
) -> Starlette:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(_: Request) -> Response:
        checks = await ready()
        return JSONResponse(
            {"ready": all(checks.values()), **checks},
            status_code=200 if all(checks.values()) else 503,
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/hooks/training", hook.handle, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    if slack_endpoint is not None:
        routes.append(Route("/slack/events", slack_endpoint, methods=["POST"]))
    # The web page last: it answers every path the service's own routes do not.
    routes.extend(page)
    middleware = []
    if trusted_proxies:
        middleware.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted_proxies)))
    return Starlette(routes=routes, middleware=middleware)
