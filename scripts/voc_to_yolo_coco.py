"""Convert a Pascal VOC data set (e.g. BCCD) to the YOLO layout and to COCO JSON.

    .venv/bin/python scripts/voc_to_yolo_coco.py ../shared/data/BCCD OUT \\
        --classes RBC WBC Platelets

writes

    OUT/yolo/data.yaml, OUT/yolo/images/<split>/*.jpg, OUT/yolo/labels/<split>/*.txt
    OUT/coco/annotations/instances_<split>.json, OUT/coco/<split>/*.jpg

with ``--split train=trainval --split val=test`` (the defaults: the repository's BCCD recipe)
mapping each output split to a VOC ``ImageSets/Main`` split. Images are symbolic links to
the VOC files (``--copy`` copies them). The boxes are the ones ``VOCDataset`` loads (1-based
inclusive VOC pixels become ``[xmin - 1, ymin - 1, xmax, ymax]``; zero-area boxes dropped,
boxes clipped), so all three formats load the same boxes: ``detplug train RECIPE --data
OUT/yolo/data.yaml`` or ``--data OUT/coco/annotations/instances_train.json``. ``difficult``
objects have no YOLO equivalent and are written as ordinary boxes (the count is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import yaml
from detplug_voc.dataset import VOCDataset


def _place(src: str, dst: Path, copy: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if copy:
        shutil.copyfile(src, dst)
    else:
        dst.symlink_to(os.path.abspath(src))


def convert_split(dataset: VOCDataset, split: str, out: Path, copy: bool) -> dict:
    """Write one split in both formats; returns counts."""
    images, annotations = [], []
    difficult = 0
    for rec in dataset.records:
        name = os.path.basename(rec.path)
        _place(rec.path, out / "yolo" / "images" / split / name, copy)
        _place(rec.path, out / "coco" / split / name, copy)
        rows = []
        for box, label, ignore in zip(rec.boxes, rec.labels, rec.ignore, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            cx, cy = (x1 + x2) / 2 / rec.width, (y1 + y2) / 2 / rec.height
            w, h = (x2 - x1) / rec.width, (y2 - y1) / rec.height
            rows.append(f"{int(label)} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}\n")
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": rec.image_id + 1,
                    "category_id": int(label) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }  # fmt: skip
            )
            difficult += bool(ignore)
        label_file = out / "yolo" / "labels" / split / (os.path.splitext(name)[0] + ".txt")
        label_file.parent.mkdir(parents=True, exist_ok=True)
        label_file.write_text("".join(rows))
        images.append(
            {"id": rec.image_id + 1, "file_name": name, "width": rec.width, "height": rec.height}
        )
    coco = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": c} for i, c in enumerate(dataset.classes)],
    }
    path = out / "coco" / "annotations" / f"instances_{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(coco))
    return {"images": len(images), "boxes": len(annotations), "difficult": difficult}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("voc_root")
    parser.add_argument("out")
    parser.add_argument("--classes", nargs="+", required=True, help="label order")
    parser.add_argument(
        "--split", action="append", metavar="OUT=VOC", help="default: train=trainval val=test"
    )
    parser.add_argument("--copy", action="store_true", help="copy images (default: symlinks)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    splits = dict(s.split("=", 1) for s in (args.split or ["train=trainval", "val=test"]))
    spec: dict = {"path": ".", "names": list(args.classes)}
    for split, voc_split in splits.items():
        ds = VOCDataset(data_root=args.voc_root, split=voc_split, classes=args.classes)
        counts = convert_split(ds, split, out, args.copy)
        spec[split] = f"images/{split}"
        print(f"{split} (VOC {voc_split}): {counts}")
    (out / "yolo" / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    print(f"wrote {out / 'yolo' / 'data.yaml'} and {out / 'coco' / 'annotations'}")


if __name__ == "__main__":
    main()
