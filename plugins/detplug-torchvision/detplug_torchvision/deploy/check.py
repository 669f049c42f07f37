"""Run an exported file next to the eager model (``detplug export --check``).

A float export must give PyTorch's detections (:func:`parity_lines`), and a mask model's
masks (IoU at least :data:`~detplug_torchvision.deploy.parity.MIN_MASK_IOU` per matched
detection, against the eager masks pasted at the original image size as ``Detector`` pastes
them); an int8 export cannot, so its check is the change of the config's metric on the validation images
(:func:`metric_change`). A check that fails raises :class:`ExportCheckError`: the command
exits non-zero, with the file kept for inspection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from detplug_core.errors import DetplugError
from detplug_torchvision.deploy.export import load_pt2
from detplug_torchvision.deploy.model import MASK_KEYS, DeployModel
from detplug_torchvision.deploy.parity import MIN_MASK_IOU, Parity, compare, mask_ious
from detplug_torchvision.deploy.validation import ValidationSet
from detplug_torchvision.masks import MASK_THRESHOLD, image_masks

# (boxes, scores, labels), and masks uint8 [K, H, W] fourth for a mask model.
Outputs = tuple[np.ndarray, ...]
MASK_METRIC_SUFFIX = "/segm_mAP"  # CocoMetric's mask mAP (iou_type segm)


class ExportCheckError(DetplugError):
    """The exported file was written but does not behave as the model does."""

    exit_code = 1


def exported_runner(
    path: Path, fmt: str, threads: int | None = None
) -> Callable[[Tensor], Outputs]:
    """A callable: one uint8 ``[3, H, W]`` image -> (boxes, scores, labels[, masks]) numpy
    arrays, from the exported file (the session or program is loaded once)."""
    if fmt == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = session.get_inputs()[0].name
        return lambda image: tuple(session.run(None, {feed: image.cpu().numpy()}))  # type: ignore[return-value]
    module, _ = load_pt2(path)

    def run(image: Tensor) -> Outputs:
        with torch.no_grad():
            return tuple(t.numpy() for t in module(image.cpu()))  # type: ignore[return-value]

    return run


def eager_runner(model: DeployModel) -> Callable[[Tensor], Outputs]:
    """The eager model as :func:`exported_runner`'s callable. Masks are pasted at the
    original image's size by :func:`detplug_torchvision.masks.image_masks`, as
    ``Detector`` pastes them, not by the exported graph's own pasting: the check compares
    the file with what PyTorch gives a user."""
    model = model.cpu().eval()

    def run(image: Tensor) -> Outputs:
        size = (int(image.shape[-2]), int(image.shape[-1]))
        with torch.inference_mode():
            out = model.detect([image.cpu()])[0]
            masks = image_masks(out, size, MASK_THRESHOLD)
        outputs = (
            out["boxes"].float().numpy(),
            out["scores"].float().numpy(),
            out["labels"].to(torch.int64).numpy(),
        )
        return outputs if masks is None else (*outputs, masks.to(torch.uint8).numpy())

    return run


@dataclass
class CheckImage:
    name: str  # "validation image 3", "random 480x640"
    image: Tensor  # uint8 [3, H, W]


def parity_lines(
    model: DeployModel, exported: Callable[[Tensor], Outputs], images: Sequence[CheckImage]
) -> tuple[list[str], str | None]:
    """One line per image (detections matched, the largest differences, its verdict) and
    the failure, ``None`` when every image with detections agrees."""
    model = model.cpu().eval()
    lines, different, compared = [], 0, 0
    for item in images:
        size = (int(item.image.shape[-2]), int(item.image.shape[-1]))
        with torch.inference_mode():
            ref = model.detect([item.image.cpu()])[0]
        got = exported(item.image)
        parity = compare_to_eager(ref, got, size)
        if len(ref["scores"]) == 0 and len(got[1]) == 0:
            verdict = "no detections on either side, nothing compared"
        else:
            compared += 1
            verdict = "ok" if parity.ok() else "DIFFERENT"
            different += verdict == "DIFFERENT"
        lines.append(
            f"check {item.name} ({size[0]}x{size[1]}): {parity.matched} detections matched, "
            f"{parity.unmatched} unmatched, box diff {parity.box_diff:.1e} of the image size, "
            f"score diff {parity.score_diff:.1e}{_masks(parity, len(got) < 4)}: {verdict}"
        )
    if not compared:
        lines.append(
            "check inconclusive: the model detected nothing on any check image, so the "
            "file's detections were never compared"
        )
    failure = None
    if different:
        failure = (
            f"check failed: the exported file differs from PyTorch on {different} of "
            f"{len(images)} check images (above); the file is kept for inspection"
        )
    return lines, failure


def compare_to_eager(
    eager: dict[str, Tensor],
    got: Outputs,
    image_size: tuple[int, int],
    score_threshold: float = 0.0,
    margin: float = 1e-4,
) -> Parity:
    """The parity of an exported file's outputs ``got`` with the eager detections of the
    same image (:meth:`DeployModel.detect`): boxes, scores and labels by
    :func:`~detplug_torchvision.deploy.parity.compare`; then each matched detection's mask
    against the eager model's mask of that detection pasted at the file's box (binary at
    0.5, by :func:`detplug_torchvision.masks.image_masks`).

    The same box on both sides: pasting cuts the grown box to whole pixels, so a box
    1e-4 px from the eager one (float rounding of another runtime; boxes are compared on
    their own, to 1e-4 of the image size) can make a window one pixel larger and move
    every pixel of a small mask by up to half a pixel. The masks then compare the mask
    branch and the pasting, not that rounding."""
    ref = (
        eager["boxes"].float().numpy(),
        eager["scores"].float().numpy(),
        eager["labels"].to(torch.int64).numpy(),
    )
    parity = compare(ref, got[:3], image_size, score_threshold, margin)
    has_masks = any(key in eager for key in MASK_KEYS)
    if has_masks != (len(got) > 3):
        parity.masks_missing = True
    elif has_masks:
        rows = [i for i, _ in parity.pairs]
        cols = [j for _, j in parity.pairs]
        prediction = {key: eager[key][rows] for key in MASK_KEYS if key in eager}
        prediction["boxes"] = torch.as_tensor(np.asarray(got[0])[cols]).reshape(-1, 4)
        reference = image_masks(prediction, image_size, MASK_THRESHOLD)
        ious = mask_ious(reference.numpy(), np.asarray(got[3])[cols])
        parity.mask_iou = float(ious.min()) if len(ious) else 1.0
    return parity


def _masks(parity: Parity, file_without_masks: bool) -> str:
    """The masks' part of a check line ("" for a model without masks)."""
    if parity.masks_missing:
        side = "the exported file" if file_without_masks else "PyTorch"
        return f", masks: {side} gives none"
    if parity.mask_iou is None:
        return ""
    return f", lowest mask IoU {parity.mask_iou:.4f} (at least {MIN_MASK_IOU} needed)"


def metric_change(
    model: DeployModel,
    exported: Callable[[Tensor], Outputs],
    data: ValidationSet,
    limit: int | None,
    max_drop: float,
) -> tuple[list[str], str | None]:
    """One line per checked metric comparing the float model and the exported (quantized)
    one on the validation images: the config's main metric, and the mask mAP when the
    config scores masks (``*/segm_mAP``); and the failure (``None``: each dropped by
    ``max_drop`` or less)."""
    eager = data.evaluate(eager_runner(model), limit)
    quant = data.evaluate(exported, limit)
    count = len(data) if limit is None else min(limit, len(data))
    keys = [main_metric(eager)] + [k for k in eager if k.endswith(MASK_METRIC_SUFFIX)]
    lines, dropped = [], []
    for key in dict.fromkeys(keys):
        change = quant[key] - eager[key]
        line = (
            f"check {key} on {count} validation images: float32 {eager[key]:.4f}, int8 "
            f"{quant[key]:.4f} ({change:+.4f})"
        )
        if change < -max_drop:
            dropped.append(f"{key} dropped by {-change:.4f}")
            lines.append(f"{line}: TOO LOW")
        else:
            lines.append(f"{line}: ok (allowed drop {max_drop})")
    failure = None
    if dropped:
        failure = (
            f"check failed: {', '.join(dropped)}, more than --max-map-drop {max_drop}; "
            "the file is kept for inspection"
        )
    return lines, failure


def main_metric(results: dict[str, float]) -> str:
    """The first ``*/mAP`` key (COCO or VOC), else the first key."""
    return next((k for k in results if k.endswith("/mAP")), next(iter(results)))
