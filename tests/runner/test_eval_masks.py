"""Masks in the evaluation pass (issue 27): brought back to ``orig_size`` with predicted and
ground-truth boxes (``rescale_masks``, checked against torchvision's own resize), and the
optional metric method ``prepare(predictions, targets)`` that makes each batch compact on
the rank that predicted it, in one process and under two gloo ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from detplug_core.runner import Runner
from detplug_core.runner.rescale import rescale_masks

TOY_SRC = Path(__file__).parent / "toy_plugin"

# Sizes (orig -> resized) like COCO's 1333x800 pipeline: ratios that are not whole numbers.
ENLARGED = [((480, 640), (800, 1066)), ((427, 640), (800, 1199)), ((33, 51), (80, 123))]


@pytest.mark.parametrize(("orig", "size"), ENLARGED)
def test_ground_truth_masks_come_back_exactly_from_an_enlargement(orig, size):
    """torchvision's resize of a ``tv_tensors.Mask`` (nearest), undone pixel for pixel."""
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as TF

    masks = (torch.rand(2, *orig, generator=torch.Generator().manual_seed(0)) > 0.5).to(torch.uint8)
    resized = TF.resize(tv_tensors.Mask(masks), list(size))
    back = rescale_masks(resized.as_subclass(torch.Tensor), size, orig)
    assert back.dtype == torch.uint8 and torch.equal(back, masks)


def test_shrunk_masks_and_probabilities_come_back_at_the_original_size():
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    gt = torch.zeros(2, 60, 90, dtype=torch.uint8)
    gt[0, 10:30, 20:50] = 1
    back = rescale_masks(gt, (60, 90), (128, 192))
    assert back.shape == (2, 128, 192) and back[0].sum() > 0 and back[1].sum() == 0
    # probabilities: torchvision's bilinear resize without antialiasing (the reference)
    prob = torch.rand(4, 1, 50, 70, generator=torch.Generator().manual_seed(1))
    for orig in ((100, 140), (33, 41)):
        want = TF.resize(prob, list(orig), InterpolationMode.BILINEAR, antialias=False)
        assert torch.allclose(rescale_masks(prob, (50, 70), orig), want, atol=1e-6)
    assert rescale_masks(torch.zeros(0, 1, 50, 70), (50, 70), (20, 30)).shape == (0, 1, 20, 30)
    assert rescale_masks(prob, (50, 70), (50, 70)) is prob
    assert rescale_masks(prob, (50, 70), None) is prob
    grids = torch.rand(4, 1, 14, 14)  # box_masks (not the image's size) stay as they are
    assert rescale_masks(grids, (50, 70), (100, 140)) is grids


# What the in-process and the two-rank runs share: a toy detector that also predicts masks
# (its boxes, filled), toy images with box-filled ground-truth masks, enlarged 2x by the
# pipeline, and two metrics: one that makes its batches compact in ``prepare``, one without.
COMMON = textwrap.dedent(
    """
    import torch
    from detplug_runner_toy.data import ToyShapes
    from detplug_runner_toy.model import ToyDetector


    def box_fill(boxes, size):
        masks = torch.zeros(len(boxes), *size, dtype=torch.uint8)
        for i, (x0, y0, x1, y1) in enumerate(boxes.round().long().tolist()):
            masks[i, y0:y1, x0:x1] = 1
        return masks


    class MaskedShapes(ToyShapes):
        def __getitem__(self, index):
            image, target = super().__getitem__(index)
            return image, {**target, "masks": box_fill(target["boxes"], image.shape[-2:])}


    class MaskedToy(ToyDetector):
        def forward(self, images, targets=None):
            out = super().forward(images, targets)
            if self.training:
                return out
            for image, pred in zip(images, out):
                filled = box_fill(pred["boxes"], image.shape[-2:]).float()[:, None]
                pred["masks"] = filled * 0.8
            return out


    class Compacting:
        prefix = "compact"
        last = None

        def __init__(self, classes):
            self.prepared = []  # shapes of the masks prepare() saw, per batch
            Compacting.last = self

        def reset(self):
            self.seen = []

        def prepare(self, preds, targets):
            self.prepared.append([tuple(p["masks"].shape) for p in preds])
            small = [
                {"image_id": t["image_id"], "gt_area": int(t["masks"].sum()),
                 "dt_area": float((p["masks"] >= 0.5).sum()), "sizes": [
                     tuple(t["masks"].shape[-2:]), tuple(p["masks"].shape[-2:])]}
                for p, t in zip(preds, targets)
            ]
            return [{"small": s} for s in small], [{} for _ in small]

        def update(self, preds, targets):
            assert all(set(p) == {"small"} for p in preds), preds
            self.seen += [p["small"] for p in preds]

        def compute(self):
            return {"images": len(self.seen)}


    class Plain:
        prefix = "plain"
        last = None

        def __init__(self, classes):
            Plain.last = self

        def reset(self):
            self.shapes = []

        def update(self, preds, targets):
            self.shapes += [(tuple(p["masks"].shape[-2:]), tuple(t["masks"].shape)) for p, t in
                            zip(preds, targets)]

        def compute(self):
            return {"images": len(self.shapes)}


    def config(work_dir, num_images):
        data = {"type": MaskedShapes, "num_images": num_images, "seed": 1,
                "transforms": [{"type": "ToyResize", "scale": 2.0}]}
        return {
            "model": {"type": MaskedToy},
            "val_dataloader": {"batch_size": 2, "num_workers": 0, "dataset": data},
            "metrics": [{"type": Compacting}, {"type": Plain}],
            "work_dir": str(work_dir),
            "seed": 0,
        }
    """
)


def _common(toy) -> dict:
    namespace: dict = {}
    exec(compile(COMMON, "eval_masks_common", "exec"), namespace)  # noqa: S102
    return namespace


def test_masks_reach_metrics_at_orig_size_through_prepare(tmp_path, toy):
    common = _common(toy)
    with Runner(common["config"](tmp_path, 5)) as runner:
        assert runner.val() == {"compact/images": 5.0, "plain/images": 5.0}
    compacting, plain = common["Compacting"].last, common["Plain"].last
    assert len(compacting.prepared) == 3  # once per batch (2 + 2 + 1 images)
    assert all(shape[1:] == (1, 40, 48) for batch in compacting.prepared for shape in batch)
    raw = common["MaskedShapes"](num_images=5, seed=1)
    for i, small in enumerate(compacting.seen):
        assert small["image_id"] == i and small["sizes"] == [(40, 48), (40, 48)]
        # the 2x enlargement undone: the ground truth of the file, pixel for pixel
        assert small["gt_area"] == int(raw[i][1]["masks"].sum())
    # a metric without prepare gets the batch as it is, masks at orig_size too
    assert plain.shapes and all(dt == (40, 48) and gt[1:] == (40, 48) for dt, gt in plain.shapes)


@pytest.mark.slow
def test_prepared_batches_are_gathered_from_two_ranks(tmp_path, toy):
    """Two gloo ranks: rank 0's metrics get every image once, in dataset order, as each
    metric prepared it on the rank that predicted it; the same values as one process."""
    script = tmp_path / "ddp_eval.py"
    script.write_text(
        COMMON
        + textwrap.dedent(
            """
            import gc, json, sys
            import torch.distributed as dist
            from detplug_core.runner import Runner

            with Runner(config(sys.argv[1], 7)) as runner:
                metrics = runner.val()
                if runner.rank == 0:
                    out = {"metrics": metrics, "seen": Compacting.last.seen,
                           "plain": Plain.last.shapes}
                    open(sys.argv[2], "w").write(json.dumps(out))
            # the process group is the caller's (Runner.close): torn down as the CLI does
            # (detplug_core/cli/rank.py), never by a destructor at interpreter exit, which
            # can abort a rank ("terminate called without an active exception")
            del runner
            gc.collect()
            dist.barrier()
            dist.destroy_process_group()
            """
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TOY_SRC), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    out = tmp_path / "out.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    res = subprocess.run(
        [*command, str(script), str(tmp_path / "work"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["metrics"] == {"compact/images": 7.0, "plain/images": 7.0}
    common = _common(toy)
    with Runner(common["config"](tmp_path / "single", 7)) as runner:
        runner.val()
    single = common["Compacting"].last.seen
    assert [s["image_id"] for s in got["seen"]] == list(range(7))
    assert got["seen"] == json.loads(json.dumps(single))
    assert len(got["plain"]) == 7


def test_rescale_masks_keeps_dtype_and_leading_dims():
    probs = torch.rand(3, 1, 10, 12)
    out = rescale_masks(probs, (10, 12), (20, 24))
    want = F.interpolate(probs, size=(20, 24), mode="bilinear", align_corners=False)
    assert out.shape == (3, 1, 20, 24) and torch.equal(out, want)
    binary = torch.ones(2, 10, 12, dtype=torch.bool)
    assert rescale_masks(binary, (10, 12), (5, 6)).dtype == torch.bool
