"""What a checkpoint holds and how the runner saves, resumes and loads weights.

A checkpoint is a dict of tensors and plain values (``torch.load(weights_only=True)``):

``epoch``/``iter``/``epoch_iter`` (position: completed epochs, completed iterations,
batches consumed in the current epoch), ``model``, ``optimizer`` (with each group's
``initial_lr``), ``schedulers``, ``scaler``, ``rng`` (Python, NumPy, torch CPU and CUDA),
``hooks`` (``state_dict()`` of every hook that has one, built-in or config, keyed by a
stable name: ``<Class>``, ``<Class>.<k>`` for the k-th more hook of a class, or
``<Class>:<name>`` for an entry with ``name:``; adding, removing or reordering other hooks
never moves a state),
``best``, ``config`` (the resolved config), ``plugins`` (name, distribution, version) and
``meta`` (versions, seed, world size). Hooks may add entries in ``before_save_checkpoint``.
"""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path
from typing import Any

import torch

from detplug_core.errors import CheckpointError
from detplug_core.runner import dist
from detplug_core.runner.checkpoint import find_latest, load_file
from detplug_core.runner.checkpoint_messages import mismatch_message, resolve_checkpoint_path
from detplug_core.runner.rng import get_rng_state, set_rng_state
from detplug_core.runner.settings import plain
from detplug_core.runner.weights import LoadSpec, load_weights, read_source

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

    def checkpoint_state(self) -> dict[str, Any]:
        """The checkpoint dict of the current position (see module docstring)."""
        import detplug_core

        scaler = self.train_step.scaler if self.train_step is not None else None
        names = self.hooks.state_names
        hooks = {
            names[id(hook)]: hook.state_dict()
            for hook in self.hooks.hooks
            if callable(getattr(hook, "state_dict", None))
        }
        return {
            "epoch": self.epoch,
            "iter": self.iter,
            "epoch_iter": self.epoch_iter,
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
        """Class names of the training (else val, else test) data, so a checkpoint alone can
        label its predictions (``detplug infer``) and ``load_from`` can map classes by name."""
        for built in (self.train_data, self.val_data, self.test_dataloader):
            classes = getattr(getattr(built, "dataset", None), "classes", None)
            if classes is not None:
                return [str(c) for c in classes]
        return None

    def save_checkpoint(self, name: str, *, call_hooks: bool = True) -> Path | None:
        """Write ``work_dir/name`` and point ``latest.pth`` at it (rank 0 only; other ranks
        still run ``before_save_checkpoint``). Returns the path on rank 0."""
        if self.checkpoint_files is None:
            raise RuntimeError("save_checkpoint() is available once training has started")
        state = self.checkpoint_state()
        if call_hooks:
            self.hooks.call("before_save_checkpoint", runner=self, checkpoint=state)
        self.last_saved_iter = state["iter"]
        if self.rank != 0:
            return None
        start = time.perf_counter()
        path = self.checkpoint_files.save(state, name)
        self.logger.info("saved checkpoint %s (%.2f s)", path, time.perf_counter() - start)
        return path

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
        p = self.progress
        p.epoch, p.iter, p.epoch_iter = ckpt["epoch"], ckpt["iter"], ckpt["epoch_iter"]
        self.last_saved_iter = p.iter
        self.best = ckpt.get("best")
        self._load_hook_states(
            ckpt.get("hooks") or {},
            path,
            resuming=True,
            allow_orphans=self.settings.resume_allow_orphans,
        )
        self.log.truncate_after(p.iter)
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

    def _load_hook_states(
        self, states: dict, path: Any, *, resuming: bool, allow_orphans: bool = True
    ) -> None:
        """Give each hook its saved state by name. Resuming, a hook without a saved state
        starts fresh (a warning), and a saved state no hook takes (a hook was removed or
        renamed) is an error unless ``resume_allow_orphans`` (``--resume-allow-orphans``)."""
        states = _legacy_hook_names(states)
        names = self.hooks.state_names
        taken = set()
        for entry in self.hooks.entries:
            hook = entry.hook
            if not callable(getattr(hook, "load_state_dict", None)):
                continue
            name = names[id(hook)]
            if name in states:
                hook.load_state_dict(states[name])
                taken.add(name)
            elif resuming and not entry.builtin:
                self.logger.warning(
                    "resume: no state for hook %s in %s; it starts fresh", name, path
                )
        orphans = sorted(set(states) - taken)
        if not (resuming and orphans):
            return
        listed = ", ".join(orphans)
        if not allow_orphans:
            raise CheckpointError(
                f"{path} holds the state of hook(s) {listed} that this config does not have "
                "(removed, or renamed with 'name:'); add them back, or resume with "
                "--resume-allow-orphans (config: resume_allow_orphans: true) to drop the state"
            )
        self.logger.warning("resume: dropping the saved state of hook(s) %s (no such hook)", listed)

    def load_weights(self, source: Any, *, hook_states: bool = False) -> None:
        """``load_from``: model weights only (a path, a published weights name, or
        ``{path, class_map}``), with one table of what did not fit. With ``hook_states``
        (evaluation), the states of the config's hooks saved in a detplug checkpoint are
        restored too, so that e.g. EMAHook evaluates its average."""
        spec = LoadSpec.parse(source)
        published: dict = {}
        for offered in self.pm.hook.detplug_pretrained_weights():
            published.update(offered or {})
        loaded = read_source(spec.path, published)
        classes = self._dataset_classes()
        report = load_weights(
            self.model, spec.path, loaded, classes=classes, class_map=spec.class_map
        )
        self._weights_loaded = True
        self.logger.info("loaded weights from %s", spec.path)
        lines = report.lines()
        if lines:
            self.logger.warning("load_from: %s", "\n".join(lines))
        if hook_states and isinstance(loaded, dict) and isinstance(loaded.get("hooks"), dict):
            self._load_hook_states(loaded["hooks"], spec.path, resuming=False)
        dist.barrier()


def _legacy_hook_names(states: dict) -> dict:
    """Checkpoints before detplug-core 0.x keyed hook states ``hooks.<i>.<Class>`` (by
    position); map them onto the stable names (``<Class>``, ``<Class>.<k>``)."""
    out, seen = {}, {}
    legacy = []
    for key, value in states.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "hooks" and parts[1].isdigit():
            legacy.append((int(parts[1]), parts[2], value))
        else:
            out[key] = value
    for _, cls, value in sorted(legacy, key=lambda item: item[0]):
        k = seen.get(cls, 0)
        seen[cls] = k + 1
        out.setdefault(cls if k == 0 else f"{cls}.{k}", value)
    return out
