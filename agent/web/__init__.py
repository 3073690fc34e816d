"""The service's own web page: threads, proposal cards, the audit trail and sweeps.

It is the chat when no other is configured (`MLOPS_CHAT=web`), and runs beside
Slack or Matrix otherwise (`MLOPS_WEB=on`), showing the transcript of every
thread. Its people are `agent.accounts`'s (`web:<name>` wherever recorded).

Modules: `bridge` (the `ChatBridge`), `sessions` (sign-in, CSRF, one-time links),
`throttle`, `guard` (sessions, CSRF, headers), `visibility` (who sees which thread),
`timeline` (a thread as the page shows it), `markup` (Markdown and filters), `state`
(what every endpoint reads), `routes` and `auth_routes` (the endpoints), `page` (the
Starlette app), `command` (`mlops-agent web-user`).
"""

WEB_CHANNEL = "web"  # the channel of the threads the page itself carries
