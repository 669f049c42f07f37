"""Run an exported file next to the eager model (``detplug export --check``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from detplug_torchvision.deploy.export import example_image, load_pt2
from detplug_torchvision.deploy.model import DeployModel
from detplug_torchvision.deploy.parity import compare


def run_exported(path: Path, fmt: str, image: torch.Tensor) -> tuple:
    """(boxes, scores, labels) as numpy arrays from the exported file."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return tuple(session.run(None, {session.get_inputs()[0].name: image.numpy()}))
    module, _ = load_pt2(path)
    with torch.no_grad():
        return tuple(t.numpy() for t in module(image))


def compare_with_eager(
    model: DeployModel, path: Path, fmt: str, sizes: Sequence[tuple[int, int]]
) -> list[str]:
    """One line per image size: detections matched and the largest differences."""
    if fmt == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return ["check skipped: onnxruntime is not installed"]
    lines = []
    for size in sizes:
        image = example_image(size)
        eager = tuple(t.cpu().numpy() for t in model.cpu()(image))
        parity = compare(eager, run_exported(path, fmt, image), size)
        verdict = "ok" if parity.ok() else "DIFFERENT"
        lines.append(
            f"check {size[0]}x{size[1]}: {parity.matched} detections matched, "
            f"{parity.unmatched} unmatched, box diff {parity.box_diff:.1e} of the image size, "
            f"score diff {parity.score_diff:.1e}: {verdict}"
        )
    return lines
