"""The :class:`Checkpointer`: what a checkpoint holds; saving, resuming, ``load_from``.

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
from typing import TYPE_CHECKING, Any

import torch

from detplug_core import dist
from detplug_core.errors import CheckpointError
from detplug_core.runner.checkpoint import CheckpointFiles, find_latest, load_file
from detplug_core.runner.checkpoint_messages import mismatch_message, resolve_checkpoint_path
from detplug_core.runner.hook_dispatch import HookError
from detplug_core.runner.rng import get_rng_state, set_rng_state
from detplug_core.runner.settings import CheckpointSettings, plain, resolved_config
from detplug_core.runner.weights import LoadSpec, load_weights, read_source

if TYPE_CHECKING:
    from detplug_core.runner.hook_dispatch import HookDispatcher
    from detplug_core.runner.protocol import RunnerView
    from detplug_core.runner.results import EvalResult

REQUIRED_KEYS = ("model", "optimizer", "epoch", "iter", "epoch_iter", "rng")


def _plugin_versions() -> list[dict[str, str]]:
    from detplug_core.plugins.state import records

    return [
        {"name": record.name, "distribution": record.distribution, "version": record.version}
        for record in records()
        if record.status == "loaded"
    ]


class Checkpointer:
    """Checkpoints of one run: what they hold (:meth:`state`), writing (:meth:`save`,
    :meth:`save_best`, the one place that calls ``before_save_checkpoint``), the best
    metric (:meth:`track_best`), resuming and ``load_from``. It owns ``best``,
    ``last_saved_iter`` and the checkpoint files; it reads the runner, never calls it."""

    def __init__(self, runner: RunnerView, hooks: HookDispatcher, pm: Any) -> None:
        self.runner = runner  # what before_save_checkpoint receives as ``runner``
        self.hooks = hooks
        self.pm = pm  # published weights (detplug_pretrained_weights) for load_from
        self.settings: CheckpointSettings | None = None  # set by start()
        self.files: CheckpointFiles | None = None
        self.best: dict[str, Any] | None = None
        self.last_saved_iter: int | None = None
        self.weights_loaded = False  # by resume() or load_weights()

    def start(self, settings: CheckpointSettings) -> None:
        """Training starts: the ``checkpoint:`` settings and the work dir's files (rank 0
        removes temporaries a killed write left behind)."""
        r = self.runner
        self.settings = settings
        self.files = CheckpointFiles(r.work_dir, settings.keep_last)
        if r.rank == 0:
            for stale in self.files.remove_stale_temporaries():
                r.logger.info("removed %s (left by an interrupted checkpoint write)", stale)

    def state(self) -> dict[str, Any]:
        """The checkpoint dict of the current position (see module docstring)."""
        import detplug_core

        r = self.runner
        scaler = r.train_step.scaler if r.train_step is not None else None
        names = self.hooks.state_names
        hooks = {
            names[id(hook)]: hook.state_dict()
            for hook in self.hooks.hooks
            if callable(getattr(hook, "state_dict", None))
        }
        p = r.progress
        return {
            "epoch": p.epoch,
            "iter": p.iter,
            "epoch_iter": p.epoch_iter,
            "model": r.model.state_dict(),
            "optimizer": r.optimizer.state_dict() if r.optimizer is not None else None,
            "schedulers": r.lr_schedule.state_dict() if r.lr_schedule is not None else [],
            "scaler": scaler.state_dict() if scaler is not None else None,
            "rng": get_rng_state(),
            "hooks": hooks,
            "best": self.best,
            "config": resolved_config(r.cfg, r.seed, r.work_dir),
            "plugins": _plugin_versions(),
            "meta": {
                "detplug_core": detplug_core.__version__,
                "torch": str(torch.__version__),
                "seed": r.seed,
                "world_size": r.world_size,
                "classes": self.dataset_classes(),
                "time": datetime.datetime.now().isoformat(timespec="seconds"),
            },
        }

    def dataset_classes(self) -> list[str] | None:
        """Class names of the training (else val, else test) data, so a checkpoint alone can
        label its predictions (``detplug infer``) and ``load_from`` can map classes by name."""
        r = self.runner
        for built in (r.train_data, r.val_data, r.test_dataloader):
            classes = getattr(getattr(built, "dataset", None), "classes", None)
            if classes is not None:
                return [str(c) for c in classes]
        return None

    def _hooked_state(self, call_hooks: bool) -> dict[str, Any]:
        if self.files is None:
            raise RuntimeError("checkpoints can be written once training has started")
        if self.runner.evaluator.in_pass:
            raise RuntimeError(
                "a checkpoint cannot be written while an evaluation pass runs: weights "
                "swapped in for the evaluation (EMAHook) would be saved as the model"
            )
        state = self.state()
        if call_hooks:
            self.hooks.call("before_save_checkpoint", runner=self.runner, checkpoint=state)
        return state

    def save(self, name: str, *, call_hooks: bool = True, best: bool = False) -> Path | None:
        """Write ``work_dir/name`` and point ``latest.pth`` at it (rank 0 only; other ranks
        still run ``before_save_checkpoint``); with ``best``, ``best_<metric>.pth`` becomes
        the same file. Returns the path on rank 0."""
        state = self._hooked_state(call_hooks)
        self.last_saved_iter = state["iter"]
        r = self.runner
        if r.rank != 0:
            return None
        start = time.perf_counter()
        path = self.files.save(state, name)
        r.logger.info("saved checkpoint %s (%.2f s)", path, time.perf_counter() - start)
        if best and self.best is not None:
            self.files.link_best(path, self.best["metric"])
        return path

    def save_best(self) -> Path | None:
        """Write ``best_<metric>.pth`` alone (after a validation that improved it)."""
        if self.best is None:
            return None
        state = self._hooked_state(call_hooks=True)
        if self.runner.rank != 0:
            return None
        path = self.files.save_best(state, self.best["metric"])
        self.runner.logger.info("saved best checkpoint %s", path)
        return path

    def save_after_failure(self, err: HookError) -> HookError:
        """Write a last checkpoint after a hook failed (without ``before_save_checkpoint``
        when that stage is the culprit); ``err`` saying where it is, or why there is none."""
        logger, p = self.runner.logger, self.runner.progress
        logger.error("%s", err, exc_info=err.__cause__, extra={"console": False})
        try:
            path = self.save(f"iter_{p.iter}.pth", call_hooks=err.stage != "before_save_checkpoint")
        except Exception as save_err:  # the run is failing already: report both
            return HookError(
                f"{err}; writing a last checkpoint failed too: {save_err}", err.stage, err.culprit
            )
        where = f"; last checkpoint: {path}" if path is not None else ""
        return HookError(f"{err}{where}", err.stage, err.culprit)

    def track_best(self, result: EvalResult) -> bool:
        """Whether ``result`` improved ``checkpoint.save_best``'s metric (then it is
        ``best``); the same decision on every rank (metrics are broadcast)."""
        settings, metrics = self.settings, result.metrics
        key = settings.save_best if settings is not None else None
        if not key or not metrics:
            return False
        if key == "auto":
            key = next(iter(metrics))
        if key not in metrics:
            self.runner.logger.warning(
                "checkpoint.save_best: metric '%s' not among %s", key, ", ".join(metrics)
            )
            return False
        best = self.best["value"] if self.best else None
        if not settings.is_better(key, metrics[key], best):
            return False
        self.best = {"metric": key, "value": metrics[key], "epoch": result.epoch}
        self.best["iter"] = result.iter
        self.runner.logger.info("new best %s: %.4f", key, metrics[key])
        return True

    # -- resume / load_from ----------------------------------------------------------------
    def find_resume_checkpoint(self, resume: Any) -> Path | None:
        """``auto``/``true``: ``latest.pth`` of the work dir (None when there is none);
        a path: that file."""
        r = self.runner
        if resume is True or resume == "auto":
            path = find_latest(r.work_dir)
            if path is None:
                r.logger.info("resume: auto: no checkpoint in %s, starting fresh", r.work_dir)
            return path
        return resolve_checkpoint_path(resume)

    def resume(self, path: str | os.PathLike) -> None:
        """Restore everything a checkpoint holds (once training is set up)."""
        r = self.runner
        ckpt = load_file(path)
        if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
            missing = [k for k in REQUIRED_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
            raise CheckpointError(
                f"{path} cannot be resumed from: it lacks {', '.join(missing)} "
                "(a weights-only file? use load_from instead)"
            )
        unfit = mismatch_message(path, type(r.model).__name__, r.model.state_dict(), ckpt["model"])
        if unfit:
            raise CheckpointError(unfit)
        try:
            r.model.load_state_dict(ckpt["model"])
            r.optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            first = str(err).strip().splitlines()[0]
            raise CheckpointError(
                f"{path} does not fit the model/optimizer built from this config: {first}"
            ) from None
        r.lr_schedule.load_state_dict(ckpt.get("schedulers") or [])
        scaler = r.train_step.scaler
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        p = r.progress
        p.epoch, p.iter, p.epoch_iter = ckpt["epoch"], ckpt["iter"], ckpt["epoch_iter"]
        self.last_saved_iter = p.iter
        self.best = ckpt.get("best")
        self._load_hook_states(
            ckpt.get("hooks") or {},
            path,
            resuming=True,
            allow_orphans=r.settings.resume_allow_orphans,
        )
        r.log.truncate_after(p.iter)
        self._warn_config_changes(ckpt.get("config") or {}, path)
        self.weights_loaded = True
        self.hooks.call("after_load_checkpoint", runner=r, checkpoint=ckpt)
        if ckpt.get("meta", {}).get("world_size", 1) != r.world_size:
            r.logger.warning("resume: world size changed; data order will differ")
        set_rng_state(ckpt["rng"])  # last: nothing after this may draw random numbers
        r.logger.info("resumed from %s at epoch %d, iteration %d", path, p.epoch + 1, p.iter)

    def _warn_config_changes(self, saved: dict, path: Any) -> None:
        for key in ("train_dataloader", "seed", "optimizer", "param_schedulers", "train"):
            if key in saved and saved.get(key) != plain(self.runner.cfg.get(key)):
                self.runner.logger.warning(
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
                self.runner.logger.warning(
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
        self.runner.logger.warning(
            "resume: dropping the saved state of hook(s) %s (no such hook)", listed
        )

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
        r = self.runner
        classes = self.dataset_classes()
        report = load_weights(r.model, spec.path, loaded, classes=classes, class_map=spec.class_map)
        self.weights_loaded = True
        r.logger.info("loaded weights from %s", spec.path)
        lines = report.lines()
        if lines:
            r.logger.warning("load_from: %s", "\n".join(lines))
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
