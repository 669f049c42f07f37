"""The own-data path on real photos, the way a user takes it (issue 26): a few BCCD
blood-cell photos (../shared/data/BCCD, read-only) converted at test time into the three
forms users bring (a Roboflow YOLO export, a VOC folder without ImageSets whose annotations
and images lie in sibling folders, COCO JSON), each through ``detplug data check``, three
training iterations with ``--data`` at a tiny ``--imgsz``, ``detplug test`` and ``detplug
infer``; the YOLO one also through ``detplug export`` (ONNX) and one photo through the file.
In-process, about a minute of CPU.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from detplug_voc.voc_xml import parse_voc_xml, read_split
from PIL import Image

from detplug_core.cli.main import main

ROOT = Path(__file__).parents[2]
BCCD = ROOT.parent / "shared" / "data" / "BCCD"
CLASSES = ["Platelets", "RBC", "WBC"]  # sorted, as VOC --data finds them
RECIPE = str(ROOT / "configs" / "fcos" / "fcos_r18_fpn_shapes.yaml")
SHORT = [
    "train.max_iters=3", "train.val_interval=3", "checkpoint.interval=3", "hooks=[]",
    "param_schedulers.0.end=2", "train_dataloader.batch_size=2",
    "train_dataloader.num_workers=0", "val_dataloader.num_workers=0",
    "train_dataloader.persistent_workers=false", "val_dataloader.persistent_workers=false",
]  # fmt: skip

pytestmark = [
    pytest.mark.skipif(not BCCD.is_dir(), reason="../shared/data/BCCD is not here"),
    pytest.mark.real_photos,
    pytest.mark.slow,
]


def bccd_ids() -> dict[str, list[str]]:
    return {"train": read_split(str(BCCD / "ImageSets/Main/trainval.txt"))[:8],
            "valid": read_split(str(BCCD / "ImageSets/Main/test.txt"))[:4]}  # fmt: skip


def link(image_id: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{image_id}.jpg").symlink_to(BCCD / "JPEGImages" / f"{image_id}.jpg")


def boxes(image_id: str):
    """(class name, x1, y1, x2, y2) in continuous pixels, zero-area boxes left out."""
    voc = parse_voc_xml(str(BCCD / "Annotations" / f"{image_id}.xml"))
    return voc, [(o.name, *o.box) for o in voc.objects if o.box[2] > o.box[0] + 1]


def roboflow_yolo(out: Path) -> Path:
    for split, ids in bccd_ids().items():
        for image_id in ids:
            link(image_id, out / split / "images")
            voc, rows = boxes(image_id)
            w, h = voc.width, voc.height
            text = "".join(
                f"{CLASSES.index(n)} {(a + c) / 2 / w:.6f} {(b + d) / 2 / h:.6f} "
                f"{(c - a) / w:.6f} {(d - b) / h:.6f}\n"
                for n, a, b, c, d in rows
            )
            (out / split / "labels").mkdir(parents=True, exist_ok=True)
            (out / split / "labels" / f"{image_id}.txt").write_text(text)
    (out / "data.yaml").write_text(  # as Roboflow writes it (no test split exported)
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: 3\n"
        f"names: {CLASSES}\n\nroboflow:\n  workspace: lab\n  project: bccd\n  version: 1\n"
    )
    return out / "data.yaml"


def voc_without_imagesets(out: Path) -> Path:
    for ids in bccd_ids().values():
        for image_id in ids:
            link(image_id, out / "pics")
            (out / "annots").mkdir(parents=True, exist_ok=True)
            shutil.copy(BCCD / "Annotations" / f"{image_id}.xml", out / "annots")
    return out / "annots"  # the annotation folder, as users point at it


def coco_json(out: Path) -> Path:
    for split, ids in bccd_ids().items():
        name = "val" if split == "valid" else split
        images, annotations = [], []
        for k, image_id in enumerate(ids):
            link(image_id, out / name)
            voc, rows = boxes(image_id)
            images.append({"id": k + 1, "file_name": f"{image_id}.jpg", "width": voc.width,
                           "height": voc.height})  # fmt: skip
            for n, a, b, c, d in rows:
                annotations.append({"id": len(annotations) + 1, "image_id": k + 1,
                                    "category_id": CLASSES.index(n) + 1,
                                    "bbox": [a, b, c - a, d - b], "area": (c - a) * (d - b),
                                    "iscrowd": 0})  # fmt: skip
        ann = out / "annotations" / f"instances_{name}.json"
        ann.parent.mkdir(parents=True, exist_ok=True)
        categories = [{"id": i + 1, "name": c} for i, c in enumerate(CLASSES)]
        ann.write_text(json.dumps({"images": images, "annotations": annotations,
                                   "categories": categories}))  # fmt: skip
    return out / "annotations" / "instances_train.json"


def detplug(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as ended:
        main(list(args))
    out = capsys.readouterr()
    assert ended.value.code == 0, f"detplug {' '.join(args)}:\n{out.out[-2000:]}{out.err[-3000:]}"
    return out.out + out.err


@pytest.mark.parametrize("form", ["roboflow_yolo", "voc_without_imagesets", "coco_json"])
def test_own_photos_check_train_test_infer(form, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DETPLUG_PROGRESS", "lines")
    monkeypatch.chdir(tmp_path)  # the ONNX exporter leaves temporary files in the cwd
    data = str(globals()[form](tmp_path / "data"))
    text = detplug(capsys, "data", "check", data, "--out", str(tmp_path / "check"))
    train_images = 10 if form == "voc_without_imagesets" else 8  # VOC: a seeded 80/20 split
    assert f"[train] {train_images} images" in text and "WBC" in text
    work = tmp_path / "work"
    text = detplug(capsys, "train", RECIPE, "--data", data, "--imgsz", "64",
                   "--work-dir", str(work), *SHORT)  # fmt: skip
    log = (work / "log.txt").read_text()
    assert "s per iteration, eta" in log  # the eta after the third iteration
    assert "resized to 64 px, 10x smaller" in log  # 640x480 photos, a 64-px run
    saved = yaml.safe_load((work / "config.yaml").read_text())
    assert saved["model"]["head"]["num_classes"] == 3 and saved["imgsz"] == 64
    text = detplug(capsys, "test", str(work / "latest.pth"))
    assert "coco/mAP" in text and "Platelets" in text
    photos = tmp_path / "photos"
    photos.mkdir()
    link(bccd_ids()["valid"][0], photos)
    detplug(capsys, "infer", str(work / "latest.pth"), str(photos), "--out-dir",
            str(tmp_path / "pred"))  # fmt: skip
    assert (tmp_path / "pred" / "predictions.json").is_file()
    if form == "roboflow_yolo":
        ort = pytest.importorskip("onnxruntime")
        onnx = tmp_path / "model.onnx"
        text = detplug(capsys, "export", str(work / "latest.pth"), "--out", str(onnx),
                        "--size", "480", "640", "--no-check")  # fmt: skip
        assert "classes: Platelets, RBC, WBC" in text
        # one photo through the file (the parity check itself is tested in detplug-torchvision)
        photo = np.asarray(Image.open(photos / f"{bccd_ids()['valid'][0]}.jpg").convert("RGB"))
        session = ort.InferenceSession(str(onnx))
        name = session.get_inputs()[0].name
        boxes, scores, labels = session.run(None, {name: photo.transpose(2, 0, 1).copy()})
        assert boxes.shape[1:] == (4,) and len(scores) == len(labels) == len(boxes)
        assert set(labels.tolist()) <= {0, 1, 2}
