"""Every refusal of a path the model could name, one property per test.

Each refused call must name what went wrong and must not read what lies
outside the root (class id 77 and the class name 'stolen' exist only there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_servers.datasets import DatasetError, DatasetStore, check_labels, version_stats
from mcp_servers.datasets.paths import check_name


def test_traversal_in_dataset_name_is_refused(store: DatasetStore) -> None:
    with pytest.raises(DatasetError, match=r"'\.\.' is not allowed in the dataset name"):
        version_stats(store, "../outside", "v1")


def test_traversal_in_version_name_is_refused(store: DatasetStore) -> None:
    with pytest.raises(DatasetError, match=r"'\.\.' is not allowed in the version name"):
        version_stats(store, "pcb", "..")


def test_absolute_path_is_refused(store: DatasetStore, root: Path) -> None:
    absolute = str(root.parent / "outside" / "secret-ds")
    with pytest.raises(DatasetError, match="absolute paths are not allowed"):
        version_stats(store, absolute, "v1")


def test_name_with_separator_is_refused(store: DatasetStore) -> None:
    with pytest.raises(DatasetError, match="contains a path separator"):
        version_stats(store, "pcb/v1", "v1")


def test_backslash_separator_is_refused() -> None:
    with pytest.raises(DatasetError, match="contains a path separator"):
        check_name("pcb\\v1", "dataset")


def test_hidden_name_is_refused(store: DatasetStore) -> None:
    with pytest.raises(DatasetError, match="hidden names"):
        version_stats(store, ".cache", "v1")


def test_nul_byte_is_refused() -> None:
    with pytest.raises(DatasetError, match="NUL"):
        check_name("pcb\x00", "dataset")


def test_dataset_symlink_leaving_root_is_refused(store: DatasetStore) -> None:
    with pytest.raises(DatasetError, match="symlink that leads outside the datasets root"):
        version_stats(store, "outside-ds", "v1")


def test_version_symlink_leaving_root_is_refused(store: DatasetStore) -> None:
    with pytest.raises(DatasetError, match="symlink that leads outside the datasets root"):
        check_labels(store, "pcb", "leak")


def test_symlink_inside_root_is_followed(store: DatasetStore) -> None:
    assert version_stats(store, "pcb", "v3") == version_stats(store, "pcb", "v1").model_copy(
        update={"version": "v3"}
    )


def test_label_file_symlink_leaving_root_is_not_read(store: DatasetStore) -> None:
    stats = version_stats(store, "pcb", "v2")
    assert 77 not in {c.id for c in stats.classes}
    refused = check_labels(store, "pcb", "v2").symlinks_outside_root
    assert "labels/val/evil.txt" in refused.examples


def test_label_folder_symlink_leaving_root_is_not_walked(store: DatasetStore) -> None:
    check = check_labels(store, "pcb", "v2")
    assert "labels/extra" in check.symlinks_outside_root.examples
    assert "images/extra" in check.symlinks_outside_root.examples
    assert not any("more" in name for name in check.labels_without_images.examples)
    assert version_stats(store, "pcb", "v2").images == 6


def test_class_names_symlink_leaving_root_is_not_read(root: Path) -> None:
    v1 = root / "pcb" / "v1"
    (v1 / "data.yaml").unlink()
    (v1 / "data.yaml").symlink_to(root.parent / "outside" / "names.yaml")
    stats = version_stats(DatasetStore(root), "pcb", "v1")
    assert "stolen" not in {c.name for c in stats.classes}
    assert stats.class_names_source is None
    assert (
        "data.yaml" in check_labels(DatasetStore(root), "pcb", "v1").symlinks_outside_root.examples
    )


def test_unknown_dataset_names_the_valid_ones(store: DatasetStore) -> None:
    with pytest.raises(DatasetError, match=r"unknown dataset 'nope'; datasets: pcb, traffic$"):
        version_stats(store, "nope", "v1")


def test_unknown_version_names_the_valid_ones(store: DatasetStore) -> None:
    with pytest.raises(DatasetError, match=r"unknown version 'v9' of 'pcb'; versions: v1, v2, v3$"):
        version_stats(store, "pcb", "v9")


def test_missing_root_says_how_to_set_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist.*MLOPS_DATASETS_ROOT"):
        DatasetStore(tmp_path / "nowhere").dataset_names()
