"""The agent's written instructions: `brief/*.md`, joined in name order.

Operators tune behaviour by editing these files; a restart picks them up.
`{silence_marker}` in the text is replaced by the configured marker, so the
brief and the code that recognises silence can never disagree.
"""

from __future__ import annotations

from pathlib import Path


class BriefError(Exception):
    pass


def build_prompt(brief_dir: Path, silence_marker: str) -> str:
    files = sorted(brief_dir.glob("*.md"))
    if not files:
        raise BriefError(f"no brief/*.md files in {brief_dir}: the agent has no instructions")
    text = "\n\n".join(f.read_text(encoding="utf-8").strip() for f in files)
    return text.replace("{silence_marker}", silence_marker) + "\n"


def is_silent(reply: str, silence_marker: str) -> bool:
    """Empty, or exactly the marker (allowing stray whitespace or backticks around it)."""
    stripped = reply.strip().strip("`").strip()
    return not stripped or stripped == silence_marker
