"""detplug-rtmdet: the RTMDet real-time detector (Lyu et al. 2022): the CSPNeXt backbone,
the CSPNeXt-PAFPN neck, the shared-conv separate-BN head, dynamic soft-label assignment,
quality focal and GIoU losses, and its post-processing."""

from __future__ import annotations

from detplug_rtmdet.assigner import DynamicSoftLabelAssigner
from detplug_rtmdet.backbone import CSPNeXt
from detplug_rtmdet.detector import RTMDet
from detplug_rtmdet.head import RTMDetHead
from detplug_rtmdet.losses import RTMDetLoss, quality_focal_loss
from detplug_rtmdet.neck import CSPNeXtPAFPN
from detplug_rtmdet.postprocess import RTMDetPostprocess
from detplug_rtmdet.registries import MODELS

__version__ = "0.1.0"
__all__ = [
    "MODELS",
    "CSPNeXt",
    "CSPNeXtPAFPN",
    "DynamicSoftLabelAssigner",
    "RTMDet",
    "RTMDetHead",
    "RTMDetLoss",
    "RTMDetPostprocess",
    "quality_focal_loss",
]
