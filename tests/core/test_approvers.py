"""Who may decide a proposal: an approver of every route the write touches (and of the
customer thread it was made in), whatever conversation it was proposed in."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.approvers import deciders, touched_routes
from core.routes import DEFAULT, Routes

ANN, BO, CY, OPS = "UANN", "UBO", "UCY", "UOPS"
# The README's routes file, without a `default:` block.
FILE = f"""\
routes:
  - name: customer-a
    jobs: ["customer-a/**"]
    channel: CA
    approvers: [{ANN}]
    repos: {{training: ["configs/customer-a/**"]}}
  - name: customer-b
    jobs: ["customer-b/**"]
    channel: CB
    approvers: [{BO}]
  - name: shared
    jobs: ["shared/**"]
    channel: CS
    approvers: [{ANN}, {CY}]
    repos: {{training: ["configs/customer-a/shared/**", "configs/shared/**"]}}
"""


@pytest.fixture
def routes(tmp_path: Path) -> Routes:
    (tmp_path / "routes.yaml").write_text(FILE)
    return Routes.load(
        tmp_path / "routes.yaml",
        allowed_users=frozenset({ANN, BO, CY, OPS}),
        default_channel="CN",
    )


def change(path: str) -> dict[str, str]:
    return {"repo": "training", "path": path, "diff": f"--- a/{path}\n+++ b/{path}\n"}


def who(routes: Routes, payload: dict[str, str], conversation: str):
    return deciders(routes, payload, routes.for_conversation(conversation))


def test_a_path_belongs_to_the_route_that_lists_it_wherever_it_is_proposed(
    routes: Routes,
) -> None:
    for conversation in ("chat:D0BO:1.1", "chat:web:abc", "job:internal/x"):
        found = who(routes, change("configs/customer-a/train.yaml"), conversation)
        assert [r.name for r in found.routes] == ["customer-a"]
        assert found.people == {ANN} and BO not in found.people


def test_an_unlisted_path_is_the_default_route_s_and_its_approvers_decide(
    routes: Routes,
) -> None:
    found = who(routes, change("configs/internal.yaml"), "chat:D0BO:1.1")
    assert [r.name for r in found.routes] == [DEFAULT]
    assert found.people == {ANN, BO, CY, OPS}  # no default block: everyone on the allowlist


def test_the_default_route_never_owns_a_listed_path(routes: Routes) -> None:
    owners = touched_routes(routes, change("configs/customer-a/train.yaml"))
    assert DEFAULT not in [r.name for r in owners]


def test_a_customer_thread_adds_its_own_route(routes: Routes) -> None:
    """A proposal made in B's channel for an unlisted path: the default's and B's approvers."""
    found = who(routes, change("configs/internal.yaml"), "chat:CB:1.1")
    assert [r.name for r in found.routes] == [DEFAULT, "customer-b"] and found.people == {BO}


def test_a_path_two_routes_list_needs_an_approver_of_each(routes: Routes) -> None:
    found = who(routes, change("configs/customer-a/shared/aug.yaml"), "chat:D0:1.1")
    assert [r.name for r in found.routes] == ["customer-a", "shared"]
    assert found.people == {ANN}
    nobody = who(routes, change("configs/customer-a/shared/aug.yaml"), "chat:CB:1.1")
    assert nobody.people == frozenset()
    assert (
        nobody.describe()
        == "no one: nobody is an approver of customer-a and of shared and of customer-b"
    )


def test_a_job_proposal_belongs_to_the_job_s_route(routes: Routes) -> None:
    job = {"job_id": "7", "job": "customer-a/weld", "attempt": 1, "owner": "ann"}
    found = who(routes, job, "chat:D0BO:1.1")
    assert found.people == {ANN}
    assert found.describe(lambda p: f"<@{p}>") == "an approver of customer-a (<@UANN>)"
    unrouted = who(routes, {**job, "job": "internal/x"}, "chat:D0BO:1.1")
    assert [r.name for r in unrouted.routes] == [DEFAULT]


def test_without_a_routes_file_everyone_allowed_decides_everything() -> None:
    routes = Routes.load(None, allowed_users=frozenset({ANN, BO}), default_channel="CN")
    found = who(routes, change("configs/customer-a/train.yaml"), "chat:D0BO:1.1")
    assert found.people == {ANN, BO}
