"""What to tell a person whose machine lacks something that cannot be embedded."""

from __future__ import annotations

MODEL_HELP = """\
No model endpoint is configured. Set both:

  MLOPS_MODEL_BASE_URL   the OpenAI-compatible base URL (ending in /v1)
  MLOPS_MODEL            the model id served there

Examples (put them in .env or export them):

  # vLLM:   vllm serve Qwen/Qwen2.5-32B-Instruct --enable-auto-tool-choice --tool-call-parser hermes
  MLOPS_MODEL_BASE_URL=http://127.0.0.1:8000/v1
  MLOPS_MODEL=Qwen/Qwen2.5-32B-Instruct

  # Ollama: ollama serve; ollama pull qwen2.5:32b
  MLOPS_MODEL_BASE_URL=http://127.0.0.1:11434/v1
  MLOPS_MODEL=qwen2.5:32b

  # llama.cpp server: llama-server -m model.gguf --jinja --port 8081
  MLOPS_MODEL_BASE_URL=http://127.0.0.1:8081/v1
  MLOPS_MODEL=model.gguf

The model must support tool calling over the streaming chat-completions API.
Set MLOPS_MODEL_API_KEY if the endpoint wants one, and MLOPS_MODEL_CONTEXT to
its real context length (default 32768)."""

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
