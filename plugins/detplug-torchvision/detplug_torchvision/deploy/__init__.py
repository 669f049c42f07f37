"""Deployment: the whole detector as one module (:class:`DeployModel`), its export to ONNX
and torch.export ``.pt2`` files, and latency benchmarks (``detplug export``,
``detplug benchmark``). See docs/deploy.md."""

from detplug_torchvision.deploy.model import INPUT_CONTRACT, DeployModel

__all__ = ["INPUT_CONTRACT", "DeployModel"]
