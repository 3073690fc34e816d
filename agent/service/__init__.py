"""The composition root: `compose` builds the service from the wings, `lifecycle.Service`
starts and stops it; beside them the processes it runs (MLflow, the skills' environment)
and its HTTP surface (`app`, `front`)."""

from agent.service.lifecycle import Service, webhook_secret

__all__ = ["Service", "webhook_secret"]
