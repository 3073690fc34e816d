"""The page's boundary: every route but sign-in needs a session; every POST its CSRF token.

`Guard.signed_in(handler)` wraps a route: no valid session → a page request
is redirected to sign-in, anything else answers 401, before the handler runs
(so nothing is read, stored or sent to the model); a POST whose form lacks the
session's CSRF token answers 403 and changes nothing. Sign-in forms, before
any session exists, carry a token that must match a cookie set with the form
(double submit). `SecurityHeaders` puts a strict content policy on every
answer: the page runs only its own script and style, never framed; behind
https, HSTS too. `BodyLimit` caps what any request may send before a form is
parsed (the sign-in forms are open to anyone).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.accounts import web_user
from agent.accounts.users import WebUser
from agent.web.sessions import Session, Sessions, same_token

SESSION_COOKIE = "mlops_session"
FORM_COOKIE = "mlops_form"  # the sign-in forms' CSRF token, before there is a session
SESSION_MAX_AGE_S = 7 * 24 * 3600
MAX_FORM_FIELD_BYTES = 64 * 1024

Handler = Callable[[Request], Awaitable[Response]]

HSTS = "max-age=31536000"
MAX_BODY_BYTES = 256 * 1024  # a message of 8000 characters, percent-encoded, and the rest
MAX_SIGN_IN_BYTES = 8 * 1024  # a name, a password, a token, a CSRF token
CONTENT_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True)
class Viewer:
    """The signed-in person a request is from."""

    name: str
    approver: bool
    session: Session
    admin: bool = False  # sees every conversation

    @property
    def id(self) -> str:
        """How the service records them: web:<name>."""
        return web_user(self.name)


class Guard:
    def __init__(self, sessions: Sessions, users: Mapping[str, WebUser]) -> None:
        self.sessions = sessions
        self.users = users

    def signed_in(self, handler: Handler, *, page: bool = False) -> Handler:
        """`page`: a GET a person opens (redirected to sign-in) rather than one the
        page's script makes (401)."""

        async def endpoint(request: Request) -> Response:
            session = await self.sessions.get(request.cookies.get(SESSION_COOKIE))
            if session is None:
                if page and request.method == "GET":
                    return RedirectResponse(f"/login?next={quote(_path(request))}", 303)
                return PlainTextResponse("not signed in: open /login", 401)
            if request.method == "POST":
                form = await read_form(request)
                if form is None or not same_token(_field(form, "csrf"), session.csrf):
                    return PlainTextResponse(
                        "missing or wrong CSRF token: reload the page and try again", 403
                    )
            user = self.users[session.user]
            request.state.viewer = Viewer(session.user, user.approver, session, user.admin)
            return await handler(request)

        return endpoint

    async def form_token_ok(self, request: Request) -> FormData | None:
        """The sign-in form, if its CSRF token matches its cookie; else None."""
        form = await read_form(request)
        if form is None or not same_token(_field(form, "csrf"), request.cookies.get(FORM_COOKIE)):
            return None
        return form


def viewer(request: Request) -> Viewer:
    found: Viewer = request.state.viewer
    return found


async def read_form(request: Request) -> FormData | None:
    try:
        return await request.form(max_files=0, max_fields=20, max_part_size=MAX_FORM_FIELD_BYTES)
    except BodyTooLarge:
        raise  # BodyLimit answers 413
    except Exception:  # a malformed or oversized body is a form we refuse, never a crash
        return None


def field(form: FormData, name: str) -> str:
    return _field(form, name) or ""


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def new_form_token() -> str:
    return secrets.token_urlsafe(24)


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int, secure: bool
) -> None:
    """`secure`: the site's public URL is https; a request that came over https (through a
    trusted proxy) gets a Secure cookie as well."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure or request.url.scheme == "https",
    )


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path on this site only (never //host or a URL)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


class SecurityHeaders:
    """Adds the content policy and friends to every answer of the page; `hsts`: the page is
    served over https (browsers then refuse plain http to it for a year)."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.extra = [(b"strict-transport-security", HSTS.encode())] if hsts else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for name, value in (
                    (b"content-security-policy", CONTENT_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    # Keeps a one-time sign-in token out of any Referer.
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-store"),
                    *self.extra,
                ):
                    if name not in names:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """Refuses a request body over its limit with 413, before anything reads or parses it
    (Starlette caps multipart parts, not url-encoded forms)."""

    def __init__(self, app: ASGIApp, limits: dict[str, int], default: int = MAX_BODY_BYTES):
        self.app = app
        self.limits = limits  # path prefix → bytes
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = next((n for p, n in self.limits.items() if path.startswith(p)), self.default)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(scope, receive, send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await _too_large(scope, receive, send, limit)


class BodyTooLarge(Exception):
    """Raised from inside the request body's stream: the answer is 413, whoever reads it."""


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    answer = PlainTextResponse(f"request body over {limit} bytes", 413)
    await answer(scope, receive, send)
