"""Test helpers the detector plugins share, shipped in the package so that each plugin's
tests run from its own folder against an installed detplug-torchvision.

* :mod:`.equivalence`: a converted detector against torchvision's own.
* :mod:`.conversion`: ``detplug convert`` end to end; torchvision's published weights by name
  from a fake ``TORCH_HOME``.
* :mod:`.recipes`: the packaged recipes load, and a CI-sized ``detplug train`` learns.
* :mod:`.contract`: the model contract (train and eval mode) on a small model.
* :mod:`.synthetic`: data a small detector fits in seconds, and the loop that fits it.
* :mod:`.fixtures`: pytest fixtures (the only module that needs pytest).

The names of :mod:`.equivalence` and :mod:`.conversion` are importable from here too.
"""

from detplug_torchvision.testing.conversion import (
    assert_convert_refuses_bad_input,
    convert_with_cli,
)
from detplug_torchvision.testing.equivalence import (
    TOL,
    EquivalentPair,
    SharedFeatures,
    align_near_ties,
    assert_backbone_features_match,
    assert_detections_match,
    assert_features_close,
    on_shared_features,
    random_images,
    random_targets,
    randomize_detector,
    randomize_frozen_bn_statistics,
    sort_detections,
)

__all__ = [
    "TOL",
    "EquivalentPair",
    "SharedFeatures",
    "align_near_ties",
    "assert_backbone_features_match",
    "assert_convert_refuses_bad_input",
    "assert_detections_match",
    "assert_features_close",
    "convert_with_cli",
    "on_shared_features",
    "random_images",
    "random_targets",
    "randomize_detector",
    "randomize_frozen_bn_statistics",
    "sort_detections",
]
