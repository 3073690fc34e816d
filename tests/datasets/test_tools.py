"""The tool functions over the real generated tree (see tree.py for what it holds)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.datasets import (
    DatasetError,
    DatasetStore,
    check_labels,
    diff_versions,
    list_datasets,
    version_stats,
)
from mcp_servers.datasets.health import check


def health(root: Path) -> tuple[bool, str]:
    """What `doctor` reports for a datasets root."""
    return check(SkillEnvironment(extra={"MLOPS_DATASETS_ROOT": str(root)}))


def test_list_shows_datasets_versions_counts_and_creation(store: DatasetStore) -> None:
    listing = list_datasets(store)
    assert [d.name for d in listing.datasets] == ["pcb", "traffic"]  # escaping and hidden left out
    pcb = {v.version: v for v in listing.datasets[0].versions}
    assert list(pcb) == ["v1", "v2", "v3"]
    assert (pcb["v1"].images, pcb["v1"].images_from) == (4, "manifest")
    assert (pcb["v1"].created, pcb["v1"].description) == ("2026-01-10T09:00:00Z", "first cut")
    assert (pcb["v2"].images, pcb["v2"].images_from) == (6, "files")
    traffic = listing.datasets[1].versions[0]
    assert (traffic.layout, traffic.images) == ("coco", 4)


def test_list_without_manifest_dates_the_version_by_its_folder(root: Path) -> None:
    os.utime(root / "traffic" / "v1", (1_700_000_000, 1_700_000_000))
    traffic = list_datasets(DatasetStore(root)).datasets[1].versions[0]
    assert traffic.created == "2023-11-14T22:13:20Z"


def test_list_reports_a_broken_manifest_instead_of_failing(store: DatasetStore) -> None:
    v2 = list_datasets(store).datasets[0].versions[1]
    assert v2.manifest_problem is not None
    assert v2.manifest_problem.startswith("manifest.yaml could not be parsed")


def test_list_sorts_versions_naturally(root: Path) -> None:
    for name in ["v10", "v9"]:
        (root / "traffic" / name).mkdir()
    versions = list_datasets(DatasetStore(root)).datasets[1].versions
    assert [v.version for v in versions] == ["v1", "v9", "v10"]


def test_yolo_stats(store: DatasetStore) -> None:
    stats = version_stats(store, "pcb", "v1")
    assert (stats.layout, stats.class_names_source) == ("yolo", "data.yaml")
    assert (stats.images, stats.labelled_images, stats.unlabelled_images) == (4, 3, 1)
    assert (stats.background_images, stats.instances) == (1, 4)
    assert [(c.name, c.instances, c.images) for c in stats.classes] == [
        ("solder_bridge", 2, 2),  # one in a.txt, one in the orphan label
        ("missing_part", 1, 1),
        ("scratch", 1, 1),
    ]
    sizes = stats.image_sizes
    assert [(s.width, s.height, s.images) for s in sizes.most_common] == [
        (640, 480, 2),
        (1280, 720, 1),
        (320, 240, 1),
    ]
    assert (sizes.min_width, sizes.max_height, sizes.unknown) == (320, 720, 0)


def test_stats_name_no_class_for_an_unknown_id(store: DatasetStore) -> None:
    stats = version_stats(store, "pcb", "v2")
    assert stats.class_names_source == "classes.txt"
    assert {c.id: c.name for c in stats.classes}[5] is None


def test_coco_stats(store: DatasetStore) -> None:
    stats = version_stats(store, "traffic", "v1")
    assert stats.layout == "coco"
    assert (stats.images, stats.labelled_images, stats.background_images) == (4, 3, 1)
    assert [(c.id, c.name, c.instances) for c in stats.classes] == [
        (1, "car", 2),
        (2, "person", 2),
        (7, None, 1),
    ]
    assert stats.image_sizes.most_common[0].model_dump() == {
        "width": 200,
        "height": 100,
        "images": 4,
    }


def test_stats_of_a_version_without_labels(root: Path) -> None:
    from tests.datasets.tree import image

    image(root / "traffic" / "raw" / "images" / "x.png", 30, 20)
    stats = version_stats(DatasetStore(root), "traffic", "raw")
    assert (stats.layout, stats.images, stats.labelled_images, stats.instances) == (
        "unlabelled",
        1,
        0,
        0,
    )


def test_check_finds_each_yolo_problem(store: DatasetStore) -> None:
    check = check_labels(store, "pcb", "v2")
    found = {
        name: (issue["count"], issue["examples"])
        for name, issue in check.model_dump().items()
        if isinstance(issue, dict)
    }
    assert found == {
        "images_without_labels": (0, []),
        "labels_without_images": (0, []),
        "empty_labels": (1, ["labels/val/c.txt"]),
        "malformed_lines": (2, ["labels/val/e.txt:1", "labels/val/e.txt:2"]),
        "unknown_class_ids": (1, ["labels/val/e.txt"]),
        "boxes_outside_image": (2, ["labels/val/e.txt", "labels/val/g.txt"]),
        "degenerate_boxes": (1, ["labels/val/e.txt"]),
        "duplicate_images": (1, ["images/val/e.png"]),
        "symlinks_outside_root": (3, ["images/extra", "labels/extra", "labels/val/evil.txt"]),
        "unreadable_files": (0, []),
    }
    assert check.problems == 11


def test_check_pairs_images_and_labels(store: DatasetStore) -> None:
    check = check_labels(store, "pcb", "v1")
    assert check.images_without_labels.examples == ["images/val/d.bmp"]
    assert check.labels_without_images.examples == ["labels/val/orphan.txt"]
    assert check.problems == 3


def test_check_finds_each_coco_problem(store: DatasetStore) -> None:
    check = check_labels(store, "traffic", "v1")
    json_name = "annotations/instances_train.json"
    assert check.images_without_labels.examples == ["images/4.jpg"]
    assert check.labels_without_images.examples == [f"{json_name}: missing.jpg"]
    assert check.empty_labels.examples == [f"{json_name}: 3.jpg"]
    assert check.malformed_lines.examples == [f"{json_name}: annotation id 14"]
    assert check.unknown_class_ids.examples == [f"{json_name}: 2.jpg"]
    # 2.jpg declares no size in the JSON: the border comes from the image header
    assert check.boxes_outside_image.examples == [f"{json_name}: 2.jpg"]


def test_unreadable_coco_file_is_reported(root: Path) -> None:
    (root / "traffic" / "v1" / "annotations" / "broken.json").write_text("{not json")
    check = check_labels(DatasetStore(root), "traffic", "v1")
    assert check.unreadable_files.examples == ["annotations/broken.json"]
    assert check.images_without_labels.count == 1  # the good file still counted


def test_check_keeps_only_a_few_examples(root: Path) -> None:
    labels = root / "pcb" / "v1" / "labels" / "many"
    labels.mkdir()
    for i in range(300):
        (labels / f"{i:03d}.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    check = check_labels(DatasetStore(root), "pcb", "v1", max_examples=3)
    assert check.labels_without_images.count == 301
    assert check.labels_without_images.examples == [
        "labels/many/000.txt",
        "labels/many/001.txt",
        "labels/many/002.txt",
    ]


def test_check_refuses_too_many_examples(store: DatasetStore) -> None:
    with pytest.raises(DatasetError, match="max_examples must be between 0 and 20, got 500"):
        check_labels(store, "pcb", "v1", max_examples=500)


def test_without_class_names_ids_are_not_checked(root: Path) -> None:
    (root / "pcb" / "v2" / "classes.txt").unlink()
    check = check_labels(DatasetStore(root), "pcb", "v2")
    assert (check.class_names_source, check.unknown_class_ids.count) == (None, 0)


def test_diff_versions(store: DatasetStore) -> None:
    diff = diff_versions(store, "pcb", "v1", "v2")
    assert (diff.old_images, diff.new_images) == (4, 6)
    assert diff.added.examples == ["images/val/e.jpg", "images/val/f.png", "images/val/g.png"]
    assert diff.removed.examples == ["images/val/d.bmp"]
    assert diff.relabelled.examples == ["images/train/a.png"]
    assert diff.unchanged == 2
    balance = {c.name: (c.old_instances, c.new_instances, c.change) for c in diff.class_balance}
    assert balance == {
        "missing_part": (1, 4, 3),
        "scratch": (1, 2, 1),
        "#5": (0, 1, 1),
        "solder_bridge": (2, 2, 0),
    }
    assert diff.class_balance[0].name == "missing_part"  # largest change first
    assert diff.class_balance[0].new_share_pct == pytest.approx(44.44)


def test_diff_of_a_version_with_itself_is_refused(store: DatasetStore) -> None:
    with pytest.raises(DatasetError, match="both 'v1'; name two"):
        diff_versions(store, "pcb", "v1", "v1")


def test_health_counts_datasets(root: Path) -> None:
    assert health(root) == (True, f"datasets root {root}: 2 dataset(s)")


def test_health_of_a_missing_root(tmp_path: Path) -> None:
    ok, message = health(tmp_path / "nowhere")
    assert not ok
    assert "does not exist" in message


def test_health_of_a_root_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert health(tmp_path / "file") == (
        False,
        f"the datasets root {tmp_path / 'file'} is not a folder; point MLOPS_DATASETS_ROOT "
        "at the folder that holds <dataset>/<version>/",
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MLOPS_DATASETS_ROOT": "/data/ds", "MLOPS_STATE_DIR": "/s"}, "/data/ds"),
        ({"MLOPS_STATE_DIR": "/s"}, "/s/datasets"),
        ({}, "state/datasets"),
    ],
)
def test_root_from_env(env: dict[str, str], expected: str) -> None:
    store = DatasetStore.from_env(SkillEnvironment.from_env(env))
    assert store.root == os.path.abspath(expected)


def test_manifest_counts_block_is_read(root: Path) -> None:
    manifest = {"created": "2026-02-01", "counts": {"images": 99}}
    (root / "traffic" / "v1" / "manifest.json").write_text(json.dumps(manifest))
    traffic = list_datasets(DatasetStore(root)).datasets[1].versions[0]
    assert (traffic.images, traffic.images_from, traffic.created) == (99, "manifest", "2026-02-01")


def test_class_names_from_labels_classes_txt(root: Path) -> None:
    v2 = root / "pcb" / "v2"
    (v2 / "classes.txt").rename(v2 / "labels" / "classes.txt")
    stats = version_stats(DatasetStore(root), "pcb", "v2")
    assert stats.class_names_source == "labels/classes.txt"
    assert check_labels(DatasetStore(root), "pcb", "v2").labels_without_images.count == 0


def test_class_names_from_the_dataset_folder(root: Path) -> None:
    (root / "pcb" / "v1" / "data.yaml").rename(root / "pcb" / "data.yaml")
    stats = version_stats(DatasetStore(root), "pcb", "v1")
    assert stats.class_names_source == "../data.yaml"
    assert stats.classes[2].name == "scratch"


def test_many_classes_are_cut_to_the_most_frequent(root: Path) -> None:
    v1 = root / "pcb" / "v1"
    (v1 / "data.yaml").write_text("names: [" + ", ".join(f"c{i}" for i in range(80)) + "]\n")
    stats = version_stats(DatasetStore(root), "pcb", "v1")
    assert (len(stats.classes), stats.classes_omitted) == (50, 30)
    assert {"c0", "c1", "c2"} <= {c.name for c in stats.classes}  # the ones with boxes stay


def test_diff_of_coco_versions_sees_a_moved_box(root: Path) -> None:
    import shutil

    shutil.copytree(root / "traffic" / "v1", root / "traffic" / "v2")
    path = root / "traffic" / "v2" / "annotations" / "instances_train.json"
    doc = json.loads(path.read_text())
    doc["annotations"][0]["bbox"] = [12, 10, 50, 40]
    path.write_text(json.dumps(doc))
    diff = diff_versions(DatasetStore(root), "traffic", "v1", "v2")
    assert (diff.relabelled.examples, diff.unchanged) == (["images/1.jpg"], 3)
    assert (diff.added.count, diff.removed.count) == (0, 0)
