"""The end-to-end fixtures (one scripted model, one fake Slack per module) for the replays."""

from tests.e2e.conftest import model, slack

__all__ = ["model", "slack"]
