"""PredictionPreviewHook: save a few validation images with predicted and GT boxes (and
instance masks, for a mask model on data with masks)."""

from __future__ import annotations

from typing import Any

from detplug_torchvision.masks import image_masks
from torch import Tensor

from detplug_core import Hook, RunnerView
from detplug_hooks.checks import check_float, check_int, check_str
from detplug_hooks.drawing import draw_detections, kept_predictions
from detplug_hooks.registries import HOOKS
from detplug_hooks.runner_access import is_main_process, work_path

NAME = "PredictionPreviewHook"
MASK_KEYS = ("masks", "box_masks")  # a mask model's (Mask R-CNN's) per-detection masks


@HOOKS.register()
class PredictionPreviewHook(Hook):
    """Every ``interval`` validations, write the first ``num_images`` validation images with
    their ground truth (green) and predictions (red, ``class score``) as PNG files
    ``<out_dir>/iter_<N>_<k>.png`` (``N`` = training iterations done, ``k`` = image index).
    Instance masks are filled in the same colours, see-through: the targets' ``masks`` and
    a mask model's predicted ``masks`` or ``box_masks`` (thresholded at 0.5). A test run
    (``detplug test``) writes the first ``num_images`` test images as ``test_<k>.png``.

    Args:
        interval: preview every ``interval``-th validation (1 = each one).
        num_images: how many images per preview.
        score_thr: draw predictions scoring at least this.
        max_boxes: draw at most this many predictions per image.
        out_dir: folder, relative to the work dir unless absolute.
        min_side: enlarge smaller images (by a whole factor, nearest neighbour) until their
            shorter side is at least this many pixels, so labels stay readable; 0: never.
    """

    priority = "LOW"

    def __init__(
        self,
        interval: int = 1,
        num_images: int = 4,
        score_thr: float = 0.3,
        max_boxes: int = 50,
        out_dir: str = "previews",
        min_side: int = 384,
    ) -> None:
        self.interval = check_int(NAME, "interval", interval)
        self.num_images = check_int(NAME, "num_images", num_images)
        self.score_thr = check_float(NAME, "score_thr", score_thr, low=0, high=1)
        self.max_boxes = check_int(NAME, "max_boxes", max_boxes)
        self.out_dir = check_str(NAME, "out_dir", out_dir)
        self.min_side = check_int(NAME, "min_side", min_side, minimum=0)
        self._validations = 0
        self._written = 0
        self._active = False
        self.written_files: list[str] = []

    def before_val_epoch(self, runner: RunnerView) -> None:
        self._validations += 1
        self._active = is_main_process(runner) and self._validations % self.interval == 0
        self._written = 0

    def after_val_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any, outputs: list):
        name = f"iter_{int(runner.iter):07d}"
        self._preview(runner, data_batch, outputs, name, _classes(runner.val_dataloader))

    def before_test_epoch(self, runner: RunnerView) -> None:
        self._active = is_main_process(runner)
        self._written = 0

    def after_test_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any, outputs: list):
        self._preview(runner, data_batch, outputs, "test", _classes(runner.test_dataloader))

    def _preview(
        self, runner: RunnerView, data_batch: Any, outputs: list, name: str, classes: Any
    ) -> None:
        """Draw the batch's images while fewer than ``num_images`` are written, as
        ``<out_dir>/<name>_<k>.png``."""
        if not self._active or self._written >= self.num_images:
            return
        images, targets = data_batch
        out = work_path(runner, self.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for image, target, pred in zip(images, targets, outputs, strict=False):
            if self._written >= self.num_images:
                break
            drawn = self._drawn_predictions(image, target, pred)
            picture = draw_detections(
                image,
                target.get("boxes"),
                target.get("labels"),
                drawn["boxes"],
                drawn["scores"],
                drawn["labels"],
                classes=classes,
                score_thr=self.score_thr,
                max_boxes=self.max_boxes,
                min_side=self.min_side,
                gt_masks=target.get("masks"),
                masks=drawn.get("masks"),
            )
            path = out / f"{name}_{self._written:02d}.png"
            picture.save(path)
            self.written_files.append(str(path))
            self._written += 1

    def _drawn_predictions(self, image: Tensor, target: dict, pred: dict) -> dict:
        """The predictions that are drawn, on the CPU, boxes in the drawn image's pixels and
        with a mask model binary ``masks`` of its size."""
        scores = pred["scores"].detach().cpu()
        keep = kept_predictions(scores, self.score_thr, self.max_boxes)
        boxes = to_image_pixels(pred["boxes"].detach().cpu()[keep], image, target)
        drawn = {"boxes": boxes, "scores": scores[keep], "labels": pred["labels"].cpu()[keep]}
        found = {key: pred[key].detach().cpu()[keep] for key in MASK_KEYS if key in pred}
        masks = image_masks({**found, "boxes": boxes}, tuple(image.shape[-2:]))
        if masks is not None:
            drawn["masks"] = masks
        return drawn


def _classes(loader: Any) -> list[str] | None:
    """Class names of the loader's dataset, for the labels drawn next to the boxes."""
    return getattr(getattr(loader, "dataset", None), "classes", None)


def to_image_pixels(boxes: Tensor, image: Tensor, target: dict) -> Tensor:
    """Predictions come in original-image pixels (``target["orig_size"]``); the image drawn
    on is the transformed one, so scale the boxes to its size."""
    orig = target.get("orig_size")
    if orig is None:
        return boxes
    height, width = image.shape[-2:]
    scale = boxes.new_tensor([width / orig[1], height / orig[0]] * 2)
    return boxes * scale
