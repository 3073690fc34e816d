"""The agent's written instructions: `brief/*.md`, joined in name order.

Operators tune behaviour by editing these files, while the service runs:
`BriefWatch` compares the brief's content hash at each turn start and, on a
change, rewrites the prompt file opencode reads (the runtime then restarts
opencode between turns). `{silence_marker}` in the text is replaced by the
configured marker, so the brief and the code that recognises silence can
never disagree; a brief without it is refused, as is one with no files or an
unreadable file. A refused edit leaves the previous brief running.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from agent import metrics

log = logging.getLogger(__name__)

PLACEHOLDER = "{silence_marker}"


class BriefError(Exception):
    """The brief cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class Brief:
    prompt: str  # what the model reads, the marker filled in
    digest: str  # sha256 of the files' names and bytes

    @property
    def short(self) -> str:
        return self.digest[:12]


def load_brief(brief_dir: Path, silence_marker: str) -> Brief:
    files = sorted(brief_dir.glob("*.md"))
    if not files:
        raise BriefError(f"no brief/*.md files in {brief_dir}: the agent has no instructions")
    digest = hashlib.sha256()
    texts = []
    for path in files:
        try:
            raw = path.read_bytes()
            texts.append(raw.decode("utf-8").strip())
        except (OSError, UnicodeDecodeError) as exc:
            raise BriefError(f"cannot read brief file {path}: {exc}") from None
        digest.update(path.name.encode() + b"\0" + raw + b"\0")
    text = "\n\n".join(texts)
    if PLACEHOLDER not in text:
        raise BriefError(
            f"no {PLACEHOLDER} in {brief_dir}/*.md: the brief must tell the model the exact "
            f"reply that means silence, e.g. 'reply with exactly `{PLACEHOLDER}`'"
        )
    return Brief(text.replace(PLACEHOLDER, silence_marker) + "\n", digest.hexdigest())


def build_prompt(brief_dir: Path, silence_marker: str) -> str:
    return load_brief(brief_dir, silence_marker).prompt


def is_silent(reply: str, silence_marker: str) -> bool:
    """Empty, or exactly the marker (allowing stray whitespace or backticks around it)."""
    stripped = reply.strip().strip("`").strip()
    return not stripped or stripped == silence_marker


Notice = Callable[[str], Awaitable[None]]


class BriefWatch:
    """Keeps `prompt_file` in step with the brief; the first load must succeed."""

    def __init__(
        self, brief_dir: Path, silence_marker: str, prompt_file: Path, notice: Notice | None = None
    ) -> None:
        self.brief_dir = brief_dir
        self.silence_marker = silence_marker
        self.prompt_file = prompt_file
        self.notice = notice
        self.current = load_brief(brief_dir, silence_marker)  # BriefError: the service can't start
        self._refused: str | None = None  # the failure already reported
        self._write(self.current)

    async def refresh(self) -> bool:
        """Rewrite the prompt file if the brief changed; True when it did."""
        try:
            brief = load_brief(self.brief_dir, self.silence_marker)
        except BriefError as exc:
            await self._refuse(str(exc))
            return False
        self._refused = None
        if brief.digest == self.current.digest:
            return False
        log.info("brief changed: %s -> %s", self.current.short, brief.short)
        self._write(brief)
        self.current = brief
        return True

    async def _refuse(self, reason: str) -> None:
        if reason == self._refused:
            return  # said once; said again only for a different failure
        self._refused = reason
        text = f"Brief edit not applied, still running brief {self.current.short}: {reason}"
        log.error(text)
        if self.notice is not None:
            try:
                await self.notice(text)
            except Exception:
                log.exception("could not post the brief notice")

    def _write(self, brief: Brief) -> None:
        self.prompt_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.prompt_file.with_suffix(".tmp")
        tmp.write_text(brief.prompt, encoding="utf-8")
        tmp.replace(self.prompt_file)  # opencode never reads half a file
        metrics.BRIEF.info({"sha256": brief.digest})
