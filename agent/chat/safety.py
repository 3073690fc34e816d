"""What the agent may say to a room full of people: no broadcast pings, mentions only of people
it may mention.

A model quotes logs and tracebacks back, and those may carry `<!channel>` or
`@room`: posted as is, one reply could notify hundreds of people. Everything
the service posts passes through `safe_text` first, whichever chat carries it.
Broadcasts keep their words but lose their power (a word joiner after the `@`,
invisible when read, breaks every chat's broadcast syntax); a user mention
stays a mention only for someone in `mentionable` (the allowlist, the people
map), and is shown as plain text otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Container

WORD_JOINER = "\u2060"

# Slack's special tokens: <!channel>, <!here>, <!everyone>, <!subteam^S123|@team>, <!date…>…
_SLACK_SPECIAL = re.compile(r"<!([^<>|\s]+)(?:\|([^<>]*))?>")
# Slack user mentions: <@U123> or <@U123|name>.
_SLACK_USER = re.compile(r"<@([A-Z0-9]+)(?:\|[^<>]*)?>")
# Plain-text broadcasts: Matrix's @room (legacy push rule on the body), Slack's and others'
# @channel / @here / @everyone when a client links names.
_BARE_BROADCAST = re.compile(r"(?<![\w@])@(room|channel|here|everyone)\b", re.IGNORECASE)


def safe_text(text: str, mentionable: Container[str] = frozenset()) -> str:
    """`text` with every broadcast neutralised and mentions of others shown as plain text."""
    text = _SLACK_SPECIAL.sub(_special_as_text, text)
    text = _SLACK_USER.sub(lambda m: m[0] if m[1] in mentionable else _inert(m[1]), text)
    return _BARE_BROADCAST.sub(lambda m: _inert(m[1]), text)


def _special_as_text(match: re.Match[str]) -> str:
    name, label = match[1], match[2]
    # A date token's label is its readable fallback; everything else reads as its own name.
    if name.startswith("date^") and label:
        return label
    word = label.lstrip("@") if label else name.split("^", 1)[0]
    return _inert(word)


def _inert(word: str) -> str:
    return f"@{WORD_JOINER}{word}"
