"""Markdown → Slack mrkdwn, and splitting long text into messages Slack takes."""

from __future__ import annotations

import pytest

from agent.chat.mrkdwn import MAX_CHARS, split_message, to_mrkdwn


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold**", "*bold*"),
        ("*italic*", "_italic_"),
        ("~~gone~~", "~gone~"),
        ("[run 7](http://mlflow.local/r/7)", "<http://mlflow.local/r/7|run 7>"),
        ("# Status", "*Status*"),
        ("- loss ↓ 0.31", "• loss ↓ 0.31"),
    ],
)
def test_markdown_becomes_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_inline_code_is_kept_verbatim() -> None:
    assert to_mrkdwn("run `python train.py --lr **2**` now") == (
        "run `python train.py --lr **2**` now"
    )


def test_code_fence_loses_its_language_tag_and_keeps_its_body() -> None:
    assert to_mrkdwn("```python\nx = a**2\n```") == "```\nx = a**2\n```"


def test_special_characters_are_escaped_but_slack_tokens_and_quotes_kept() -> None:
    text = "> loss < 0.3 & acc > 0.9, ping <@UALICE> in <#C0001>"
    assert to_mrkdwn(text) == ("> loss &lt; 0.3 &amp; acc &gt; 0.9, ping <@UALICE> in <#C0001>")


def test_existing_entities_are_not_escaped_twice() -> None:
    assert to_mrkdwn("a &amp; b") == "a &amp; b"


def test_short_text_is_one_chunk() -> None:
    assert split_message("hello") == ["hello"]


def test_splits_between_paragraphs() -> None:
    paragraphs = [f"p{i} " + "w" * 1000 for i in range(10)]
    chunks = split_message("\n\n".join(paragraphs))
    assert all(len(c) <= MAX_CHARS for c in chunks)
    # No paragraph is cut: each chunk is whole paragraphs.
    assert [p for c in chunks for p in c.split("\n\n")] == paragraphs


def test_a_long_paragraph_splits_between_lines() -> None:
    lines = [f"line {i} " + "x" * 90 for i in range(100)]
    chunks = split_message("\n".join(lines))
    assert all(len(c) <= MAX_CHARS for c in chunks)
    assert [line for c in chunks for line in c.split("\n")] == lines


def test_one_huge_line_is_cut_at_spaces() -> None:
    words = ["word"] * 2000
    chunks = split_message(" ".join(words))
    assert len(chunks) >= 3
    assert all(len(c) <= MAX_CHARS for c in chunks)
    assert " ".join(chunks).split() == words


def test_a_code_block_that_fits_is_never_cut() -> None:
    code = "```\n" + "\n".join(f"step {i}" for i in range(300)) + "\n```"
    assert len(code) < MAX_CHARS
    text = "x" * 2000 + "\n\n" + code + "\n\ntail"
    chunks = split_message(text)
    assert any(c.startswith(code) or c.endswith(code) or code in c for c in chunks)


def test_a_code_block_too_long_is_closed_and_reopened_in_each_chunk() -> None:
    body = [f"traceback line {i}: " + "y" * 60 for i in range(150)]
    chunks = split_message("```\n" + "\n".join(body) + "\n```")
    assert len(chunks) >= 3
    assert all(len(c) <= MAX_CHARS for c in chunks)
    assert all(c.startswith("```\n") and c.endswith("\n```") for c in chunks)
    assert [line for c in chunks for line in c.split("\n")[1:-1]] == body
