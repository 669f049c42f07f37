"""The :class:`Runner`: one config in, a training / validation / test run out.

Public attributes hooks may use (docs/runner.md): ``cfg``, ``model`` (never DDP-wrapped;
``wrapped_model`` is what training calls), ``optimizer``, ``schedulers``, ``work_dir``,
``epoch``, ``iter``, ``epoch_iter``, ``max_epochs``, ``max_iters``, ``by_epoch``,
``train_dataloader``, ``val_dataloader``, ``test_dataloader``, ``metrics``, ``logger``,
``rank``, ``world_size``, ``device``, ``seed``, ``message``, ``stop_training`` and
``save_checkpoint(name)``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import torch

from detplug_core.errors import ConfigError
from detplug_core.registry import MODELS
from detplug_core.runner import dist
from detplug_core.runner.builders import build_hooks, build_metrics, check_required_plugins
from detplug_core.runner.checkpoint import CheckpointFiles
from detplug_core.runner.hook_dispatch import HookDispatcher, HookError
from detplug_core.runner.logger import RunLog
from detplug_core.runner.loops import EvalLoop, TrainLoop
from detplug_core.runner.rng import seed_everything, set_deterministic
from detplug_core.runner.settings import (
    CheckpointSettings,
    TrainSettings,
    resolve_work_dir,
    unknown_top_level_keys,
)
from detplug_core.runner.signals import SignalGuard, TrainingInterrupted
from detplug_core.runner.state import RunnerStateMixin
from detplug_core.runner.step import TrainStep, make_autocast
from detplug_core.runner.sync_bn import apply_sync_bn
from detplug_core.runner.workdir_lock import lock_for_run


class Runner(RunnerStateMixin):
    """Builds everything from ``cfg`` (a :class:`~detplug_core.config.Config` or a dict)
    and runs :meth:`train`, :meth:`val` or :meth:`test`. Use as a context manager, or call
    :meth:`close`, to release log files."""

    def __init__(self, cfg: Mapping, *, plugin_manager: Any = None) -> None:
        from detplug_core.plugins import make_plugin_manager
        from detplug_core.plugins.safe_calls import call_adjust_config

        check_required_plugins(cfg)
        self.cfg = cfg
        self.pm = plugin_manager if plugin_manager is not None else make_plugin_manager()
        call_adjust_config(self.pm, cfg)
        info = dist.env_info()
        self.rank, self.world_size = info.rank, info.world_size
        self.device = dist.resolve_device(cfg.get("device"), info)
        dist.init_distributed(info, self.device)
        self.seed = self._resolve_seed(cfg.get("seed", 0))
        set_deterministic(bool(cfg.get("deterministic", False)))
        seed_everything(self.seed)
        self.work_dir = resolve_work_dir(cfg, getattr(cfg, "filename", None))
        if "model" not in cfg:
            raise ConfigError("model: missing (the detector config, with 'type')")
        self.log = RunLog(self.work_dir, self.rank, self.world_size)
        self.logger = self.log.logger
        try:
            self._build(cfg)
        except BaseException:
            self.log.close()
            raise

    def _build(self, cfg: Mapping) -> None:
        for key in unknown_top_level_keys(cfg):
            self.logger.warning(
                "top-level config key '%s' is not read by the runner (a typo? fine if it is "
                "only a value referenced with ${...})",
                key,
            )
        self.model: torch.nn.Module = MODELS.build(cfg["model"], path="model").to(self.device)
        self.wrapped_model: torch.nn.Module = self.model
        self.hooks = HookDispatcher(self.pm)
        self.hooks.add_config_hooks(build_hooks(cfg.get("hooks")))
        self.autocast = make_autocast(cfg.get("amp"), self.device)
        # position and state
        self.epoch = self.iter = self.epoch_iter = 0
        self.step_done = False
        self.stop_training = False
        self.signal_received = 0
        self.message: dict[str, Any] = {}
        self.metric_keys: set[str] = set()
        self.best: dict[str, Any] | None = None
        self.last_metrics: dict[str, float] = {}
        # built by train()/val()/test()
        self.by_epoch, self.max_epochs, self.max_iters, self.log_interval = True, None, None, 50
        self.optimizer: torch.optim.Optimizer | None = None
        self.lr_schedule: Any = None
        self.schedulers: list = []
        self.train_step: TrainStep | None = None
        self.train_dataloader = self.val_dataloader = self.test_dataloader = None
        self.metrics: list = []
        self.metric_prefixes: list[str] = []
        self._val: Any = None
        self._weights_loaded = False
        self._run_started = False
        self._last_save_iter: int | None = None
        self.logger.info(
            "detplug run: device %s, world size %d, seed %d, work dir %s",
            self.device,
            self.world_size,
            self.seed,
            self.work_dir,
        )

    # -- building ------------------------------------------------------------------------
    def _resolve_seed(self, seed: Any) -> int:
        if seed is None:
            seed = dist.broadcast_from_main(random.SystemRandom().randrange(2**31))
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed: expected an int or null, got {seed!r}")
        return seed

    def _metrics_for(self, dataset: Any, key: str) -> tuple[list, list[str]]:
        return build_metrics(self.cfg.get("metrics"), dataset, key)

    def _loader(self, key: str, train: bool) -> Any:
        from detplug_core.data.loader import build_dataloader

        return build_dataloader(
            self.cfg[key],
            key,
            train=train,
            seed=self.seed,
            rank=self.rank,
            world_size=self.world_size,
            pin_memory=self.device.type == "cuda",
        )

    def _setup_training(self) -> None:
        from detplug_core.runner.optim import build_optimizer
        from detplug_core.runner.schedulers import build_schedule

        cfg = self.cfg
        ts = TrainSettings.from_config(cfg.get("train"))
        self.train_settings = ts
        self.by_epoch, self.log_interval = ts.by_epoch, ts.log_interval
        self.checkpoint_settings = CheckpointSettings.from_config(
            cfg.get("checkpoint"), ts.by_epoch
        )
        if "train_dataloader" not in cfg:
            raise ConfigError("train_dataloader: missing (needed to train)")
        self._train = self._loader("train_dataloader", train=True)
        self.train_dataloader = self._train.loader
        if len(self.train_dataloader) == 0:
            raise ConfigError(
                f"train_dataloader: no batches ({len(self._train.dataset)} samples, batch_size "
                f"{cfg['train_dataloader'].get('batch_size', 1)}, per process)"
            )
        if ts.by_epoch:
            self.max_epochs, self.max_iters = (
                ts.max_epochs,
                ts.max_epochs * len(self.train_dataloader),
            )
        else:
            self.max_epochs, self.max_iters = None, ts.max_iters
        if "optimizer" not in cfg:
            raise ConfigError("optimizer: missing (e.g. {type: SGD, lr: 0.01, momentum: 0.9})")
        self.optimizer = build_optimizer(self.model, cfg["optimizer"])
        self.lr_schedule = build_schedule(
            self.optimizer,
            cfg.get("param_schedulers"),
            max_epochs=self.max_epochs,
            max_iters=self.max_iters,
        )
        self.schedulers = self.lr_schedule.schedulers
        if cfg.get("val_dataloader") and cfg.get("metrics"):
            self._val = self._loader("val_dataloader", train=False)
            self.val_dataloader = self._val.loader
            self.metrics, self.metric_prefixes = self._metrics_for(
                self._val.dataset, "val_dataloader"
            )
        if dist.is_active():
            from torch.nn.parallel import DistributedDataParallel

            self.model = apply_sync_bn(self.model, cfg.get("sync_bn"), self.device)
            self.wrapped_model = DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=bool(cfg.get("find_unused_parameters", False)),
            )
        self.train_step = TrainStep(
            self.wrapped_model, self.optimizer, self.device, cfg.get("amp"), cfg.get("clip_grad")
        )
        self.files = CheckpointFiles(self.work_dir, self.checkpoint_settings.keep_last)
        if self.rank == 0:
            from detplug_core.config import dump_config

            for stale in self.files.remove_stale_temporaries():
                self.logger.info("removed %s (left by an interrupted checkpoint write)", stale)
            dump_config(self.resolved_config(), self.work_dir / "config.yaml")

    # -- running -------------------------------------------------------------------------
    def train(self) -> dict[str, float]:
        """Train to the end (resuming / loading weights as the config says); returns the
        metrics of the last validation (empty without validation)."""
        self._work_dir_lock = lock_for_run(self.work_dir, self.rank)
        self._setup_training()
        resume = self.cfg.get("resume")
        path = self.find_resume_checkpoint(resume) if resume else None
        if path is not None:
            self.resume(path)
        elif self.cfg.get("load_from"):
            self.load_weights(self.cfg["load_from"])
        loop = TrainLoop(self, self._train)
        with SignalGuard(self._on_signal):
            try:
                self._start_run()
                self.hooks.call("before_train", runner=self)
                loop.run()
                if self.signal_received:
                    self._interrupted()
                if self.checkpoint_settings.save_last and self._last_save_iter != self.iter:
                    self.save_checkpoint(self._checkpoint_name())
                self.hooks.call("after_train", runner=self)
                self._end_run()
            except HookError as err:
                raise self._with_last_checkpoint(err) from err.__cause__
            finally:
                self.log.close_bar()
        return self.last_metrics

    def val(self) -> dict[str, float]:
        """Evaluate on the val dataloader with the metrics (built on first use)."""
        if self._val is None:
            if not (self.cfg.get("val_dataloader") and self.cfg.get("metrics")):
                raise ConfigError("val_dataloader/metrics: both are needed to validate")
            self._val = self._loader("val_dataloader", train=False)
            self.val_dataloader = self._val.loader
            self.metrics, self.metric_prefixes = self._metrics_for(
                self._val.dataset, "val_dataloader"
            )
        metrics = EvalLoop(self, self._val, self.metrics, self.metric_prefixes, "val").run()
        if not self.signal_received:
            self._record_eval("val", metrics)
        return metrics

    def test(self) -> dict[str, float]:
        """Evaluate on ``test_dataloader`` (default: ``val_dataloader``); loads
        ``load_from`` first unless weights were already loaded or trained."""
        key = "test_dataloader" if self.cfg.get("test_dataloader") else "val_dataloader"
        if not self.cfg.get(key):
            raise ConfigError("test_dataloader: missing (and no val_dataloader to fall back on)")
        built = self._loader(key, train=False)
        self.test_dataloader = built.loader
        self.test_metrics, prefixes = self._metrics_for(built.dataset, key)
        if not self._weights_loaded and self.cfg.get("load_from"):
            self.load_weights(self.cfg["load_from"], hook_states=True)
        elif not self._weights_loaded and self.train_step is None:
            self.logger.warning("test: no load_from/checkpoint given; evaluating initial weights")
        self.test_metric_prefixes = prefixes
        started_here = not self._run_started
        self._start_run()
        metrics = EvalLoop(self, built, self.test_metrics, prefixes, "test").run()
        self._record_eval("test", metrics)
        if started_here:
            self._end_run()
        return metrics

    def _start_run(self) -> None:
        if not self._run_started:
            self._run_started = True
            self.hooks.call("before_run", runner=self)

    def _end_run(self) -> None:
        self.hooks.call("after_run", runner=self)

    def _record_eval(self, mode: str, metrics: dict[str, float]) -> None:
        self.message.update(metrics)
        self.metric_keys.update(metrics)
        if mode == "val":
            self.last_metrics = metrics
        if mode == "test":
            head = f"Test [{len(self.test_dataloader.dataset)} images]"
        elif self.by_epoch:
            head = f"Epoch(val) [{self.epoch}][{len(self.val_dataloader)}]"
        else:
            head = f"Iter(val) [{self.iter}]"
        record = {"mode": mode, "epoch": self.epoch, "iter": self.iter, **metrics}
        self.log.eval_record(head, metrics, record)

    # -- boundaries (called by TrainLoop) --------------------------------------------------
    def iteration_boundary(self) -> None:
        ts, ck = self.train_settings, self.checkpoint_settings
        val_due = not self.by_epoch and _due(self.iter, ts.val_interval, self.max_iters)
        ckpt_due = not ck.by_epoch and bool(ck.interval) and self.iter % ck.interval == 0
        self._boundary(val_due, ckpt_due)

    def epoch_boundary(self) -> None:
        ts, ck = self.train_settings, self.checkpoint_settings
        val_due = self.by_epoch and _due(self.epoch, ts.val_interval, self.max_epochs)
        ckpt_due = ck.by_epoch and bool(ck.interval) and self.epoch % ck.interval == 0
        self._boundary(val_due, ckpt_due)

    @property
    def has_iteration_actions(self) -> bool:
        return not self.by_epoch or not self.checkpoint_settings.by_epoch

    def _boundary(self, val_due: bool, ckpt_due: bool) -> None:
        improved = False
        if val_due and self._val is not None:
            metrics = self.val()
            if self.signal_received:  # validation was cut short; the signal path saves
                return
            improved = self._track_best(metrics)
        if ckpt_due:
            path = self.save_checkpoint(self._checkpoint_name())
            if improved and path is not None:
                self.files.link_best(path, self.best["metric"])
        elif improved:
            self._save_best_file()

    def _on_signal(self, signum: int) -> None:
        self.signal_received = signum

    def _interrupted(self) -> None:
        import signal

        name = signal.Signals(self.signal_received).name
        path = self.save_checkpoint(f"iter_{self.iter}.pth")
        self.hooks.call("after_train", runner=self)
        self._end_run()
        raise TrainingInterrupted(
            f"interrupted by {name} at epoch {self.epoch + 1}, iteration {self.iter}; "
            f"checkpoint saved to {path or self.work_dir / 'latest.pth'}; "
            "continue with --resume auto",
            self.signal_received,
        )

    def _with_last_checkpoint(self, err: HookError) -> HookError:
        """Write a last checkpoint after a hook failed (skipping the checkpoint hooks if
        they are the culprit) and say where it is."""
        self.logger.error("%s", err, exc_info=err.__cause__, extra={"console": False})
        try:
            path = self.save_checkpoint(
                f"iter_{self.iter + self.step_done}.pth",
                call_hooks=err.stage != "before_save_checkpoint",
            )
        except Exception as save_err:  # the run is failing already: report both
            return HookError(
                f"{err}; writing a last checkpoint failed too: {save_err}", err.stage, err.culprit
            )
        where = f"; last checkpoint: {path}" if path is not None else ""
        return HookError(f"{err}{where}", err.stage, err.culprit)

    def close(self) -> None:
        """Close log files and handlers and release the work dir (the process group is left
        to the caller)."""
        lock = getattr(self, "_work_dir_lock", None)
        if lock is not None:
            lock.release()
        self.log.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _due(count: int, interval: int | None, end: int | None) -> bool:
    return bool(interval) and (count % interval == 0 or count == end)
