"""Long text in the results file and the judge's prompt: its start, and how long it was.

A model may reply with megabytes; the checks read all of it, the file keeps a
readable start."""

from __future__ import annotations

from typing import overload

TEXT_LIMIT = 20_000  # characters of a reply or a post kept in the results file
RESULT_LIMIT = 4_000  # of a tool's result


@overload
def clip(text: str, limit: int = TEXT_LIMIT) -> str: ...
@overload
def clip(text: None, limit: int = TEXT_LIMIT) -> None: ...
def clip(text: str | None, limit: int = TEXT_LIMIT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"… ({len(text)} chars)"
