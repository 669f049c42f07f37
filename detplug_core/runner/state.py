"""What a checkpoint holds and how the runner saves, resumes and loads weights.

A checkpoint is a dict of tensors and plain values (``torch.load(weights_only=True)``):

``epoch``/``iter``/``epoch_iter`` (position: completed epochs, completed iterations,
batches consumed in the current epoch), ``model``, ``optimizer`` (with each group's
``initial_lr``), ``schedulers``, ``scaler``, ``rng`` (Python, NumPy, torch CPU and CUDA),
``hooks`` (``state_dict()`` of config hooks that have one, keyed ``hooks.<i>.<Class>``),
``best``, ``config`` (the resolved config), ``plugins`` (name, distribution, version) and
``meta`` (versions, seed, world size). Hooks may add entries in ``before_save_checkpoint``.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import torch

from detplug_core.errors import CheckpointError
from detplug_core.runner import dist
from detplug_core.runner.checkpoint import find_latest, load_file
from detplug_core.runner.checkpoint_messages import mismatch_message, resolve_checkpoint_path
from detplug_core.runner.rng import get_rng_state, set_rng_state
from detplug_core.runner.settings import plain
from detplug_core.runner.weights import load_weights

REQUIRED_KEYS = ("model", "optimizer", "epoch", "iter", "epoch_iter", "rng")


def _plugin_versions() -> list[dict[str, str]]:
    from detplug_core.plugins.state import records

    return [
        {"name": r.name, "distribution": r.distribution, "version": r.version}
        for r in records()
        if r.status == "loaded"
    ]


class RunnerStateMixin:
    """Checkpoint, resume and ``load_from`` methods of :class:`~detplug_core.Runner`."""

    def resolved_config(self) -> dict[str, Any]:
        """The config as plain data, with the seed and work dir actually used."""
        return {**plain(self.cfg), "seed": self.seed, "work_dir": str(self.work_dir)}

    def _hook_key(self, index: int, hook: Any) -> str:
        return f"hooks.{index}.{type(hook).__name__}"

    def checkpoint_state(self) -> dict[str, Any]:
        """The checkpoint dict of the current position (see module docstring)."""
        import detplug_core

        done = int(self.step_done)  # a hook failed after the optimizer step of this iter
        scaler = self.train_step.scaler if self.train_step is not None else None
        hooks = {}
        for i, hook in enumerate(self.hooks.hooks):
            if callable(getattr(hook, "state_dict", None)):
                hooks[self._hook_key(i, hook)] = hook.state_dict()
        return {
            "epoch": self.epoch,
            "iter": self.iter + done,
            "epoch_iter": self.epoch_iter + done,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "schedulers": self.lr_schedule.state_dict() if self.lr_schedule is not None else [],
            "scaler": scaler.state_dict() if scaler is not None else None,
            "rng": get_rng_state(),
            "hooks": hooks,
            "best": self.best,
            "config": self.resolved_config(),
            "plugins": _plugin_versions(),
            "meta": {
                "detplug_core": detplug_core.__version__,
                "torch": str(torch.__version__),
                "seed": self.seed,
                "world_size": self.world_size,
                "classes": self._dataset_classes(),
                "time": datetime.datetime.now().isoformat(timespec="seconds"),
            },
        }

    def _dataset_classes(self) -> list[str] | None:
        """Class names of the training (else val) data, so a checkpoint alone can label its
        predictions (``detplug infer``)."""
        for built in (getattr(self, "_train", None), getattr(self, "_val", None)):
            classes = getattr(getattr(built, "dataset", None), "classes", None)
            if classes is not None:
                return [str(c) for c in classes]
        return None

    def save_checkpoint(self, name: str, *, call_hooks: bool = True) -> Path | None:
        """Write ``work_dir/name`` and point ``latest.pth`` at it (rank 0 only; other ranks
        still run ``before_save_checkpoint``). Returns the path on rank 0."""
        if getattr(self, "files", None) is None:
            raise RuntimeError("save_checkpoint() is available once training has started")
        state = self.checkpoint_state()
        if call_hooks:
            self.hooks.call("before_save_checkpoint", runner=self, checkpoint=state)
        self._last_save_iter = state["iter"]
        if self.rank != 0:
            return None
        path = self.files.save(state, name)
        self.logger.info("saved checkpoint %s", path)
        return path

    def _checkpoint_name(self) -> str:
        if self.checkpoint_settings.by_epoch and self.epoch_iter == 0:
            return f"epoch_{self.epoch}.pth"
        return f"iter_{self.iter}.pth"

    # -- best ----------------------------------------------------------------------------
    def _track_best(self, metrics: dict[str, float]) -> bool:
        key = self.checkpoint_settings.save_best
        if not key or not metrics:
            return False
        if key == "auto":
            key = next(iter(metrics))
        if key not in metrics:
            self.logger.warning(
                "checkpoint.save_best: metric '%s' not among %s", key, ", ".join(metrics)
            )
            return False
        best = self.best["value"] if self.best else None
        if not self.checkpoint_settings.is_better(key, metrics[key], best):
            return False
        self.best = {"metric": key, "value": metrics[key], "epoch": self.epoch, "iter": self.iter}
        self.logger.info("new best %s: %.4f", key, metrics[key])
        return True

    def _save_best_file(self) -> None:
        state = self.checkpoint_state()
        self.hooks.call("before_save_checkpoint", runner=self, checkpoint=state)
        if self.rank == 0:
            path = self.files.save_best(state, self.best["metric"])
            self.logger.info("saved best checkpoint %s", path)

    # -- resume / load_from ----------------------------------------------------------------
    def find_resume_checkpoint(self, resume: Any) -> Path | None:
        """``auto``/``true``: ``latest.pth`` of the work dir (None when there is none);
        a path: that file."""
        if resume is True or resume == "auto":
            path = find_latest(self.work_dir)
            if path is None:
                self.logger.info("resume: auto: no checkpoint in %s, starting fresh", self.work_dir)
            return path
        return resolve_checkpoint_path(resume)

    def resume(self, path: str | os.PathLike) -> None:
        """Restore everything a checkpoint holds (after :meth:`_setup_training`)."""
        ckpt = load_file(path)
        if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
            missing = [k for k in REQUIRED_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
            raise CheckpointError(
                f"{path} cannot be resumed from: it lacks {', '.join(missing)} "
                "(a weights-only file? use load_from instead)"
            )
        unfit = mismatch_message(
            path, type(self.model).__name__, self.model.state_dict(), ckpt["model"]
        )
        if unfit:
            raise CheckpointError(unfit)
        try:
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            first = str(err).strip().splitlines()[0]
            raise CheckpointError(
                f"{path} does not fit the model/optimizer built from this config: {first}"
            ) from None
        self.lr_schedule.load_state_dict(ckpt.get("schedulers") or [])
        scaler = self.train_step.scaler
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.iter, self.epoch_iter = ckpt["epoch"], ckpt["iter"], ckpt["epoch_iter"]
        self._last_save_iter = self.iter
        self.best = ckpt.get("best")
        self._load_hook_states(ckpt.get("hooks") or {}, path, warn_missing=True)
        self._warn_config_changes(ckpt.get("config") or {}, path)
        self._weights_loaded = True
        self.hooks.call("after_load_checkpoint", runner=self, checkpoint=ckpt)
        if ckpt.get("meta", {}).get("world_size", 1) != self.world_size:
            self.logger.warning("resume: world size changed; data order will differ")
        set_rng_state(ckpt["rng"])  # last: nothing after this may draw random numbers
        self.logger.info(
            "resumed from %s at epoch %d, iteration %d", path, self.epoch + 1, self.iter
        )

    def _warn_config_changes(self, saved: dict, path: Any) -> None:
        for key in ("train_dataloader", "seed", "optimizer", "param_schedulers", "train"):
            if key in saved and saved.get(key) != plain(self.cfg.get(key)):
                self.logger.warning(
                    "resume: '%s' differs from the config saved in %s; the run will not "
                    "continue exactly as the original",
                    key,
                    path,
                )

    def _load_hook_states(self, states: dict, path: Any, *, warn_missing: bool) -> None:
        for i, hook in enumerate(self.hooks.hooks):
            if callable(getattr(hook, "load_state_dict", None)):
                key = self._hook_key(i, hook)
                if key in states:
                    hook.load_state_dict(states[key])
                elif warn_missing:
                    self.logger.warning("resume: no state for %s in %s", key, path)

    def load_weights(self, path: str | os.PathLike, *, hook_states: bool = False) -> None:
        """``load_from``: model weights only, with a report of what did not fit. With
        ``hook_states`` (evaluation), the states of the config's hooks saved in a detplug
        checkpoint are restored too, so that e.g. EMAHook evaluates its average."""
        loaded = load_file(path)
        report = load_weights(self.model, path, loaded)
        self._weights_loaded = True
        self.logger.info("loaded weights from %s", path)
        for line in report.lines():
            self.logger.warning("load_from: %s", line)
        if hook_states and isinstance(loaded, dict) and isinstance(loaded.get("hooks"), dict):
            self._load_hook_states(loaded["hooks"], path, warn_missing=False)
        dist.barrier()
