"""Chat bridges: how the service talks to people (Slack today; a local web chat could follow)."""
