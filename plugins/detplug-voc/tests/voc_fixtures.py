"""Small VOC folders built by the tests (nothing is shipped)."""

from __future__ import annotations

from PIL import Image

__all__ = ["flat_folder", "xml"]


def xml(filename, objects, size=(30, 20)):
    w, h = size
    body = "".join(
        f"<object><name>{n}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
        f"<ymax>{d}</ymax></bndbox></object>"
        for n, (a, b, c, d) in objects
    )
    return (
        f"<annotation><filename>{filename}</filename><size><width>{w}</width>"
        f"<height>{h}</height></size>{body}</annotation>"
    )


def flat_folder(root, n=10, ann="xml", img="pics", suffix=".jpg"):
    """``n`` images and XMLs under ``root/ann`` and ``root/img``, no ImageSets."""
    (root / ann).mkdir(parents=True, exist_ok=True)
    (root / img).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        name = "dog" if i % 3 else "cat"
        (root / ann / f"im{i:02d}.xml").write_text(xml(f"im{i:02d}.jpg", [(name, (2, 3, 12, 15))]))
        Image.new("RGB", (30, 20), (9, 9, 9)).save(root / img / f"im{i:02d}{suffix}", "JPEG")
    return root


def palette_png(path, indices):
    """``indices`` (uint8 [H, W]) as a palette PNG, as VOC's SegmentationObject files are."""
    import numpy as np

    im = Image.fromarray(np.asarray(indices, dtype=np.uint8))  # mode L
    im.putpalette([v for k in range(256) for v in ((k * 37) % 256, (k * 91) % 256, k)])
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def with_objects(indices, boxes, void=True):
    """Fill each box (xyxy pixels) with its 1-based index, later ones on top, with VOC's
    255 band around each (``void``)."""
    for k, (x1, y1, x2, y2) in enumerate(boxes, start=1):
        if void:
            indices[max(y1 - 1, 0) : y2 + 1, max(x1 - 1, 0) : x2 + 1] = 255
        indices[y1:y2, x1:x2] = k
    return indices
