"""Signing in: passwords, one-time links, the session cookie, sign-out, and the throttle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from agent.accounts.passwords import N, P, R, hash_password, needs_upgrade, verify_password
from agent.accounts.users import read_users_file
from agent.intake.webhook import TrainingHook
from agent.service.app import build_app
from agent.settings import SettingsError, load_settings, new_webhook_secret
from agent.web.page import page_routes
from agent.web.throttle import PER_ADDRESS, PER_NAME, LoginThrottle, keys_for
from tests.ledger.conftest import Clock
from tests.web.rig import BASE, CSRF, PASSWORDS, PageRig, page_rig


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[PageRig]:
    async with page_rig(tmp_path) as r:
        yield r


async def login(client, name: str, password: str, next_: str = "/", headers=None):  # type: ignore[no-untyped-def]
    form = await client.get("/login", headers=headers)
    token = CSRF.search(form.text)
    assert token
    return await client.post(
        "/login",
        data={"csrf": token[1], "name": name, "password": password, "next": next_},
        headers=headers,
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


async def test_too_many_failures_wait_longer_and_longer_for_that_address_and_name(
    rig: PageRig,
) -> None:
    rig.page.throttle.clock = clock = Clock()
    async with rig.client() as client:
        for _ in range(PER_NAME):
            assert (await login(client, "alice", "wrong")).status_code == 401
        blocked = await login(client, "alice", PASSWORDS["alice"])
        assert blocked.status_code == 429 and blocked.headers["retry-after"] == "3"  # 2 s, up
        assert "Too many failed attempts" in blocked.text and "mlops_session" not in client.cookies
        clock.now += 2.0
        assert (await login(client, "alice", "wrong")).status_code == 401  # one more try
        assert (await login(client, "alice", "x")).headers["retry-after"] == "5"  # 4 s now
        # Neither another name from this address nor this name from elsewhere waits: a
        # stranger who guesses cannot lock the real alice out.
        assert (await login(client, "carol", PASSWORDS["carol"])).status_code == 303
    async with rig.client(address="10.9.8.7") as elsewhere:
        assert (await login(elsewhere, "alice", PASSWORDS["alice"])).status_code == 303


def test_one_address_cannot_spray_guesses_over_every_name() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for i in range(PER_ADDRESS):
        assert throttle.retry_after(keys_for("1.2.3.4", f"user{i}")) == 0
        throttle.failed(keys_for("1.2.3.4", f"user{i}"))
    assert throttle.retry_after(keys_for("1.2.3.4", "someone-new")) == pytest.approx(2.0)
    assert throttle.retry_after(keys_for("5.6.7.8", "someone-new")) == 0


def test_the_throttle_forgets_and_stays_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_keys=100, forget_s=600, clock=clock)
    for i in range(1000):  # an address spray: every key new
        throttle.failed(keys_for(f"10.0.{i // 250}.{i % 250}", "alice"))
    assert len(throttle) == 100
    clock.now += 601
    assert throttle.retry_after(keys_for("1.1.1.1")) == 0 and len(throttle) == 0
    key = keys_for("1.2.3.4", "alice")
    for _ in range(PER_NAME):
        throttle.failed(key)
    throttle.succeeded(key)  # the right password clears the name, not the address
    assert throttle.retry_after(key) == 0 and len(throttle) == 1


async def test_an_unknown_name_costs_the_same_scrypt_as_a_known_one(rig: PageRig) -> None:
    checker = rig.page.passwords
    async with rig.client() as client:
        for name in ("nobody", "ops"):  # unknown; known but signs in only by link
            assert (await login(client, name, "guess")).status_code == 401
    assert checker.checked[-2:] == [checker.decoy, checker.decoy]
    assert checker.decoy.startswith(f"scrypt${N}${R}${P}$")


async def test_a_password_is_checked_off_the_event_loop(rig: PageRig) -> None:
    """While a sign-in's scrypt runs (the decoy's: N=2^17, ~0.3-2 s here), the page answers
    other requests."""
    async with rig.client() as client, rig.client() as other:
        signing_in = asyncio.create_task(login(client, "nobody", "wrong"))
        while not rig.page.passwords.checked:
            await asyncio.sleep(0.001)
        assert (await other.get("/login")).status_code == 200
        assert not signing_in.done()
        assert (await signing_in).status_code == 401


async def test_an_old_hash_still_signs_in_and_is_upgraded(tmp_path: Path) -> None:
    old = hash_password("old-pass-1", n=2**14)
    (tmp_path / "web_users.json").write_text(
        json.dumps({"dora": {"password": old, "approver": False}})
    )
    async with page_rig(tmp_path, users={"ops": {"password": None}}) as rig:
        assert needs_upgrade(rig.page.users["dora"].password)
        async with rig.client() as client:
            assert (await login(client, "dora", "old-pass-1")).status_code == 303
        stored = read_users_file(tmp_path / "web_users.json")["dora"].password
        assert stored is not None and stored.startswith(f"scrypt${N}$8$1$")
        assert verify_password("old-pass-1", stored) and not needs_upgrade(stored)
        async with rig.client() as client:
            assert (await login(client, "dora", "old-pass-1")).status_code == 303


async def test_a_one_time_link_signs_in_once(rig: PageRig) -> None:
    path = (await rig.page.sign_in_link("ops")).removeprefix("http://127.0.0.1:8080")
    # (asking again issued a new link for ops: the first one is void)
    path_now = (await rig.page.sign_in_link("ops")).removeprefix("http://127.0.0.1:8080")
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
    path = (await rig.page.sign_in_link("ops")).removeprefix("http://127.0.0.1:8080")
    async with rig.client() as client:
        for i in range(PER_ADDRESS):
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


async def test_behind_https_cookies_are_secure_and_browsers_told_to_stay(tmp_path: Path) -> None:
    async with page_rig(tmp_path, base_url="https://agent.example.org") as rig:
        async with rig.client() as client:
            form = await client.get("/login")
            assert form.headers["strict-transport-security"] == "max-age=31536000"
            assert "secure" in form.headers["set-cookie"].lower()  # the form's CSRF cookie
            answer = await login(client, "alice", PASSWORDS["alice"])
        session = next(
            h for h in answer.headers.get_list("set-cookie") if h.startswith("mlops_session=")
        )
        assert "secure" in {part.strip().lower() for part in session.split(";")}


async def test_plain_http_gets_no_hsts(rig: PageRig) -> None:
    async with rig.client() as client:
        assert "strict-transport-security" not in (await client.get("/login")).headers


async def test_forwarded_addresses_count_only_from_a_trusted_proxy(rig: PageRig) -> None:
    """Behind a proxy, each client is throttled on its own address, as the proxy says; a
    client talking to the service directly cannot pick an address by the header."""

    async def ready() -> dict[str, bool]:
        return {}

    hook = TrainingHook(new_webhook_secret(), rig.inbox, 1024)
    for trusted, second_client_blocked in ((("127.0.0.1",), False), ((), True)):
        app = build_app(hook, ready, page=page_routes(rig.page), trusted_proxies=trusted)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as proxy:
            first = {"x-forwarded-for": "203.0.113.7"}
            for _ in range(PER_NAME):
                assert (await login(proxy, "alice", "wrong", headers=first)).status_code == 401
            second = {"x-forwarded-for": "198.51.100.9"}
            answer = await login(proxy, "alice", PASSWORDS["alice"], headers=second)
            assert (answer.status_code == 429) is second_client_blocked
        rig.page.throttle = LoginThrottle()


async def test_the_sign_in_form_takes_no_large_body(rig: PageRig) -> None:
    async with rig.client() as client:
        form = await client.get("/login")
        token = CSRF.search(form.text)
        assert token
        big = {"csrf": token[1], "name": "alice", "password": "x" * 100_000}
        assert (await client.post("/login", data=big)).status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            yield f"csrf={token[1]}&name=alice&password=".encode()
            for _ in range(20):
                yield b"x" * 1024

        streamed = await client.post(
            "/login",
            content=chunks(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert streamed.status_code == 413
        assert (await login(client, "alice", PASSWORDS["alice"])).status_code == 303


def test_trusted_proxies_must_be_addresses_or_networks(tmp_path: Path) -> None:
    ok = load_settings(_env_file=None, state_dir=tmp_path, trusted_proxies="127.0.0.1, 10.0.0.0/8")
    assert ok.trusted_proxies == ("127.0.0.1", "10.0.0.0/8")
    with pytest.raises(SettingsError, match="MLOPS_TRUSTED_PROXIES: 'proxy.lan' is not an IP"):
        load_settings(_env_file=None, state_dir=tmp_path, trusted_proxies="proxy.lan")
