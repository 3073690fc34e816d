"""A scenario's datasets as a real tree on disk, in the YOLO layout the skill reads.

`<root>/<dataset>/<version>/` with `data.yaml`, `images/{train,val}/img_NNNN.png`
(tiny real PNGs) and one label file per image. Versions share image names, so a
later version with more images shows them as added; `relabelled` changes the
class of the first images; `broken_labels` gives the last label files a class
id that is not in `data.yaml`. The root is emptied and rewritten for every scenario.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from functools import cache
from pathlib import Path

from evals.scenario import DatasetVersion

VAL_EVERY = 5  # every 5th image is in val/


@cache
def tiny_png(width: int = 64, height: int = 48) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x5a\x78\x1e" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_datasets(root: Path, datasets: dict[str, dict[str, DatasetVersion]]) -> None:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for name, versions in datasets.items():
        for version, spec in versions.items():
            _write_version(root / name / version, spec)


def _write_version(path: Path, spec: DatasetVersion) -> None:
    names = "\n".join(f"  {i}: {c}" for i, c in enumerate(spec.classes))
    path.mkdir(parents=True)
    (path / "data.yaml").write_text(f"names:\n{names}\n")
    png = tiny_png()
    classes = len(spec.classes)
    for i in range(spec.images):
        split = "val" if i % VAL_EVERY == VAL_EVERY - 1 else "train"
        image = path / "images" / split / f"img_{i:04d}.png"
        label = path / "labels" / split / f"img_{i:04d}.txt"
        image.parent.mkdir(parents=True, exist_ok=True)
        label.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(png)
        cls = (i + 1) % classes if i < spec.relabelled else i % classes
        if i >= spec.images - spec.broken_labels:
            cls = classes + 4  # not a class of data.yaml
        label.write_text(f"{cls} 0.5 0.5 0.2 0.2\n")
