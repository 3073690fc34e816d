"""The harness's errors, turned into a message and an exit code only by the CLI.

EvalError            anything the person running an eval must fix
 ├── ScenarioError   a scenario file is invalid: every line says file:line: what
 └── SetupError      a scenario's fixtures could not be built (a job did not start…)
"""

from __future__ import annotations


class EvalError(Exception):
    pass


class ScenarioError(EvalError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class SetupError(EvalError):
    pass
