"""Text as the page shows it: the agent's Markdown as safe HTML, times, names, diffs.

Markdown goes through markdown-it with raw HTML off, so nothing a model or a
log wrote can add markup or script to the page; links keep only safe schemes
(markdown-it's own check) and open nothing with the page's privileges.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup

from agent.accounts import WEB_USER_PREFIX

_MD = MarkdownIt("js-default", {"breaks": True, "html": False})
_MD.add_render_rule(
    "link_open",
    lambda self, tokens, idx, options, env: (
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        or self.renderToken(tokens, idx, options, env)
    ),
)


def markdown(text: str) -> Markup:
    return Markup(_MD.render(text))  # noqa: S704 - markdown-it escapes; raw HTML is off


_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """Markdown as the words a reader sees, for a one-line preview."""
    return html.unescape(_TAG.sub(" ", _MD.render(text[:2000])))


def person(user: str) -> str:
    """A web user by name; a chat user by their id."""
    return user.removeprefix(WEB_USER_PREFIX)


def clock(ts: float | None) -> str:
    """Local time of day; with the date when not today."""
    if ts is None:
        return ""
    when, now = time.localtime(ts), time.localtime()
    if when[:3] == now[:3]:
        return time.strftime("%H:%M", when)
    return time.strftime("%Y-%m-%d %H:%M", when)


def iso(ts: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts is not None else ""


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, line) for each line of a unified diff."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out


def short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
}


def is_image(path: str | None) -> bool:
    """Shown inline: raster images only (an SVG could carry script)."""
    return bool(path) and Path(str(path)).suffix.lower() in IMAGE_TYPES


FILTERS = {
    "is_image": is_image,
    "markdown": markdown,
    "person": person,
    "plain": plain,
    "clock": clock,
    "iso": iso,
    "diff_lines": diff_lines,
    "short": short,
    "number": number,
}
