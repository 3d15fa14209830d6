"""Images from any URI come back as 8-bit RGB of the same size, or as an InputError naming the URI."""

from __future__ import annotations

from pathlib import Path

import pytest

from edtune import io
from edtune.errors import InputError
from edtune.io.images import decode_image, load_image
from foundation.imagegen import IMAGES

GOOD = ["ok.png", "cmyk.jpg", "palette.png", "gray16.png", "la.png", "one_bit.png", "float.tif"]


@pytest.mark.parametrize("name", GOOD)
def test_every_supported_mode_decodes_to_rgb_of_the_same_size(name: str) -> None:
    img = decode_image(IMAGES[name], name)
    assert img.mode == "RGB" and img.size == (8, 8)


def test_sixteen_bit_values_are_scaled_not_clipped() -> None:
    lo, hi = decode_image(IMAGES["gray16.png"], "g").getextrema()[0]
    assert lo == 0 and 200 < hi <= 255  # 63_000/256 ≈ 246: the full range survives, not all-white


BAD = [
    ("not_an_image.png", "unknown or unsupported format"),
    ("empty.png", "unknown or unsupported format"),
    ("postscript.eps", "unknown or unsupported format"),
    ("truncated.png", "not a readable image"),
    ("bomb.png", "decompression bomb"),
    ("big.png", "7000x7000 pixels"),
    ("zero.png", "not a readable image"),
]


@pytest.mark.parametrize(("name", "fragment"), BAD)
def test_bad_images_are_refused_naming_where(name: str, fragment: str) -> None:
    with pytest.raises(InputError, match=rf"^where/{name}: .*{fragment}"):
        decode_image(IMAGES[name], f"where/{name}")


def test_load_image_reads_from_s3(s3_bucket: str) -> None:
    uri = f"s3://{s3_bucket}/img/p.png"
    io.write_bytes(uri, IMAGES["palette.png"])
    assert load_image(uri).mode == "RGB"
    with pytest.raises(InputError, match=f"s3://{s3_bucket}/img/missing.png: object not found"):
        load_image(f"s3://{s3_bucket}/img/missing.png")


def test_load_image_of_a_missing_local_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=rf"{tmp_path}/x.png: file not found"):
        load_image(tmp_path / "x.png")
