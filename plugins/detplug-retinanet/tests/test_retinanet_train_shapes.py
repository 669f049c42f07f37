"""RetinaNet learns through ``detplug train`` on detplug-shapes: the packaged shapes recipe,
CI-sized (detplug_torchvision.testing.recipes.SHAPES_CI_RUN), on the CPU."""

from __future__ import annotations

import pytest
from detplug_torchvision.testing.recipes import assert_learns_on_shapes


@pytest.mark.slow
def test_detplug_train_reaches_a_clear_map(tmp_path):
    assert_learns_on_shapes("retinanet::retinanet_r18_fpn_shapes.yaml", tmp_path)
