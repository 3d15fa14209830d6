"""Open images from any URI safely: size caps (decompression bombs), mode normalisation, clear errors."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

from edtune.errors import InputError
from edtune.io.storage import read_bytes

MAX_PIXELS = 40_000_000  # ~6300x6300; larger is refused as a likely decompression bomb
MAX_BYTES = 50 * 1024 * 1024
# Raster formats datasets actually ship. Anything else (EPS/PS would run Ghostscript, exotic decoders widen the
# attack surface of untrusted pools) is refused before a decoder is chosen.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "PPM")


def decode_image(data: bytes, where: str) -> Any:
    """Decode bytes into an RGB PIL image or raise InputError naming `where`.

    Refused: more than MAX_BYTES, more than MAX_PIXELS (checked from the header, before decoding: bombs),
    zero width or height, truncated or corrupt data, formats outside FORMATS. Every mode (palette, CMYK,
    LA, 16-bit, float) comes back as 8-bit RGB.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_BYTES:
        raise InputError(f"{where}: image is {len(data)} bytes (max {MAX_BYTES})")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
            w, h = probe.size
            if w == 0 or h == 0:
                raise InputError(f"{where}: image has zero size ({w}x{h})")
            if w * h > MAX_PIXELS:
                raise InputError(f"{where}: image is {w}x{h} pixels (max {MAX_PIXELS}); refused")
            probe.verify()
        img = Image.open(io.BytesIO(data), formats=FORMATS)
        img.load()
    except InputError:
        raise
    except Image.DecompressionBombError as exc:  # PIL's own, stricter-than-ours guard fired first
        raise InputError(
            f"{where}: image too large, refused as a likely decompression bomb ({exc})"
        ) from None
    except UnidentifiedImageError:
        allowed = ", ".join(FORMATS)
        raise InputError(
            f"{where}: not a readable image (unknown or unsupported format; accepted: {allowed})"
        ) from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise InputError(f"{where}: not a readable image ({type(exc).__name__}: {exc})") from None
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.point(lambda v: v / 256).convert("L")
    if img.mode != "RGB":
        img = img.convert("RGBA").convert("RGB") if img.mode in ("P", "LA", "PA") else img.convert("RGB")
    return img


def load_image(uri: str | Path) -> Any:
    return decode_image(read_bytes(uri), str(uri))
