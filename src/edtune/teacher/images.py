"""Images as the teacher receives them: `data:` URIs of a PNG downscaled to `image_max_side`.

A TGI/vLLM-served LMM resizes images itself; sending a smaller PNG only saves bandwidth and request time, and
keeps the request (hence the cache key) deterministic for the same source bytes.
"""

from __future__ import annotations

import base64
import io

from edtune.io.images import decode_image


def image_data_uri(data: bytes, max_side: int, where: str) -> str:
    """Decode `data` (InputError naming `where` if unreadable), downscale so max(w, h) <= max_side, PNG-encode."""
    from PIL import Image

    img = decode_image(data, where)
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
