"""Which webhook secret a job signs its events with: its route's own, else the site's.

A route may name a `secret_file` (`core.routes`): its jobs get that secret in
`MLOPS_WEBHOOK_SECRET` when the scheduler starts them, and the webhook accepts
an event for one of its jobs only when it is signed with it. Everything else,
and every job of a site without route secrets, uses `MLOPS_WEBHOOK_SECRET`.
`job_webhook_secret` is the one place that decides it: the intake, the job
environment a scheduler skill builds and any other starter of jobs ask it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from core.routes import Routes


def job_webhook_secret(
    routes: Routes,
    site_secret: str | None,
    job: str,
    labels: Mapping[str, str] | None = None,
    sweep_base_job: Callable[[str], str | None] = lambda _: None,
) -> str | None:
    """The secret `job` (with `labels`) signs with: its route's, else `site_secret`."""
    return routes.for_job_labels(job, labels, sweep_base_job).secret or site_secret


def all_secrets(routes: Routes, site_secret: str | None) -> list[str]:
    """Every secret an event may be signed with on this site."""
    found = [r.secret for r in routes.routes if r.secret]
    return found + ([site_secret] if site_secret else [])
