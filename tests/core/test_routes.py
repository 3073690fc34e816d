"""Routes: the first matching job glob wins; the file is validated at start, naming file,
route and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.routes import DEFAULT, Routes, RoutesError

ALLOWED = frozenset({"UANN", "UBO", "UCY"})
FILE = """\
people:
  ann: UANN
routes:
  - name: customer-a
    jobs: ["customer-a/**"]
    channel: CA
    approvers: [UANN]
    repos: {training: ["configs/customer-a/**"]}
  - name: b-pcb
    jobs: ["customer-b/pcb-*"]
    channel: CB1
    approvers: [UBO]
  - name: customer-b
    jobs: ["customer-b/**"]
    channel: CB
    approvers: [UBO, UCY]
"""


def load(tmp_path: Path, text: str = FILE) -> Routes:
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    return Routes.load(path, allowed_users=ALLOWED, default_channel="CNOTIFY")


def test_first_matching_route_wins(tmp_path: Path) -> None:
    routes = load(tmp_path)
    assert routes.for_job("customer-a/weld/v4").name == "customer-a"
    assert routes.for_job("customer-b/pcb-inspect-v2").name == "b-pcb"
    assert routes.for_job("customer-b/seam").name == "customer-b"


def test_an_unrouted_job_goes_to_the_default_channel_and_allowlist(tmp_path: Path) -> None:
    route = load(tmp_path).for_job("internal/resnet")
    assert (route.name, route.channel, route.approvers) == (DEFAULT, "CNOTIFY", ALLOWED)


def test_conversations_find_their_route(tmp_path: Path) -> None:
    routes = load(tmp_path)
    sweeps = {"lr-1": "customer-a/weld"}
    assert routes.for_conversation("job:customer-a/x").name == "customer-a"
    assert routes.for_conversation("sweep:lr-1", sweeps.get).name == "customer-a"
    assert routes.for_conversation("sweep:unknown", sweeps.get).name == DEFAULT
    assert routes.for_conversation("chat:CB:1700000000.1").name == "customer-b"
    assert routes.for_conversation("chat:D0DM:1700000000.1").name == DEFAULT
    assert routes.for_conversation("digest:b-pcb:2026-11-27").name == "b-pcb"


def test_people_map_owners_to_mentions(tmp_path: Path) -> None:
    routes = load(tmp_path)
    assert routes.mention("ann") == "UANN"
    assert routes.mention("zed") is None and routes.mention(None) is None


def test_no_file_is_one_default_route() -> None:
    routes = Routes.load(None, allowed_users=ALLOWED, default_channel="CNOTIFY")
    assert routes.for_job("anything").approvers == ALLOWED and routes.routes == ()


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (
            "routes: [{name: a, jobs: ['x/**'], channel: C, approvers: [UZED]}]",
            r"route 'a': approvers: UZED not in MLOPS_ALLOWED_USERS",
        ),
        ("routes: [{name: a, jobs: ['x/**']}]", r"route 'a': channel: Field required"),
        ("routes: [{jobs: ['x/**'], channel: C}]", r"route #1: name: Field required"),
        (
            "routes: [{name: a, jobs: [], channel: C}]",
            r"route 'a': jobs: List should have at least 1",
        ),
        (
            "routes: [{name: a, job: ['x'], channel: C, jobs: ['x']}]",
            r"route 'a': job: Extra inputs",
        ),
        ("rutes: []", r"rutes: Extra inputs are not permitted"),
        (
            "routes: [{name: a, jobs: [x], channel: C}, {name: a, jobs: [y], channel: D}]",
            r"route names must be unique",
        ),
        ("default: {approvers: [UZED]}", r"route 'default': approvers: UZED not in"),
        ("routes: [unclosed", r"not valid YAML"),
    ],
)
def test_an_invalid_file_names_file_route_and_field(
    tmp_path: Path, text: str, complaint: str
) -> None:
    with pytest.raises(RoutesError, match=complaint) as err:
        load(tmp_path, text)
    assert str(tmp_path / "routes.yaml") in str(err.value)


def test_a_missing_file_is_named() -> None:
    with pytest.raises(RoutesError, match="MLOPS_ROUTES: cannot read /nowhere/routes.yaml"):
        Routes.load(Path("/nowhere/routes.yaml"), allowed_users=ALLOWED, default_channel=None)


def test_members_must_be_people_the_service_listens_to(tmp_path: Path) -> None:
    text = FILE.replace(
        "approvers: [UANN]\n    repos", "approvers: [UANN]\n    members: [web:cy]\n    repos"
    )
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    routes = Routes.load(
        path, allowed_users=ALLOWED, default_channel=None, talkers=ALLOWED | {"web:cy"}
    )
    assert routes.named("customer-a").people == {"UANN", "web:cy"}
    with pytest.raises(RoutesError, match=r"route 'customer-a': members: web:cy not in"):
        Routes.load(path, allowed_users=ALLOWED, default_channel=None, talkers=ALLOWED)
    # A skill needs only the approvers: it does not check members.
    assert Routes.load(path, allowed_users=ALLOWED, default_channel=None).named("customer-a")


def test_without_a_default_block_everyone_sees_the_default_route(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(FILE)
    everyone = ALLOWED | {"web:cy"}
    routes = Routes.load(path, allowed_users=ALLOWED, default_channel=None, talkers=everyone)
    assert routes.default.people == everyone
