"""A skill is a plugin: a fifth one, written in a folder of its own and listed in
`mcp_servers.registry.SKILLS` (the one line; here the test adds it), reaches the model,
`doctor`, the gates and the one serve entry without a change anywhere else."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import anyio
import mcp
import pytest

from agent.cli.doctor import skill_checks
from agent.service.skills import skill_specs
from core.skill_env import SkillEnvironment
from mcp_servers import registry
from mcp_servers.plugin import Skill
from tests.conftest import ROOT

# The whole skill: its settings, a gated write it declares, a health check and a server.
PLUGIN = '''
from core.skill_env import Variables, read_variables, text
from mcp.server.mcpserver import MCPServer
from mcp_servers.plugin import ProposalKind, Skill

VARIABLES: Variables = {"greeting": ("MLOPS_NOTES_GREETING", text)}


def settings(env):
    return {"greeting": "hello", **read_variables(VARIABLES, env.extra)}


def serve(env, context):
    server = MCPServer(name="notes")
    greeting = settings(env)["greeting"]

    @server.tool()
    def greet(name: str) -> str:
        """Greet someone."""
        return f"{greeting}, {name}"

    server.run("stdio")


def check(env):
    return True, f"greets with {settings(env)['greeting']!r}"


SKILL = Skill(
    name="notes",
    variables=VARIABLES,
    serve=serve,
    check=check,
    proposal_kinds=(ProposalKind("notes_erase", "note erase"),),
)
'''


@pytest.fixture
def fifth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Skill:
    folder = tmp_path / "plugins" / "notes_skill"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    from notes_skill.plugin import SKILL  # type: ignore[import-not-found]

    monkeypatch.setattr(registry, "SKILLS", (*registry.SKILLS, SKILL))
    return SKILL


def test_the_model_gets_its_tools_through_the_one_serve_entry(fifth: Skill) -> None:
    env = SkillEnvironment(state_dir=Path("/srv/state"))
    (spec,) = [s for s in skill_specs(env) if s.name == "notes"]
    assert spec.command == [sys.executable, "-m", "mcp_servers", "notes"]


def test_doctor_runs_its_health_check(fifth: Skill, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_NOTES_GREETING", "hi")
    checks = dict(skill_checks())
    assert list(checks)[-1] == "notes"
    from agent.settings import load_settings

    assert checks["notes"](load_settings()) == (True, "greets with 'hi'")


def test_every_gate_knows_its_proposal_kind(fifth: Skill) -> None:
    assert registry.gate_context().kinds["notes_erase"] == "note erase"


async def test_it_serves_over_stdio_with_its_own_setting(fifth: Skill, tmp_path: Path) -> None:
    # In the skill's process the registry is read from the files, so list it there too.
    listed = (
        "import sys; from mcp_servers import registry; from notes_skill.plugin import SKILL;"
        " registry.SKILLS = (*registry.SKILLS, SKILL); from mcp_servers.__main__ import main;"
        " sys.exit(main(['notes']))"
    )
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path / "plugins")]),
        "MLOPS_NOTES_GREETING": "good morning",
    }
    params = mcp.StdioServerParameters(
        command=sys.executable, args=["-c", listed], env=env, cwd=str(ROOT)
    )
    with anyio.fail_after(60):  # the server process ends with the client
        async with mcp.Client(params, read_timeout_seconds=30) as client:
            result = await client.call_tool("greet", {"name": "Ann"})
    assert result.content[0].text == "good morning, Ann"  # type: ignore[union-attr]


def test_the_serve_entry_refuses_an_unknown_skill_naming_the_valid_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mcp_servers.__main__ import main

    assert main(["nope"]) == 2
    said = capsys.readouterr().err
    assert said == "mcp_servers: no skill 'nope'; valid: aiqu, mlflow, datasets, git\n"
