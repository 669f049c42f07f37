"""The public Python API for prediction: ``Detector(checkpoint).predict(images)``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

import torch
from torch import Tensor

from detplug_torchvision.deploy.model import DeployModel
from detplug_torchvision.deploy.resize import eval_resize_from_config
from detplug_torchvision.inference.inputs import ImageInput, is_single_image, to_image_tensor
from detplug_torchvision.inference.loading import LoadedModel, load_model
from detplug_torchvision.masks import MASK_THRESHOLD, encode_rle, image_masks

__all__ = ["Detections", "Detector"]


@dataclass
class Detections:
    """The detections of one image, best first, on the CPU.

    ``boxes`` float32 ``[K, 4]`` (x1, y1, x2, y2 in the image's own pixels), ``scores``
    float32 ``[K]``, ``labels`` int64 ``[K]`` (0-based), ``class_names`` the K names,
    ``image_size`` the image's ``(height, width)``; ``masks`` bool ``[K, H, W]`` of the
    image's own size (a mask model, e.g. Mask R-CNN; ``None`` for a boxes-only model).
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    class_names: list[str]
    image_size: tuple[int, int]
    masks: Tensor | None = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def to_list(self) -> list[dict[str, Any]]:
        """One plain dict per detection: ``box`` [x1, y1, x2, y2], ``score``, ``label``,
        ``class_name``, and with masks ``segmentation``: the mask as COCO's compressed RLE
        (``{"size": [H, W], "counts": str}``, ``pycocotools.mask.decode`` reads it); JSON-ready.
        """
        rows = [
            {"box": box, "score": score, "label": label, "class_name": name}
            for box, score, label, name in zip(
                self.boxes.tolist(),
                self.scores.tolist(),
                self.labels.tolist(),
                self.class_names,
                strict=True,
            )
        ]
        if self.masks is not None:
            for row, rle in zip(rows, encode_rle(self.masks), strict=True):
                row["segmentation"] = rle
        return rows


class Detector:
    """A trained detplug detector, loaded once, predicting on any images.

    ``Detector("work_dirs/x/latest.pth")`` rebuilds the model from a ``detplug train``
    checkpoint (its config is inside); ``Detector.from_config(cfg, weights)`` from a config
    and a weights file. Prediction runs the config's test-time resize, normalisation and
    padding inside the model, as an exported model does (:mod:`detplug_torchvision.deploy`).
    A mask model's (Mask R-CNN's) detections also carry ``masks`` in each image's pixels.

    Args:
        checkpoint: a training checkpoint (``latest.pth``, ``best_coco_mAP.pth``, ...).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when available).
        weights: with ``checkpoint`` a config file, the weights to load into its model.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        device: str | torch.device = "auto",
        weights: str | os.PathLike | None = None,
    ) -> None:
        self._setup(load_model(checkpoint, weights), device)

    @classmethod
    def from_config(
        cls, config: str | os.PathLike, weights: str | os.PathLike, device: str = "auto"
    ) -> Detector:
        """A detector built from ``config`` (a file or ``SCOPE::path``) with ``weights``."""
        return cls(config, device=device, weights=weights)

    def _setup(self, loaded: LoadedModel, device: str | torch.device) -> None:
        if str(device) == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.config = loaded.config
        self.source = loaded.source
        num_classes = getattr(loaded.model, "num_classes", None) or _num_classes(loaded.model)
        self.classes: list[str] = loaded.classes or [f"class_{i}" for i in range(num_classes)]
        self.model = DeployModel(loaded.model, eval_resize_from_config(loaded.config))
        self.model.to(self.device).eval()

    def class_name(self, label: int) -> str:
        return self.classes[label] if 0 <= label < len(self.classes) else f"class_{label}"

    @overload
    def predict(
        self, images: Sequence[ImageInput], score_thr: float = ..., batch_size: int = ...
    ) -> list[Detections]: ...
    @overload
    def predict(
        self, images: ImageInput, score_thr: float = ..., batch_size: int = ...
    ) -> Detections: ...

    @torch.inference_mode()
    def predict(
        self, images: Any, score_thr: float = 0.0, batch_size: int = 1
    ) -> Detections | list[Detections]:
        """Detections of one image (a ``Detections``) or of a list (a list of them).

        ``images``: paths, PIL images, numpy ``H x W x 3`` RGB arrays or ``[3, H, W]``
        tensors (uint8, or float in 0..1), alone or in a list (a ``[N, 3, H, W]`` tensor is
        a list of N). ``score_thr`` drops detections scoring lower (the model's own
        threshold applies first). ``batch_size``: up to that many consecutive images are
        predicted together, in one network call per group whose resized images pad to
        the same size, so batching never changes an answer (beyond float rounding of the
        batched kernels), unlike padding small images to a large one's size (which in
        torchvision changes their scores through the head's GroupNorm).

        A mask model's detections carry ``masks``: bool, the image's own size, thresholded
        at 0.5, from the detector's per-box masks pasted at the boxes in the image's pixels
        (as torchvision pastes them; MaskRCNN gives these, :class:`DeployModel` asks for
        them), or from masks a detector pasted in its input's pixels, resized bilinearly
        to the image (less exact for small masks).
        """
        single = is_single_image(images)
        items = [images] if single else list(images)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        results: list[Detections] = []
        for start in range(0, len(items), batch_size):
            chunk = [
                to_image_tensor(item, start + i).to(self.device)
                for i, item in enumerate(items[start : start + batch_size])
            ]
            for image, out in zip(chunk, self.model.detect(chunk), strict=True):
                results.append(self._detections(image, out, score_thr))
        return results[0] if single else results

    def __call__(self, images: Any, score_thr: float = 0.0, batch_size: int = 1) -> Any:
        return self.predict(images, score_thr=score_thr, batch_size=batch_size)

    def _detections(self, image: Tensor, out: dict[str, Tensor], score_thr: float) -> Detections:
        keep = out["scores"] >= score_thr
        kept = {key: value[keep] for key, value in out.items()}
        labels = kept["labels"].cpu().to(torch.int64)
        size = (int(image.shape[-2]), int(image.shape[-1]))
        masks = image_masks(kept, size, MASK_THRESHOLD)
        return Detections(
            boxes=kept["boxes"].cpu().float(),
            scores=kept["scores"].cpu().float(),
            labels=labels,
            class_names=[self.class_name(int(i)) for i in labels.tolist()],
            image_size=size,
            masks=masks.cpu() if masks is not None else None,
        )

    def __repr__(self) -> str:
        return (
            f"Detector({type(self.model.detector).__name__}, {len(self.classes)} classes, "
            f"device={self.device}, source={self.source!r})"
        )


def _num_classes(model: torch.nn.Module) -> int:
    for part in ("head", "roi_head"):
        value = getattr(getattr(model, part, None), "num_classes", None)
        if isinstance(value, int):
            return value
    return 0
