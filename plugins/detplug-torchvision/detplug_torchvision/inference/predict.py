"""Predict on image files with a trained checkpoint: load, preprocess, run, map back."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torchvision import tv_tensors

from detplug_core.errors import DataError, DetplugError
from detplug_torchvision.datasets.image_io import read_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def find_images(inputs: list[str]) -> list[Path]:
    """Expand files and folders (not recursive) into a sorted list of image paths."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{item}: no such image file or folder")
    if not found:
        raise DataError(
            f"no images found in {', '.join(inputs)} (suffixes: {sorted(IMAGE_SUFFIXES)})"
        )
    return found


def eval_transforms_cfg(cfg: Mapping) -> list | None:
    """The ``transforms`` list of the test (else val) dataset config, through wrappers."""
    loader = cfg.get("test_dataloader") or cfg.get("val_dataloader") or {}
    node: Any = loader.get("dataset") if isinstance(loader, Mapping) else None
    while isinstance(node, Mapping):
        if "transforms" in node:
            return node["transforms"]
        inner = node.get("dataset") or (node.get("datasets") or [None])[0]
        node = inner
    return None


class Predictor:
    """A model rebuilt from a detplug checkpoint, with the config's eval transforms."""

    def __init__(self, checkpoint: str | os.PathLike, device: str = "auto"):
        from detplug_core import MODELS
        from detplug_core.data import build_transforms
        from detplug_core.runner.checkpoint import load_file

        ckpt = load_file(checkpoint)
        cfg = ckpt.get("config") if isinstance(ckpt, Mapping) else None
        if not cfg or "model" not in ckpt:
            raise DetplugError(
                f"{checkpoint}: not a detplug training checkpoint (no saved config/model)"
            )
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.cfg = cfg
        self.model = MODELS.build(cfg["model"], path="model")
        self.model.load_state_dict(ckpt["model"])
        self.model.to(self.device).eval()
        self.transforms = build_transforms(eval_transforms_cfg(cfg))
        self.classes: list[str] = list((ckpt.get("meta") or {}).get("classes") or [])

    def class_name(self, label: int) -> str:
        return self.classes[label] if 0 <= label < len(self.classes) else f"class_{label}"

    @torch.inference_mode()
    def predict(self, path: Path) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(uint8 RGB image as read, predictions in that image's pixels)."""
        image = read_image(str(path), sample=str(path))
        h, w = image.shape[-2:]
        target = {
            "boxes": tv_tensors.BoundingBoxes(torch.zeros(0, 4), format="XYXY", canvas_size=(h, w)),
            "labels": torch.zeros(0, dtype=torch.int64),
        }
        inp, _ = self.transforms(image, target)
        inp = torch.as_tensor(inp).to(self.device)
        if inp.dtype == torch.uint8:
            inp = inp.float() / 255
        out = self.model([inp])[0]
        ih, iw = inp.shape[-2:]
        scale = torch.tensor([w / iw, h / ih, w / iw, h / ih], device=out["boxes"].device)
        boxes = out["boxes"] * scale
        return image.as_subclass(torch.Tensor), {
            "boxes": boxes.cpu(),
            "scores": out["scores"].cpu(),
            "labels": out["labels"].cpu(),
        }

    def predict_all(self, paths: list[Path]) -> Iterator[tuple[Path, torch.Tensor, dict]]:
        for path in paths:
            image, pred = self.predict(path)
            yield path, image, pred
