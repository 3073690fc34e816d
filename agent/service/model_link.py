"""The service's way to its model: MLOPS_MODEL_BASE_URL, or the embedded model it runs as a
child, behind the model path (agent.model.path) that every turn's request goes through."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from agent.model.embedded import EmbeddedModel
from agent.model.path import ModelPath
from agent.model.serve import cpu_threads
from agent.settings import Settings

log = logging.getLogger("agent.service")  # the service's own lines, as before the split


def embedded_model(settings: Settings) -> EmbeddedModel | None:
    """The embedded model the settings ask for (None: they name an endpoint): one slot
    per turn the service runs at once, each with the context a turn may use."""
    weights = settings.embedded_model
    if weights is None:
        return None
    return EmbeddedModel(
        weights,
        settings.model_dir,
        state_dir=settings.state_dir,
        context=settings.resolved_model_context,
        slots=settings.resolved_max_concurrent_turns,
        threads=settings.model_threads or cpu_threads(),
    )


class ModelLink:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The model endpoint: MLOPS_MODEL_BASE_URL, or the embedded model's once it runs.
        self.url: str = settings.model_base_url or "(the embedded model)"
        self.embedded: EmbeddedModel | None = None
        self.path: ModelPath | None = None

    async def spawn(self) -> None:
        """Start the embedded model, when it is the one; it loads while the rest starts."""
        self.embedded = embedded_model(self.settings)
        if self.embedded is not None:
            await self.embedded.spawn()

    async def start_path(self) -> str:
        """The embedded model ready (when it is the one), and the model path in front of the
        endpoint; returns the model id opencode asks for."""
        s = self.settings
        if self.embedded is not None:
            await self.embedded.ready()
            self.url, model_id = self.embedded.url, self.embedded.model_id
        else:
            assert s.model
            model_id = s.model
        self.path = ModelPath(
            self.url,
            api_key=s.model_api_key,
            repair_tool_text=s.repair_tool_text,
            read_timeout_s=s.resolved_turn_timeout_s + 60.0,
        )
        await self.path.start()
        return model_id

    async def prefill(self, body: dict[str, Any]) -> None:
        """One request with every turn's system prompt and tools, and one output token: the
        model's prompt cache holds them when the first turn comes."""
        assert self.path is not None and self.embedded is not None
        request = {
            **body,
            "model": self.embedded.model_id,
            "messages": [m for m in body.get("messages", []) if m.get("role") == "system"]
            + [{"role": "user", "content": "."}],
            "stream": False,
            "max_tokens": 1,
        }
        request.pop("stream_options", None)
        began = time.monotonic()
        timeout = httpx.Timeout(self.settings.resolved_turn_timeout_s, connect=5.0)
        try:
            async with httpx.AsyncClient(timeout=timeout) as http:
                response = await http.post(f"{self.path.url}/chat/completions", json=request)
        except httpx.HTTPError as exc:
            log.warning("the embedded model did not read the prompt ahead (%r)", exc)
            return
        log.info(
            "the embedded model read the prompt ahead of the first turn in %.0f s (%s)",
            time.monotonic() - began,
            response.status_code,
        )
