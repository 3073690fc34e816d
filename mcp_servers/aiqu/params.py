"""What the model passes to the aiqu tools: each parameter described only where its
name and type leave the model guessing."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema

from mcp_servers.compact import INTEGER

# An option name: it cannot start with '-', so `--{key}=` can never become a different flag.
# (Checked for a job's parameters, actions.py, and a sweep's search space, sweeps/spec.py.)
PARAM_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")

JobRef = str  # an id, or a name (its latest attempt)
Rows = Annotated[int, Field(ge=1, le=200), INTEGER]
StateFilter = Literal[
    "active", "finished", "pending", "starting", "running", "succeeded", "failed", "cancelled"
]
# A --key=value parameter's value. JSON's "number" covers int and float, so the model
# reads one short type list; validation still keeps 20 an int and 0.1 a float.
ParamValue = Annotated[str | int | float, WithJsonSchema({"type": ["string", "number"]})]
Gpus = Annotated[int, Field(ge=0, le=64), INTEGER]
Minutes = Annotated[int, Field(ge=1, le=10080), INTEGER]  # up to a week
TurnId = str | None  # the brief says whose: this turn's
