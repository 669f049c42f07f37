"""ToyDetector: normalise + pad, two stride-2 convs, then per-cell class logits and a box.

Training: the cell holding a box centre is that box's positive for its class; loss_cls is a
per-image BCE over all cells, loss_bbox a per-image L1 over the positives (both averaged
over images, so a batch split over ranks averages to the same loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detplug_runner_toy.registries import MODELS

STRIDE = 4


@MODELS.register()
class ToyDetector(nn.Module):
    def __init__(self, num_classes: int = 2, width: int = 8, max_dets: int = 10) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.max_dets = max_dets
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1),
            nn.GroupNorm(2, width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.GroupNorm(2, width),
            nn.ReLU(),
        )
        self.cls = nn.Conv2d(width, num_classes, 1)
        self.reg = nn.Conv2d(width, 4, 1)

    def _batch(self, images: list[torch.Tensor]) -> torch.Tensor:
        h = max(img.shape[-2] for img in images)
        w = max(img.shape[-1] for img in images)
        h, w = -(-h // STRIDE) * STRIDE, -(-w // STRIDE) * STRIDE
        batch = images[0].new_zeros((len(images), 3, h, w))
        for i, img in enumerate(images):
            batch[i, :, : img.shape[-2], : img.shape[-1]] = (img - 0.5) / 0.25
        return batch

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):
        feats = self.body(self._batch(images))
        logits, deltas = self.cls(feats), self.reg(feats)
        if self.training:
            return self._losses(logits, deltas, targets)
        return self._predict(logits, deltas, images)

    def _losses(self, logits, deltas, targets):
        _, _, h, w = logits.shape
        cls_losses, box_losses = [], []
        for i, target in enumerate(targets):
            keep = ~target["ignore"] if "ignore" in target else slice(None)
            boxes, labels = target["boxes"][keep], target["labels"][keep]
            cx = ((boxes[:, 0] + boxes[:, 2]) / 2 / STRIDE).long().clamp(0, w - 1)
            cy = ((boxes[:, 1] + boxes[:, 3]) / 2 / STRIDE).long().clamp(0, h - 1)
            heat = torch.zeros_like(logits[i])
            heat[labels, cy, cx] = 1.0
            cls_losses.append(F.binary_cross_entropy_with_logits(logits[i], heat))
            if len(boxes):
                centres = torch.stack([cx, cy, cx, cy], 1).float() * STRIDE + STRIDE / 2
                wanted = (boxes - centres) / 32.0
                box_losses.append(F.l1_loss(deltas[i][:, cy, cx].T, wanted))
            else:
                box_losses.append(deltas[i].sum() * 0.0)
        return {
            "loss_cls": torch.stack(cls_losses).mean(),
            "loss_bbox": torch.stack(box_losses).mean(),
        }

    def _predict(self, logits, deltas, images):
        results = []
        c, h, w = logits.shape[1:]
        for i, image in enumerate(images):
            scores = logits[i].sigmoid().flatten()
            k = min(self.max_dets, scores.numel())
            top, idx = scores.topk(k)
            labels = idx // (h * w)
            cy, cx = (idx % (h * w)) // w, idx % w
            centres = torch.stack([cx, cy, cx, cy], 1).float() * STRIDE + STRIDE / 2
            boxes = centres + deltas[i][:, cy, cx].T * 32.0
            ih, iw = image.shape[-2:]
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, iw)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, ih)
            results.append({"boxes": boxes, "scores": top, "labels": labels})
        return results
