"""The whole detector as one module: uint8 image in, boxes in that image's pixels out."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detplug_torchvision.deploy.mask_paste import paste_masks_in_graph
from detplug_torchvision.deploy.resize import EvalResize
from detplug_torchvision.masks import MASK_THRESHOLD

INPUT_CONTRACT = (
    "image: uint8 RGB tensor [3, H, W] of any size (H, W >= 1); outputs: boxes float32 [K, 4] "
    "(x1, y1, x2, y2 in the input image's pixels), scores float32 [K] (best first), labels "
    "int64 [K] (0-based class index into class_names); a mask model adds masks uint8 [K, H, W] "
    "(1 where the instance's mask probability is at least 0.5, in the input image's pixels)"
)
OUTPUT_NAMES = ("boxes", "scores", "labels", "masks")
# Per-detection masks a detector may add (Mask R-CNN): ``masks`` [D, 1, h, w] in the network
# input's pixels or ``box_masks`` [D, 1, M, M] on each box's grid.
MASK_KEYS = ("masks", "box_masks")


class DeployModel(nn.Module):
    """Test-time resize, normalisation and padding, the detector, and boxes mapped back.

    ``forward(image)`` takes one uint8 RGB ``[3, H, W]`` image (the exported contract,
    :data:`INPUT_CONTRACT`) and returns ``(boxes [K, 4], scores [K], labels [K])``, and
    for a mask model ``masks`` uint8 ``[K, H, W]`` fourth (mask probability >= 0.5, in
    the image's own pixels). :meth:`detect` runs a list of images of any sizes (uint8,
    or float in 0..1). The detector is any detplug model with torchvision's detection API
    in eval mode.

    Masks: a detector with a ``mask_paste`` switch (detplug-mask-rcnn's MaskRCNN) is set
    to give its masks per box (``box_masks`` [K, 1, M, M]); ``forward`` pastes them at
    the boxes in the original image's pixels, as torchvision does, with
    :func:`~detplug_torchvision.deploy.mask_paste.paste_masks_in_graph` (the pasting
    an exported graph can hold). Masks pasted in the resized network input (``masks``)
    are resized to the image bilinearly instead.

    Batching never changes an answer: only images whose network inputs pad to the same
    size run through the network together (each is then padded exactly as it is alone),
    and a detection lying wholly in the padding (right of or below the image, where the
    batch has no pixels of it) is dropped.
    """

    def __init__(self, detector: nn.Module, resize: EvalResize | None = None) -> None:
        super().__init__()
        self.detector = detector.eval()
        self.resize = resize
        if hasattr(detector, "mask_paste"):  # the documented switch of mask detectors
            detector.mask_paste = False

    @property
    def size_divisible(self) -> int:
        """The multiple the detector pads its batch to (1: no padding known)."""
        return int(getattr(getattr(self.detector, "preprocessor", None), "size_divisible", 1))

    def detect(self, images: Sequence[Tensor]) -> list[dict[str, Tensor]]:
        """One ``{"boxes", "scores", "labels"}`` per image, boxes in its own pixels, plus
        the detector's :data:`MASK_KEYS` as it gave them (not mapped to the image)."""
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
        outputs = self._run_by_padded_size(inputs)
        results = []
        for x, out, scale in zip(inputs, outputs, scales, strict=True):
            boxes = out["boxes"].float()
            # Nothing of the box inside the image: it came from the padding.
            inside = (boxes[:, 0] < x.shape[-1]) & (boxes[:, 1] < x.shape[-2])
            boxes = boxes[inside]
            if scale is not None:
                boxes = boxes * scale.to(boxes.device)
            result = {
                "boxes": boxes,
                "scores": out["scores"][inside],
                "labels": out["labels"][inside],
            }
            for key in MASK_KEYS:  # as the detector gave them; Detector maps them to the image
                if key in out:
                    result[key] = out[key][inside]
            results.append(result)
        return results

    def _run_by_padded_size(self, inputs: list[Tensor]) -> list[dict[str, Tensor]]:
        """The detector's outputs, one network call per group of images whose padded
        network inputs have the same size (all at once when they all do)."""
        if len(inputs) == 1 or torch.compiler.is_exporting():
            return list(self.detector(inputs))
        div = self.size_divisible
        groups: dict[tuple[int, int], list[int]] = {}
        for i, x in enumerate(inputs):
            key = (-(-int(x.shape[-2]) // div) * div, -(-int(x.shape[-1]) // div) * div)
            groups.setdefault(key, []).append(i)
        outputs: list[dict[str, Tensor] | None] = [None] * len(inputs)
        for members in groups.values():
            for i, out in zip(members, self.detector([inputs[i] for i in members]), strict=True):
                outputs[i] = out
        return outputs  # type: ignore[return-value]

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        out = self.detect([image])[0]
        outputs = (out["boxes"], out["scores"].float(), out["labels"].to(torch.int64))
        size = (image.shape[-2], image.shape[-1])
        if "box_masks" in out:
            masks = paste_masks_in_graph(out["box_masks"], out["boxes"], size)
        elif "masks" in out:  # pasted in the network input: resized to the image
            masks = F.interpolate(
                out["masks"].float(), size=size, mode="bilinear", align_corners=False
            )
            masks = masks[:, 0]
        else:
            return outputs
        return (*outputs, (masks >= MASK_THRESHOLD).to(torch.uint8))


def _as_float(size: int | torch.SymInt) -> Tensor:
    return torch.scalar_tensor(size, dtype=torch.float32)
