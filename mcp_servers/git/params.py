"""What the model passes to the git tools: each parameter described only where its
name and type leave the model guessing."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, WithJsonSchema

Repo = str
TurnId = str  # the brief says whose: this turn's
Rev = str | None  # default: the fetched branch
RepoPath = str


class ReplaceEdit(BaseModel):
    old: str = Field(description="exact existing text, whitespace included; must occur once")
    new: str = Field(description="the text that replaces it")


# The edit inline: pydantic's $defs/$ref spelling of it costs twice the characters.
Replace = Annotated[
    ReplaceEdit,
    WithJsonSchema(
        {
            "type": "object",
            "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
            "required": ["old", "new"],
        }
    ),
]
