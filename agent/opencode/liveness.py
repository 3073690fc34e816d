"""Is every skill really there? opencode's MCP status, checked against the processes.

`GET /mcp` says `connected`, `failed` (e.g. "Connection closed" once a skill's
process died) or `disabled` per server. opencode has been seen reporting a
dropped local server as still connected, so a `connected` skill also needs a
live process: a child of opencode running exactly the skill's command. Both
reads are cheap (one local request, one pass over /proc), so they run at
every turn start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.lifetime import command_line


def skill_commands(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """`{name: command}` of the enabled local MCP servers in an opencode config."""
    servers = config.get("mcp") or {}
    return {
        name: list(spec["command"])
        for name, spec in servers.items()
        if spec.get("enabled", True) and spec.get("type") == "local"
    }


def missing_skills(
    status: Mapping[str, Mapping[str, Any]],
    commands: Mapping[str, Sequence[str]],
    opencode_pid: int | None,
) -> dict[str, str]:
    """`{name: why}` for each configured skill that is not connected with a live process."""
    running = [c for pid in children(opencode_pid) if (c := command_line(pid))]
    missing = {}
    for name, command in commands.items():
        state = status.get(name) or {}
        if state.get("status") != "connected":
            error = state.get("error")
            missing[name] = f"{state.get('status', 'absent')}{': ' + error if error else ''}"
        elif list(command) not in running:
            missing[name] = "shown connected, but its process is gone"
    return missing


def children(pid: int | None) -> list[int]:
    """The direct children of `pid` (from /proc: the kernel's children lists are often off)."""
    if pid is None:
        return []
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] not in ("Z", "X") and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def rss_bytes(pid: int | None) -> int | None:
    """Resident memory of one process, or None when it is gone."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
