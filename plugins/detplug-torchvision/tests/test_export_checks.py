"""The verdicts of ``detplug export``'s check, the alternating benchmark rounds, and the
test-time resize sizes of the exported model (fast: no export)."""

from __future__ import annotations

import pytest
import torch
from deploy_utils import bccd_images, build
from detplug_torchvision.deploy.benchmark import alternate
from detplug_torchvision.deploy.check import CheckImage, eager_runner, parity_lines
from detplug_torchvision.deploy.model import DeployModel
from detplug_torchvision.deploy.resize import EvalResize
from detplug_torchvision.transforms.resize import short_long_size
from torchvision.transforms import v2


@pytest.fixture(scope="module")
def images() -> list[CheckImage]:
    return [CheckImage(f"photo {i}", image) for i, image in enumerate(bccd_images()[:2])]


def test_a_check_that_differs_is_a_failure(images):
    """Two models of different weights stand for an export that does not match: every
    line says DIFFERENT and the check fails (the command used to exit 0 after printing
    DIFFERENT)."""
    torch.set_num_threads(1)
    model = DeployModel(build("fcos", seed=0)[0])
    other = DeployModel(build("fcos", seed=1)[0])
    lines, failure = parity_lines(model, eager_runner(other), images)
    assert all(line.endswith(": DIFFERENT") for line in lines), lines
    assert failure and "differs from PyTorch on 2 of 2 check images" in failure
    lines, failure = parity_lines(model, eager_runner(model), images)
    assert failure is None and all(line.endswith(": ok") for line in lines)


def test_a_check_without_detections_is_not_ok(images):
    """Both sides returning nothing proves nothing: no "ok", an inconclusive line."""
    model, _ = build("fcos")
    model.postprocess.score_thresh = 1.0  # a model that detects nothing
    deploy = DeployModel(model)
    lines, failure = parity_lines(deploy, eager_runner(deploy), images)
    assert failure is None
    assert not any(line.endswith(": ok") for line in lines)
    assert lines[-1].startswith("check inconclusive: the model detected nothing")


def test_benchmark_rounds_alternate_the_backends():
    """Each round calls every backend once, the order rotating (the backends used to be
    timed one block after another)."""
    calls: list[str] = []
    cases = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    times = alternate(cases, warmup=1, rounds=4)
    assert calls[:3] == ["a", "b", "c"]  # warm-up
    assert calls[3:] == list("abc" + "bca" + "cab" + "abc")
    assert {name: len(t) for name, t in times.items()} == {"a": 4, "b": 4, "c": 4}


SIZES = [(400, 533), (533, 400), (480, 640), (187, 301), (1333, 2000), (97, 1031), (1, 5)]


@pytest.mark.parametrize(("short", "long"), [(256, 341), (800, 1333), (160, 224)])
def test_resize_sizes_are_resize_short_longs(short, long):
    resize = EvalResize(short=short, long=long)
    for h, w in SIZES:
        assert resize.output_size(h, w) == short_long_size(h, w, short, long)


@pytest.mark.parametrize(("short", "max_size"), [(256, 341), (300, None), (128, 129)])
def test_resize_sizes_of_torchvisions_resize(short, max_size):
    """``Resize(size=short, max_size=...)`` in an eval pipeline: torchvision's own rule (the
    short side exactly ``short``, the long one truncated), not ResizeShortLong's."""
    resize = EvalResize(short=short, long=max_size, rule="torchvision")
    transform = v2.Resize(short, max_size=max_size)
    for h, w in SIZES[:-1]:
        expected = tuple(transform(torch.zeros(1, h, w)).shape[-2:])
        assert resize.output_size(h, w) == expected, (h, w)
