"""Everything posted to chat: broadcasts neutralised, mentions only of people we may mention."""

from __future__ import annotations

import pytest

from agent.chat.safety import WORD_JOINER
from agent.chat.slack_safety import safe_text

ALLOWED = frozenset({"UALICE"})


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("<!channel>", "channel"),
        ("<!here>", "here"),
        ("<!everyone>", "everyone"),
        ("<!here|here>", "here"),
        ("<!subteam^S0123ABC|@ml-team>", "ml-team"),
        ("<!subteam^S0123ABC>", "subteam"),
        ("@room", "room"),
        ("@channel", "channel"),
        ("@Here", "Here"),
        ("@everyone", "everyone"),
    ],
)
def test_broadcasts_keep_their_word_and_lose_their_power(raw: str, shown: str) -> None:
    text = safe_text(f"RuntimeError: {raw} in the logger config")
    assert text == f"RuntimeError: @{WORD_JOINER}{shown} in the logger config"
    assert "<!" not in text


def test_a_traceback_quoting_a_broadcast_is_safe_in_every_line() -> None:
    traceback = "Traceback:\n  notify('<!channel> job died')\nValueError: <!here> @room"
    assert all(token not in safe_text(traceback) for token in ("<!", "@room", "@here"))


def test_mentions_of_allowed_people_stay_mentions() -> None:
    assert safe_text("ping <@UALICE> about it", ALLOWED) == "ping <@UALICE> about it"


def test_mentions_of_anyone_else_become_plain_text() -> None:
    assert safe_text("ping <@UMALLORY|mallory>", ALLOWED) == f"ping @{WORD_JOINER}UMALLORY"


def test_a_date_token_keeps_its_readable_fallback() -> None:
    assert safe_text("<!date^1392734382^{date}|Feb 18, 2014>") == "Feb 18, 2014"


def test_ordinary_text_and_emails_are_untouched() -> None:
    text = "mail ops@roomservice.example or see #general, loss < 0.3 & acc > 0.9"
    assert safe_text(text) == text
