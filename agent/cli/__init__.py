"""`mlops-agent`: the commands (`main`), their plugins (`plugins`: e.g. `eval`), and the
ones that are more than a call into the service (`doctor`, `submit`)."""

from agent.cli.main import main

__all__ = ["main"]
