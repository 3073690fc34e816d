"""COCO labels: `annotations/*.json` with `images`, `annotations` and `categories`.

Boxes are `[x, y, width, height]` in pixels. An annotation with `keypoints` is a
pose, one with a `segmentation` (polygons or RLE) a segment, any other a box.
Several JSON files (one per split) may share a version; image ids are only
unique within one file. `file_name` is used as a sample key, never as a path
to open.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from typing import Any, TypeGuard

from mcp_servers.datasets.imagesize import image_size
from mcp_servers.datasets.paths import read_bytes
from mcp_servers.datasets.scan import Shape, VersionScan
from mcp_servers.datasets.walk import walk_files

_SLACK_PX = 0.5  # exporters round to half a pixel


def annotation_files(version_dir: str, real_root: str, scan: VersionScan) -> list[tuple[str, str]]:
    folder = os.path.join(version_dir, "annotations")
    if not os.path.isdir(folder):
        return []
    refused = scan.issue("symlinks_outside_root")
    return [
        ("annotations/" + rel, path)
        for rel, path in walk_files(folder, real_root, refused, "annotations/")
        if rel.endswith(".json")
    ]


def load_coco(scan: VersionScan, files: list[tuple[str, str]]) -> None:
    """Read every annotation file; class names come from their `categories`.

    Call after `scan_images`: a record without width/height takes the image header's.
    """
    documents = []
    for name, path in files:
        try:
            doc = json.loads(read_bytes(path))
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError):
            scan.issue("unreadable_files").add(name)
            continue
        documents.append((name, doc))
        for category in _records(doc, "categories"):
            if isinstance(category.get("id"), int):
                scan.class_names[category["id"]] = str(category.get("name", category["id"]))
    if documents:
        scan.class_names_source = "categories in annotations/*.json"
    for name, doc in documents:
        _load_document(scan, name, doc)


def _load_document(scan: VersionScan, name: str, doc: dict[str, Any]) -> None:
    malformed = scan.issue("malformed_lines")
    image_keys: dict[object, str] = {}
    for image in _records(doc, "images"):
        file_name = image.get("file_name")
        if not isinstance(file_name, str) or "id" not in image:
            malformed.add(f"{name}: image record without id/file_name")
            continue
        key = os.path.splitext(file_name.replace("\\", "/").removeprefix("./"))[0]
        image_keys[image["id"]] = key
        scan.label_names[key] = f"{name}: {file_name}"
        width, height = image.get("width"), image.get("height")
        if isinstance(width, int | float) and isinstance(height, int | float):
            scan.declared_sizes[key] = (int(width), int(height))
        elif key in scan.images:  # no size in the JSON: the image header has it
            size = image_size(scan.images[key][1])
            if size is not None:
                scan.declared_sizes[key] = size

    boxes: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    present: dict[str, set[int]] = defaultdict(set)
    known = scan.class_names
    for ann in _records(doc, "annotations"):
        sample = image_keys.get(ann.get("image_id"))
        bbox = ann.get("bbox")
        cls = ann.get("category_id")
        if sample is None or not isinstance(cls, int) or not _is_box(bbox):
            malformed.add(f"{name}: annotation id {ann.get('id')}")
            continue
        x, y, w, h = (float(v) for v in bbox)
        boxes[sample].append((cls, x, y, w, h))
        scan.instances[cls] += 1
        scan.shapes[_shape(ann)] += 1
        present[sample].add(cls)
        label = scan.label_names[sample]
        if cls not in known:
            scan.issue("unknown_class_ids").add(label)
        size = scan.declared_sizes.get(sample)
        if not (w > 0 and h > 0):
            scan.issue("degenerate_boxes").add(label)
        elif size is not None and not _inside(x, y, w, h, size):
            scan.issue("boxes_outside_image").add(label)

    for key in image_keys.values():
        scan.labels[key] = hash(tuple(sorted(boxes.get(key, ()))))
        if key not in boxes:
            scan.background += 1
            scan.issue("empty_labels").add(scan.label_names[key])
    per_class: Counter[int] = Counter(cls for classes in present.values() for cls in classes)
    scan.images_per_class.update(per_class)


def _shape(ann: dict[str, Any]) -> Shape:
    """Keypoints make a pose, a polygon or RLE mask a segment; the bbox alone a box."""
    if ann.get("keypoints"):
        return "pose"
    if ann.get("segmentation"):
        return "segment"
    return "box"


def _records(doc: dict[str, Any], field: str) -> list[dict[str, Any]]:
    value = doc.get(field)
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _is_box(bbox: object) -> TypeGuard[list[float]]:
    return (
        isinstance(bbox, list)
        and len(bbox) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
    )


def _inside(x: float, y: float, w: float, h: float, size: tuple[int, int]) -> bool:
    width, height = size
    return (
        x >= -_SLACK_PX
        and y >= -_SLACK_PX
        and x + w <= width + _SLACK_PX
        and y + h <= height + _SLACK_PX
    )
