"""Prometheus metrics, exposed at `GET /metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

EVENTS_ACCEPTED = Counter("mlops_events_accepted", "Training events persisted to the inbox")
EVENTS_REJECTED = Counter(
    "mlops_events_rejected", "Training events refused at the webhook", ["reason"]
)
CHAT_IGNORED = Counter("mlops_chat_ignored", "Chat messages dropped before any model call", ["why"])
INBOX_DEPTH = Gauge("mlops_inbox_depth", "Inbox items not yet done")
TURNS = Counter("mlops_turns", "Finished turns by outcome and reason", ["outcome", "reason"])
TURN_LATENCY = Histogram(
    "mlops_turn_seconds",
    "Turn duration, leasing to reply posted",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
REPLY_POST_RETRIES = Counter(
    "mlops_reply_post_retries", "Posts of a reply tried again (the model is not asked again)"
)
MODEL_ERRORS = Counter("mlops_model_errors", "Turns that ended with a model error")
OPENCODE_RESTARTS = Counter(
    "mlops_opencode_restarts",
    "opencode restarts: exited (crashed), memory (over MLOPS_OPENCODE_MAX_RSS_MB), brief (edited)",
    ["reason"],
)
OPENCODE_RSS = Gauge(
    "mlops_opencode_rss_bytes", "opencode's resident memory at the last turn start"
)
SKILL_RECONNECTS = Counter(
    "mlops_skill_reconnects",
    "Skills found disconnected at a turn start and restarted, by outcome",
    ["skill", "outcome"],
)
BRIEF = Info("mlops_brief", "The brief the agent runs with (sha256 of brief/*.md)")
MODEL_REPAIRED_CALLS = Counter(
    "mlops_model_repaired_calls",
    "Tool calls the model wrote as text, passed on as real calls (MLOPS_MODEL_TOOL_TEXT=repair)",
)
MODEL_REPEATS_STOPPED = Counter(
    "mlops_model_repeats_stopped", "Turns stopped because the model repeated a failing tool call"
)
