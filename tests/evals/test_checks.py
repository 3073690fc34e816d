"""The exact checks on hand-made messages: word boundaries, numbers as numbers, raw JSON,
echoes, and the style every message is held to."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evals.bridge import Post
from evals.proxy import ModelCall
from evals.records import Place, StepRecord, ToolUse, TurnRecord
from evals.scenario import Expect
from evals.scoring import DEFAULT_MAX_CHARS, step_checks
from evals.text_checks import copied_share, has_number, has_term, raw_json

NOTIFY = "CEVALNOTIFY"
EVENT = (
    "[turn_id=0f3a9c2b7d4e4f1a8b6c5d4e3f2a1b0c conversation=job:customer-b/pcb-inspect-v2-e1"
    " items=1 (event)]\n\nevent crashed 10:00:00Z job=customer-b/pcb-inspect-v2-e1\n"
    'epoch=12 exception=torch.OutOfMemoryError message="CUDA out of memory. Tried to allocate'
    ' 2.50 GiB" repo=training config=configs/customer-b/pcb-inspect-v2/train_cfg.yaml'
)
CONFIG = "model: yolov8s\nhead_input_size: 640\nimage_size: 1280\nbatch: 64\nepochs: 60\nlr: 0.01\n"
CARD = (
    "Crashed\ncustomer-b/pcb-inspect-v2-e1 — epoch 12\ntorch.OutOfMemoryError: CUDA out of"
    " memory. Tried to allocate 2.50 GiB\n\nLikely cause: image_size 1280 in the config, but the"
    " head is built for 640.\nRecommend: set image_size back to 640, then requeue."
)


@pytest.mark.parametrize(
    ("text", "term", "found"),
    [
        ("already done", "lr", False),  # the example
        ("lr 0.01 → 0.005", "lr", True),
        ("(lr)", "lr", True),
        ("CRASHED at epoch 12", "crashed", True),
        ("crashes", "crashed", False),
        ("Approval needed", "approv*", True),
        ("disapproved", "approv*", False),
        ("it is not\napplied yet", "not applied", True),  # a phrase across a line break
        ("25% milestone", "25%", True),
        ("125% milestone", "25%", False),
        ("image_size 1280", "image_size", True),
        ("image_size_max", "image_size", False),
        ("job customer-b/pcb-inspect-v2-e7", "customer-b/pcb-inspect-v2", True),
        ("[turn_id=183e694ad]", "[turn_id=", True),
        ("kör på nu", "kör på", True),
    ],
)
def test_words_match_on_word_boundaries(text: str, term: str, found: bool) -> None:
    assert has_term(text, term) is found


@pytest.mark.parametrize(
    ("text", "expected", "found"),
    [
        ("val_loss 0.08420", 0.0842, True),  # the same number, one more zero shown
        ("val_loss 0.0842", 0.08420, True),
        ("image_size 12800", 1280, False),
        ("image_size 1280px", 1280, True),
        ("v1280", 1280, False),
        ("trial-1280", 1280, True),  # a dash is no part of a word
        ("1,280 images", 1280, True),
        ("lr 1e-3", 0.001, True),
        ("version 3.2.1", 3.2, False),
        ("183e694ad", 183, False),
    ],
)
def test_numbers_match_as_numbers(text: str, expected: float, found: bool) -> None:
    assert has_number(text, expected) is found


@pytest.mark.parametrize(
    ("text", "dump"),
    [
        ('{"jobs": [{"name": "a", "gpus": 2}]}', True),
        ('result: {"name": "a", "state": "running"} done', True),
        ('[{"trial": 0}, {"trial": 1}]', True),
        ('```json\n{"a": 1}\n```', True),
        ('  "name": "team/a",\n  "state": "running",', True),  # a dump without its braces
        ("val_loss [0.31, 0.18, 0.12]", False),  # a short list of numbers reads fine
        ('{"a": 1}', False),  # one member: a value quoted, not a dump
        ("Crashed\nteam/a — epoch 12\nLikely cause: {image_size} too big", False),
        ("a { b [ c", False),
        ("{" * 50_000, False),
    ],
)
def test_raw_json_is_found(text: str, dump: bool) -> None:
    assert (raw_json(text) is not None) is dump


def test_an_echo_is_mostly_copied_and_a_card_quoting_the_error_is_not() -> None:
    assert copied_share(EVENT, [EVENT]) == 1.0
    assert copied_share("Crashed: " + EVENT.split("\n\n", 1)[1], [EVENT]) > 0.9
    assert copied_share(CARD, [EVENT, CONFIG]) < 0.3
    assert copied_share("image_size: 1280", [CONFIG]) == 0.0  # too short to call an echo


def turn_seen(seen: str, tools: list[ToolUse] | None = None) -> TurnRecord:
    call = ModelCall("t", "job:x", None, [{"role": "user", "content": seen}])
    return TurnRecord("t", "job:x", "event", "posted", "ok", 1.0, [call], tools or [])


def spoken(text: str, expect: dict[str, Any], tools: list[ToolUse] | None = None) -> StepRecord:
    record = StepRecord(0, "event", 0.0, Expect(**expect), Place(NOTIFY, None))
    record.turns.append(turn_seen(EVENT, tools))
    record.posts = [Post("post", NOTIFY, "1.000001", text)]
    return record


CRASH_EXPECT = {
    "speak": True,
    "contains": [["crashed", "crash*", "fail*"], "image_size"],
    "numbers": [1280, 640, 12],
}


def checks_of(record: StepRecord) -> dict[str, bool]:
    return {c.name: c.ok for c in step_checks(record)}


def test_a_good_card_passes_content_and_style() -> None:
    checks = checks_of(spoken(CARD, CRASH_EXPECT))
    assert all(checks.values()), checks
    assert {
        f"at most {DEFAULT_MAX_CHARS} characters",
        "no raw JSON",
        "no protocol text",
        "no sign-off",
        "own words",
    } <= set(checks)


def test_the_event_posted_back_is_an_echo_and_meets_no_content() -> None:
    checks = [c for c in step_checks(spoken(EVENT, CRASH_EXPECT)) if not c.ok]
    failed = {c.name for c in checks}
    assert failed == {
        "contains one of ['crashed', 'crash*', 'fail*']",
        "contains 'image_size'",
        "number 1280",
        "number 640",
        "number 12",
        "own words",
        "no protocol text",
    }
    assert "echoes its input" in next(c.detail for c in checks if c.name == "number 12")


def test_a_dump_of_tool_results_is_an_echo_and_raw_json() -> None:
    config = ToolUse("t", "c1", "git_read_file", {}, json.dumps({"text": CONFIG, "sha": "ab12"}))
    logs = ToolUse("t", "c2", "aiqu_tail_logs", {}, json.dumps({"text": "epoch 12/60 loss 0.6"}))
    dump = "\n".join(t.result or "" for t in (config, logs))
    checks = checks_of(spoken(dump, CRASH_EXPECT, [config, logs]))
    assert checks["own words"] is False and checks["no raw JSON"] is False
    assert checks["number 1280"] is False  # the config's numbers, pasted, are no diagnosis


def test_length_sign_offs_and_overrides() -> None:
    long = CARD + "\n" + "x" * DEFAULT_MAX_CHARS + "\nLet me know if you need anything else!"
    checks = checks_of(spoken(long, CRASH_EXPECT))
    assert checks[f"at most {DEFAULT_MAX_CHARS} characters"] is False
    assert checks["no sign-off"] is False
    allowed = checks_of(
        spoken(
            CARD + '\n{"a": 1, "b": 2}', {"speak": True, "max_chars": 5000, "no_raw_json": False}
        )
    )
    assert "at most 5000 characters" in allowed and "no raw JSON" not in allowed


def test_a_silent_step_has_no_style_checks() -> None:
    record = StepRecord(0, "event", 0.0, Expect(speak=False), Place(NOTIFY, None))
    assert [c.category for c in step_checks(record)] == ["notify"]


def test_absent_words_on_boundaries() -> None:
    checks = checks_of(spoken(CARD, {"speak": True, "absent": ["customer-c/pcb-old", "size"]}))
    assert checks["absent 'customer-c/pcb-old'"] is True
    assert checks["absent 'size'"] is True  # image_size is one word, not "size"
