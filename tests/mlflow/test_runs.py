"""search_runs, get_run and compare_runs as plain functions against the real server."""

from __future__ import annotations

import pytest

from mcp_servers.mlflow.errors import MlflowSkillError
from mcp_servers.mlflow.models import SearchRunsResult
from mcp_servers.mlflow.runs import compare_runs, get_run, search_runs
from mcp_servers.mlflow.skill import MlflowSkill


def names(result: SearchRunsResult) -> list[str]:
    return [r.run_name for r in result.runs]


def test_search_by_job_tag_returns_that_jobs_runs_newest_first(skill: MlflowSkill) -> None:
    result = search_runs(skill, job="customer-b/pcb-inspect-v2")
    assert names(result) == ["pcb-lr-1e-2", "pcb-lr-1e-3"]
    assert {r.job for r in result.runs} == {"customer-b/pcb-inspect-v2"}
    assert result.more is False


def test_search_by_run_name_finds_runs_without_a_job_tag(skill: MlflowSkill) -> None:
    result = search_runs(skill, job="adhoc-notebook")
    assert names(result) == ["adhoc-notebook"]
    assert result.runs[0].job is None
    assert result.runs[0].experiment == "Default"


def test_search_spans_experiments_and_limit_reports_more(skill: MlflowSkill) -> None:
    everything = search_runs(skill, limit=100)
    assert {r.experiment for r in everything.runs} == {"pcb-inspect", "segmentation", "Default"}
    assert len(everything.runs) == 5
    two = search_runs(skill, limit=2)
    assert len(two.runs) == 2 and two.more is True


def test_search_orders_by_metric_against_newest_first(skill: MlflowSkill) -> None:
    # Newest first would be [pcb-lr-1e-2, pcb-lr-1e-3]; each order below is the reverse.
    # Final values: pcb-lr-1e-3 val_loss 0.2, val_acc 0.9; pcb-lr-1e-2 0.147, 0.926.
    # A job filter merges tag and run-name matches, so it sorts itself.
    job = "customer-b/pcb-inspect-v2"
    by_loss = search_runs(skill, job=job, order_by_metric="val_loss", order="desc")
    assert names(by_loss) == ["pcb-lr-1e-3", "pcb-lr-1e-2"]
    assert by_loss.runs[0].metrics == {"val_loss": 0.2}
    by_acc = search_runs(skill, job=job, order_by_metric="val_acc")
    assert names(by_acc) == ["pcb-lr-1e-3", "pcb-lr-1e-2"]
    assert names(search_runs(skill, order_by_metric="val_acc", order="desc", limit=1)) == [
        "pcb-lr-1e-2"
    ]


def test_search_filters_by_status_and_shows_the_metrics_asked_for(skill: MlflowSkill) -> None:
    assert names(search_runs(skill, status="failed")) == ["seg-diverged"]
    found = search_runs(skill, job="customer-a/defect-seg", metrics=["train_loss"])
    assert "seg-long" in names(found)
    long = next(r for r in found.runs if r.run_name == "seg-long")
    assert long.metrics["train_loss"] == pytest.approx(0.1049, abs=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"status": "DONE"}, "valid: RUNNING, SCHEDULED, FINISHED, FAILED, KILLED"),
        ({"limit": 0}, "limit must be 1..100"),
        ({"order": "up"}, "'asc' or 'desc'"),
        ({"job": 'it\'s "odd"'}, "both ' and \""),
    ],
)
def test_search_bad_input_says_what_is_valid(
    skill: MlflowSkill, kwargs: dict[str, object], says: str
) -> None:
    with pytest.raises(MlflowSkillError, match=says.replace("(", r"\(")):
        search_runs(skill, **kwargs)  # type: ignore[arg-type]


def test_get_run_by_id_name_and_job(skill: MlflowSkill, logged_runs: dict[str, str]) -> None:
    by_id = get_run(skill, logged_runs["pcb-lr-1e-3"])
    assert by_id.run_name == "pcb-lr-1e-3"
    assert get_run(skill, "pcb-lr-1e-3").run_id == by_id.run_id
    # A job name means that job's most recent run.
    assert get_run(skill, "customer-b/pcb-inspect-v2").run_name == "pcb-lr-1e-2"


def test_get_run_details_are_compact(skill: MlflowSkill) -> None:
    run = get_run(skill, "pcb-lr-1e-3")
    assert run.params == {"batch_size": "32", "lr": "0.001", "model": "yolov8s"}
    assert run.metrics == {"train_loss": 0.18, "val_acc": 0.9, "val_loss": 0.2}
    assert run.status == "FINISHED" and run.job == "customer-b/pcb-inspect-v2"
    assert run.tags == {}  # mlflow.* noise and the job tag (shown as `job`) left out
    assert run.duration_s is not None and run.duration_s >= 0
    assert run.started is not None and run.ended is not None
    long_param = get_run(skill, "adhoc-notebook").params["note"]
    assert len(long_param) == 201 and long_param.endswith("…")


def test_get_run_of_a_failed_run_shows_nan(skill: MlflowSkill) -> None:
    run = get_run(skill, "seg-diverged")
    assert run.status == "FAILED"
    assert run.metrics["val_loss"] == "nan"


def test_unknown_run_lists_similar_runs(skill: MlflowSkill) -> None:
    with pytest.raises(MlflowSkillError) as err:
        get_run(skill, "pcb-lr")
    message = str(err.value)
    assert message.startswith("unknown run 'pcb-lr'; runs whose name or job contains it:")
    assert "pcb-lr-1e-2" in message and "pcb-lr-1e-3" in message


def test_unknown_run_without_similar_lists_recent_runs(skill: MlflowSkill) -> None:
    with pytest.raises(
        MlflowSkillError, match="give a run ID, run name or job name. Most recent runs:"
    ):
        get_run(skill, "zzz-nothing-like-it")


def test_compare_runs_shows_only_differing_params(skill: MlflowSkill) -> None:
    result = compare_runs(skill, ["pcb-lr-1e-3", "pcb-lr-1e-2"])
    assert [r.run_name for r in result.runs] == ["pcb-lr-1e-3", "pcb-lr-1e-2"]
    assert result.params_differing == {"lr": ["0.001", "0.01"]}
    assert result.params_identical == 2
    assert result.metrics["val_loss"] == [0.2, pytest.approx(1 / 6.8, rel=1e-5)]
    assert list(result.metrics) == ["train_loss", "val_acc", "val_loss"]


def test_compare_runs_marks_params_and_metrics_a_run_lacks(skill: MlflowSkill) -> None:
    result = compare_runs(skill, ["seg-long", "pcb-lr-1e-3"], metrics=["val_acc"])
    assert result.params_differing["epochs"] == ["12", None]
    assert result.metrics == {"val_acc": [None, 0.9]}


def test_compare_runs_of_one_run_is_that_run_in_full(skill: MlflowSkill) -> None:
    assert compare_runs(skill, ["pcb-lr-1e-3"]) == get_run(skill, "pcb-lr-1e-3")


def test_compare_runs_refuses_bad_input(skill: MlflowSkill) -> None:
    with pytest.raises(MlflowSkillError, match="give 1..10 runs"):
        compare_runs(skill, [])
    with pytest.raises(MlflowSkillError, match="name the same run"):
        compare_runs(skill, ["pcb-lr-1e-2", "customer-b/pcb-inspect-v2"])
    with pytest.raises(MlflowSkillError, match="metric 'val_los' not logged .*metrics: train_loss"):
        compare_runs(skill, ["pcb-lr-1e-3", "pcb-lr-1e-2"], metrics=["val_los"])


def test_unknown_run_id_is_reported_like_an_unknown_name(skill: MlflowSkill) -> None:
    with pytest.raises(MlflowSkillError, match=f"unknown run '{'0' * 32}'; give a run ID"):
        get_run(skill, "0" * 32)
