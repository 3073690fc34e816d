"""The git tools as the model sees them: in process, and once over stdio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import mcp

from core.ledger import Ledger
from mcp_servers.git.server import build_server
from mcp_servers.git.skill import GitSkill
from tests.conftest import ROOT
from tests.git.conftest import ALICE, Conversation, Remote, git

FIX = {"old": "image_size: 1280", "new": "image_size: 640"}
# Parameters whose name and type leave the model guessing: each must carry a description.
# (turn_id's is the brief's to say, once for every tool; a bad path or revision is refused
# with what would be valid.)
DESCRIBED = {
    "read_file": {"find"},
    "propose_change": {"reason", "new_content", "replace"},
}


async def test_tools_are_described_and_annotated(skill: GitSkill) -> None:
    async with mcp.Client(build_server(skill)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"read_file", "log", "propose_change", "apply_change"}
    for name, tool in tools.items():
        assert tool.description and tool.annotations is not None, name
        properties = tool.input_schema["properties"]
        described = {prop for prop, schema in properties.items() if schema.get("description")}
        assert DESCRIBED.get(name, set()) <= described, name
        read_only = name not in ("propose_change", "apply_change")
        assert tool.annotations.read_only_hint is read_only, name
    apply_annotations = tools["apply_change"].annotations
    assert apply_annotations is not None and apply_annotations.destructive_hint is True
    # Nothing the model passes can pick a branch, a remote, a refspec or force a push.
    assert set(tools["apply_change"].input_schema["properties"]) == {"turn_id", "proposal_id"}
    assert not {"branch", "remote", "refspec", "force"} & set(
        tools["propose_change"].input_schema["properties"]
    )


async def test_propose_and_apply_through_mcp(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    t1 = conv.turn("event", "training")
    async with mcp.Client(build_server(skill)) as client:
        read = await client.call_tool("read_file", {"repo": "vision", "path": "configs/train.yaml"})
        # One tool reads or searches: MCP wraps its two shapes in "result"; the text is the object.
        assert read.structured_content
        assert "image_size: 1280" in read.structured_content["result"]["text"]
        args = {
            "turn_id": t1,
            "repo": "vision",
            "path": "configs/train.yaml",
            "commit_message": "Set image_size back to 640",
            "reason": "OOM at 1280",
            "replace": FIX,
        }
        proposed = await client.call_tool("propose_change", args)
        assert not proposed.is_error and proposed.structured_content
        pid = proposed.structured_content["proposal_id"]
        assert "End your turn now" in proposed.structured_content["next_step"]

        early = await client.call_tool("apply_change", {"turn_id": t1, "proposal_id": pid})
        assert early.is_error
        assert "was made in this turn" in early.content[0].text  # type: ignore[union-attr]

        t2 = conv.turn("chat", ALICE)
        ledger.confirm(pid, ALICE, t2, "button")
        applied = await client.call_tool("apply_change", {"turn_id": t2, "proposal_id": pid})
    assert not applied.is_error and applied.structured_content
    assert applied.structured_content["commit"] == remote.head()


async def test_a_bad_argument_is_an_error_naming_the_valid_values(skill: GitSkill) -> None:
    async with mcp.Client(build_server(skill)) as client:
        result = await client.call_tool("log", {"repo": "nope"})
    assert result.is_error
    assert "configured repos: ['vision']" in result.content[0].text  # type: ignore[union-attr]


async def test_over_stdio_with_settings_from_the_environment(
    remote: Remote, state_dir: Path, conv: Conversation, ledger: Ledger
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "MLOPS_STATE_DIR": str(state_dir),
        "MLOPS_LEDGER_KEY_FILE": str(state_dir / "ledger.key"),
        "MLOPS_ALLOWED_USERS": ALICE,
        "MLOPS_GIT_AUTHOR": "Agent Smith <agent@example.com>",
        "MLOPS_GIT_REPOS": f'{{"vision": {{"path": "{remote.clone}", "allow": ["configs/**"]}}}}',
    }
    params = mcp.StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_servers", "git"], env=env, cwd=str(ROOT)
    )
    t1 = conv.turn("event", "training")
    with anyio.fail_after(60):
        async with mcp.Client(params) as client:
            args = {
                "turn_id": t1,
                "repo": "vision",
                "path": "configs/train.yaml",
                "commit_message": "Set image_size back to 640",
                "reason": "OOM at 1280",
                "replace": FIX,
            }
            proposed = await client.call_tool("propose_change", args)
            assert proposed.structured_content, proposed.content
            pid = proposed.structured_content["proposal_id"]
            t2 = conv.turn("chat", ALICE)
            ledger.confirm(pid, ALICE, t2, "text")
            applied = await client.call_tool("apply_change", {"turn_id": t2, "proposal_id": pid})
    assert applied.structured_content, applied.content
    assert applied.structured_content["confirmed_by"] == ALICE
    commit = applied.structured_content["commit"]
    author = git(remote.bare, "log", "-1", "--format=%an <%ae>", commit).strip()
    assert author == "Agent Smith <agent@example.com>"


async def test_inline_replace_schema_still_requires_old_and_new(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    t1 = conv.turn("event", "training")
    args = {
        "turn_id": t1,
        "repo": "vision",
        "path": "configs/train.yaml",
        "commit_message": "Set image_size back to 640",
        "reason": "OOM at 1280",
    }
    async with mcp.Client(build_server(skill)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        half = await client.call_tool("propose_change", {**args, "replace": {"old": FIX["old"]}})
    schema = tools["propose_change"].input_schema
    assert "$defs" not in schema and schema["properties"]["replace"]["required"] == ["old", "new"]
    assert half.is_error and "replace.new" in str(half.content)
    assert ledger.proposals_of_turn(t1) == []  # a refused call files nothing
