"""Image sizes from headers, checked against files Pillow wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mcp_servers.datasets.imagesize import image_size
from tests.datasets.tree import image


@pytest.mark.parametrize(
    ("fmt", "suffix", "options"),
    [
        ("PNG", "png", {}),
        ("BMP", "bmp", {}),
        ("JPEG", "jpg", {}),
        ("JPEG", "jpg", {"progressive": True}),
    ],
)
def test_size_matches_what_was_written(
    tmp_path: Path, fmt: str, suffix: str, options: dict
) -> None:
    path = tmp_path / f"x.{suffix}"
    Image.new("RGB", (123, 45)).save(path, fmt, **options)
    assert image_size(str(path)) == (123, 45)


def test_jpeg_size_found_after_a_large_exif_block(tmp_path: Path) -> None:
    path = tmp_path / "exif.jpg"
    image(path, 333, 222, "JPEG", exif=True)
    assert path.read_bytes().find(b"\xff\xc0") > 1024  # the frame header lies past the first read
    assert image_size(str(path)) == (333, 222)


def test_truncated_jpeg_has_no_size(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    image(path, 50, 50, "JPEG", exif=True)
    path.write_bytes(path.read_bytes()[:600])
    assert image_size(str(path)) is None


def test_non_image_has_no_size(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    assert image_size(str(path)) is None


def test_missing_file_has_no_size(tmp_path: Path) -> None:
    assert image_size(str(tmp_path / "gone.png")) is None
