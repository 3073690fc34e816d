"""Benchmark: version_stats and check_labels over a generated 100,000-image YOLO version.

    .venv/bin/python bench/bench_datasets.py [--samples 100000] [--runs 3]

Prints the median time of each tool next to a baseline measured in the same
run on the same tree: listing both folders and reading every file raw, with
no parsing. The ratio is what the skill adds on top of the disk work.
Everything lives in a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from mcp_servers.datasets import DatasetStore, check_labels, list_datasets, version_stats

SIZES = [(640, 480), (1280, 720), (1920, 1080), (800, 800)]
CLASSES = ["solder_bridge", "missing_part", "scratch", "tombstone", "misalignment"]


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def generate(version_dir: Path, samples: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    images, labels = version_dir / "images", version_dir / "labels"
    images.mkdir(parents=True)
    labels.mkdir()
    (version_dir / "data.yaml").write_text("names: [" + ", ".join(CLASSES) + "]\n")
    headers = {s: (png_header(*s), jpeg_header(*s)) for s in SIZES}
    for i in range(samples):
        png, jpg = headers[rng.choice(SIZES)]
        if i % 4:
            (images / f"{i:07d}.png").write_bytes(png)
        else:
            (images / f"{i:07d}.jpg").write_bytes(jpg)
        lines = []
        for _ in range(rng.randint(0, 8)):
            w, h = rng.uniform(0.01, 0.3), rng.uniform(0.01, 0.3)
            cx, cy = rng.uniform(w / 2, 1 - w / 2), rng.uniform(h / 2, 1 - h / 2)
            lines.append(f"{rng.randrange(len(CLASSES))} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
        (labels / f"{i:07d}.txt").write_text("".join(lines))


def read_everything_raw(version_dir: str) -> int:
    """The baseline: list both folders and read every file, parsing nothing."""
    total = 0
    for sub in ("images", "labels"):
        with os.scandir(os.path.join(version_dir, sub)) as it:
            for entry in it:
                fd = os.open(entry.path, os.O_RDONLY)
                total += len(os.read(fd, 1 << 16))
                os.close(fd)
    return total


def median_s(call: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as tmp:
        version_dir = Path(tmp) / "pcb" / "v1"
        start = time.perf_counter()
        generate(version_dir, args.samples)
        print(f"generated {args.samples} images + labels in {time.perf_counter() - start:.1f} s")
        store = DatasetStore(tmp)
        read_everything_raw(str(version_dir))  # warm the page cache for every measurement
        baseline = median_s(lambda: read_everything_raw(str(version_dir)), args.runs)
        stats_s = median_s(lambda: version_stats(store, "pcb", "v1"), args.runs)
        check_s = median_s(lambda: check_labels(store, "pcb", "v1"), args.runs)
        list_s = median_s(lambda: list_datasets(store), args.runs)
        stats = version_stats(store, "pcb", "v1")
        print(f"instances={stats.instances} labelled={stats.labelled_images}", file=sys.stderr)
        print(f"baseline (list + raw read of all files): {baseline:.2f} s  (median of {args.runs})")
        print(f"version_stats: {stats_s:.2f} s  = {stats_s / baseline:.1f}x baseline")
        print(f"check_labels:  {check_s:.2f} s  = {check_s / baseline:.1f}x baseline")
        print(f"list_datasets: {list_s:.2f} s  (counts images, no manifest)")


if __name__ == "__main__":
    main()
