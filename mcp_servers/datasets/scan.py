"""What one pass over a version folder learns, whatever its label layout.

A sample is an image, named by its path under `images/` without the
extension (`train/000123`), so YOLO label files and COCO `file_name`s meet on
the same key and two versions can be compared sample by sample.

Each labelled object has a shape: a box (detection), a segment (a polygon or
mask: segmentation) or a box with keypoints (pose). The shapes a version holds say its task.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from mcp_servers.datasets.imagesize import IMAGE_EXTENSIONS
from mcp_servers.datasets.issues import IssueLog
from mcp_servers.datasets.walk import walk_files

Layout = Literal["yolo", "coco", "unlabelled"]
Shape = Literal["box", "segment", "pose"]
Task = Literal["detect", "segment", "pose", "mixed"]

TASK_OF_SHAPE: dict[Shape, Task] = {"box": "detect", "segment": "segment", "pose": "pose"}

ISSUE_NAMES = (
    "images_without_labels",
    "labels_without_images",
    "empty_labels",
    "malformed_lines",
    "unknown_class_ids",
    "boxes_outside_image",
    "degenerate_boxes",
    "duplicate_images",
    "symlinks_outside_root",
    "unreadable_files",
)


@dataclass
class VersionScan:
    layout: Layout
    class_names: dict[int, str]
    class_names_source: str | None  # e.g. "data.yaml"; None when the version names no classes
    # sample key -> (name relative to the version, path to open)
    images: dict[str, tuple[str, str]] = field(default_factory=dict)
    # sample key -> digest of its labels, for every sample that has a label entry
    labels: dict[str, int] = field(default_factory=dict)
    # sample key -> label file name, for label entries (YOLO files, COCO image records)
    label_names: dict[str, str] = field(default_factory=dict)
    # sizes the labels themselves declare (COCO width/height), keyed by sample
    declared_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    instances: Counter[int] = field(default_factory=Counter)
    shapes: Counter[Shape] = field(default_factory=Counter)  # labelled objects by shape
    # YOLO pose: (keypoints per object, values per keypoint: 2 = x y, 3 = x y visibility)
    kpt_shape: tuple[int, int] | None = None
    images_per_class: Counter[int] = field(default_factory=Counter)
    background: int = 0  # samples whose label entry holds no boxes
    issues: dict[str, IssueLog] = field(
        default_factory=lambda: {n: IssueLog() for n in ISSUE_NAMES}
    )

    def issue(self, name: str) -> IssueLog:
        return self.issues[name]

    @property
    def task(self) -> Task | None:
        """The one task the labels serve, "mixed" for several, None without any object."""
        tasks = {TASK_OF_SHAPE[shape] for shape, count in self.shapes.items() if count}
        if len(tasks) > 1:
            return "mixed"
        return tasks.pop() if tasks else None


def scan_images(scan: VersionScan, version_dir: str, real_root: str) -> None:
    """Fill `scan.images` from `<version>/images/`, recording duplicate stems."""
    images_dir = os.path.join(version_dir, "images")
    if not os.path.isdir(images_dir):
        return
    images = scan.images
    duplicates = scan.issue("duplicate_images")
    refused = scan.issue("symlinks_outside_root")
    for rel, path in walk_files(images_dir, real_root, refused, "images/"):
        stem, dot, ext = rel.rpartition(".")
        if not dot or "/" in ext or "." + ext.lower() not in IMAGE_EXTENSIONS:
            continue
        if stem in images:
            duplicates.add("images/" + rel)
            continue
        images[stem] = ("images/" + rel, path)


def cross_check(scan: VersionScan) -> None:
    """Images with no label entry, and label entries with no image, sorted by name."""
    no_label = sorted(scan.images[key][0] for key in scan.images.keys() - scan.labels.keys())
    scan.issue("images_without_labels").add_all(no_label)
    no_image = sorted(scan.label_names[key] for key in scan.labels.keys() - scan.images.keys())
    scan.issue("labels_without_images").add_all(no_image)


def count_images(version_dir: str, real_root: str) -> int:
    """Number of image files, without reading any of them."""
    scan = VersionScan(layout="unlabelled", class_names={}, class_names_source=None)
    scan_images(scan, version_dir, real_root)
    return len(scan.images)
