"""A run's own names: every job and sweep of the scenario renamed, nothing else."""

from __future__ import annotations

from evals.namespace import Namespace
from evals.scenario import Scenario


def test_a_runs_names_never_leak_into_longer_names() -> None:
    scenario = Scenario.model_validate(
        {
            "id": "x",
            "title": "x",
            "tags": ["notify", "easy"],
            "timeline": [
                {"event": {"type": "epoch", "job": "team/pcb"}, "expect": {"speak": False}},
                {"event": {"type": "epoch", "job": "team/pcb-large"}, "expect": {"speak": False}},
            ],
        }
    )
    ns = Namespace.for_run(scenario, "e7")
    assert ns.text("team/pcb and team/pcb-large; not team/pcb2 or x-team/pcb.") == (
        "team/pcb-e7 and team/pcb-large-e7; not team/pcb2 or x-team/pcb."
    )
    assert ns.deep({"job": "team/pcb", "labels": ["team/pcb-large"]}) == {
        "job": "team/pcb-e7",
        "labels": ["team/pcb-large-e7"],
    }
