"""The skills: one MCP server per external system, each package the same shape.

skill.py     the injected client every tool takes first, and its `from_env`
<topic>.py   the tools: plain functions whose `Annotated` parameters and docstring
             are what the model reads (params.py: parameter types they share)
errors.py    the skill's exception tree, and `ERRORS`: what becomes a tool error
server.py    registration only, through `tooling.register`
__main__.py  `main()`: reads `core.skill_env.SkillEnvironment` once, serves stdio
health.py    `check(env)`: the one way in for `mlops-agent doctor`
"""
