"""The skills opencode runs: all started with opencode, checked at each turn's start, and
each one found dead restarted (`liveness` says which are missing)."""

from __future__ import annotations

import logging
import time

from agent import metrics
from agent.opencode.client import OpencodeClient
from agent.opencode.errors import OpencodeError
from agent.opencode.liveness import missing_skills
from agent.opencode.process import OpencodeProcess

# The runtime's logger: its log lines read as they did before it was split into parts.
log = logging.getLogger("agent.opencode.runtime")

# The first `GET /mcp` starts every skill and waits for each up to its own start timeout.
_SKILLS_START_S = 90.0


class SkillKeeper:
    def __init__(self, commands: dict[str, list[str]], process: OpencodeProcess) -> None:
        self.commands = commands  # {name: command} of each skill opencode runs
        self._process = process  # whose children the skills' processes are

    async def start_all(self, client: OpencodeClient) -> None:
        """Start every skill now, not lazily inside the first turn, and check each one."""
        began = time.monotonic()
        try:
            status = await client.mcp_status(timeout=_SKILLS_START_S)
        except OpencodeError as exc:
            log.error("could not start the skills: %s", exc)
            return
        for name, why in missing_skills(status, self.commands, self._process.pid).items():
            if not await self._reconnect(client, name, why):
                log.error("skill %s did not start: %s", name, why)
        log.info("skills up in %.1f s: %s", time.monotonic() - began, ", ".join(self.commands))

    async def restart_missing(self, client: OpencodeClient) -> list[str]:
        """Restart each skill not connected with a live process; a note per one still missing."""
        try:
            status = await client.mcp_status()
        except OpencodeError as exc:
            log.warning("could not read the skills' status: %s", exc)
            return []  # opencode itself is in trouble: the turn meets that on its own
        notes = []
        for name, why in missing_skills(status, self.commands, self._process.pid).items():
            log.warning("skill %s is not connected (%s); restarting it before the turn", name, why)
            if not await self._reconnect(client, name, why):
                notes.append(f"skill {name} is unavailable ({why}); its tools are not in this turn")
        return notes

    async def all_connected(self, client: OpencodeClient) -> bool:
        """Every skill connected with a live process (asked with a short timeout)."""
        try:
            status = await client.mcp_status(timeout=2.0)
        except OpencodeError:
            return False
        return not missing_skills(status, self.commands, self._process.pid)

    async def _reconnect(self, client: OpencodeClient, name: str, why: str) -> bool:
        """Restart one skill; True when it is connected with a live process afterwards."""
        try:
            await client.mcp_connect(name)
            status = await client.mcp_status()
        except OpencodeError as exc:
            log.error("restarting skill %s failed: %s", name, exc)
            ok = False
        else:
            only = {name: self.commands[name]}
            ok = name not in missing_skills(status, only, self._process.pid)
        metrics.SKILL_RECONNECTS.labels(skill=name, outcome="ok" if ok else "failed").inc()
        return ok
