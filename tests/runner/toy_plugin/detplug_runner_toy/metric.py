"""ToyMetric: recall and precision at IoU >= 0.5 (score >= 0.3), plus a per-class table."""

from __future__ import annotations

import torch

from detplug_runner_toy.registries import METRICS


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = lambda x: (x[:, 2:] - x[:, :2]).clamp(min=0).prod(-1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter).clamp(min=1e-6)


@METRICS.register()
class ToyMetric:
    prefix = "toy"

    def __init__(self, classes: list[str], score_thr: float = 0.3) -> None:
        self.classes = list(classes)
        self.score_thr = score_thr
        self.reset()

    def reset(self) -> None:
        n = len(self.classes)
        self.hits, self.gts, self.dets, self.true_dets = [0] * n, [0] * n, [0] * n, [0] * n
        self.num_images = 0
        self.image_ids: list[int] = []

    def update(self, predictions: list[dict], targets: list[dict]) -> None:
        for pred, target in zip(predictions, targets, strict=True):
            self.num_images += 1
            self.image_ids.append(int(target["image_id"]))
            keep = pred["scores"] >= self.score_thr
            boxes, labels = pred["boxes"][keep], pred["labels"][keep]
            for c in range(len(self.classes)):
                gt = target["boxes"][target["labels"] == c]
                dt = boxes[labels == c]
                self.gts[c] += len(gt)
                self.dets[c] += len(dt)
                if len(gt) and len(dt):
                    iou = _iou(gt, dt)
                    self.hits[c] += int((iou.max(1).values >= 0.5).sum())
                    self.true_dets[c] += int((iou.max(0).values >= 0.5).sum())

    def compute(self) -> dict[str, float]:
        return {
            "recall": sum(self.hits) / max(sum(self.gts), 1),
            "precision": sum(self.true_dets) / max(sum(self.dets), 1),
            "num_images": float(self.num_images),
        }

    def per_class(self) -> list[dict]:
        return [
            {"class": name, "gts": self.gts[c], "recall": self.hits[c] / max(self.gts[c], 1)}
            for c, name in enumerate(self.classes)
        ]
