"""The whole detector as one module: uint8 image in, boxes in that image's pixels out."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from detplug_torchvision.deploy.resize import EvalResize

INPUT_CONTRACT = (
    "image: uint8 RGB tensor [3, H, W] of any size (H, W >= 1); outputs: boxes float32 [K, 4] "
    "(x1, y1, x2, y2 in the input image's pixels), scores float32 [K] (best first), labels "
    "int64 [K] (0-based class index into class_names)"
)


class DeployModel(nn.Module):
    """Test-time resize, normalisation and padding, the detector, and boxes mapped back.

    ``forward(image)`` takes one uint8 RGB ``[3, H, W]`` image (the exported contract,
    :data:`INPUT_CONTRACT`) and returns ``(boxes [K, 4], scores [K], labels [K])``.
    :meth:`detect` runs a list of images of any sizes (uint8, or float in 0..1) as one
    batch. The detector is any detplug model with torchvision's detection API in eval mode.
    """

    def __init__(self, detector: nn.Module, resize: EvalResize | None = None) -> None:
        super().__init__()
        self.detector = detector.eval()
        self.resize = resize

    def detect(self, images: Sequence[Tensor]) -> list[dict[str, Tensor]]:
        """One ``{"boxes", "scores", "labels"}`` per image, boxes in its own pixels."""
        inputs, scales = [], []
        for image in images:
            x = image.float() / 255 if not image.is_floating_point() else image.float()
            if self.resize is not None:
                height, width = x.shape[-2], x.shape[-1]
                x = self.resize(x)
                # (w / w', h / h') as float tensors: stays symbolic in an exported graph.
                before = torch.stack((_as_float(width), _as_float(height)))
                after = torch.stack((_as_float(x.shape[-1]), _as_float(x.shape[-2])))
                scales.append((before / after).repeat(2))
            else:
                scales.append(None)
            inputs.append(x)
        outputs = self.detector(inputs)
        results = []
        for out, scale in zip(outputs, scales, strict=True):
            boxes = out["boxes"].float()
            if scale is not None:
                boxes = boxes * scale.to(boxes.device)
            results.append({"boxes": boxes, "scores": out["scores"], "labels": out["labels"]})
        return results

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.detect([image])[0]
        return out["boxes"], out["scores"].float(), out["labels"].to(torch.int64)


def _as_float(size: int | torch.SymInt) -> Tensor:
    return torch.scalar_tensor(size, dtype=torch.float32)
