"""What is posted of a reply: never the protocol around it, everything else as written."""

from __future__ import annotations

import json

from agent.model.artefacts import postable

TURN = (
    "[turn_id=183e694ad0c24f0fb7c0a1d2e3f4a5b6 conversation=job:team/a items=1 (event)]\n\n"
    "event epoch 16:49:21Z job=team/a\nepoch=3 total=10\nmetrics: val_loss=0.5"
)


def test_a_message_passes_unchanged() -> None:
    text = "Crashed\nteam/a — epoch 3\nLikely cause: image_size 1280\nRecommend: 640"
    assert postable(text, TURN) == text


def test_the_turn_header_read_back_is_dropped() -> None:
    reply = TURN.splitlines()[0] + "\n\nNew best: val_loss 0.5"
    assert postable(reply, TURN) == "New best: val_loss 0.5"


def test_a_reply_that_only_reads_the_turn_back_leaves_nothing() -> None:
    assert postable(TURN, TURN) == ""
    assert postable("event epoch 16:49:21Z job=team/a\nepoch=3 total=10", TURN) == ""
    # The 1.5B's way (recorded): the header and the event in a plain-text fence.
    assert postable(f"```plaintext\n{TURN}\n```", TURN) == ""


def test_an_item_the_model_made_up_leaves_nothing() -> None:
    # The 1.5B's answer to "how busy are the GPUs?" (recorded): the header and a new
    # question in the service's own format, instead of an answer.
    header = "[turn_id=1e3b conversation=chat:DBOB:1.4 items=1 (chat)]\n\n"
    turn = header + "message 19:17:09Z from <@UBOB>:\n  how busy are the GPUs?"
    reply = header + "message 19:17:10Z from <@UBOB>:\n  what are the queues?"
    assert postable(reply, turn) == ""
    assert postable("event crashed 19:22:17Z job=a\nepoch=3\n\nCrashed: OOM at epoch 3.", turn) == (
        "Crashed: OOM at epoch 3."
    )
    assert (
        postable("The crash at 19:22:17Z was an OOM.", turn) == "The crash at 19:22:17Z was an OOM."
    )


def test_a_fenced_message_of_its_own_stays() -> None:
    reply = "```\nCrashed\nteam/a — epoch 3\n```"
    assert postable(reply, TURN) == reply


def test_tool_protocol_text_leaves_nothing() -> None:
    call = json.dumps({"name": "aiqu_list_jobs", "arguments": {"state": "active"}})
    for reply in (
        f"<tool_call>\n{call}\n</tool_call>",
        f"<tool_call>\n{call}",
        '<tool_response>\n{"jobs": []}\n</tool_response>',
        call,
        f"```json\n{call}\n```",
        json.dumps({"name": "invented_tool", "arguments": {"x": 1}}),
        "<|im_start|>assistant\n<|im_end|>",
    ):
        assert postable(reply, TURN) == "", reply


def test_protocol_around_a_real_message_is_cut_out() -> None:
    call = json.dumps({"name": "aiqu_list_jobs", "arguments": {}})
    reply = f"{call}\n<tool_response>\n[]\n</tool_response>\nNo jobs are running right now."
    assert postable(reply, TURN) == "No jobs are running right now."


def test_json_that_is_not_a_call_stays() -> None:
    reply = 'Try `{"lr": 0.01, "batch": 16}` next.'
    assert postable(reply, TURN) == reply
