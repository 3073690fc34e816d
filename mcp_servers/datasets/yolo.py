"""YOLO labels: `labels/<name>.txt`, one object per line, coordinates normalised 0..1.

    box      class cx cy w h                    detection
    segment  class x1 y1 x2 y2 x3 y3 …          segmentation: a polygon, 3+ points
    pose     class cx cy w h x1 y1 [v1] …       pose: K keypoints of D values each,
                                                `kpt_shape: [K, D]` in data.yaml

As Ultralytics does, the number of fields tells them apart: 5 is a box, 5 + K×D a
pose (only when data.yaml declares kpt_shape), any other odd number from 7 up a
segment; anything else is malformed.

This is the hot loop of the skill: each label file is read once as bytes and
split without decoding (int() and float() accept bytes), so 100,000 files
take seconds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from mcp_servers.datasets.paths import read_bytes
from mcp_servers.datasets.scan import Shape, VersionScan
from mcp_servers.datasets.walk import walk_files

# Coordinates written with six decimals can put an edge 1e-6 past the border.
_SLACK = 1e-5
_LOW, _HIGH = -_SLACK, 1.0 + _SLACK

DEGENERATE, OUTSIDE = "degenerate_boxes", "boxes_outside_image"


def scan_yolo_labels(scan: VersionScan, version_dir: str, real_root: str) -> None:
    labels_dir = os.path.join(version_dir, "labels")
    known = scan.class_names
    check_ids = bool(known)  # without class names there is nothing to check ids against
    labels, label_names = scan.labels, scan.label_names
    instances, images_per_class = scan.instances, scan.images_per_class
    empty = scan.issue("empty_labels")
    malformed = scan.issue("malformed_lines")
    unknown = scan.issue("unknown_class_ids")
    unreadable = scan.issue("unreadable_files")
    refused = scan.issue("symlinks_outside_root")
    kpt_dims = scan.kpt_shape[1] if scan.kpt_shape else 0
    pose_fields = 5 + scan.kpt_shape[0] * kpt_dims if scan.kpt_shape else -1
    boxes = 0
    shapes: dict[Shape, int] = {"segment": 0, "pose": 0}

    for rel, path in walk_files(labels_dir, real_root, refused, "labels/"):
        if not rel.endswith(".txt") or rel == "classes.txt":
            continue
        name = "labels/" + rel
        try:
            data = read_bytes(path)
        except OSError:
            unreadable.add(name)
            continue
        key = rel[:-4]
        labels[key] = hash(data)
        label_names[key] = name
        classes: list[int] = []
        for number, line in enumerate(data.splitlines(), 1):
            fields = line.split()
            try:
                if len(fields) == 5:  # a box: by far the most common line, kept inline
                    cls = int(fields[0])
                    cx, cy, w, h = map(float, fields[1:])
                    boxes += 1
                    problem = box_problem(cx, cy, w, h)
                elif fields:
                    cls, shape, problem = other_shape(fields, pose_fields, kpt_dims)
                    shapes[shape] += 1
                else:
                    continue
            except ValueError:
                malformed.add(f"{name}:{number}")
                continue
            classes.append(cls)
            if problem is not None:
                scan.issue(problem).add(name)
        if classes:
            instances.update(classes)
            present = set(classes)
            images_per_class.update(present)
            if check_ids and not present.issubset(known):
                unknown.add(name, sum(1 for cls in classes if cls not in known))
        if not data.strip():
            scan.background += 1
            empty.add(name)
    scan.shapes.update({"box": boxes, **shapes})


def other_shape(
    fields: list[bytes], pose_fields: int, kpt_dims: int
) -> tuple[int, Shape, str | None]:
    """Class, shape and problem of a line that is no box; ValueError if it is no shape."""
    count = len(fields)
    if count != pose_fields and (count < 7 or count % 2 == 0):
        raise ValueError(f"{count} fields")
    cls = int(fields[0])
    values = [float(v) for v in fields[1:]]
    if count != pose_fields:
        return cls, "segment", polygon_problem(values)
    problem = box_problem(values[0], values[1], values[2], values[3])
    return cls, "pose", problem or keypoints_problem(values[4:], kpt_dims)


def box_problem(cx: float, cy: float, w: float, h: float) -> str | None:
    if not (w > 0 and h > 0):  # written this way so NaN counts too
        return DEGENERATE
    half_w, half_h = w * 0.5, h * 0.5
    if cx - half_w < _LOW or cx + half_w > _HIGH or cy - half_h < _LOW or cy + half_h > _HIGH:
        return OUTSIDE
    return None


def polygon_problem(points: Sequence[float]) -> str | None:
    """A polygon is degenerate when it spans no area's width or height (or holds NaN)."""
    if not all(map(math.isfinite, points)):
        return DEGENERATE
    xs, ys = points[0::2], points[1::2]
    x_min, x_max, y_min, y_max = min(xs), max(xs), min(ys), max(ys)
    if not (x_max > x_min and y_max > y_min):
        return DEGENERATE
    if x_min < _LOW or x_max > _HIGH or y_min < _LOW or y_max > _HIGH:
        return OUTSIDE
    return None


def keypoints_problem(values: Sequence[float], dims: int) -> str | None:
    """Only labelled keypoints must lie inside: visibility 0 (D=3) or a negative
    coordinate (D=2) marks one that is not there, whatever its numbers."""
    for i in range(0, len(values), dims):
        x, y = values[i], values[i + 1]
        if (values[i + 2] <= 0) if dims == 3 else (x < 0 or y < 0):
            continue
        if x < _LOW or x > _HIGH or y < _LOW or y > _HIGH:
            return OUTSIDE
    return None
