"""Markdown to Matrix HTML, pills and m.mentions, and the card; no server needed."""

from __future__ import annotations

from agent.chat.card import Card
from agent.chat.matrix.html import CARD_DIFF_CHARS, TRUNCATED, Renderer

ANN, MALLORY = "@ann:example.org", "@mallory:example.org"


def test_markdown_renders_as_matrix_html_with_line_breaks_kept() -> None:
    r = Renderer().markdown("Crashed\n**cust-b/pcb** — epoch 12\n\n```python\nx = 1\n```")
    assert r.body == "Crashed\n**cust-b/pcb** — epoch 12\n\n```python\nx = 1\n```"
    assert r.html == (
        "<p>Crashed<br />\n<strong>cust-b/pcb</strong> — epoch 12</p>\n"
        '<pre><code class="language-python">x = 1\n</code></pre>'
    )
    assert r.content()["format"] == "org.matrix.custom.html"


def test_raw_html_from_the_model_is_text_never_markup() -> None:
    html = Renderer().markdown('<img src=x onerror="alert(1)"> <a href="http://evil">hi</a>').html
    assert "<img" not in html and "<a " not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_only_people_we_may_mention_become_pills_and_m_mentions() -> None:
    r = Renderer({ANN}).markdown(f"{ANN} and {MALLORY}: look")
    assert f'<a href="https://matrix.to/#/{ANN}">{ANN}</a> and {MALLORY}: look' in r.html
    assert r.mentions == (ANN,)
    assert r.content()["m.mentions"] == {"user_ids": [ANN]}


def test_no_mention_means_an_empty_m_mentions_so_the_body_notifies_nobody() -> None:
    content = Renderer({ANN}).markdown("log: @room is down").content()
    assert content["m.mentions"] == {}  # present and empty: no @room, no body keywords


def test_an_id_inside_code_or_a_longer_id_is_no_mention() -> None:
    r = Renderer({ANN}).markdown(f"`{ANN}` and @ann:example.org.uk and x{ANN}")
    assert r.mentions == () and "matrix.to" not in r.html


def test_a_mention_at_the_end_of_a_sentence_is_still_one() -> None:
    assert Renderer({ANN}).markdown(f"Approved by {ANN}.").mentions == (ANN,)


def card(**changes: object) -> Card:
    values: dict[str, object] = {
        "proposal_id": "P0123456789",
        "title": "Proposal P0123456789 — git change",
        "where": "training · configs/train.yaml",
        "reason": "OOM",
        "diff": "-a\n+b",
        "expires": "2026-11-27 08:00 UTC",
        "replies": ("yes", "kör på"),
    }
    values.update(changes)
    return Card(**values)  # type: ignore[arg-type]


def test_an_open_card_asks_for_a_reaction_or_a_reply() -> None:
    r = Renderer({ANN}).card(card())
    assert 'React ✅ to approve, ❌ to reject, or reply "yes" / "kör på"' in r.body
    assert '<pre><code class="language-diff">-a\n+b</code></pre>' in r.html
    assert r.mentions == ()


def test_a_decided_card_shows_the_outcome_and_mentions_who_decided() -> None:
    r = Renderer({ANN}).card(card(outcome=f"❌ Rejected by {ANN}"))
    assert "React" not in r.body and f"❌ Rejected by {ANN}" in r.body
    assert r.mentions == (ANN,)


def test_a_huge_diff_is_cut_with_a_mark_not_dropped() -> None:
    r = Renderer().card(card(diff="+x\n" * 20_000))
    assert TRUNCATED.strip() in r.body and len(r.body) < CARD_DIFF_CHARS + 500
