"""The demo's generated photos: plain Python, no image library (the browser test uses it too)."""

from __future__ import annotations

import math
import struct
import zlib


def png(sky: tuple[int, int, int], ground: tuple[int, int, int], width: int = 400) -> bytes:
    """A small landscape (a sky fading to the horizon, a sun, rolling ground) as a PNG, so the
    demo's photos look like photos without an image library or files in the repository."""
    height = width * 3 // 4
    horizon, sun_x, sun_y, sun_r = height * 0.62, width * 0.72, height * 0.3, height * 0.09

    def mix(a: tuple[int, ...], b: tuple[int, ...], t: float) -> bytes:
        return bytes(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))

    rows = []
    light = (255, 236, 200)
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            edge = horizon + height * 0.05 * math.sin(x / width * 5.5 + 1.2)
            if y >= edge:
                row += mix(ground, (20, 20, 24), (y - edge) / (height - edge + 1) * 0.6)
            elif math.hypot(x - sun_x, y - sun_y) < sun_r:
                row += bytes(light)
            else:
                row += mix(sky, light, (y / edge) ** 2 * 0.8)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )
