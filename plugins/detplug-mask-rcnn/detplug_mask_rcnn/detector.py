"""The Mask R-CNN detector: detplug-faster-rcnn's FasterRCNN whose RoI stage also predicts
instance masks (``roi_head: {type: MaskRoIHead}``) and whose targets carry them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from detplug_faster_rcnn.detector import FasterRCNN
from torch import Tensor

from detplug_core.errors import BuildError
from detplug_mask_rcnn.registries import MODELS
from detplug_mask_rcnn.roi_head import MaskRoIHead
from detplug_mask_rcnn.targets import mask_training_targets


@MODELS.register()
class MaskRCNN(FasterRCNN):
    """Mask R-CNN (He et al. 2017) with FPN, torchvision's detection API.

    Built as FasterRCNN is (preprocessor, backbone, neck, ``rpn``, ``roi_head``), with a
    ``roi_head`` that has a mask branch (MaskRoIHead). ``model(images, targets)`` returns
    ``{"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "loss_mask"}`` in train
    mode (targets need ``masks`` [G, H, W] in their image's pixels) and
    ``[{"boxes", "scores", "labels", "masks"}]`` in eval mode, ``masks`` [D, 1, H, W]
    float probabilities in input-image pixels.
    """

    # Rows indexed by class (load_from's class_map: by_name): background first.
    class_tensors = {**FasterRCNN.class_tensors, "roi_head.mask_predictor.logits": (1, 1)}

    def __init__(self, **parts: Any) -> None:
        super().__init__(**parts)
        if not isinstance(self.roi_head, MaskRoIHead):
            raise BuildError(
                f"MaskRCNN: roi_head must have a mask branch (type: MaskRoIHead or a subclass), "
                f"got {type(self.roi_head).__name__}"
            )

    @property
    def mask_paste(self) -> bool:
        """Eval masks pasted in the input image (``masks``, True) or left per box
        (``box_masks``, False): MaskPostprocess's ``paste``. Deployment (DeployModel) sets
        it to False and pastes at the boxes in the original image's pixels itself."""
        return self.roi_head.mask_postprocess.paste

    @mask_paste.setter
    def mask_paste(self, paste: bool) -> None:
        self.roi_head.mask_postprocess.paste = bool(paste)

    def training_targets(
        self,
        targets: Sequence[dict[str, Any]],
        device: torch.device,
        image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        """Boxes, labels and ``masks`` on ``device``, ignored instances dropped."""
        return mask_training_targets(targets, device, self.roi_head.num_classes, image_sizes)
