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
