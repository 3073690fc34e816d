"""Image width and height from the file header, without decoding the image.

A PNG's IHDR or a BMP's info header sits in the first bytes; a JPEG's size
sits in its first start-of-frame segment, usually within the first kilobyte
and sometimes after a large EXIF block, which is skipped by its length. One
small read per image, no file object: this runs for every image of a version.
"""

from __future__ import annotations

import os
import struct

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp"})

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_FIRST_READ = 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn carry no payload
_JPEG_MAX_SEGMENTS = 256  # a real header has a dozen; this bounds a corrupt file


def image_size(path: str) -> tuple[int, int] | None:
    """(width, height) in pixels, or None when the header is not a readable PNG, JPEG or BMP."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    try:
        head = os.read(fd, _FIRST_READ)
        if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR" and len(head) >= 24:
            width, height = struct.unpack_from(">II", head, 16)
            return width, height
        if head[:2] == b"BM" and len(head) >= 26:
            width, height = struct.unpack_from("<ii", head, 18)
            return width, abs(height)  # negative height: rows stored top-down
        if head[:2] == b"\xff\xd8":
            return _jpeg_size(fd, head)
        return None
    except (OSError, struct.error):
        return None
    finally:
        os.close(fd)


def _jpeg_size(fd: int, head: bytes) -> tuple[int, int] | None:
    buf, base, pos = head, 0, 2  # buf holds the file's bytes from offset `base`

    def window(offset: int, size: int) -> bytes:
        nonlocal buf, base
        if offset < base or offset + size > base + len(buf):
            buf, base = os.pread(fd, max(size, _FIRST_READ), offset), offset
        return buf[offset - base : offset - base + size]

    for _ in range(_JPEG_MAX_SEGMENTS):
        marker = window(pos, 2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        code = marker[1]
        if code == 0xFF:  # fill byte before the real marker
            pos += 1
            continue
        if code in _JPEG_NO_LENGTH:
            pos += 2
            continue
        if code in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        segment = window(pos + 2, 7)
        if len(segment) < 2:
            return None
        (length,) = struct.unpack_from(">H", segment)
        if code in _JPEG_SOF:
            _precision, height, width = struct.unpack_from(">BHH", segment, 2)
            return width, height
        pos += 2 + length
    return None
