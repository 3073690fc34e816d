"""What Slack may be sent: its broadcast tokens as words, mentions only of people we may
mention, and the chat-neutral broadcast words (`agent.chat.safety`) neutralised too.

Slack reads `<!channel>`, `<!here>`, `<!subteam^…>` as broadcasts and `<@U…>` as a
mention in any message text. A broadcast keeps its word and loses its power; a user
mention stays a mention only for someone in `mentionable` (the allowlist, the people
map), and is shown as plain text otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Container

from agent.chat.safety import inert, without_broadcasts

# Slack's special tokens: <!channel>, <!here>, <!everyone>, <!subteam^S123|@team>, <!date…>…
_SLACK_SPECIAL = re.compile(r"<!([^<>|\s]+)(?:\|([^<>]*))?>")
# Slack user mentions: <@U123> or <@U123|name>.
_SLACK_USER = re.compile(r"<@([A-Z0-9]+)(?:\|[^<>]*)?>")


def safe_text(text: str, mentionable: Container[str] = frozenset()) -> str:
    """`text` with every broadcast neutralised and mentions of others shown as plain text."""
    text = _SLACK_SPECIAL.sub(_special_as_text, text)
    text = _SLACK_USER.sub(lambda m: m[0] if m[1] in mentionable else inert(m[1]), text)
    return without_broadcasts(text)


def _special_as_text(match: re.Match[str]) -> str:
    name, label = match[1], match[2]
    # A date token's label is its readable fallback; everything else reads as its own name.
    if name.startswith("date^") and label:
        return label
    word = label.lstrip("@") if label else name.split("^", 1)[0]
    return inert(word)
