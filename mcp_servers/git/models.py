"""What the git tools return: compact, so the model pays for few tokens."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FileText(BaseModel):
    repo: str
    path: str
    commit: str = Field(description="the commit read, 12 hex digits")
    text: str
    lines: int = Field(description="lines in the whole file")
    truncated: bool = Field(description="true when text stops before the end of the file")


class LogEntry(BaseModel):
    commit: str
    date: str = Field(description="author date, UTC ISO 8601")
    author: str
    subject: str
    patch: str | None = None


class LogResult(BaseModel):
    repo: str
    entries: list[LogEntry]


class GrepMatch(BaseModel):
    path: str
    line: int
    text: str


class GrepResult(BaseModel):
    repo: str
    commit: str
    matches: list[GrepMatch]
    truncated: bool = Field(description="true when more matches exist than were returned")


class ProposalResult(BaseModel):
    proposal_id: str
    repo: str
    path: str
    base_commit: str
    diff: str
    expires: str = Field(description="UTC ISO 8601")
    next_step: str


class ApplyResult(BaseModel):
    proposal_id: str
    repo: str
    branch: str
    commit: str
    confirmed_by: str
