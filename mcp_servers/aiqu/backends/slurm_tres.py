"""GPU counts from Slurm's TRES and GRES strings, as every Slurm release writes them.

Three shapes reach us:
- requests (`tres_per_job`, `tres_per_node`): `gres/gpu:2`, `gres/gpu:a100:2`,
  `gres/gpu` (one), or 22.05's `gres:gpu:2`; several requests are summed;
- allocations (`tres_alloc_str`, only where accounting tracks `gres/gpu`):
  `…,gres/gpu=2,gres/gpu:a100=2` — the untyped total and each type again, so
  the untyped entry is the count and types are summed only without it;
- a node's GRES (`sinfo %G`): `gpu:a100:4(S:0-1),gpu:v100:2`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Socket bindings like "(S:0-1)" or "(IDX:0,1)" may hold commas: drop them first.
BINDING = re.compile(r"\([^)]*\)")
REQUEST = re.compile(r"^(?:gres[/:])?gpu(?::(?P<type>[^:=]+))?(?::(?P<count>\d+))?$")
ALLOCATION = re.compile(r"^gres/gpu(?::(?P<type>[^=]+))?=(?P<count>\d+)$")


def requested_gpus(tres: str) -> int:
    """GPUs in a request or GRES string: `gres/gpu:a100:2,gres/gpu:1` → 3."""
    total = 0
    for item in _items(tres):
        match = REQUEST.match(item)
        if match is None:
            continue  # another resource (cpu, mem, gres/shard…)
        if match["count"] is None and match["type"] and match["type"].isdigit():
            total += int(match["type"])  # "gpu:2": the count, not a type
        else:
            total += int(match["count"] or 1)
    return total


def allocated_gpus(tres: str) -> int | None:
    """GPUs in an allocation string, or None when it tracks no GPUs at all."""
    counts = {m["type"]: int(m["count"]) for m in map(ALLOCATION.match, _items(tres)) if m}
    return _untyped_or_sum(counts)


def accounted_gpus(tres: Iterable[Mapping[str, object]]) -> int | None:
    """GPUs in sacct's `tres.allocated` list ({type: gres, name: gpu[:type], count})."""
    counts: dict[str | None, int] = {}
    for entry in tres:
        name = entry.get("name")
        if entry.get("type") != "gres" or not isinstance(name, str):
            continue
        kind, _, gpu_type = name.partition(":")
        count = entry.get("count")
        if kind == "gpu" and isinstance(count, int):
            counts[gpu_type or None] = count
    return _untyped_or_sum(counts)


def job_gpus(allocated: str, per_job: str, per_node: str, nodes: int) -> int:
    """A job's GPUs: what it holds when accounting says, else what it asked for."""
    held = allocated_gpus(allocated)
    if held is not None:
        return held
    if requested_gpus(per_job):
        return requested_gpus(per_job)
    return requested_gpus(per_node) * max(nodes, 1)


def _untyped_or_sum(counts: Mapping[str | None, int]) -> int | None:
    if not counts:
        return None
    if None in counts:
        return counts[None]
    return sum(counts.values())


def _items(text: str) -> list[str]:
    return [item.strip() for item in BINDING.sub("", text).split(",") if item.strip()]
