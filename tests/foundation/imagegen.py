"""Image bytes for bad-input tables: every awkward mode and every way an image file can be broken."""

from __future__ import annotations

import io as pyio
import struct
import zlib

from PIL import Image


def png_bytes(mode: str = "RGB", size: tuple[int, int] = (8, 8), fmt: str = "PNG") -> bytes:
    buf = pyio.BytesIO()
    Image.new(mode, size).save(buf, fmt)
    return buf.getvalue()


def png_with_header_size(w: int, h: int) -> bytes:
    """A PNG whose IHDR claims w x h (a decompression bomb needs no pixel data to be dangerous)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def sixteen_bit_png() -> bytes:
    import numpy as np

    buf = pyio.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).save(buf, "PNG")
    return buf.getvalue()


IMAGES: dict[str, bytes] = {
    "ok.png": png_bytes(),
    "cmyk.jpg": png_bytes("CMYK", fmt="JPEG"),
    "palette.png": png_bytes("P"),
    "gray16.png": sixteen_bit_png(),
    "la.png": png_bytes("LA"),
    "one_bit.png": png_bytes("1"),
    "float.tif": png_bytes("F", fmt="TIFF"),
    "not_an_image.png": b"this is text, not pixels",
    "truncated.png": png_bytes("RGB", (64, 64))[:60],
    "bomb.png": png_with_header_size(20_000, 20_000),
    "big.png": png_with_header_size(7000, 7000),
    "zero.png": png_with_header_size(0, 0),
    "empty.png": b"",
    "postscript.eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
}
