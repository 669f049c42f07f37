"""The real BCCD dataset (Pascal VOC layout, ../shared/data/BCCD; see its SOURCE.md) loads
completely through VOCDataset and iterates with the train transforms and 2 workers."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch
from detplug_torchvision.samplers import AspectRatioBatchSampler
from detplug_voc.dataset import VOCDataset
from torch.utils.data import DataLoader

from detplug_core.data import detection_collate

BCCD = Path(
    os.environ.get("DETPLUG_BCCD", Path(__file__).resolve().parents[3].parent / "shared/data/BCCD")
)
CLASSES = ["RBC", "WBC", "Platelets"]
TRAIN_TRANSFORMS = [
    {"type": "ResizeShortLong", "short": [224, 256, 288], "long": 400},
    {"type": "RandomHorizontalFlip", "p": 0.5},
    {"type": "SanitizeBoxes"},
    {"type": "DropIgnored"},
    {"type": "ToFloatImage"},
]

pytestmark = pytest.mark.skipif(not BCCD.is_dir(), reason=f"BCCD not found at {BCCD}")


def test_bccd_loads_completely_with_its_two_zero_area_boxes_dropped(caplog):
    caplog.set_level(logging.INFO, "detplug.data")
    ds = VOCDataset(data_roots=[str(BCCD)] * 2, split=["trainval", "test"], classes=CLASSES)
    assert len(ds) == 364  # trainval 292 + test 72: every image
    boxes = [ds.records[i].boxes for i in range(len(ds))]
    labels = torch.cat([torch.from_numpy(r.labels) for r in ds.records])
    assert sum(len(b) for b in boxes) == 4888 - 2
    assert torch.bincount(labels).tolist() == [4155 - 2, 372, 361]  # both zero-area are RBC
    assert all(r.height == 480 and r.width == 640 for r in ds.records)
    assert not any(r.ignore.any() for r in ds.records)  # difficult is always 0
    for b in boxes:  # 1-based inclusive file coordinates -> [xmin - 1, ymin - 1, xmax, ymax]
        assert (b[:, :2] >= 0).all() and (b[:, 2] <= 640).all() and (b[:, 3] <= 480).all()
        assert (b[:, 2:] > b[:, :2]).all()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "detplug.data"]
    assert "364 images, 4886 boxes; 2 zero-area boxes dropped" in line
    assert "BloodImage_00338.xml object 12 (RBC) [504.0, 337.0, 504.0, 337.0]" in line
    assert "clipped" not in line  # 545 boxes touch the right/bottom edge, none cross it
    first = ds.records[0]
    assert first.file_name == "BloodImage_00000.jpg"
    assert first.boxes[0].tolist() == [259, 176, 491, 376]  # WBC 260,177,491,376 in the file


def test_bccd_trainval_iterates_with_train_transforms_and_two_workers():
    ds = VOCDataset(str(BCCD), split="trainval", classes=CLASSES, transforms=TRAIN_TRANSFORMS)
    torch.manual_seed(0)
    loader = DataLoader(
        ds,
        batch_sampler=AspectRatioBatchSampler(ds, batch_size=8),
        num_workers=2,
        collate_fn=detection_collate,
    )
    seen, num_boxes = set(), 0
    for images, targets in loader:
        for image, target in zip(images, targets, strict=True):
            assert image.dtype == torch.float32 and image.shape[0] == 3
            assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
            assert image.shape[1] in (224, 256, 288) and image.shape[2] <= 400
            boxes = target["boxes"]
            assert len(boxes) == len(target["labels"]) == len(target["ignore"])
            assert (boxes[:, 2:] > boxes[:, :2]).all()
            assert (boxes[:, 2] <= image.shape[2]).all() and (boxes[:, 3] <= image.shape[1]).all()
            assert target["orig_size"] == (480, 640)
            seen.add(target["image_id"])
            num_boxes += len(boxes)
    assert seen == set(range(292))
    assert num_boxes == sum(len(r.boxes) for r in ds.records)
