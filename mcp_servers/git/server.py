"""The git MCP server: wires the tool functions; no logic of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field, WithJsonSchema

from core.ledger import LedgerError
from mcp_servers.compact import CompactMCPServer

from . import changes, reading
from .changes import ReplaceEdit
from .models import ApplyResult, DiffResult, FileText, GrepResult, LogResult, ProposalResult
from .safety import GitSkillError
from .skill import GitSkill

T = TypeVar("T")

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
PROPOSE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
APPLY = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False)

# A parameter is described only where its name and type leave the model guessing.
Repo = str
TurnId = Annotated[str, Field(description="this turn's")]
Rev = Annotated[str | None, Field(description="default: the fetched branch")]
RepoPath = Annotated[str, Field(description="e.g. configs/train.yaml")]
# Bounds checked on every call but left out of the schema: the refusal names them.
INTEGER = WithJsonSchema({"type": "integer"})
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


def _answer(call: Callable[[], T]) -> T:
    """Turn the skill's refusals into a tool error the model reads."""
    try:
        return call()
    except (GitSkillError, LedgerError) as exc:
        raise ToolError(str(exc)) from exc


def build_server(skill: GitSkill) -> MCPServer:
    repos = ", ".join(sorted(skill.repos.configs))
    server = CompactMCPServer(
        "git",
        instructions=f"Training repos: {repos}. Change files only via an approved proposal.",
    )

    @server.tool(annotations=READ)
    def read_file(repo: Repo, path: RepoPath, rev: Rev = None) -> FileText:
        """Read a text file."""
        return _answer(lambda: reading.read_file(skill.repos, repo, path, rev))

    @server.tool(annotations=READ)
    def log(
        repo: Repo,
        path: str | None = None,
        n: Annotated[int, Field(ge=1, le=50), INTEGER] = 10,
    ) -> LogResult:
        """Recent commits, newest first."""
        return _answer(lambda: reading.log(skill.repos, repo, path, n))

    @server.tool(annotations=READ)
    def diff(
        repo: Repo,
        rev_a: Annotated[str, Field(description="e.g. HEAD~1")],
        rev_b: Rev = None,
        path: str | None = None,
    ) -> DiffResult:
        """Unified diff from rev_a to rev_b."""
        return _answer(lambda: reading.diff(skill.repos, repo, rev_a, rev_b, path))

    @server.tool(annotations=READ)
    def grep(
        repo: Repo,
        pattern: Annotated[str, Field(description="extended regex")],
        path_glob: Annotated[str | None, Field(description="e.g. configs/**/*.yaml")] = None,
        rev: Rev = None,
        max_matches: Annotated[int, Field(ge=1, le=200), INTEGER] = 50,
    ) -> GrepResult:
        """Search text files."""
        return _answer(
            lambda: reading.grep(skill.repos, repo, pattern, path_glob, rev, max_matches)
        )

    @server.tool(annotations=PROPOSE)
    def propose_change(
        turn_id: TurnId,
        repo: Repo,
        path: RepoPath,
        commit_message: Annotated[str, Field(description="one line")],
        reason: Annotated[str, Field(description="for the approver")],
        new_content: Annotated[str | None, Field(description="whole file, or use replace")] = None,
        replace: Annotated[Replace | None, Field(description="old occurs exactly once")] = None,
    ) -> ProposalResult:
        """Propose a change to one file; writes nothing. Then end your turn."""
        return _answer(
            lambda: changes.propose_change(
                skill, turn_id, repo, path, commit_message, reason, new_content, replace
            )
        )

    @server.tool(annotations=APPLY)
    def apply_change(
        turn_id: TurnId,
        proposal_id: str,
    ) -> ApplyResult:
        """Commit and push a proposal once a later turn says it was approved."""
        return _answer(lambda: changes.apply_change(skill, turn_id, proposal_id))

    return server
