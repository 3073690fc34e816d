"""The git MCP server: wires the tool functions; no logic of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from agent.ledger import LedgerError
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

Repo = Annotated[str, Field(description="configured repo name, e.g. 'vision'")]
TurnId = Annotated[str, Field(description="the turn_id from this turn's header, verbatim")]
Rev = Annotated[
    str | None,
    Field(
        description="commit, branch or tag, e.g. 'HEAD~3', 'origin/main', 'a1b2c3d';"
        " default: the repo's branch as last fetched"
    ),
]


def _answer(call: Callable[[], T]) -> T:
    """Turn the skill's refusals into a tool error the model reads."""
    try:
        return call()
    except (GitSkillError, LedgerError) as exc:
        raise ToolError(str(exc)) from exc


def build_server(skill: GitSkill) -> MCPServer:
    server = CompactMCPServer(
        "git",
        instructions="The training repos: read files, history, diffs and grep freely. To change "
        "a file: propose_change, end the turn, and apply_change only in a later turn after a "
        f"person approved it. Repos: {', '.join(sorted(skill.repos.configs))}.",
    )

    @server.tool(annotations=READ)
    def read_file(
        repo: Repo,
        path: Annotated[str, Field(description="path from the repo root, e.g. configs/train.yaml")],
        rev: Rev = None,
    ) -> FileText:
        """Read one text file at a revision (at most 60,000 characters)."""
        return _answer(lambda: reading.read_file(skill.repos, repo, path, rev))

    @server.tool(annotations=READ)
    def log(
        repo: Repo,
        path: Annotated[
            str | None, Field(description="only commits touching this file or folder")
        ] = None,
        n: Annotated[int, Field(ge=1, le=50, description="number of commits, newest first")] = 10,
    ) -> LogResult:
        """Recent commits on the repo's branch: short sha, date (UTC), author, subject."""
        return _answer(lambda: reading.log(skill.repos, repo, path, n))

    @server.tool(annotations=READ)
    def diff(
        repo: Repo,
        rev_a: Annotated[str, Field(description="older revision, e.g. 'HEAD~1' or a sha")],
        rev_b: Rev = None,
        path: Annotated[str | None, Field(description="limit to this file or folder")] = None,
    ) -> DiffResult:
        """Unified diff from rev_a to rev_b (at most 30,000 characters)."""
        return _answer(lambda: reading.diff(skill.repos, repo, rev_a, rev_b, path))

    @server.tool(annotations=READ)
    def grep(
        repo: Repo,
        pattern: Annotated[str, Field(description="extended regex, e.g. 'image_size|imgsz'")],
        path_glob: Annotated[
            str | None, Field(description="only paths matching, e.g. 'configs/**/*.yaml'")
        ] = None,
        rev: Rev = None,
        max_matches: Annotated[int, Field(ge=1, le=200, description="most matches returned")] = 50,
    ) -> GrepResult:
        """Search text files at a revision: path, line number and line for each match."""
        return _answer(
            lambda: reading.grep(skill.repos, repo, pattern, path_glob, rev, max_matches)
        )

    @server.tool(annotations=PROPOSE)
    def propose_change(
        turn_id: TurnId,
        repo: Repo,
        path: Annotated[str, Field(description="file to change, e.g. configs/train.yaml")],
        commit_message: Annotated[
            str, Field(description="one line, imperative, e.g. 'Set image_size back to 640'")
        ],
        reason: Annotated[
            str, Field(description="why, for the person approving: what failed and what this fixes")
        ],
        new_content: Annotated[
            str | None, Field(description="the whole new file; omit when using replace")
        ] = None,
        replace: Annotated[
            ReplaceEdit | None,
            Field(description="a precise edit {old, new}; old must occur exactly once"),
        ] = None,
    ) -> ProposalResult:
        """Propose a change to one file: returns a proposal id and the diff against the remote
        branch. Nothing is written. Then end your turn: a person approves or rejects it, and
        you are told in a later turn."""
        return _answer(
            lambda: changes.propose_change(
                skill, turn_id, repo, path, commit_message, reason, new_content, replace
            )
        )

    @server.tool(annotations=APPLY)
    def apply_change(
        turn_id: TurnId,
        proposal_id: Annotated[
            str, Field(description="the id propose_change returned, e.g. P1a2b3c4d5e")
        ],
    ) -> ApplyResult:
        """Commit and push an approved proposal, exactly its diff. Works only in a later turn
        than the proposal, after a person approved it; otherwise it says what to wait for."""
        return _answer(lambda: changes.apply_change(skill, turn_id, proposal_id))

    return server
