"""Decoding dirty image files: every mode becomes RGB uint8; broken files name the file."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from detplug_torchvision.datasets import read_image, read_image_size
from PIL import Image
from torchvision import tv_tensors

from detplug_core.errors import DataError

RGB = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)


def write_png16_rgb(path, array16: np.ndarray) -> None:
    """A 16-bit RGB PNG (Pillow cannot write one): IHDR, one IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    h, w, _ = array16.shape
    rows = b"".join(b"\x00" + array16[y].astype(">u2").tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    path.write_bytes(data + chunk(b"IEND", b""))


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("rgb.png", lambda p: Image.fromarray(RGB).save(p)),
        ("grey.jpg", lambda p: Image.fromarray(RGB).convert("L").save(p)),
        ("grey.png", lambda p: Image.fromarray(RGB).convert("L").save(p)),
        ("rgba.png", lambda p: Image.fromarray(RGB).convert("RGBA").save(p)),
        ("palette.png", lambda p: Image.fromarray(RGB).convert("P").save(p)),
        ("cmyk.jpg", lambda p: Image.fromarray(RGB).convert("CMYK").save(p)),
        ("grey16.png", lambda p: Image.fromarray(RGB[..., 0].astype(np.uint16) * 257).save(p)),
        ("rgb16.png", lambda p: write_png16_rgb(p, RGB.astype(np.uint16) * 257)),
        ("rgb.bmp", lambda p: Image.fromarray(RGB).save(p)),  # through Pillow
        ("grey16.tif", lambda p: Image.fromarray(RGB[..., 0].astype(np.uint16) * 257).save(p)),
    ],
)
def test_every_mode_becomes_rgb_uint8(tmp_path, name, make):
    path = tmp_path / name
    make(path)
    image = read_image(str(path))
    assert isinstance(image, tv_tensors.Image)
    assert image.dtype == torch.uint8 and image.shape == (3, 6, 8)
    if "16" in name:  # Pillow's own conversion clips 16-bit values; ours keeps the top byte
        expected = RGB if "rgb" in name else np.repeat(RGB[..., :1], 3, axis=2)
    else:
        expected = np.asarray(Image.open(path).convert("RGB"))
    diff = np.abs(image.permute(1, 2, 0).numpy().astype(int) - expected.astype(int))
    assert diff.max() <= (3 if name.endswith(".jpg") else 0)  # JPEG decoders may round apart
    if "grey" in name:
        assert (image[0] == image[1]).all() and (image[1] == image[2]).all()
    assert read_image_size(str(path)) == (6, 8)


def test_corrupt_truncated_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(DataError, match=r"cannot decode image file '.*bad\.jpg' \(sample 3\)"):
        read_image(str(bad), "sample 3")
    good = tmp_path / "good.jpg"
    Image.fromarray(RGB).save(good)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:100])
    with pytest.raises(DataError, match=r"cut\.jpg"):
        read_image(str(cut))
    with pytest.raises(DataError, match=r"cannot read image file '.*gone\.png'"):
        read_image(str(tmp_path / "gone.png"))
    with pytest.raises(DataError, match=r"bad\.jpg"):
        read_image_size(str(bad))
