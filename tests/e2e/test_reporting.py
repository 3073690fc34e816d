"""Issue 5 end to end: training code reports to the running service, not to a stand-in.

A real tiny Lightning run with `MlopsCallback` posts to the real service's
webhook; its events land in the inbox in order and reach the model as turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agent.service import Service
from mlops_reporter import Reporter
from mlops_reporter.lightning import MlopsCallback
from tests.e2e.harness import eventually, job_events, prompts, service_settings
from tests.fakes.model import Reply, ScriptedModel
from tests.fakes.slack import FakeSlack
from tests.reporter.test_lightning import TinyRegression, fit

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
    pytest.mark.filterwarnings("ignore:The `srun` command is available"),
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(
    tmp_path_factory: pytest.TempPathFactory, model: ScriptedModel, slack: FakeSlack
) -> AsyncIterator[Service]:
    svc = Service(service_settings(tmp_path_factory.mktemp("state"), model.base_url, slack.api_url))
    await svc.start()
    yield svc
    await svc.stop()


def reporter_for(service: Service, job: str, spool: Path) -> Reporter:
    return Reporter(job=job, url=service.url, secret=service.secret, spool_dir=spool)


async def test_lightning_run_reports_to_the_service(
    service: Service, model: ScriptedModel, tmp_path: Path
) -> None:
    model.default_reply = Reply.text("<silent/>")
    reporter = reporter_for(service, "cust-t/lightning", tmp_path / "spool")
    await asyncio.to_thread(fit, TinyRegression(), MlopsCallback(reporter), tmp_path)
    assert await asyncio.to_thread(reporter.flush, 10.0)
    events = await eventually(
        lambda: (
            len(job_events(service.state_dir, "cust-t/lightning")) == 5
            and job_events(service.state_dir, "cust-t/lightning")
        )
    )
    assert [e["type"] for e in events] == ["started", "epoch", "epoch", "epoch", "finished"]
    assert "val_loss" in events[-1]["metrics"]
    await eventually(lambda: "event finished" in prompts(model))
    assert "job=cust-t/lightning" in prompts(model)
    model.default_reply = Reply.text("ok")


async def test_crashing_run_reports_its_traceback_to_the_service(
    service: Service, model: ScriptedModel, tmp_path: Path
) -> None:
    model.reset()
    model.default_reply = Reply.text("<silent/>")
    reporter = reporter_for(service, "cust-t/crashing", tmp_path / "spool")
    with pytest.raises(RuntimeError, match="illegal memory access"):
        await asyncio.to_thread(
            fit, TinyRegression(fail_at_epoch=2), MlopsCallback(reporter), tmp_path
        )
    assert await asyncio.to_thread(reporter.flush, 10.0)
    events = await eventually(
        lambda: (
            len(job_events(service.state_dir, "cust-t/crashing")) == 3
            and job_events(service.state_dir, "cust-t/crashing")
        )
    )
    assert [e["type"] for e in events] == ["started", "epoch", "crashed"]
    assert "illegal memory access" in events[2]["traceback"]
    await eventually(lambda: "event crashed" in prompts(model))
    assert "illegal memory access" in prompts(model)
    model.default_reply = Reply.text("ok")
