"""The one exception the datasets skill raises; the MCP boundary turns it into a tool error."""

from __future__ import annotations


class DatasetError(Exception):
    """A request could not be served; the message says what would be valid."""


# What the server reports to the model as a tool error.
ERRORS = (DatasetError,)
