"""The stages' parts (rpn.assigner/loss/proposals, roi_head.assigner/loss/postprocess) are
built from config through the registry: a ``type`` swaps one, the stages' flat keys are
shorthands for the default parts' arguments, and setting both is an error
(docs/models.md, "Faster R-CNN")."""

from __future__ import annotations

import copy

import pytest
import torch
from detplug_faster_rcnn.losses import RPNLoss
from detplug_faster_rcnn.roi_postprocess import RoIPostprocess

import detplug_core
from detplug_core import MODELS
from detplug_core.config import load_config
from detplug_core.errors import BuildError

SMALL = {
    "type": "FasterRCNN",
    "backbone": {"type": "ResNet", "depth": 18, "out_indices": [1, 2, 3, 4], "frozen_stages": -1},
    "neck": {"type": "FPN", "out_channels": 32, "extra_blocks": "pool"},
    "rpn": {"type": "RPN"},
    "roi_head": {
        "type": "RoIHead",
        "num_classes": 3,
        "box_head": {"type": "TwoMLPHead", "representation_size": 64},
    },
}
_G = torch.Generator().manual_seed(1)
IMAGES = [torch.rand(3, 64, 80, generator=_G), torch.rand(3, 48, 64, generator=_G)]
TARGETS = [
    {"boxes": torch.tensor([[4.0, 4.0, 40.0, 30.0], [30.0, 8.0, 60.0, 40.0]]),
     "labels": torch.tensor([2, 0])},
    {"boxes": torch.tensor([[1.0, 2.0, 20.0, 30.0]]), "labels": torch.tensor([1])},
]  # fmt: skip
# Non-default values of every flat key, by stage.
RPN_FLAT = {
    "fg_iou_thresh": 0.6,
    "bg_iou_thresh": 0.2,
    "batch_size_per_image": 64,
    "positive_fraction": 0.4,
    "pre_nms_top_n_train": 150,
    "pre_nms_top_n_test": 120,
    "post_nms_top_n_train": 90,
    "post_nms_top_n_test": 60,
    "nms_thresh": 0.6,
    "score_thresh": 0.01,
    "min_size": 0.5,
    "smooth_l1_beta": 0.2,
}
ROI_FLAT = {
    "fg_iou_thresh": 0.4,
    "bg_iou_thresh": 0.3,
    "batch_size_per_image": 32,
    "positive_fraction": 0.5,
    "score_thresh": 0.02,
    "nms_thresh": 0.4,
    "detections_per_img": 9,
    "smooth_l1_beta": 0.3,
}
RPN_PARTS = {
    "assigner": ["fg_iou_thresh", "bg_iou_thresh", "batch_size_per_image", "positive_fraction"],
    "loss": ["smooth_l1_beta"],
    "proposals": [
        "pre_nms_top_n_train", "pre_nms_top_n_test", "post_nms_top_n_train",
        "post_nms_top_n_test", "nms_thresh", "score_thresh", "min_size",
    ],
}  # fmt: skip
ROI_PARTS = {
    "assigner": ["fg_iou_thresh", "bg_iou_thresh", "batch_size_per_image", "positive_fraction"],
    "loss": ["smooth_l1_beta"],
    "postprocess": ["score_thresh", "nms_thresh", "detections_per_img"],
}


def config(rpn: dict | None = None, roi_head: dict | None = None) -> dict:
    cfg = copy.deepcopy(SMALL)
    cfg["rpn"].update(rpn or {})
    cfg["roi_head"].update(roi_head or {})
    return cfg


def as_parts(flat: dict, parts: dict) -> dict:
    """The flat keys written as the parts' own keys."""
    return {part: {k: flat[k] for k in keys} for part, keys in parts.items()}


def assigner_settings(assigner) -> tuple:
    matcher, sampler = assigner.matcher, assigner.sampler
    return (
        matcher.high_threshold,
        matcher.low_threshold,
        matcher.allow_low_quality_matches,
        sampler.num,
        sampler.positive_fraction,
    )


def settings(model) -> dict:
    """Every setting the six parts hold."""
    rpn, roi = model.rpn, model.roi_head
    return {
        "rpn.assigner": assigner_settings(rpn.assigner),
        "rpn.loss": rpn.loss.smooth_l1_beta,
        "rpn.proposals": (
            dict(rpn.proposals.pre_nms_top_n),
            dict(rpn.proposals.post_nms_top_n),
            rpn.proposals.nms_thresh,
            rpn.proposals.score_thresh,
            rpn.proposals.min_size,
        ),
        "roi_head.assigner": assigner_settings(roi.assigner),
        "roi_head.loss": roi.loss.smooth_l1_beta,
        "roi_head.postprocess": (
            roi.postprocess.score_thresh,
            roi.postprocess.nms_thresh,
            roi.postprocess.detections_per_img,
        ),
    }


def run(cfg: dict) -> tuple:
    """A model built, trained one step and run in eval mode, under fixed seeds."""
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    torch.manual_seed(1)  # the samplers draw from here
    losses = model.train()(IMAGES, TARGETS)
    with torch.no_grad():
        detections = model.eval()(IMAGES)
    return model, losses, detections


def assert_same_run(a: tuple, b: tuple) -> None:
    (model_a, losses_a, dets_a), (model_b, losses_b, dets_b) = a, b
    assert settings(model_a) == settings(model_b)
    assert model_a.state_dict().keys() == model_b.state_dict().keys()
    for key, value in model_a.state_dict().items():
        assert torch.equal(model_b.state_dict()[key], value), key
    assert losses_a.keys() == losses_b.keys()
    for key in losses_a:
        assert torch.equal(losses_a[key], losses_b[key]), key
    for det_a, det_b in zip(dets_a, dets_b, strict=True):
        for key in ("boxes", "scores", "labels"):
            assert torch.equal(det_a[key], det_b[key]), key


def new_scope(name: str):
    """A registry scope for this test only (the detplug_plugin fixture removes it)."""
    return detplug_core.Registry("models", parent=detplug_core.MODELS, scope=name)


def test_default_parts_are_the_classes_of_before_with_torchvisions_settings():
    model = MODELS.build(config())
    names = {k: type(getattr(getattr(model, k.split(".")[0]), k.split(".")[1])).__name__
             for k in settings(model)}  # fmt: skip
    assert names == {
        "rpn.assigner": "RPNAssigner",
        "rpn.loss": "RPNLoss",
        "rpn.proposals": "RPNProposals",
        "roi_head.assigner": "RoIAssigner",
        "roi_head.loss": "RoILoss",
        "roi_head.postprocess": "RoIPostprocess",
    }
    # the shipped (torchvision) model config spells every flat key out: same parts
    base = load_config("faster_rcnn::models/faster_rcnn_r50_fpn.yaml")["model"]
    rpn = {k: v for k, v in base["rpn"].items() if k not in ("type", "head")}
    roi = {k: v for k, v in base["roi_head"].items() if k in ROI_FLAT}
    assert set(rpn) - {"anchor_generator"} == set(RPN_FLAT) - {"min_size"}
    assert set(roi) == set(ROI_FLAT)
    shipped = MODELS.build(config(rpn=rpn, roi_head=roi))
    assert settings(shipped) == settings(model)
    assert settings(model)["rpn.proposals"][-1] == 1e-3  # min_size, not in the file


def test_flat_keys_and_part_keys_build_the_same_model_and_numbers():
    """Same settings, weights, losses (so the same sampled anchors and RoIs: one random
    stream) and detections, whether the flat shorthands or the parts' own keys are used;
    and the default build equals the build with the defaults spelled out."""
    flat = run(config(RPN_FLAT, ROI_FLAT))
    parts = run(config(as_parts(RPN_FLAT, RPN_PARTS), as_parts(ROI_FLAT, ROI_PARTS)))
    assert_same_run(flat, parts)
    assert settings(flat[0])["roi_head.postprocess"] == (0.02, 0.4, 9)
    assert settings(flat[0])["rpn.proposals"][1] == {True: 90, False: 60}
    # a mix: some flat keys, other arguments of the same part on the part
    mixed = run(
        config(
            {**as_parts(RPN_FLAT, RPN_PARTS), "assigner": {"fg_iou_thresh": 0.6},
             **{k: RPN_FLAT[k] for k in RPN_PARTS["assigner"][1:]}},
            {**ROI_FLAT, "detections_per_img": None, "postprocess": {"detections_per_img": 9}},
        )
    )  # fmt: skip
    assert_same_run(flat, mixed)

    default = run(config())
    spelled = {
        "rpn": {"fg_iou_thresh": 0.7, "bg_iou_thresh": 0.3, "batch_size_per_image": 256,
                "positive_fraction": 0.5, "pre_nms_top_n_train": 2000,
                "pre_nms_top_n_test": 1000, "post_nms_top_n_train": 2000,
                "post_nms_top_n_test": 1000, "nms_thresh": 0.7, "score_thresh": 0.0,
                "min_size": 1e-3, "smooth_l1_beta": 1.0 / 9},
        "roi_head": {"fg_iou_thresh": 0.5, "bg_iou_thresh": 0.5, "batch_size_per_image": 512,
                     "positive_fraction": 0.25, "score_thresh": 0.05, "nms_thresh": 0.5,
                     "detections_per_img": 100, "smooth_l1_beta": 1.0 / 9},
    }  # fmt: skip
    assert_same_run(default, run(config(spelled["rpn"], spelled["roi_head"])))
    assert_same_run(
        default,
        run(config(as_parts(spelled["rpn"], RPN_PARTS), as_parts(spelled["roi_head"], ROI_PARTS))),
    )


def test_a_registered_postprocess_is_swapped_in_by_type(detplug_plugin):
    scope = new_scope("frcnn_parts_test")
    calls = []

    @scope.register()
    class BestBoxOnly(RoIPostprocess):
        """Keeps each image's best detection, whatever detections_per_img says."""

        def __init__(self, tag: str = "", **kwargs) -> None:
            super().__init__(**kwargs)
            self.tag = tag

        def __call__(self, logits, deltas, proposals, image_sizes):
            calls.append(self.tag)
            return [
                {k: v[:1] for k, v in det.items()}
                for det in super().__call__(logits, deltas, proposals, image_sizes)
            ]

    swapped = config(
        roi_head={
            "score_thresh": 0.0,  # a shorthand: fills the swapped part's argument too
            "postprocess": {"type": "frcnn_parts_test.BestBoxOnly", "tag": "mine"},
        }
    )
    torch.manual_seed(0)
    model = MODELS.build(swapped).eval()
    assert type(model.roi_head.postprocess) is BestBoxOnly
    assert model.roi_head.postprocess.score_thresh == 0.0
    assert model.roi_head.postprocess.box_coder is model.roi_head.box_coder
    with torch.no_grad():
        detections = model(IMAGES)
    assert calls == ["mine"]
    assert [len(d["boxes"]) for d in detections] == [1, 1]
    # the default part on the same weights gives more boxes: the config key was used
    torch.manual_seed(0)
    default = MODELS.build(config(roi_head={"score_thresh": 0.0})).eval()
    with torch.no_grad():
        reference = default(IMAGES)
    assert all(len(d["boxes"]) > 1 for d in reference)
    for det, ref in zip(detections, reference, strict=True):
        assert torch.equal(det["boxes"], ref["boxes"][:1])


def test_a_registered_rpn_loss_is_swapped_in_by_type(detplug_plugin):
    scope = new_scope("frcnn_parts_test")

    @scope.register()
    class WeightedRPNLoss(RPNLoss):
        def __init__(self, weight: float = 1.0, **kwargs) -> None:
            super().__init__(**kwargs)
            self.weight = weight

        def __call__(self, objectness, deltas, samples):
            losses = super().__call__(objectness, deltas, samples)
            return {k: v * self.weight for k, v in losses.items()}

    _, default, _ = run(config())
    model, losses, _ = run(
        config(rpn={"smooth_l1_beta": 0.5, "loss": {"type": "WeightedRPNLoss", "weight": 3.0}})
    )
    assert type(model.rpn.loss) is WeightedRPNLoss and model.rpn.loss.smooth_l1_beta == 0.5
    assert torch.allclose(losses["loss_rpn_cls"], 3 * default["loss_rpn_cls"])
    assert torch.equal(losses["loss_cls"], default["loss_cls"])  # the RoI stage is unchanged


def test_setting_a_flat_key_and_the_parts_key_is_an_error():
    cfg = config(roi_head={"fg_iou_thresh": 0.6, "assigner": {"fg_iou_thresh": 0.5}})
    with pytest.raises(
        BuildError, match=r"roi_head.*fg_iou_thresh and assigner\.fg_iou_thresh.*keep one"
    ):
        MODELS.build(cfg)
    cfg = config(rpn={"nms_thresh": 0.6, "min_size": 1.0, "proposals": {"nms_thresh": 0.6}})
    with pytest.raises(BuildError, match=r"rpn.*nms_thresh and proposals\.nms_thresh"):
        MODELS.build(cfg)
    # the shipped configs set the flat keys: a part key on top of them is the same conflict
    cfg = load_config(
        "faster_rcnn::faster_rcnn_r50_fpn_tv.yaml", ["+model.roi_head.postprocess.nms_thresh=0.3"]
    )
    with pytest.raises(BuildError, match=r"nms_thresh and postprocess\.nms_thresh"):
        MODELS.build(cfg["model"]["roi_head"])


def test_a_flat_key_the_swapped_part_does_not_take_is_an_error(detplug_plugin):
    scope = new_scope("frcnn_parts_test")

    @scope.register()
    class NoSettings(RPNLoss):
        def __init__(self) -> None:
            super().__init__()

    MODELS.build(config(rpn={"loss": {"type": "NoSettings"}}))  # nothing to fill: builds
    with pytest.raises(
        BuildError, match=r"smooth_l1_beta \(a shorthand for loss\.smooth_l1_beta\).*NoSettings"
    ):
        MODELS.build(config(rpn={"smooth_l1_beta": 0.5, "loss": {"type": "NoSettings"}}))


def test_the_documented_swap_on_top_of_a_shipped_config(detplug_plugin, tmp_path):
    """docs/models.md's example: parts swapped by type over a config that sets every flat
    key, a flat key changed beside them."""
    scope = new_scope("frcnn_parts_test")

    @scope.register()
    class MyRPNLoss(RPNLoss):
        pass

    @scope.register()
    class SoftNMSPostprocess(RoIPostprocess):
        def __init__(self, sigma: float = 0.5, **kwargs) -> None:
            super().__init__(**kwargs)
            self.sigma = sigma

    (tmp_path / "mine.yaml").write_text(
        "_base_: faster_rcnn::faster_rcnn_r50_fpn_tv.yaml\n"
        "model:\n"
        "  rpn:\n"
        "    loss: {type: frcnn_parts_test.MyRPNLoss}\n"
        "  roi_head:\n"
        "    nms_thresh: 0.6\n"
        "    postprocess: {type: frcnn_parts_test.SoftNMSPostprocess, sigma: 0.25}\n"
    )
    model = load_config(str(tmp_path / "mine.yaml"))["model"]
    rpn = MODELS.build(model["rpn"], in_channels=32)
    roi = MODELS.build({**model["roi_head"], "box_head": SMALL["roi_head"]["box_head"]})
    assert type(rpn.loss) is MyRPNLoss and rpn.loss.smooth_l1_beta == pytest.approx(1 / 9)
    post = roi.postprocess
    assert type(post) is SoftNMSPostprocess and post.sigma == 0.25
    assert (post.nms_thresh, post.score_thresh, post.detections_per_img) == (0.6, 0.05, 100)
