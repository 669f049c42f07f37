"""OPTIMIZERS (every ``torch.optim`` optimizer by its class name) and per-parameter options.

The ``optimizer:`` config is ``{type: SGD, lr: 0.01, ..., paramwise: {...}}``; the runner pops
``paramwise`` and builds the optimizer with parameter groups:

* ``norm_decay_mult``: weight decay multiplier for parameters of normalisation layers
  (BatchNorm, GroupNorm, LayerNorm, InstanceNorm, LocalResponseNorm, RMSNorm);
* ``bias_decay_mult``: weight decay multiplier for the other biases;
* ``bias_lr_mult``: learning-rate multiplier for those biases;
* ``custom_keys``: ``{name_substring: {lr_mult, decay_mult}}`` for parameters whose name
  contains the key (the longest matching key wins), applied on top of the above.

Frozen parameters (``requires_grad=False``) are left out. Parameters with equal options
share one group, so the optimizer's fused/foreach kernels still see few large groups.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from detplug_core.errors import ConfigError
from detplug_core.registry import OPTIMIZERS
from detplug_core.runner.settings import config_number

PARAMWISE_KEYS = ("norm_decay_mult", "bias_decay_mult", "bias_lr_mult", "custom_keys")
_NORMS = (
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)


def register_torch_optimizers() -> None:
    """Register every optimizer class of ``torch.optim`` under its own name."""
    for name, obj in vars(torch.optim).items():
        if (
            inspect.isclass(obj)
            and issubclass(obj, torch.optim.Optimizer)
            and obj is not torch.optim.Optimizer
            and name not in OPTIMIZERS.local_names()
        ):
            OPTIMIZERS.register(name, obj=obj)


def _check_paramwise(paramwise: Any) -> dict:
    if paramwise is None:
        return {}
    if not isinstance(paramwise, Mapping):
        raise ConfigError(f"optimizer.paramwise: expected a mapping, got {paramwise!r}")
    for key in paramwise:
        if key not in PARAMWISE_KEYS:
            raise ConfigError(
                f"optimizer.paramwise.{key}: unknown option; known: {', '.join(PARAMWISE_KEYS)}"
            )
    for key, opts in (paramwise.get("custom_keys") or {}).items():
        bad = set(opts or {}) - {"lr_mult", "decay_mult"}
        if bad:
            raise ConfigError(
                f"optimizer.paramwise.custom_keys.{key}: unknown option(s) {sorted(bad)}; "
                "known: lr_mult, decay_mult"
            )
    return dict(paramwise)


def param_groups(
    model: nn.Module, lr: float, weight_decay: float, paramwise: Mapping | None
) -> list[dict]:
    """Parameter groups of ``model`` with the paramwise multipliers applied."""
    opts = _check_paramwise(paramwise)
    if not opts:
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]
    custom = sorted((opts.get("custom_keys") or {}).items(), key=lambda kv: -len(kv[0]))
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        is_norm = isinstance(module, _NORMS)
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            full = f"{module_name}.{name}" if module_name else name
            lr_mult, decay_mult = 1.0, 1.0
            if is_norm:
                decay_mult = opts.get("norm_decay_mult", 1.0)
            elif name == "bias":
                decay_mult = opts.get("bias_decay_mult", 1.0)
                lr_mult = opts.get("bias_lr_mult", 1.0)
            for key, mults in custom:
                if key in full:
                    lr_mult *= (mults or {}).get("lr_mult", 1.0)
                    decay_mult *= (mults or {}).get("decay_mult", 1.0)
                    break
            groups.setdefault((lr_mult, decay_mult), []).append(param)
    return [
        {"params": params, "lr": lr * lr_mult, "weight_decay": weight_decay * decay_mult}
        for (lr_mult, decay_mult), params in groups.items()
    ]


def build_optimizer(model: nn.Module, cfg: Mapping) -> torch.optim.Optimizer:
    """Build the ``optimizer:`` config for ``model``."""
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise ConfigError("optimizer: expected a mapping with 'type' (e.g. {type: SGD, lr: 0.01})")
    args = dict(cfg)
    paramwise = args.pop("paramwise", None)
    if "lr" not in args:
        raise ConfigError(f"optimizer.lr: missing (the base learning rate of {args['type']})")
    lr = config_number(args["lr"], "optimizer.lr")
    weight_decay = config_number(args.get("weight_decay", 0.0), "optimizer.weight_decay")
    groups = param_groups(model, lr, weight_decay, paramwise)
    if not any(g["params"] for g in groups):
        raise ConfigError("optimizer: the model has no trainable parameters")
    return OPTIMIZERS.build(args, path="optimizer", params=groups)
