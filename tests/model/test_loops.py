"""A call repeating, with the same arguments, a call of this turn that failed twice the
same way is stopped; anything less is not."""

from __future__ import annotations

import json
from typing import Any

from agent.model import loops

ERROR = "Error executing tool cancel_job: no proposal 'p-123'; pending proposals: none"


def call(i: int, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": f"c{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
        ],
    }


def result(i: int, text: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": f"c{i}", "content": text}


CANCEL = {"job": "team/a", "proposal_id": "p-123", "turn_id": "t1"}


def turn(*messages: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "brief"},
        {"role": "user", "content": "[turn_id=t1 …]"},
        *messages,
    ]


def test_a_third_identical_failing_call_is_stopped() -> None:
    messages = turn(
        call(1, "aiqu_cancel_job", CANCEL),
        result(1, ERROR),
        call(2, "aiqu_cancel_job", CANCEL),
        result(2, ERROR),
    )
    # Key order does not make a call different.
    again = json.dumps(dict(reversed(list(CANCEL.items()))))
    repeated = loops.repeated_failure(loops.turn_attempts(messages), "aiqu_cancel_job", again)
    assert repeated is not None
    note = loops.stop_note(repeated)
    assert loops.is_stop_note(note)
    assert "`aiqu_cancel_job` was called 3 times" in note and "no proposal 'p-123'" in note


def test_one_failure_a_different_argument_or_a_success_is_not_a_loop() -> None:
    once = turn(call(1, "aiqu_cancel_job", CANCEL), result(1, ERROR))
    assert (
        loops.repeated_failure(loops.turn_attempts(once), "aiqu_cancel_job", json.dumps(CANCEL))
        is None
    )
    twice = turn(
        call(1, "aiqu_cancel_job", CANCEL),
        result(1, ERROR),
        call(2, "aiqu_cancel_job", CANCEL),
        result(2, ERROR),
    )
    other = {**CANCEL, "proposal_id": "p-456"}
    assert (
        loops.repeated_failure(loops.turn_attempts(twice), "aiqu_cancel_job", json.dumps(other))
        is None
    )
    ok = turn(
        call(1, "aiqu_list_jobs", {}),
        result(1, '{"jobs": []}'),
        call(2, "aiqu_list_jobs", {}),
        result(2, '{"jobs": []}'),
    )
    assert loops.repeated_failure(loops.turn_attempts(ok), "aiqu_list_jobs", "{}") is None


def test_failures_of_an_earlier_turn_do_not_count() -> None:
    messages = [
        {"role": "user", "content": "[turn_id=t0 …]"},
        call(1, "aiqu_cancel_job", CANCEL), result(1, ERROR),
        call(2, "aiqu_cancel_job", CANCEL), result(2, ERROR),
        {"role": "assistant", "content": "I could not cancel it."},
        {"role": "user", "content": "[turn_id=t1 …]"},
    ]  # fmt: skip
    assert (
        loops.repeated_failure(loops.turn_attempts(messages), "aiqu_cancel_job", json.dumps(CANCEL))
        is None
    )


def test_an_unknown_tool_opencode_routed_to_invalid_counts_by_its_name() -> None:
    bad = (
        "The arguments provided to the tool are invalid: "
        "Model tried to call unavailable tool 'get_status'."
    )
    routed = {"tool": "get_status", "error": "unavailable"}
    messages = turn(
        call(1, "invalid", routed), result(1, bad), call(2, "invalid", routed), result(2, bad)
    )
    assert (
        loops.repeated_failure(loops.turn_attempts(messages), "get_status", '{"job": "x"}')
        is not None
    )
