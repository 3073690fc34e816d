"""What a sweep is made of, as the model writes it: a small typed search space and limits.

The search space maps option names to one of three kinds, each turned into an
Optuna distribution:

    {"lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": true},
     "layers": {"type": "int", "low": 2, "high": 6},
     "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]}}
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ..errors import InvalidRequest
from ..params import PARAM_KEY

SWEEP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_PARAMS = 16
MAX_CHOICES = 32
Choice = str | int | float


class FloatParam(BaseModel):
    type: Literal["float"]
    low: float
    high: float
    log: bool = Field(False, description="sample on a log scale (learning rates, weight decay)")


class IntParam(BaseModel):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False


class CategoricalParam(BaseModel):
    type: Literal["categorical"]
    choices: list[Choice] = Field(min_length=1, max_length=MAX_CHOICES)


ParamSpec = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


class SweepSpec(BaseModel):
    """Stored with the sweep; everything next_trial needs to clone the base job."""

    base_job_id: str
    base_job_name: str
    objective: str
    direction: Literal["minimize", "maximize"]
    space: dict[str, ParamSpec]
    max_trials: int = Field(ge=1, le=1000)
    max_parallel: int = Field(ge=1, le=64)
    trial_time_limit_min: int = Field(ge=1, le=10080)
    fixed_params: dict[str, Choice] = Field(default_factory=dict)


def check_sweep_id(sweep_id: str) -> str:
    if not SWEEP_ID.fullmatch(sweep_id):
        raise InvalidRequest(
            f"invalid sweep id {sweep_id!r}: 1-64 letters, digits, . _ - starting with a letter"
            " or digit, e.g. 'pcb-lr-1'"
        )
    return sweep_id


def parse_space(raw: dict[str, Any]) -> dict[str, ParamSpec]:
    """Validate a search space; the error names the parameter and shows a valid example."""
    if not raw:
        raise InvalidRequest("search space is empty: give at least one parameter, " + EXAMPLE)
    if len(raw) > MAX_PARAMS:
        raise InvalidRequest(f"at most {MAX_PARAMS} parameters per sweep, got {len(raw)}")
    space: dict[str, ParamSpec] = {}
    for name, spec in raw.items():
        if not PARAM_KEY.fullmatch(name):
            raise InvalidRequest(
                f"invalid parameter name {name!r}: start with a letter or _, then letters,"
                " digits, _ . - (it becomes --name=value on the command line)"
            )
        try:
            parsed = _PARAM.validate_python(spec)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"][1:])) or "type"
            raise InvalidRequest(
                f"parameter {name!r}: {first['msg']} ({where}); {EXAMPLE}"
            ) from None
        to_distribution(name, parsed)  # range checks
        space[name] = parsed
    return space


def to_distribution(name: str, spec: ParamSpec) -> BaseDistribution:
    if isinstance(spec, CategoricalParam):
        return CategoricalDistribution(spec.choices)
    if spec.low >= spec.high:
        raise InvalidRequest(
            f"parameter {name!r}: low ({spec.low}) must be below high ({spec.high})"
        )
    if spec.log and spec.low <= 0:
        raise InvalidRequest(f"parameter {name!r}: a log scale needs low > 0, got {spec.low}")
    if isinstance(spec, FloatParam):
        return FloatDistribution(spec.low, spec.high, log=spec.log)
    return IntDistribution(spec.low, spec.high, log=spec.log)


def distributions(space: dict[str, ParamSpec]) -> dict[str, BaseDistribution]:
    return {name: to_distribution(name, spec) for name, spec in space.items()}


EXAMPLE = (
    'e.g. {"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": true},'
    ' "layers": {"type": "int", "low": 2, "high": 6},'
    ' "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]}}'
)

_PARAM: TypeAdapter[ParamSpec] = TypeAdapter(ParamSpec)
