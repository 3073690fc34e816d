"""The compact results the tools return (they become MCP structured content)."""

from __future__ import annotations

from pydantic import BaseModel, Field

# A metric value: a number with six significant digits, or "nan" / "inf" / "-inf".
Value = float | str


class RunRow(BaseModel):
    run_id: str
    run_name: str
    job: str | None = Field(None, description="mlops.job tag: the logical job name")
    experiment: str
    status: str
    started: str | None = Field(None, description="UTC, ISO 8601")
    duration_s: float | None = None
    metrics: dict[str, Value] = Field(default_factory=dict, description="latest values")


class SearchRunsResult(BaseModel):
    runs: list[RunRow]
    more: bool = Field(description="more runs matched than the limit returned")


class RunDetail(RunRow):
    ended: str | None = None
    params: dict[str, str]
    tags: dict[str, str] = Field(description="user tags; mlflow.* system tags left out")


class Point(BaseModel):
    step: int
    value: Value


class MetricSummary(BaseModel):
    run_id: str
    run_name: str
    metric: str
    goal: str
    points: int
    non_finite_points: int
    first: Point
    last: Point
    best: Point | None = Field(description="lowest (goal=min) or highest (goal=max) finite value")
    steps_since_best: int | None
    window_steps: int
    change_over_window: float | None = Field(
        description="last value minus the value window_steps before the last step"
    )
    window_improvement: float | None = Field(
        description="relative improvement of the best value inside the window over the best "
        "before it: 0.05 = 5% better; 0 or below = no new best in the window"
    )


class RunRef(BaseModel):
    run_id: str
    run_name: str
    job: str | None = None
    status: str


class Comparison(BaseModel):
    runs: list[RunRef]
    params_differing: dict[str, list[str | None]] = Field(
        description="param -> value per run, in the order of `runs` (null: not set)"
    )
    params_identical: int = Field(description="how many params all runs share unchanged")
    metrics: dict[str, list[Value | None]] = Field(
        description="metric -> latest value per run, in the order of `runs`"
    )


class Plot(BaseModel):
    attachment_path: str = Field(description="absolute path of the PNG; the chat uploads it")
    runs: list[str]
    metrics: list[str]
    points: int = Field(description="points drawn in total")
