"""The request as the model reads it: the same system text every day and in every work dir."""

from __future__ import annotations

from agent.model.prompt import compact_tool, stable_request, stable_system

BRIEF = "You are mlops-agent.\nReply with exactly `<silent/>` when quiet."
OPENCODE_TAIL = """
You are powered by the model named qwen. The exact model ID is local/qwen
Here is some useful information about the environment you are running in:
<env>
  Working directory: {workdir}
  Workspace root folder: /
  Is directory a git repo: no
  Platform: linux
  Today's date: {date}
</env>
<mcp_instructions>
  <server name="git">
    Repos: training.
  </server>
</mcp_instructions>"""


def system(workdir: str, date: str) -> str:
    return BRIEF + OPENCODE_TAIL.format(workdir=workdir, date=date)


def test_days_and_work_dirs_give_the_same_system_text() -> None:
    monday = stable_system(system("/srv/a/state/opencode/work", "Mon Dec 07 2026"))
    tuesday = stable_system(system("/tmp/eval-x/state/opencode/work", "Tue Dec 08 2026"))
    assert monday == tuesday
    assert monday.startswith(BRIEF)
    assert "Repos: training." in monday  # what the skills say stays
    for gone in ("Working directory", "Today's date", "2026", "powered by", "<env>"):
        assert gone not in monday


def test_a_request_keeps_its_messages_and_loses_additional_properties_false() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "aiqu_list_jobs",
            "description": "Jobs.",
            "parameters": {
                "type": "object",
                "properties": {
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                },
                "additionalProperties": False,
            },
        },
    }
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": system("/w", "Mon")}]},
            {"role": "user", "content": "hi"},
        ],
        "tools": [tool],
        "stream": True,
    }
    out = stable_request(body)
    assert out["messages"][0]["content"][0]["text"] == stable_system(system("/w", "Mon"))
    assert out["messages"][1] == {"role": "user", "content": "hi"}
    params = out["tools"][0]["function"]["parameters"]
    assert "additionalProperties" not in params
    # A map's own value type is the tool's schema, not opencode's addition: it stays.
    assert params["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    assert compact_tool({"type": "other"}) == {"type": "other"}
