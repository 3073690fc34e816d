"""Signing in: passwords, one-time links, the session cookie, sign-out, and the throttle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agent.chat.web.throttle import LoginThrottle
from tests.web.rig import CSRF, PASSWORDS, PageRig, page_rig


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[PageRig]:
    async with page_rig(tmp_path) as r:
        yield r


async def login(client, name: str, password: str, next_: str = "/"):  # type: ignore[no-untyped-def]
    form = await client.get("/login")
    token = CSRF.search(form.text)
    assert token
    return await client.post(
        "/login", data={"csrf": token[1], "name": name, "password": password, "next": next_}
    )


async def test_the_right_password_gives_a_strict_http_only_session(rig: PageRig) -> None:
    async with rig.client() as client:
        answer = await login(client, "alice", PASSWORDS["alice"])
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        cookie = next(
            h for h in answer.headers.get_list("set-cookie") if h.startswith("mlops_session=")
        )
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags  # plain http on loopback; set behind https
        home = await client.get("/")
        assert home.status_code == 200 and "alice" in home.text


async def test_a_wrong_password_or_unknown_name_signs_nobody_in(rig: PageRig) -> None:
    async with rig.client() as client:
        for name, password in (("alice", "nope"), ("mallory", "x"), ("ops", "")):
            answer = await login(client, name, password)
            assert answer.status_code == 401 and "Wrong name or password" in answer.text
            assert "mlops_session" not in client.cookies
        assert (await client.get("/")).status_code == 303


async def test_a_sign_in_form_without_its_token_is_refused(rig: PageRig) -> None:
    async with rig.client() as client:
        await client.get("/login")  # the form cookie is set, but the field is missing
        data = {"name": "alice", "password": PASSWORDS["alice"]}
        assert (await client.post("/login", data=data)).status_code == 403
        assert (await client.post("/login", data={**data, "csrf": "guess"})).status_code == 403
        assert "mlops_session" not in client.cookies


async def test_too_many_failures_are_refused_before_the_password_is_checked(
    rig: PageRig,
) -> None:
    async with rig.client() as client:
        for _ in range(5):
            assert (await login(client, "alice", "wrong")).status_code == 401
        blocked = await login(client, "alice", PASSWORDS["alice"])
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert "Too many failed attempts" in blocked.text
        # The address is blocked for every name, not only the one guessed.
        assert (await login(client, "carol", PASSWORDS["carol"])).status_code == 429
        assert "mlops_session" not in client.cookies


def test_the_throttle_forgets_failures_after_its_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(max_failures=2, window_s=60, clock=lambda: now[0])
    keys = ["address:1.2.3.4"]
    throttle.failed(keys)
    throttle.failed(keys)
    assert throttle.retry_after(keys) == pytest.approx(60)
    now[0] += 30
    assert throttle.retry_after(keys) == pytest.approx(30)
    now[0] += 31
    assert throttle.retry_after(keys) == 0
    throttle.failed(keys)
    throttle.succeeded(keys)
    assert throttle.retry_after(keys) == 0


async def test_a_one_time_link_signs_in_once(rig: PageRig) -> None:
    url = rig.page.sign_in_links()["ops"]
    assert set(rig.page.sign_in_links()) == {"ops"}  # only users without a password
    path = url.removeprefix("http://127.0.0.1:8080")
    # (asking again issued a new link for ops: the first one is void)
    url = rig.page.sign_in_links()["ops"]
    path_now = url.removeprefix("http://127.0.0.1:8080")
    async with rig.client() as first, rig.client() as second, rig.client() as stale:
        assert await once(stale, path) == 401
        assert await once(first, path_now) == 303
        assert (await first.get("/")).status_code == 200
        assert await once(second, path_now) == 401
        assert (await second.get("/")).status_code == 303


async def once(client, path: str) -> int:  # type: ignore[no-untyped-def]
    form = await client.get(path)
    assert form.status_code == 200
    csrf, token = CSRF.search(form.text), path.split("token=", 1)[1]
    assert csrf
    answer = await client.post("/login/once", data={"csrf": csrf[1], "token": token})
    return answer.status_code


async def test_guessing_one_time_tokens_is_throttled(rig: PageRig) -> None:
    path = rig.page.sign_in_links()["ops"].removeprefix("http://127.0.0.1:8080")
    async with rig.client() as client:
        for i in range(5):
            assert await once(client, f"/login/once?token=guess{i}") == 401
        assert await once(client, path) == 429  # even the right one, for now


async def test_signing_out_ends_the_session(rig: PageRig) -> None:
    async with rig.signed_in("alice") as (client, csrf):
        cookie = client.cookies["mlops_session"]
        answer = await client.post("/logout", data={"csrf": csrf})
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        client.cookies.set("mlops_session", cookie)  # replaying the old cookie
        assert (await client.get("/")).status_code == 303
        assert (await client.get("/part/threads")).status_code == 401


async def test_after_sign_in_only_a_path_on_this_site_is_followed(rig: PageRig) -> None:
    async with rig.client() as client:
        for target, expected in (
            ("/audit?job=a", "/audit?job=a"),
            ("//evil.example/x", "/"),
            ("https://evil.example/", "/"),
            ("/\\evil.example", "/"),
        ):
            answer = await login(client, "alice", PASSWORDS["alice"], target)
            assert answer.headers["location"] == expected


async def test_a_page_asked_for_without_a_session_goes_to_sign_in_and_back(rig: PageRig) -> None:
    async with rig.client() as client:
        answer = await client.get("/audit?job=a")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=/audit%3Fjob%3Da"
        form = await client.get(answer.headers["location"])
        assert 'name="next" value="/audit?job=a"' in form.text
