"""The one exception the datasets skill raises; the MCP layer turns it into a ToolError."""

from __future__ import annotations


class DatasetError(Exception):
    """A request could not be served; the message says what would be valid."""
