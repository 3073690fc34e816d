"""Who and where, in every scenario: the people, their chat ids, the notify channel.

Scenario files name people; the harness turns the names into chat user ids.
Two are on the service's allowlist, two are not, so a scenario can show that a
stranger's "kör på" or click does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    name: str
    user_id: str
    allowed: bool

    @property
    def dm_channel(self) -> str:
        return "D" + self.user_id.removeprefix("U")


PEOPLE = {
    p.name: p
    for p in (
        Person("alice", "UALICE", True),
        Person("bob", "UBOB", True),
        Person("mallory", "UMALLORY", False),
        Person("eve", "UEVE", False),
    )
}
ALLOWED_USERS = frozenset(p.user_id for p in PEOPLE.values() if p.allowed)
NOTIFY_CHANNEL = "CEVALNOTIFY"
SCHEDULER_GPUS = 4  # the local scheduler of every eval service


def person(name: str) -> Person:
    try:
        return PEOPLE[name]
    except KeyError:
        raise ValueError(
            f"unknown person {name!r}; scenarios know {', '.join(PEOPLE)}"
            f" (allowlisted: {', '.join(p.name for p in PEOPLE.values() if p.allowed)})"
        ) from None
