"""Tool calls written as text are read back as calls, in every shape small models use;
anything else stays text."""

from __future__ import annotations

import json

import pytest

from agent.model.toolcalls import call_shaped, find_calls

OFFERED = ["aiqu_list_jobs", "aiqu_cancel_job", "mlflow_metric_summary", "git_read_file"]
CALL = {"name": "aiqu_list_jobs", "arguments": {"state": "active"}}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(CALL),  # bare JSON, the 1.5B's usual shape
        f"```json\n{json.dumps(CALL)}\n```",  # fenced
        f"```\n{json.dumps(CALL)}\n```",  # fenced without a language
        f"<tool_call>\n{json.dumps(CALL)}\n</tool_call>",  # the template's own tags
        f"<tool_call>\n{json.dumps(CALL)}",  # tags the model never closed
        json.dumps({"name": "aiqu_list_jobs", "parameters": {"state": "active"}}),
        json.dumps({"function": {"name": "aiqu_list_jobs", "arguments": '{"state": "active"}'}}),
        json.dumps({"name": "list_jobs", "arguments": {"state": "active"}}),  # no prefix
        json.dumps([CALL]),
    ],
)
def test_each_shape_becomes_the_call(text: str) -> None:
    found = find_calls(text, OFFERED)
    assert found is not None
    assert [(c.name, json.loads(c.arguments)) for c in found.calls] == [
        ("aiqu_list_jobs", {"state": "active"})
    ]
    assert found.prose == ""


def test_prose_before_a_call_is_kept_and_an_invented_result_after_it_dropped() -> None:
    text = (
        "Let me look at the jobs.\n"
        f"<tool_call>\n{json.dumps(CALL)}\n</tool_call>\n"
        '<tool_response>\n{"jobs": []}\n</tool_response>\nNo jobs are running.'
    )
    found = find_calls(text, OFFERED)
    assert found is not None
    assert found.prose == "Let me look at the jobs."
    assert [c.name for c in found.calls] == ["aiqu_list_jobs"]


def test_several_calls_one_per_line() -> None:
    second = {"name": "git_read_file", "arguments": {"repo": "training", "path": "a.yaml"}}
    found = find_calls(json.dumps(CALL) + "\n" + json.dumps(second), OFFERED)
    assert found is not None
    assert [c.name for c in found.calls] == ["aiqu_list_jobs", "git_read_file"]


@pytest.mark.parametrize(
    "text",
    [
        "The job crashed: CUDA out of memory at epoch 3.",
        json.dumps({"name": "aiqu_drop_table", "arguments": {}}),  # a tool not offered
        json.dumps({"name": "resnet", "lr": 0.1}),  # data that has a name
        json.dumps({"name": "aiqu_list_jobs"}),  # no arguments: not a call's shape
        'Set `{"lr": 0.01}` in the config.',
        json.dumps([CALL, {"lr": 1}]),  # a list only partly calls
    ],
)
def test_everything_else_stays_text(text: str) -> None:
    assert find_calls(text, OFFERED) is None


def test_arguments_that_are_not_json_pass_on_as_written() -> None:
    found = find_calls(json.dumps({"name": "aiqu_list_jobs", "arguments": "state=active"}), OFFERED)
    assert found is not None and found.calls[0].arguments == "state=active"


def test_a_bare_name_matching_two_tools_is_not_guessed() -> None:
    text = json.dumps({"name": "status", "arguments": {}})
    assert find_calls(text, ["aiqu_status", "mlflow_status"]) is None


def test_call_shaped_names_any_tool() -> None:
    assert call_shaped({"name": "made_up", "arguments": {}})
    assert call_shaped([{"function": {"name": "x", "arguments": "{}"}}])
    assert not call_shaped({"name": "x"})
    assert not call_shaped([])
