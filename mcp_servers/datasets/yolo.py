"""YOLO labels: `labels/<name>.txt`, one box per line `class cx cy w h`, normalised 0..1.

This is the hot loop of the skill: each label file is read once as bytes and
split without decoding (int() and float() accept bytes), so 100,000 files
take seconds.
"""

from __future__ import annotations

import os

from mcp_servers.datasets.paths import read_bytes
from mcp_servers.datasets.scan import VersionScan
from mcp_servers.datasets.walk import walk_files

# Coordinates written with six decimals can put an edge 1e-6 past the border.
_SLACK = 1e-5
_LOW, _HIGH = -_SLACK, 1.0 + _SLACK


def scan_yolo_labels(scan: VersionScan, version_dir: str, real_root: str) -> None:
    labels_dir = os.path.join(version_dir, "labels")
    known = scan.class_names
    check_ids = bool(known)  # without class names there is nothing to check ids against
    labels, label_names = scan.labels, scan.label_names
    instances, images_per_class = scan.instances, scan.images_per_class
    empty = scan.issue("empty_labels")
    malformed = scan.issue("malformed_lines")
    unknown = scan.issue("unknown_class_ids")
    outside = scan.issue("boxes_outside_image")
    degenerate = scan.issue("degenerate_boxes")
    unreadable = scan.issue("unreadable_files")
    refused = scan.issue("symlinks_outside_root")

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
            if len(fields) != 5:
                if fields:
                    malformed.add(f"{name}:{number}")
                continue
            try:
                cls = int(fields[0])
                cx, cy, w, h = map(float, fields[1:])
            except ValueError:
                malformed.add(f"{name}:{number}")
                continue
            classes.append(cls)
            if not (w > 0 and h > 0):  # written this way so NaN counts too
                degenerate.add(name)
                continue
            half_w, half_h = w * 0.5, h * 0.5
            if (
                cx - half_w < _LOW
                or cx + half_w > _HIGH
                or cy - half_h < _LOW
                or cy + half_h > _HIGH
            ):
                outside.add(name)
        if classes:
            instances.update(classes)
            present = set(classes)
            images_per_class.update(present)
            if check_ids and not present.issubset(known):
                unknown.add(name, sum(1 for cls in classes if cls not in known))
        if not data.strip():
            scan.background += 1
            empty.add(name)
