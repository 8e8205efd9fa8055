"""Deterministic product pictures for `GET /inventory/v1/items/{id}/image`, as real PNG / JPEG files.

Each picture is a 16×16 image of four shades derived from a key, so the same key
always gives the same bytes (items that share a key share identical bytes, which is
what content-addressed image storage must deduplicate) and different keys give
different bytes. The encoders are minimal but standard: any image library opens them.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

SIZE = 16


def _shades(key: str) -> list[tuple[int, int, int]]:
    digest = hashlib.sha256(f"zohosync-sandbox-image:{key}".encode()).digest()
    return [(digest[i], digest[i + 1], digest[i + 2]) for i in range(0, 12, 3)]


def _quadrant(x: int, y: int) -> int:
    return (1 if x >= SIZE // 2 else 0) + (2 if y >= SIZE // 2 else 0)


def png_bytes(key: str) -> bytes:
    """A 16×16 RGB PNG whose four quadrants are coloured from `key`."""
    shades = _shades(key)
    rows = bytearray()
    for y in range(SIZE):
        rows.append(0)  # filter: none
        for x in range(SIZE):
            rows.extend(shades[_quadrant(x, y)])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)
    text = b"Comment\x00" + f"zohosync sandbox {key}".encode()
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", text)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def write(self, value: int, length: int) -> None:
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self._emit()

    def _emit(self) -> None:
        self.out.append(self.acc)
        if self.acc == 0xFF:
            self.out.append(0x00)  # byte stuffing
        self.acc = 0
        self.n = 0

    def flush(self) -> bytes:
        if self.n:
            self.write((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with 1-bits
        return bytes(self.out)


def jpeg_bytes(key: str) -> bytes:
    """A 16×16 greyscale baseline JPEG: four flat 8×8 blocks, shades from `key`.

    Flat blocks have only a DC coefficient, so the entropy coder needs just a DC table
    (categories 0–11 as 4-bit codes) and an AC table holding the end-of-block code.
    """
    shades = [sum(rgb) // 3 for rgb in _shades(key)]

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">HH", marker, len(payload) + 2) + payload

    jfif = b"JFIF\x00" + struct.pack(">BBBHHBB", 1, 1, 0, 1, 1, 0, 0)
    comment = f"zohosync sandbox {key}".encode()
    dqt = b"\x00" + bytes([1] * 64)
    sof = struct.pack(">BHHB", 8, SIZE, SIZE, 1) + bytes([1, 0x11, 0])
    dc_counts = bytes([0, 0, 0, 12] + [0] * 12)
    dht_dc = b"\x00" + dc_counts + bytes(range(12))
    ac_counts = bytes([1] + [0] * 15)
    dht_ac = b"\x10" + ac_counts + b"\x00"
    sos = bytes([1, 1, 0x00, 0, 63, 0])

    bits = _BitWriter()
    previous = 0
    for block in range(4):  # blocks in raster order match the quadrant numbering
        dc = 8 * (shades[block] - 128)
        diff = dc - previous
        previous = dc
        size = abs(diff).bit_length()
        bits.write(size, 4)
        if size:
            bits.write(diff if diff >= 0 else diff + (1 << size) - 1, size)
        bits.write(0, 1)  # end of block
    scan = bits.flush()
    return (
        b"\xff\xd8"
        + segment(0xFFE0, jfif)
        + segment(0xFFFE, comment)
        + segment(0xFFDB, dqt)
        + segment(0xFFC0, sof)
        + segment(0xFFC4, dht_dc)
        + segment(0xFFC4, dht_ac)
        + segment(0xFFDA, sos)
        + scan
        + b"\xff\xd9"
    )


def image_bytes(key: str, image_type: str) -> tuple[bytes, str]:
    """(bytes, content type) of the picture for `key` in the item's declared format."""
    if image_type.lower() == "png":
        return png_bytes(key), "image/png"
    return jpeg_bytes(key), "image/jpeg"
