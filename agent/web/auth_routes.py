"""Signing in and out: a password form, one-time links, sign-out.

Each failed attempt (a wrong password, an unknown or used link) counts
against the client's address and the name tried (`throttle`): past its
allowance an attempt answers 429, before any password is checked. A password
is checked off the event loop, and an unknown name costs the same check
(`passwords`). A hash made with older parameters is made again on sign-in.
The client's address is the connection's, or, behind a proxy named in
MLOPS_TRUSTED_PROXIES, what that proxy says (`agent.service.app`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent.accounts.passwords import needs_upgrade
from agent.web.guard import (
    FORM_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    Guard,
    field,
    new_form_token,
    safe_next,
    set_cookie,
)
from agent.web.state import page_of
from agent.web.throttle import keys_for

FORM_MAX_AGE_S = 3600


async def login_form(request: Request) -> Response:
    return form_page(request, "login.html", next=safe_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    page = page_of(request)
    form = await page.guard.form_token_ok(request)
    if form is None:
        return form_page(request, "login.html", 403, error="The form expired: try again.")
    name, target = field(form, "name").strip().lower(), safe_next(field(form, "next"))
    keys = keys_for(_address(request), name)
    if wait := page.throttle.retry_after(keys):
        return throttled(request, wait, target)
    user, password = page.users.get(name), field(form, "password")
    # An unknown name is checked against a decoy: the same work, the same time.
    if not await page.passwords.check(password, user.password if user else None):
        page.throttle.failed(keys)
        return form_page(request, "login.html", 401, error="Wrong name or password.", next=target)
    page.throttle.succeeded(keys)
    if user is not None and needs_upgrade(user.password):
        await page.upgrade_password(name, password)
    return await signed_in(request, name, target)


async def once_form(request: Request) -> Response:
    return form_page(request, "once.html", token=request.query_params.get("token", ""))


async def once(request: Request) -> Response:
    page = page_of(request)
    form = await page.guard.form_token_ok(request)
    if form is None:
        return form_page(request, "once.html", 403, error="The form expired: open the link again.")
    keys = keys_for(_address(request))
    if wait := page.throttle.retry_after(keys):
        return throttled(request, wait, "/")
    name = await page.links.redeem(field(form, "token"))
    if name is None or name not in page.users:
        page.throttle.failed(keys)
        return page.render(request, "link_used.html", 401)
    page.throttle.succeeded(keys)
    return await signed_in(request, name, "/")


async def logout(request: Request) -> Response:
    await page_of(request).sessions.end(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


def form_page(request: Request, name: str, status: int = 200, **context: object) -> Response:
    page, token = page_of(request), new_form_token()
    response = page.render(request, name, status, csrf=token, **context)
    set_cookie(request, response, FORM_COOKIE, token, FORM_MAX_AGE_S, page.secure)
    return response


def throttled(request: Request, wait: float, target: str) -> Response:
    response = form_page(
        request,
        "login.html",
        429,
        error=f"Too many failed attempts: try again in {int(wait) + 1} s.",
        next=target,
    )
    response.headers["Retry-After"] = str(int(wait) + 1)
    return response


async def signed_in(request: Request, name: str, target: str) -> Response:
    page = page_of(request)
    response = RedirectResponse(target, 303)
    token = await page.sessions.create(name)
    set_cookie(request, response, SESSION_COOKIE, token, SESSION_MAX_AGE_S, page.secure)
    response.delete_cookie(FORM_COOKIE, httponly=True, samesite="strict")
    return response


def routes(guard: Guard) -> list[Route]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/login/once", once_form, methods=["GET"]),
        Route("/login/once", once, methods=["POST"]),
        # Signing out needs the session's CSRF token, like every other form.
        Route("/logout", guard.signed_in(logout), methods=["POST"]),
    ]


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
