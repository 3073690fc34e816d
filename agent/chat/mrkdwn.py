"""The model's Markdown as Slack mrkdwn, split into messages Slack will take.

Conversion is `markdown-to-mrkdwn`'s; around it we only do what it leaves out:
inline code is kept verbatim (the library rewrites `**` inside backticks), code
fences lose their language tag (Slack would print it as a first code line), and
`&`, `<`, `>` are escaped as Slack asks, except in Slack's own `<…>` tokens
(mentions, channels, links; never a `<!…>` broadcast) and a leading `>` (a quote).
"""

from __future__ import annotations

import re

from markdown_to_mrkdwn import SlackMarkdownConverter

# Slack truncates a message's text past 40,000 characters and recommends at
# most 4,000; 3,500 leaves room for the fence markers a split may add.
MAX_CHARS = 3500

_FENCE = "```"
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_FENCE_LANG = re.compile(r"^```[\w+#.-]+[ \t]*$", re.MULTILINE)
# Kept as Slack reads them: mentions, channels, links. Special `<!…>` tokens (broadcasts)
# are not: `agent.chat.slack_safety` turns them into text first, and any left are escaped.
_SLACK_TOKEN = re.compile(r"<(?:[@#]|https?:|mailto:)[^<>\s|]*(?:\|[^<>\n]*)?>")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_PLACEHOLDER = "\x00{}\x00"

_converter = SlackMarkdownConverter()


def to_mrkdwn(markdown: str) -> str:
    """Convert Markdown to Slack mrkdwn."""
    spans: list[str] = []

    def stash(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return _PLACEHOLDER.format(len(spans) - 1)

    protected = _INLINE_CODE.sub(stash, markdown)
    converted = _FENCE_LANG.sub(_FENCE, _converter.convert(protected))
    restored = re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], converted)
    return _escape(restored)


def _escape(text: str) -> str:
    tokens: list[str] = []

    def keep(match: re.Match[str]) -> str:
        tokens.append(match.group(0))
        return _PLACEHOLDER.format(len(tokens) - 1)

    text = _SLACK_TOKEN.sub(keep, _ENTITY.sub(keep, text))
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    # A `>` that opens a line is a quote; anywhere else it is a character.
    text = re.sub(r"(?<!^)(?<!\n)>", "&gt;", text)
    return re.sub("\x00(\\d+)\x00", lambda m: tokens[int(m.group(1))], text)


def split_message(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Split mrkdwn into chunks of at most `limit` characters.

    Breaks fall between paragraphs where possible, then between lines, then
    at a space; a code block cut in two is closed and reopened so each chunk
    renders on its own.
    """
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    for block in _blocks(text):
        for piece in _fit(block, limit):
            if chunks and len(chunks[-1]) + 2 + len(piece) <= limit:
                chunks[-1] += "\n\n" + piece
            else:
                chunks.append(piece)
    return chunks


def _blocks(text: str) -> list[str]:
    """Paragraphs, with each fenced code block kept whole as one block."""
    blocks: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if line.strip().startswith(_FENCE) and line.strip().count(_FENCE) % 2 == 1:
            in_fence = not in_fence
        if not line.strip() and not in_fence:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _fit(block: str, limit: int) -> list[str]:
    if len(block) <= limit:
        return [block]
    lines = block.split("\n")
    if lines[0].strip().startswith(_FENCE) and lines[-1].strip() == _FENCE and len(lines) > 1:
        # Each piece of a cut code block carries its own fences.
        inner = _pack(lines[1:-1], limit - 2 * (len(_FENCE) + 1))
        return [f"{_FENCE}\n{piece}\n{_FENCE}" for piece in inner]
    return _pack(lines, limit)


def _pack(lines: list[str], limit: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for line in lines:
        for part in _cut_line(line, limit):
            if current and len(current) + 1 + len(part) <= limit:
                current += "\n" + part
            else:
                if current:
                    pieces.append(current)
                current = part
    if current:
        pieces.append(current)
    return pieces


def _cut_line(line: str, limit: int) -> list[str]:
    parts = []
    while len(line) > limit:
        cut = line.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        parts.append(line[:cut])
        line = line[cut:].lstrip(" ")
    parts.append(line)
    return parts
