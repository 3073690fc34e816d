"""Sweeps as the page shows them: each skill's sweeps with their trials, read-only,
through its plugin (`mcp_servers.registry`): the supervisor never loads a skill."""

from __future__ import annotations

from mcp_servers.registry import sweep_views as read_sweep_views

__all__ = ["read_sweep_views"]
