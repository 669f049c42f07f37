"""Prediction: the public :class:`Detector` API and the ``detplug infer`` command."""

from detplug_torchvision.inference.detector import Detections, Detector

__all__ = ["Detections", "Detector"]
