"""An MCP server whose tool schemas cost the model fewer tokens.

The model pays for every character of every tool on every turn. Pydantic's
schemas carry noise: a `title` on everything that only repeats its name
("Run", "Metric"), optional parameters spelled `anyOf: [X, {"type": "null"}],
default: null` where "leave it out" says the same, the bounds and defaults of
parameters, which the tool applies and checks itself (a refusal names the valid
range, a map's value type), and a `type` a string `enum` already says. Only the schemas sent out are
compacted; calls are validated against the full ones, so an explicit null is
still accepted and a bound still holds.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import Tool
from pydantic import WithJsonSchema

# For an int parameter whose bounds are checked on every call but left out of the
# schema: the refusal names them, and the model does not read them on every turn.
INTEGER = WithJsonSchema({"type": "integer"})

# Keys whose values are maps of *names* to schemas: a property may be called "title".
_NAMED_SCHEMAS = ("properties", "$defs", "definitions", "patternProperties")
# What a tool checks or fills in itself: the model need not read it on every turn.
_CHECKED = frozenset(
    {
        "default",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
    }
)


def without_titles(schema: Any) -> Any:
    if isinstance(schema, list):
        return [without_titles(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _NAMED_SCHEMAS and isinstance(value, dict):
            out[key] = {
                name: _unchecked(without_titles(_optional(sub))) for name, sub in value.items()
            }
        else:
            out[key] = without_titles(value)
    return out


def _optional(schema: Any) -> Any:
    """`anyOf: [X, null]` with `default: null` → X: omitting the parameter means null."""
    if not isinstance(schema, dict) or schema.get("default", 0) is not None:
        return schema
    variants = schema.get("anyOf")
    if not (isinstance(variants, list) and len(variants) == 2 and {"type": "null"} in variants):
        return schema
    (kept,) = [v for v in variants if v != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**kept, **rest}


def _unchecked(schema: Any) -> Any:
    """A property without what the tool checks itself, in its shortest spelling: a required
    nullable `anyOf: [X, null]` as `type: [X, "null"]`, and no `type` beside a string `enum`."""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k not in _CHECKED}
    if out.get("type") == "object" and isinstance(out.get("additionalProperties"), dict):
        del out["additionalProperties"]  # a map's value type: checked on every call
    items = out.get("items")
    if isinstance(items, dict) and items.get("type") == "object":
        out["items"] = {k: v for k, v in items.items() if k != "additionalProperties"}
    variants = out.get("anyOf")
    if isinstance(variants, list) and len(variants) == 2 and {"type": "null"} in variants:
        (kept,) = [v for v in variants if v != {"type": "null"}]
        if isinstance(kept, dict) and set(kept) == {"type"} and isinstance(kept["type"], str):
            del out["anyOf"]
            out["type"] = [kept["type"], "null"]
    enum = out.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(e, str) for e in enum):
        out.pop("type", None)
    return out


class CompactMCPServer(MCPServer):
    async def list_tools(self) -> list[Tool]:
        tools = await super().list_tools()
        # Output schemas stay whole: clients validate results against them, and the
        # model never reads them.
        return [
            t.model_copy(update={"input_schema": without_titles(t.input_schema)}) for t in tools
        ]
