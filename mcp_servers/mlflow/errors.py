"""The mlflow skill's exceptions, and how each reads as a tool error.

MlflowSkillError          a request the skill refuses; the message says what would be valid
MlflowException (MLflow)  the server failed or rejected a call: reported, cut to a few lines
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException

MESSAGE_CHARS = 400


class MlflowSkillError(Exception):
    pass


ERRORS = (MlflowSkillError, MlflowException)


def tool_message(exc: Exception) -> str:
    if isinstance(exc, MlflowException):
        return f"MLflow failed: {exc.message[:MESSAGE_CHARS]}"
    return str(exc)
