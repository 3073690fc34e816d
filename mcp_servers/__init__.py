"""The skills: one MCP server per external system, each a plugin of the same shape.

plugin.py    `SKILL`: what the skill declares (`mcp_servers.plugin.Skill`): its settings,
             its server, its health check, its gated writes, what it lets the supervisor
             read; listed once in `registry.py`, served by `python -m mcp_servers <name>`
settings.py  its own settings, read from the skill environment with `core.skill_env`'s
             parsers
skill.py     the injected client every tool takes first, and its `from_env`
<topic>.py   the tools: plain functions whose `Annotated` parameters and docstring
             are what the model reads (params.py: parameter types they share)
errors.py    the skill's exception tree, and `ERRORS`: what becomes a tool error
server.py    registration only, through `tooling.register`
health.py    `check(env)`: what `mlops-agent doctor` reports for it
"""
