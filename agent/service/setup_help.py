"""What to tell a person whose machine lacks something that cannot be embedded."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.settings import Settings

EMBEDDED_NOTE = """\
Model: the embedded {title} on this machine's CPU ({threads} threads).
It is small and CPU-bound: it makes mistakes a larger model would not, and a first
turn takes minutes. For real use, point the service at a model server instead:
  MLOPS_MODEL_BASE_URL=http://127.0.0.1:8000/v1  MLOPS_MODEL=Qwen/Qwen2.5-32B-Instruct   # vLLM
  MLOPS_MODEL_BASE_URL=http://127.0.0.1:11434/v1 MLOPS_MODEL=qwen2.5:32b                 # Ollama
  MLOPS_MODEL_BASE_URL=http://127.0.0.1:8081/v1  MLOPS_MODEL=model.gguf                  # llama.cpp
(README: The model; `mlops-agent eval` measures any of them.)"""


def embedded_model_note(settings: Settings) -> str:
    from agent.model.serve import cpu_threads

    weights = settings.embedded_model
    assert weights is not None
    threads = settings.model_threads or cpu_threads()
    return EMBEDDED_NOTE.format(title=weights.title, threads=threads)


SLACK_HELP = """\
No Slack tokens are configured; the agent cannot talk to anyone yet. Set:

  SLACK_BOT_TOKEN        xoxb-…  (OAuth & Permissions → Bot User OAuth Token)
  SLACK_APP_TOKEN        xapp-…  (Basic Information → App-Level Tokens, scope connections:write;
                                  Socket Mode, the default: no public URL needed)
  MLOPS_NOTIFY_CHANNEL   the channel id for job notifications (e.g. C0123456789);
                         invite the app there: /invite @mlops-agent
  MLOPS_ALLOWED_USERS    Slack user ids allowed to talk to the agent, comma separated

To create the app: api.slack.com/apps → Create New App → From an app manifest,
paste slack/manifest.yaml from this repository, install it to the workspace.
For HTTP mode instead of Socket Mode set MLOPS_SLACK_MODE=http and
SLACK_SIGNING_SECRET, and point the app's request URL at https://<host>/slack/events."""

WEBHOOK_HELP = """\
MLOPS_WEBHOOK_SECRET is not set; a new one was generated and saved to {path}.
Give training jobs the same value (MLOPS_WEBHOOK_SECRET) so their events verify."""
