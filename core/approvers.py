"""Who may decide a proposal: an approver of every route the write involves.

A write belongs to what it *touches*, not to where it was asked for: a repo path
belongs to each route whose `repos` globs list it, a job to the route its name
matches; what no route lists is the default route's. A proposal made in a
customer's own thread involves that route as well (its thread is its approvers'
place). Whoever decides must be an approver of every route involved; where no
one is, the proposal is refused when it is made, so nothing waits for an
approval that cannot come.

This is the "who" of the one approval rule (`core.ledger.rule.decision_refusal`),
which the approvals step (a click or an explicit yes), the web page's Approve
button, the ledger and the skills' write gate all ask; the rule adds the "now"
(a later turn of the same conversation, open, unexpired).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.routes import DEFAULT, Route, Routes

# The file names a unified diff's headers give (our diffs use the a/ and b/ prefixes).
_DIFF_PATH = re.compile(r"^(?:---|\+\+\+) [ab]/(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Deciders:
    """The routes a proposal involves and the people who may decide it."""

    routes: tuple[Route, ...]
    people: frozenset[str]

    def describe(self, name: Callable[[str], str] = str) -> str:
        """'an approver of customer-a (<@U0ANN>)', for a refusal the person reads."""
        routes = " and of ".join(r.name for r in self.routes)
        if not self.people:
            return f"no one: nobody is an approver of {routes}"
        who = ", ".join(name(p) for p in sorted(self.people))
        return f"an approver of {routes} ({who})"


def touched_routes(routes: Routes, payload: Mapping[str, Any]) -> tuple[Route, ...]:
    """The routes that own what a proposal would change, as its payload names it: a `repo`
    (with its `path` and the files a `diff` touches) or a `job`; otherwise the default
    route's. Any skill's proposal is decided this way, whatever its kind."""
    if "repo" in payload:
        repo = str(payload.get("repo", ""))
        paths = {str(payload.get("path", ""))} | set(_DIFF_PATH.findall(payload.get("diff", "")))
        return _unique(r for path in sorted(paths) for r in routes.owners_of_path(repo, path))
    if "job" in payload:
        return (routes.for_job(str(payload.get("job", ""))),)
    return (routes.default,)


def deciders(routes: Routes, payload: Mapping[str, Any], conversation_route: Route) -> Deciders:
    """Who may approve or reject a proposal with `payload`, made in a conversation of
    `conversation_route`."""
    involved = list(touched_routes(routes, payload))
    if conversation_route.name != DEFAULT and conversation_route not in involved:
        involved.append(conversation_route)
    people = frozenset.intersection(*(r.approvers for r in involved))
    return Deciders(tuple(involved), people)


def _unique(found: Iterable[Route]) -> tuple[Route, ...]:
    out: list[Route] = []
    for route in found:
        if route not in out:
            out.append(route)
    return tuple(out)
