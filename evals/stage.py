"""One eval service: the real `Service`, its fixture world and the recording chat bridge.

Started once and shared by every scenario run it serves: opencode, the skills
and the service take seconds to start, a scenario's setup a fraction of one.
The model endpoint is the recording proxy; everything else is the product's
own configuration, pointed at this stage's fixtures.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

from agent.service import Service
from agent.settings import Settings, new_webhook_secret
from core.clock import Clock
from evals.bridge import RecordingBridge
from evals.cast import ALLOWED_USERS, NOTIFY_CHANNEL, SCHEDULER_GPUS
from evals.errors import EvalError
from evals.observe import ServiceRecords
from evals.proxy import RecordingProxy
from evals.webhook import post_events
from evals.world import World
from evals.world.world import LIMITS

log = logging.getLogger(__name__)
WARM_UP_ATTEMPTS = 3
QUIET_HOURS = "22:00-06:00"  # UTC, on the scenario clock


@dataclass(frozen=True)
class ModelTarget:
    """The endpoint under evaluation, as the service's settings would name it."""

    base_url: str
    model: str
    api_key: str = "none"
    context: int = 32768
    max_output: int = 4096


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stage:
    def __init__(
        self,
        root: Path,
        *,
        proxy_url: str,
        target: ModelTarget,
        brief_dir: Path,
        repos: dict[str, tuple[str, ...]],
        tracking_uri: str,
        turn_timeout_s: float,
        opencode_bin: Path | None = None,
    ) -> None:
        self.root = root
        # The stage's scenario time: its service, skills and fixtures all read it.
        self.clock = Clock(root / "clock")
        self.world = World(root, repos, tracking_uri, self.clock)
        self.proxy_url = proxy_url
        self.target = target
        self.brief_dir = brief_dir
        self.turn_timeout_s = turn_timeout_s
        self.opencode_bin = opencode_bin
        self.bridge = RecordingBridge()
        self.service: Service | None = None
        self.records = ServiceRecords(self.world.state_dir)
        self._runs = itertools.count(1)
        self.last_digest: float | None = None  # the service keeps one digest per date

    def next_tag(self, prefix: str) -> str:
        return f"{prefix}{next(self._runs)}"

    def settings(self) -> Settings:
        t = self.target
        return Settings(  # type: ignore[call-arg]
            _env_file=None,
            state_dir=self.world.state_dir,
            model_base_url=self.proxy_url,
            model=t.model,
            model_api_key=t.api_key,
            model_context=t.context,
            model_max_output=t.max_output,
            webhook_secret=new_webhook_secret(),
            host="127.0.0.1",
            port=free_port(),
            brief_dir=self.brief_dir,
            allowed_users=ALLOWED_USERS,
            notify_channel=NOTIFY_CHANNEL,
            # The recording bridge is the chat: the operator's own chat and routes stay out.
            chat=None,
            slack_bot_token=None,
            routes=None,
            web="off",  # no page of its own either: nothing to sign in to during an eval
            scheduler="local",
            local_gpus=SCHEDULER_GPUS,
            mlflow_tracking_uri=self.world.tracking_uri,
            datasets_root=self.world.datasets_root,
            git_repos=self.world.git_repos,
            agent_max_jobs=LIMITS.max_jobs,
            agent_gpu_hours=LIMITS.max_gpu_hours,
            agent_default_time_limit_min=LIMITS.default_time_limit_min,
            # Ticks, the digest and scheduler watch passes come from the timeline only.
            tick_interval_s=None,
            watch_interval_s=None,
            digest_time=None,
            timezone="UTC",
            # A scenario whose clock says night (`clock.start: "23:00"`) meets them.
            quiet_hours=QUIET_HOURS,
            # One turn at a time: what a step posted is what its turns posted.
            max_concurrent_turns=1,
            turn_timeout_s=self.turn_timeout_s,
            opencode_bin=self.opencode_bin,
        )

    async def start(self) -> None:
        await asyncio.to_thread(self.world.open)
        self.service = Service(self.settings(), chat=self.bridge, clock=self.clock)
        await self.service.start()

    async def stop(self) -> None:
        self.records.close()
        if self.service is not None:
            await self.service.stop()
            self.service = None
        await asyncio.to_thread(self.world.close)

    @property
    def skills(self) -> tuple[str, ...]:
        """The skills whose tools the model must be offered (git only with a repo)."""
        return ("aiqu", "mlflow", "datasets") + (("git",) if self.world.repos else ())

    async def warm_up(self, proxy: RecordingProxy, timeout_s: float) -> None:
        """One turn before any scenario: opencode starts the skills at its first turn,
        and a skill that is slow to start is left out of that turn. Its cost stays out
        of every scenario's numbers, and a skill that never comes up is an error.

        opencode gives a skill 30 s to start (the service's MCP timeout); on a loaded
        machine the mlflow skill's imports alone can take longer, so a stage whose
        first turn missed a skill is restarted and tried again."""
        missing: list[str] = []
        for attempt in range(WARM_UP_ATTEMPTS):
            assert self.service is not None
            first = len(proxy.calls)
            event = {"type": "eval_warmup", "job": f"eval/warmup-{self.next_tag('w')}"}
            await post_events(self.service.url, self.service.secret, [event])
            if not await self.records.settled(timeout_s):
                raise EvalError(
                    f"the model endpoint did not answer a first turn in {timeout_s:.0f} s"
                )
            if len(proxy.calls) == first:
                raise EvalError("the warm-up turn never reached the model endpoint")
            offered = proxy.calls[-1].tools
            missing = [s for s in self.skills if not any(t.startswith(s + "_") for t in offered)]
            if not missing:
                return
            if attempt + 1 < WARM_UP_ATTEMPTS:
                log.warning("skills %s missed the first turn; restarting the service", missing)
                await self.restart()
        opencode_log = self.world.state_dir / "opencode/data/opencode/log/opencode.log"
        raise EvalError(
            f"the tools of {', '.join(missing)} never reached the model: opencode could not start"
            f" those skills in time (a busy machine?); see {opencode_log}"
        )

    async def restart(self) -> None:
        """A service left busy by a run gets a fresh start before the next one."""
        if self.service is not None:
            await self.service.stop()
        self.records.close()
        self.service = Service(self.settings(), chat=self.bridge, clock=self.clock)
        await self.service.start()
