"""What of a model's reply may be posted: never the protocol around it.

A small model sometimes answers with the machinery instead of a message: the
turn header it was given (`[turn_id=… conversation=…]`), the event read back
word for word, a turn's item it made up (`message 19:17:10Z from <@U…>:` and a
question nobody asked: seen from the 1.5B), `<tool_call>`/`<tool_response>`
tags, a tool call written as JSON, chat-template tokens. Posted, that is noise in a
team's channel (and a leaked turn id). `postable` removes exactly those and nothing else; a reply
that was only protocol, or only its own input read back, leaves nothing, and
nothing is posted. Whether a real message was worth saying is the model's call,
not this module's.
"""

from __future__ import annotations

import json
import re

from agent.model.toolcalls import call_shaped

_TAG_BLOCKS = re.compile(
    r"<(tool_call|tool_response|tools)>.*?(?:</\1>|$)|</?(?:tool_call|tool_response|tools)>",
    re.DOTALL,
)
_TEMPLATE_TOKENS = re.compile(r"<\|(?:im_start|im_end|endoftext)\|>(?:system|user|assistant|tool)?")
_TURN_HEADER = re.compile(r"^\s*\[turn_id=[^\]\n]*\]\s*$", re.MULTILINE)
# A turn's item as the service renders one (agent.engine.render): its first line, then the
# paragraph it heads. `HH:MM:SSZ` is the service's clock; no message of the model's
# starts a paragraph with it.
_ITEM = re.compile(
    r"^(?:event \S+ |message |button \S+ |[a-z]+ )\d\d:\d\d:\d\dZ"
    r"(?: job=| from | by |: |$)[^\n]*(?:\n(?!\s*\n)[^\n]*)*",
    re.MULTILINE,
)
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)(?:```|$)", re.DOTALL)
_FENCE_LINE = re.compile(r"```[\w-]*")


def postable(reply: str, turn_input: str = "") -> str:
    """`reply` without protocol artefacts; empty when nothing else was in it."""
    text = _TAG_BLOCKS.sub("", reply)
    text = _TEMPLATE_TOKENS.sub("", text)
    text = _TURN_HEADER.sub("", text)
    text = _ITEM.sub("", text)
    text = _FENCE.sub(lambda m: "" if _only_calls(m.group(1)) else m.group(0), text)
    text = _without_bare_calls(text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if text and turn_input and _only_echo(text, turn_input):
        return ""
    return text


def _only_calls(block: str) -> bool:
    values = list(_values(block))
    return bool(values) and all(call_shaped(v) for v in values)


def _values(block: str) -> list[object]:
    decoder = json.JSONDecoder()
    out, i, block = [], 0, block.strip()
    while i < len(block):
        try:
            value, i = decoder.raw_decode(block, i)
        except ValueError:
            return []
        out.append(value)
        while i < len(block) and block[i] in " \t\r\n,":
            i += 1
    return out


def _without_bare_calls(text: str) -> str:
    decoder = json.JSONDecoder()
    pieces, i, kept = [], 0, 0
    while True:
        starts = [p for p in (text.find("{", i), text.find("[", i)) if p != -1]
        if not starts:
            break
        i = min(starts)
        try:
            value, end = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        if call_shaped(value):
            pieces.append(text[kept:i])
            kept = end
        i = end
    pieces.append(text[kept:])
    return "".join(pieces)


def _only_echo(text: str, turn_input: str) -> bool:
    """Every line of `text` is a line of the turn's input (a code fence around them aside):
    it was read back, not written."""
    given = {line.strip() for line in turn_input.splitlines() if line.strip()}
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not _FENCE_LINE.fullmatch(line)]
    return all(line in given for line in lines)
