"""Segmentation and pose labels are counted as such, and stats name the task (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_servers.datasets import DatasetStore, check_labels, version_stats
from tests.datasets.tree import build_task_tree


@pytest.fixture
def tasks(tmp_path: Path) -> DatasetStore:
    return DatasetStore(build_task_tree(tmp_path))


def problems(store: DatasetStore, dataset: str, version: str) -> dict[str, tuple[int, list[str]]]:
    check = check_labels(store, dataset, version).model_dump()
    return {
        k: (v["count"], v["examples"])
        for k, v in check.items()
        if isinstance(v, dict) and v["count"]
    }


def test_yolo_segmentation_polygons_are_segments_not_malformed(tasks: DatasetStore) -> None:
    stats = version_stats(tasks, "welds", "seg")
    assert (stats.task, stats.shapes.model_dump()) == (
        "segment",
        {"boxes": 0, "segments": 3, "poses": 0},
    )
    assert stats.instances == 3
    assert [(c.name, c.instances, c.images) for c in stats.classes] == [
        ("crack", 2, 2),
        ("pore", 1, 1),
    ]
    assert problems(tasks, "welds", "seg") == {}


def test_yolo_pose_lines_are_poses_when_data_yaml_gives_the_kpt_shape(tasks: DatasetStore) -> None:
    stats = version_stats(tasks, "welds", "pose")
    assert (stats.task, stats.kpt_shape) == ("pose", [4, 3])
    assert stats.shapes.model_dump() == {"boxes": 0, "segments": 0, "poses": 3}
    assert [(c.name, c.instances, c.images) for c in stats.classes] == [("worker", 3, 2)]
    # Hidden keypoints (visibility 0) may hold any placeholder: no problem found.
    assert problems(tasks, "welds", "pose") == {}


def test_a_version_with_several_kinds_is_mixed_and_each_flaw_is_named(tasks: DatasetStore) -> None:
    stats = version_stats(tasks, "welds", "flawed")
    assert stats.task == "mixed"
    assert stats.shapes.model_dump() == {"boxes": 1, "segments": 2, "poses": 2}
    assert problems(tasks, "welds", "flawed") == {
        "malformed_lines": (2, ["labels/b.txt:1", "labels/b.txt:2"]),  # 8 and 6 fields
        # The segment past the border and the pose with a visible keypoint outside.
        "boxes_outside_image": (2, ["labels/a.txt"]),
        "degenerate_boxes": (1, ["labels/a.txt"]),  # the segment without height
    }
    assert check_labels(tasks, "welds", "flawed").task == "mixed"


def test_without_kpt_shape_a_pose_line_is_not_taken_for_one(tmp_path: Path) -> None:
    root = build_task_tree(tmp_path)
    (root / "welds" / "pose" / "data.yaml").write_text("names: [worker]\n")
    stats = version_stats(DatasetStore(root), "welds", "pose")
    # 17 fields read as an 8-point polygon, as Ultralytics reads them without kpt_shape.
    assert (stats.task, stats.kpt_shape, stats.shapes.poses) == ("segment", None, 0)


@pytest.mark.parametrize(
    ("version", "task", "shape"), [("kp", "pose", "poses"), ("masks", "segment", "segments")]
)
def test_coco_keypoints_and_segmentations_name_their_task(
    tasks: DatasetStore, version, task, shape
) -> None:
    stats = version_stats(tasks, "people", version)
    assert (stats.task, stats.instances) == (task, 2)
    assert stats.shapes.model_dump()[shape] == 2
    assert problems(tasks, "people", version) == {}


def test_box_versions_are_detection(store: DatasetStore) -> None:
    assert version_stats(store, "pcb", "v1").task == "detect"
    assert version_stats(store, "traffic", "v1").task == "detect"
    assert version_stats(store, "pcb", "v1").shapes.boxes == 4


def test_a_version_without_objects_has_no_task(root: Path) -> None:
    from tests.datasets.tree import image

    image(root / "traffic" / "raw" / "images" / "x.png", 30, 20)
    assert version_stats(DatasetStore(root), "traffic", "raw").task is None
