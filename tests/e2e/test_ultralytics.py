"""Issue 13: a real tiny Ultralytics YOLO training reports to the running service.

Each training is a subprocess of the separate Ultralytics venv (`make install-yolo`),
with `add_callbacks(model)` from the reporter installed there by `pip install .`; its
events land in the real service's inbox, in order, and reach the model as turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agent.service import Service
from tests.e2e.harness import eventually, job_events, prompts, service_settings
from tests.fakes.model import Reply, ScriptedModel
from tests.fakes.slack import FakeSlack
from tests.yolo import venv

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

EPOCH_METRICS = {
    "metrics/mAP50(B)",
    "metrics/mAP50-95(B)",
    "metrics/precision(B)",
    "metrics/recall(B)",
    "val/box_loss",
    "val/cls_loss",
    "train/box_loss",
    "train/cls_loss",
    "fitness",
    "best_fitness",
    "lr/pg0",
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(
    tmp_path_factory: pytest.TempPathFactory, model: ScriptedModel, slack: FakeSlack
) -> AsyncIterator[Service]:
    venv.require_venv()
    svc = Service(service_settings(tmp_path_factory.mktemp("state"), model.base_url, slack.api_url))
    await svc.start()
    yield svc
    await svc.stop()


async def train(service: Service, tmp_path: Path, job: str, data: Path, *args: str):
    env = venv.offline_env(
        tmp_path,
        MLOPS_URL=service.url,
        MLOPS_WEBHOOK_SECRET=service.secret,
        MLOPS_JOB=job,
        MLOPS_OWNER="ann",
        MLOPS_SPOOL_DIR=str(tmp_path / "spool"),
    )
    return await asyncio.to_thread(venv.train, data, tmp_path, env, *args)


async def events_of(service: Service, job: str, count: int) -> list[dict]:
    def arrived() -> list[dict] | None:
        events = job_events(service.state_dir, job)
        return events if len(events) >= count else None

    return await eventually(arrived)


async def test_a_tiny_yolo_run_reports_started_epochs_final_validation_finished(
    service: Service, model: ScriptedModel, tmp_path: Path
) -> None:
    model.default_reply = Reply.text("<silent/>")
    data = venv.write_dataset(tmp_path / "dataset")
    result = await train(service, tmp_path, "cust-y/yolo", data)
    assert result.returncode == 0, result.stderr[-3000:]

    events = await events_of(service, "cust-y/yolo", 5)
    assert [e["type"] for e in events] == [
        "started",
        "epoch",
        "epoch",
        "final_validation",
        "finished",
    ]
    assert {e["owner"] for e in events} == {"ann"}
    started, first, second, final, finished = events
    assert {k: started[k] for k in ("max_epochs", "imgsz", "batch", "model", "device")} == {
        "max_epochs": 2,
        "imgsz": 64,
        "batch": 4,
        "model": "yolov8n.yaml",
        "device": "cpu",
    }
    assert (started["data"], started["task"]) == (str(data), "detect")
    for number, epoch in enumerate((first, second), 1):
        assert (epoch["epoch"], epoch["total"]) == (number, 2)  # 1-based, not Ultralytics' 0
        assert set(epoch["metrics"]) >= EPOCH_METRICS
        assert all(type(v) is float for v in epoch["metrics"].values())
    # The final check of best.pt has no losses of its own and is no third epoch.
    assert final["epochs"] == 2 and "epoch" not in final
    assert final["weights"].endswith("weights/best.pt")
    assert "metrics/mAP50-95(B)" in final["metrics"]
    assert not any(k.startswith(("val/", "train/")) for k in final["metrics"])
    assert (finished["epochs"], finished["total"]) == (2, 2)
    assert finished["best_weights"] == final["weights"] and Path(final["weights"]).is_file()
    assert type(finished["best_fitness"]) is float

    await eventually(lambda: "event finished" in prompts(model))
    assert "event final_validation" in prompts(model)
    model.default_reply = Reply.text("ok")


async def test_a_yolo_run_that_raises_in_epoch_1_reports_crashed_with_the_traceback(
    service: Service, model: ScriptedModel, tmp_path: Path
) -> None:
    model.reset()
    model.default_reply = Reply.text("<silent/>")
    data = venv.write_dataset(tmp_path / "dataset")
    result = await train(service, tmp_path, "cust-y/crash", data, "--fail-in-epoch", "1")
    assert result.returncode == 1
    assert "illegal memory access" in result.stderr  # the script's own traceback still prints

    events = await events_of(service, "cust-y/crash", 3)
    assert [e["type"] for e in events] == ["started", "epoch", "crashed"]
    crash = events[2]
    # Ultralytics' epoch 1 is the second: one epoch done, the crash in epoch 2 of 2.
    assert (events[1]["epoch"], crash["epoch"]) == (1, 2)
    assert crash["exception"] == "RuntimeError"
    assert "illegal memory access" in crash["message"]
    assert 'tiny_train.py", line' in crash["traceback"] and "in fail" in crash["traceback"]
    await eventually(lambda: "event crashed" in prompts(model))
    model.default_reply = Reply.text("ok")


async def test_a_bad_data_yaml_reports_crashed(
    service: Service, model: ScriptedModel, tmp_path: Path
) -> None:
    model.default_reply = Reply.text("<silent/>")
    data = tmp_path / "data.yaml"
    data.write_text(
        f"path: {tmp_path / 'nowhere'}\ntrain: images/train\nval: images/val\nnames: [a]\n"
    )
    result = await train(service, tmp_path, "cust-y/bad-data", data)
    assert result.returncode == 1

    events = await events_of(service, "cust-y/bad-data", 2)
    assert [e["type"] for e in events] == ["started", "crashed"]
    crash = events[1]
    assert "epoch" not in crash  # raised while the trainer was built, before any epoch
    assert str(tmp_path / "nowhere") in crash["message"]
    model.default_reply = Reply.text("ok")
