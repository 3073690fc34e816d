"""The service's own web page: threads, proposal cards, the audit trail and sweeps.

It is the chat when no other is configured (`MLOPS_CHAT=web`), and runs beside
Slack or Matrix otherwise (`MLOPS_WEB=on`), showing the transcript of every
thread. Its people are `web:<name>` everywhere the service records a person.

Modules: `accounts` (users and password hashes), `bridge` (the `ChatBridge`),
`sessions` (sign-in, CSRF, one-time links, throttling), `timeline` (a thread as
the page shows it), `sweeps` (sweeps read-only), `markup` (Markdown and
filters), `page` and `routes` (the Starlette app).
"""

WEB_CHANNEL = "web"  # the channel of the threads the page itself carries
WEB_USER_PREFIX = "web:"  # how a web user's name is recorded: web:<name>


def web_user(name: str) -> str:
    return WEB_USER_PREFIX + name
