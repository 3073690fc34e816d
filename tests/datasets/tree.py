"""A small real dataset store on disk, with the flaws the label checks must find.

<base>/root/pcb/v1       YOLO, data.yaml, manifest.json: clean but for one image
                         without labels, one orphan label and one empty label file
<base>/root/pcb/v2       YOLO, classes.txt: one sample added, one removed, one
                         relabelled, plus every kind of broken label line
<base>/root/pcb/v3       a symlink to v1 (inside the root: allowed)
<base>/root/traffic/v1   COCO with an unknown category, a box past the border,
                         an image without annotations, a record without its file
<base>/root/outside-ds   a symlink to a dataset outside the root (refused)
<base>/root/pcb/leak     a symlink to a version outside the root (refused)
<base>/outside/          what the escaping symlinks point at
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image

PCB_CLASSES = ["solder_bridge", "missing_part", "scratch"]


def image(path: Path, width: int, height: int, fmt: str = "PNG", exif: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.new("RGB", (width, height), (90, 120, 30))
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "ACME camera " + "x" * 3000  # a large APP1 segment before the frame
        picture.save(path, fmt, exif=tags.tobytes())
    else:
        picture.save(path, fmt)


def text(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def build_tree(base: Path) -> Path:
    root = base / "root"
    outside = base / "outside"
    _outside(outside)
    _pcb_v1(root / "pcb" / "v1")
    _pcb_v2(root / "pcb" / "v2", outside)
    _traffic_v1(root / "traffic" / "v1")
    os.symlink(root / "pcb" / "v1", root / "pcb" / "v3")
    os.symlink(outside / "secret-ds", root / "outside-ds")
    os.symlink(outside / "secret-ds" / "v1", root / "pcb" / "leak")
    (root / ".cache").mkdir()  # hidden: never listed
    return root


def _outside(outside: Path) -> None:
    version = outside / "secret-ds" / "v1"
    image(version / "images" / "s.png", 10, 10)
    text(version / "labels" / "s.txt", "0 0.5 0.5 0.1 0.1\n")
    # Class id 77 appears nowhere inside the root: seeing it counted means a leak.
    text(outside / "evil.txt", "77 0.5 0.5 0.1 0.1\n")
    text(outside / "evil-dir" / "more.txt", "77 0.5 0.5 0.1 0.1\n")
    image(outside / "evil-dir" / "more.png", 10, 10)
    text(outside / "names.yaml", "names: [stolen]\n")


def _pcb_v1(v1: Path) -> None:
    text(v1 / "data.yaml", "names:\n  0: solder_bridge\n  1: missing_part\n  2: scratch\n")
    text(
        v1 / "manifest.json",
        json.dumps({"created": "2026-01-10T09:00:00Z", "description": "first cut", "images": 4}),
    )
    image(v1 / "images" / "train" / "a.png", 640, 480)
    image(v1 / "images" / "train" / "b.jpg", 1280, 720, "JPEG", exif=True)
    image(v1 / "images" / "val" / "c.png", 640, 480)
    image(v1 / "images" / "val" / "d.bmp", 320, 240, "BMP")  # no label file
    text(v1 / "labels" / "train" / "a.txt", "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n")
    text(v1 / "labels" / "train" / "b.txt", "2 0.5 0.5 0.4 0.4\n")
    text(v1 / "labels" / "val" / "c.txt", "")  # empty: background or lost labels
    text(v1 / "labels" / "val" / "orphan.txt", "0 0.5 0.5 0.1 0.1\n")  # no image


def _pcb_v2(v2: Path, outside: Path) -> None:
    text(v2 / "classes.txt", "\n".join(PCB_CLASSES) + "\n")
    text(v2 / "manifest.yaml", "description: [unclosed\n")  # broken manifest
    image(v2 / "images" / "train" / "a.png", 640, 480)
    image(v2 / "images" / "train" / "b.jpg", 1280, 720, "JPEG")
    image(v2 / "images" / "val" / "c.png", 640, 480)
    image(v2 / "images" / "val" / "e.png", 800, 800)
    image(v2 / "images" / "val" / "e.jpg", 800, 800, "JPEG")  # duplicate sample name
    image(v2 / "images" / "val" / "f.png", 800, 800)
    image(v2 / "images" / "val" / "g.png", 800, 800)
    # a: relabelled (one more scratch); b and c unchanged; d removed; e, f, g added
    text(
        v2 / "labels" / "train" / "a.txt",
        "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n2 0.7 0.7 0.1 0.1\n",
    )
    text(v2 / "labels" / "train" / "b.txt", "2 0.5 0.5 0.4 0.4\n")
    text(v2 / "labels" / "val" / "c.txt", "")
    text(
        v2 / "labels" / "val" / "e.txt",
        "0 0.5 0.5 0.1\n"  # 4 fields: malformed
        "x 0.5 0.5 0.1 0.1\n"  # class not a number: malformed
        "1 0.95 0.5 0.2 0.2\n"  # right edge at 1.05: outside
        "1 0.5 0.5 0.0 0.2\n"  # zero width: degenerate
        "\n"  # a blank line is fine
        "5 0.5 0.5 0.1 0.1\n",  # class 5 of 3 names: unknown
    )
    text(v2 / "labels" / "val" / "f.txt", "0 0.5 0.5 0.3 0.3\n")
    text(v2 / "labels" / "val" / "g.txt", "1 1.2 0.5 0.1 0.1\n")  # centre past the border
    os.symlink(outside / "evil.txt", v2 / "labels" / "val" / "evil.txt")
    os.symlink(outside / "evil-dir", v2 / "labels" / "extra")
    os.symlink(outside / "evil-dir", v2 / "images" / "extra")


def _traffic_v1(v1: Path) -> None:
    image(v1 / "images" / "1.jpg", 200, 100, "JPEG")
    image(v1 / "images" / "2.jpg", 200, 100, "JPEG")
    image(v1 / "images" / "3.jpg", 200, 100, "JPEG")  # listed, no annotations
    image(v1 / "images" / "4.jpg", 200, 100, "JPEG")  # not listed in the JSON
    doc = {
        "images": [
            {"id": 1, "file_name": "1.jpg", "width": 200, "height": 100},
            {"id": 2, "file_name": "2.jpg"},  # no size: taken from the header
            {"id": 3, "file_name": "3.jpg", "width": 200, "height": 100},
            {"id": 9, "file_name": "missing.jpg", "width": 200, "height": 100},
        ],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 40]},
            {"id": 11, "image_id": 1, "category_id": 2, "bbox": [100, 20, 20, 60]},
            {"id": 12, "image_id": 2, "category_id": 1, "bbox": [180, 10, 40, 40]},  # past x=200
            {"id": 13, "image_id": 2, "category_id": 7, "bbox": [0, 0, 5, 5]},  # unknown class
            {"id": 14, "image_id": 2, "category_id": 1},  # no bbox: malformed
            {"id": 15, "image_id": 9, "category_id": 2, "bbox": [1, 1, 5, 5]},
        ],
    }
    text(v1 / "annotations" / "instances_train.json", json.dumps(doc))


def build_task_tree(base: Path) -> Path:
    """Versions labelled for segmentation and pose, besides detection:

    <root>/welds/seg      YOLO polygons only (3, 4 and 5 points), all clean
    <root>/welds/pose     YOLO pose, kpt_shape [4, 3] in data.yaml, all clean (hidden
                          keypoints with placeholder coordinates are fine)
    <root>/welds/flawed   kpt_shape [2, 3]: a box, segments and poses mixed, with a segment
                          past the border, a flat one, a visible keypoint outside, and
                          lines of 8 and 6 fields that are no shape at all
    <root>/people/kp      COCO with keypoints
    <root>/people/masks   COCO with polygon and RLE segmentations
    """
    root = base / "root"
    seg = root / "welds" / "seg"
    text(seg / "data.yaml", "names: [crack, pore]\n")
    text(
        seg / "labels" / "a.txt",
        "0 0.1 0.1 0.4 0.1 0.4 0.3\n"  # triangle
        "1 0.5 0.5 0.7 0.5 0.7 0.7 0.5 0.7\n",  # square
    )
    text(seg / "labels" / "b.txt", "0 0.2 0.2 0.3 0.2 0.25 0.4 0.2 0.35 0.15 0.3\n\n")
    pose = root / "welds" / "pose"
    text(pose / "data.yaml", "names: [worker]\nkpt_shape: [4, 3]\nflip_idx: [1, 0, 3, 2]\n")
    keypoints = "0.45 0.4 2 0.55 0.4 2 0.45 0.6 1 0.55 0.6 2"
    text(
        pose / "labels" / "a.txt",
        f"0 0.5 0.5 0.2 0.4 {keypoints}\n0 0.2 0.3 0.1 0.2 0.18 0.25 2 0.22 0.25 2 0 0 0 0 0 0\n",
    )
    # A hidden keypoint may carry any placeholder, even one past the border.
    text(pose / "labels" / "b.txt", "0 0.5 0.5 0.3 0.3 0.5 0.4 2 1.7 -0.3 0 0.5 0.6 1 0 0 0\n")
    flawed = root / "welds" / "flawed"
    text(flawed / "data.yaml", "names: [crack, pore, worker]\nkpt_shape: [2, 3]\n")
    text(
        flawed / "labels" / "a.txt",
        "0 0.5 0.5 0.2 0.2\n"  # a box
        "1 1.2 0.1 0.4 0.1 0.4 0.3\n"  # segment with a point past the border
        "1 0.1 0.5 0.4 0.5 0.7 0.5\n"  # segment on one line: no height
        "2 0.5 0.5 0.2 0.2 0.45 0.45 2 0.55 0.45 2\n"  # pose
        "2 0.5 0.5 0.2 0.2 1.45 0.45 2 0.55 0.45 2\n",  # pose with a visible keypoint outside
    )
    text(
        flawed / "labels" / "b.txt",
        "1 0.1 0.1 0.4 0.1 0.4 0.3 0.2\n"  # 8 fields: an odd coordinate
        "0 0.5 0.5 0.2 0.2 0.9\n",  # 6 fields
    )
    for version in (seg, pose, flawed):
        for stem in ("a", "b"):
            image(version / "images" / f"{stem}.png", 64, 48)
    _coco_people(root / "people")
    return root


def _coco_people(people: Path) -> None:
    def annotation(n: int, bbox: list[int], **shape: object) -> dict[str, object]:
        return {"id": n, "image_id": n, "category_id": 1, "bbox": bbox, **shape}

    images = [{"id": n, "file_name": f"{n}.jpg", "width": 100, "height": 80} for n in (1, 2)]
    polygon = [[10, 10, 40, 10, 40, 70]]
    kp = [  # keypoint records carry a segmentation too: the keypoints make them poses
        annotation(1, [10, 10, 30, 60], keypoints=[20, 12, 2, 25, 68, 2], segmentation=polygon),
        annotation(2, [50, 5, 20, 40], keypoints=[60, 8, 2, 0, 0, 0], num_keypoints=1),
    ]
    masks = [
        annotation(1, [10, 10, 30, 60], segmentation=polygon),
        annotation(2, [50, 5, 20, 40], segmentation={"size": [80, 100], "counts": "ab"}),
    ]
    for version, records in (("kp", kp), ("masks", masks)):
        for n in (1, 2):
            image(people / version / "images" / f"{n}.jpg", 100, 80, "JPEG")
        doc = {
            "images": images,
            "categories": [{"id": 1, "name": "person"}],
            "annotations": records,
        }
        text(people / version / "annotations" / "instances.json", json.dumps(doc))
