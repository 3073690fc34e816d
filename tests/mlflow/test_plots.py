"""plot_metrics writes a real PNG under the attachments folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from mcp_servers.mlflow.errors import MlflowSkillError
from mcp_servers.mlflow.plots import plot_metrics
from mcp_servers.mlflow.skill import MlflowSkill
from tests.mlflow.conftest import LONG_STEPS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    # The IHDR chunk comes first: width and height as big-endian 32-bit ints.
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_two_runs_two_metrics_make_one_png(client: MlflowClient, tmp_path: Path) -> None:
    result = plot_metrics(
        MlflowSkill(client, tmp_path / "attachments"),
        ["pcb-lr-1e-3", "pcb-lr-1e-2"],
        ["val_loss", "val_acc"],
    )
    path = Path(result.attachment_path)
    assert path.is_absolute() and path.parent == tmp_path / "attachments"
    assert path.suffix == ".png" and path.stat().st_size > 10_000
    width, height = png_size(path)
    assert (width, height) == (800, 560)  # 8 in wide, 2.8 in per panel, 100 dpi
    assert result.points == 4 * 30
    assert result.runs == ["pcb-lr-1e-3", "pcb-lr-1e-2"]


def test_long_history_plots_every_point(client: MlflowClient, tmp_path: Path) -> None:
    result = plot_metrics(
        MlflowSkill(client, tmp_path), ["customer-a/defect-seg"], ["train_loss"], log_y=True
    )
    assert result.points == LONG_STEPS
    assert png_size(Path(result.attachment_path)) == (800, 280)


def test_each_plot_gets_its_own_file(client: MlflowClient, tmp_path: Path) -> None:
    a = plot_metrics(MlflowSkill(client, tmp_path), ["pcb-lr-1e-3"], ["val_loss"])
    b = plot_metrics(MlflowSkill(client, tmp_path), ["pcb-lr-1e-3"], ["val_loss"])
    assert a.attachment_path != b.attachment_path
    assert "/" not in Path(a.attachment_path).name.removeprefix("mlflow-")


def test_a_run_lacking_one_metric_is_left_out_of_that_panel(
    client: MlflowClient, tmp_path: Path
) -> None:
    result = plot_metrics(MlflowSkill(client, tmp_path), ["seg-long", "pcb-lr-1e-3"], ["val_acc"])
    assert result.points == 30


def test_plot_refuses_bad_input_and_writes_nothing(client: MlflowClient, tmp_path: Path) -> None:
    with pytest.raises(
        MlflowSkillError,
        match="metric 'val_los' not logged in run pcb-lr-1e-3; metrics: train_loss",
    ):
        plot_metrics(MlflowSkill(client, tmp_path), ["pcb-lr-1e-3"], ["val_los"])
    with pytest.raises(MlflowSkillError, match="give 1..4 metrics"):
        plot_metrics(MlflowSkill(client, tmp_path), ["pcb-lr-1e-3"], [])
    with pytest.raises(MlflowSkillError, match="give 1..8 runs"):
        plot_metrics(MlflowSkill(client, tmp_path), [], ["val_loss"])
    with pytest.raises(MlflowSkillError, match="unknown run 'nope-run'"):
        plot_metrics(MlflowSkill(client, tmp_path), ["nope-run"], ["val_loss"])
    assert list(tmp_path.iterdir()) == []
