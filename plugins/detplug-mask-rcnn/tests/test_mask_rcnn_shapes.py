"""The data path with masks into Mask R-CNN: detplug-shapes with ``with_masks: true``,
through the shapes recipes' transforms and the loader's collate, into a small MaskRCNN that
fits one batch (its mask loss falls), and whose eval masks are in the images' pixels."""

from __future__ import annotations

import torch
from detplug_shapes import ShapesDataset
from test_mask_rcnn_parts import SMALL

from detplug_core import MODELS
from detplug_core.data.collate import detection_collate

PIPELINE = [
    {"type": "torchvision.ResizeShortLong", "short": 80, "long": 80},
    {"type": "torchvision.RandomHorizontalFlip", "p": 0.5},
    {"type": "torchvision.SanitizeBoxes"},
    {"type": "torchvision.ToFloatImage"},
]


def test_shapes_with_masks_train_a_small_mask_rcnn(tmp_path):
    torch.manual_seed(0)
    ds = ShapesDataset(
        "train",
        num_images=4,
        image_size=96,
        object_size=[24, 48],
        min_objects=2,
        max_objects=3,
        cache_dir=tmp_path,
        with_masks=True,
        transforms=PIPELINE,
    )
    images, targets = detection_collate([ds[i] for i in range(len(ds))])
    assert all(
        t["masks"].shape[-2:] == im.shape[-2:] == (80, 80)
        for im, t in zip(images, targets, strict=True)
    )
    model = MODELS.build(SMALL).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
    mask_losses = []
    for _ in range(30):
        losses = model(images, targets)
        mask_losses.append(losses["loss_mask"].item())
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    # from ~1.6 at the start to well below ln 2 = 0.69 (a mask of 0.5 everywhere): the
    # masks reached the loss aligned with their RoIs (~0.53 seen)
    assert mask_losses[-1] < 0.6 < mask_losses[0], mask_losses
    model.eval()
    with torch.no_grad():
        model.roi_head.postprocess.score_thresh = 0.0
        out = model(images[:1])
    assert out[0]["masks"].shape == (len(out[0]["boxes"]), 1, 80, 80)
