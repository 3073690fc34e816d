"""GPU counts from the TRES and GRES strings Slurm 22.05 and 23.02+ write."""

from __future__ import annotations

import pytest

from mcp_servers.aiqu.backends.slurm_tres import (
    accounted_gpus,
    allocated_gpus,
    job_gpus,
    requested_gpus,
)


@pytest.mark.parametrize(
    ("tres", "gpus"),
    [
        ("", 0),
        ("gres/gpu:2", 2),  # 23.02+ --gpus=2 / --gres=gpu:2
        ("gres/gpu:a100:2", 2),  # typed
        ("gres:gpu:2", 2),  # 22.05 writes gres: rather than gres/
        ("gres:gpu:fake:1", 1),
        ("gres/gpu", 1),  # no count: one
        ("gres/gpu:a100", 1),
        ("gres/gpu:a100:2,gres/gpu:v100:1", 3),  # several requests add up
        ("gres/shard:4,gres/gpu:1", 1),  # other GRES are not GPUs
        ("gpu:fake:2(S:0-1)", 2),  # sinfo %G, with a socket binding
        ("gpu:a100:4(S:0,1),gpu:v100:2", 6),  # a binding may hold a comma
        ("(null)", 0),
    ],
)
def test_requested_gpus(tres: str, gpus: int) -> None:
    assert requested_gpus(tres) == gpus


@pytest.mark.parametrize(
    ("tres", "gpus"),
    [
        ("cpu=1,mem=500M,node=1,billing=1", None),  # accounting does not track GPUs
        ("cpu=1,mem=500M,node=1,billing=1,gres/gpu=2", 2),
        ("cpu=1,gres/gpu=2,gres/gpu:a100=2", 2),  # the typed line repeats the total
        ("cpu=1,gres/gpu:a100=2,gres/gpu:v100=1", 3),  # only typed lines: they add up
        ("cpu=1,gres/gpu=0", 0),
    ],
)
def test_allocated_gpus(tres: str, gpus: int | None) -> None:
    assert allocated_gpus(tres) == gpus


def test_accounted_gpus_from_sacct_tres_lists() -> None:
    untyped_and_typed = [
        {"type": "cpu", "name": "", "id": 1, "count": 1},
        {"type": "gres", "name": "gpu", "id": 1001, "count": 2},
        {"type": "gres", "name": "gpu:a100", "id": 1002, "count": 2},
    ]
    typed_only = [
        {"type": "gres", "name": "gpu:a100", "id": 1002, "count": 2},
        {"type": "gres", "name": "gpu:v100", "id": 1003, "count": 1},
    ]
    no_gpus = [{"type": "cpu", "name": None, "id": 1, "count": 1}]  # 22.05: name null

    assert accounted_gpus(untyped_and_typed) == 2
    assert accounted_gpus(typed_only) == 3
    assert accounted_gpus(no_gpus) is None


def test_a_jobs_gpus_prefer_the_allocation_then_per_job_then_per_node_times_nodes() -> None:
    assert job_gpus("cpu=2,gres/gpu=4", "gres/gpu:1", "gres/gpu:1", 2) == 4
    assert job_gpus("cpu=2", "gres/gpu:3", "", 2) == 3
    assert job_gpus("", "", "gres/gpu:a100:2", 3) == 6
    assert job_gpus("", "", "", 1) == 0
