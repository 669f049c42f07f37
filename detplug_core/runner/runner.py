"""The :class:`Runner`: one config in, a training / validation / test run out.

Public attributes hooks may use (docs/runner.md): ``cfg``, ``model`` (never DDP-wrapped;
``wrapped_model`` is what training calls), ``optimizer``, ``schedulers``, ``work_dir``,
``epoch``, ``iter``, ``epoch_iter``, ``max_epochs``, ``max_iters``, ``by_epoch``,
``train_dataloader``, ``val_dataloader``, ``test_dataloader``, ``metrics``, ``logger``,
``rank``, ``world_size``, ``device``, ``seed``, ``message``, ``stop_training`` and
``save_checkpoint(name)``.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Mapping
from typing import Any

import torch

from detplug_core.data.num_classes import check_num_classes, resolve_num_classes
from detplug_core.errors import ConfigError
from detplug_core.registry import MODELS
from detplug_core.runner import dist
from detplug_core.runner.builders import (
    build_hooks,
    build_metrics,
    check_required_plugins,
    with_builtin_hooks,
)
from detplug_core.runner.checkpoint import CheckpointFiles
from detplug_core.runner.dist_signals import agree_on_signal
from detplug_core.runner.evaluation import EvalResult, evaluate
from detplug_core.runner.heap import frozen_heap
from detplug_core.runner.hook_dispatch import HookDispatcher, HookError
from detplug_core.runner.logger import RunLog
from detplug_core.runner.malloc import tune_malloc
from detplug_core.runner.progress import Progress
from detplug_core.runner.rng import seed_everything, set_deterministic
from detplug_core.runner.settings import (
    CheckpointSettings,
    RunSettings,
    TrainSettings,
    resolve_work_dir,
    unknown_top_level_keys,
)
from detplug_core.runner.signals import SignalGuard, TrainingInterrupted
from detplug_core.runner.state import RunnerStateMixin
from detplug_core.runner.step import TrainStep, make_autocast
from detplug_core.runner.sync_bn import apply_sync_bn
from detplug_core.runner.workdir_lock import lock_for_run


def _from_progress(name: str, doc: str) -> property:
    """A read-only attribute of the runner that mirrors ``runner.progress.<name>``."""
    return property(lambda self: getattr(self.progress, name), doc=doc)


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
        self.settings = settings = RunSettings.from_config(cfg)
        self.device = dist.resolve_device(settings.device, info)
        dist.init_distributed(info, self.device)
        self.seed = self._resolve_seed(settings.seed)
        set_deterministic(settings.deterministic)
        seed_everything(self.seed)
        self.work_dir = resolve_work_dir(cfg, getattr(cfg, "filename", None))
        if "model" not in cfg:
            raise ConfigError("model: missing (the detector config, with 'type')")
        self.log = RunLog(self.work_dir, self.rank, self.world_size)
        self.logger = self.log.logger
        self._warn_failed_plugins()
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
        resolve_num_classes(cfg)  # num_classes: auto -> the data's class count
        self.model: torch.nn.Module = MODELS.build(cfg["model"], path="model").to(self.device)
        self.wrapped_model: torch.nn.Module = self.model
        self.hooks = HookDispatcher(self.pm, with_builtin_hooks(build_hooks(cfg.get("hooks"))))
        self.autocast = make_autocast(self.settings.amp, self.device)
        self.progress = Progress()
        self.stop_training = False
        self.signal_received = 0  # agreed by every rank (agree_signals); what hooks read
        self.signal_pending = 0  # set by this rank's signal handler, at any moment
        self._work_dir_lock: Any = None  # taken by train(), released by close()
        self.message: dict[str, Any] = {}
        self.metric_keys: set[str] = set()
        self.best: dict[str, Any] | None = None
        self.last_metrics: dict[str, float] = {}
        self.last_eval: EvalResult | None = None
        self.last_saved_iter: int | None = None
        # built by train()/val()/test()
        self.log_interval = 50
        self.optimizer: torch.optim.Optimizer | None = None
        self.lr_schedule: Any = None
        self.schedulers: list = []
        self.train_step: TrainStep | None = None
        self.train_dataloader = self.val_dataloader = self.test_dataloader = None
        self.train_data: Any = None
        self.val_data: Any = None
        self.checkpoint_files: CheckpointFiles | None = None
        self.metrics: list = []
        self.metric_prefixes: list[str] = []
        self._weights_loaded = False
        self._run_started = False
        self.logger.info(
            "detplug run: device %s, world size %d, seed %d, work dir %s",
            self.device,
            self.world_size,
            self.seed,
            self.work_dir,
        )

    def _warn_failed_plugins(self) -> None:
        from detplug_core.plugins.state import failed_plugins

        for record in failed_plugins():
            self.logger.warning(
                "plugin '%s' (%s %s) failed to load, its components are unavailable: %s "
                "(detplug plugins shows the details)",
                record.name,
                record.distribution,
                record.version,
                record.error,
            )

    # -- the position (owned by the loop; read-only mirrors of ``progress`` for hooks) ----
    epoch = _from_progress("epoch", "Completed epochs.")
    iter = _from_progress("iter", "Completed iterations.")
    epoch_iter = _from_progress("epoch_iter", "Batches consumed in the current epoch.")
    max_epochs = _from_progress("max_epochs", "Epochs to train (None: by iterations).")
    max_iters = _from_progress("max_iters", "Iterations to train.")
    by_epoch = _from_progress("by_epoch", "Whether training counts epochs.")

    # -- building ------------------------------------------------------------------------
    def _resolve_seed(self, seed: Any) -> int:
        if seed is None:
            seed = dist.broadcast_from_main(random.SystemRandom().randrange(2**31))
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed: expected an int or null, got {seed!r}")
        return seed

    def _check_classes(self, dataset: Any, key: str) -> None:
        """A fixed ``num_classes`` that disagrees with the data is exit 2 naming both."""
        classes = getattr(dataset, "classes", None)
        if classes is not None:
            check_num_classes(self.cfg.get("model"), list(classes), f"{key}.dataset")

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
        """Everything ``train()`` needs beyond the model: settings, data, optimizer and
        schedule, validation, DDP, the step, the checkpoint files."""
        cfg = self.cfg
        ts = TrainSettings.from_config(cfg.get("train"))
        self.train_settings = ts
        self.log_interval = ts.log_interval
        self.checkpoint_settings = CheckpointSettings.from_config(
            cfg.get("checkpoint"), ts.by_epoch
        )
        self._build_train_data()
        p = self.progress
        p.by_epoch = ts.by_epoch
        if ts.by_epoch:
            p.max_epochs, p.max_iters = ts.max_epochs, ts.max_epochs * len(self.train_dataloader)
        else:
            p.max_epochs, p.max_iters = None, ts.max_iters
        self._build_optimization()
        if cfg.get("val_dataloader") and cfg.get("metrics"):
            self._build_val()
        if dist.is_active():
            self._wrap_ddp()
        on_gradients = None
        if self.hooks.has("after_backward"):
            on_gradients = functools.partial(self.hooks.call, "after_backward", runner=self)
        self.train_step = TrainStep(
            self.wrapped_model,
            self.optimizer,
            self.device,
            self.settings.amp,
            self.settings.clip_grad,
            on_gradients=on_gradients,
        )
        self.checkpoint_files = CheckpointFiles(self.work_dir, self.checkpoint_settings.keep_last)
        if self.rank == 0:
            from detplug_core.config import dump_config

            for stale in self.checkpoint_files.remove_stale_temporaries():
                self.logger.info("removed %s (left by an interrupted checkpoint write)", stale)
            dump_config(self.resolved_config(), self.work_dir / "config.yaml")

    def _build_train_data(self) -> None:
        cfg = self.cfg
        if "train_dataloader" not in cfg:
            raise ConfigError("train_dataloader: missing (needed to train)")
        self.train_data = self._loader("train_dataloader", train=True)
        self.train_dataloader = self.train_data.loader
        self._check_classes(self.train_data.dataset, "train_dataloader")
        if len(self.train_dataloader) == 0:
            raise ConfigError(
                f"train_dataloader: no batches ({len(self.train_data.dataset)} samples, "
                f"batch_size {cfg['train_dataloader'].get('batch_size', 1)}, per process)"
            )

    def _build_optimization(self) -> None:
        from detplug_core.runner.optim import build_optimizer
        from detplug_core.runner.schedulers import build_schedule

        if "optimizer" not in self.cfg:
            raise ConfigError("optimizer: missing (e.g. {type: SGD, lr: 0.01, momentum: 0.9})")
        self.optimizer = build_optimizer(self.model, self.cfg["optimizer"])
        self.lr_schedule = build_schedule(
            self.optimizer,
            self.cfg.get("param_schedulers"),
            max_epochs=self.progress.max_epochs,
            max_iters=self.progress.max_iters,
        )
        self.schedulers = self.lr_schedule.schedulers

    def _wrap_ddp(self) -> None:
        from torch.nn.parallel import DistributedDataParallel

        self.model = apply_sync_bn(self.model, self.settings.sync_bn, self.device)
        self.wrapped_model = DistributedDataParallel(
            self.model,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=self.settings.find_unused_parameters,
        )

    def _build_val(self) -> None:
        self.val_data = self._loader("val_dataloader", train=False)
        self.val_dataloader = self.val_data.loader
        self.metrics, self.metric_prefixes = build_metrics(
            self.cfg.get("metrics"), self.val_data.dataset, "val_dataloader"
        )

    # -- running -------------------------------------------------------------------------
    def train(self) -> dict[str, float]:
        """Train to the end (resuming / loading weights as the config says); returns the
        metrics of the last validation (empty without validation).

        The loop: ``before_train``; per epoch (data pass) ``before_train_epoch``, then per
        batch ``before_train_iter`` -> step (``after_backward`` inside) -> counters advance
        -> ``after_train_iter``; at the end of a pass the epoch advances ->
        ``after_train_epoch``; a stop request or a signal ends it after any iteration;
        ``after_train``. Logging, validation, checkpoints and the lr are built-in hooks."""
        self._work_dir_lock = lock_for_run(self.work_dir, self.rank)
        self._setup_training()
        resume, load_from = self.settings.resume, self.settings.load_from
        path = self.find_resume_checkpoint(resume) if resume else None
        if path is not None:
            self.resume(path)
        elif load_from:
            self.load_weights(load_from)
        hooks, p = self.hooks, self.progress
        self.logger.debug("malloc thresholds: %s (runner/malloc.py)", tune_malloc())
        with SignalGuard(self._on_signal), frozen_heap():
            try:
                self._start_run()
                hooks.call("before_train", runner=self)
                self.logger.info("training from iteration %d to %d", p.iter, p.max_iters)
                while not (p.finished or self.stop_training or self.signal_received):
                    self._train_epoch()
                if self.signal_received:
                    self._interrupted()
                hooks.call("after_train", runner=self)
                self._end_run()
            except HookError as err:
                raise self._with_last_checkpoint(err) from err.__cause__
            finally:
                self.log.close_bar()
        return self.last_metrics

    def _train_epoch(self) -> None:
        """One data pass, or what is left of it (a resumed position, ``max_iters``)."""
        hooks, p, step = self.hooks, self.progress, self.train_step
        loader = self.train_dataloader
        loader.batch_sampler.set_epoch(p.epoch, skip=p.epoch_iter)
        hooks.call("before_train_epoch", runner=self)
        t_start = time.perf_counter()
        for batch_idx, batch in enumerate(loader, p.epoch_iter):
            t_data = time.perf_counter()
            hooks.call("before_train_iter", runner=self, batch_idx=batch_idx, data_batch=batch)
            outputs = step(batch, batch_idx)
            p.iter_time, p.data_time = time.perf_counter() - t_start, t_data - t_start
            p.iter += 1
            p.epoch_iter += 1
            # DDP: every rank enters the iteration's hooks (validation, checkpoint) knowing
            # the same signals, and leaves the loop at the same iteration (dist_signals.py)
            self.agree_signals()
            hooks.call(
                "after_train_iter",
                runner=self,
                batch_idx=batch_idx,
                data_batch=batch,
                outputs=outputs,
            )
            self.agree_signals()
            if self.stop_training or self.signal_received or p.finished:
                return
            t_start = time.perf_counter()
        p.epoch += 1
        p.epoch_iter = 0
        hooks.call("after_train_epoch", runner=self)

    def val(self) -> dict[str, float]:
        """Evaluate on the val dataloader with the metrics (built on first use)."""
        if self.val_data is None:
            if not (self.cfg.get("val_dataloader") and self.cfg.get("metrics")):
                raise ConfigError("val_dataloader/metrics: both are needed to validate")
            self._build_val()
        result = evaluate(self, self.val_data, self.metrics, self.metric_prefixes, "val")
        return result.metrics if result is not None else {}

    def test(self) -> dict[str, float]:
        """Evaluate on ``test_dataloader`` (default: ``val_dataloader``); loads
        ``load_from`` first unless weights were already loaded or trained."""
        key = "test_dataloader" if self.cfg.get("test_dataloader") else "val_dataloader"
        if not self.cfg.get(key):
            raise ConfigError("test_dataloader: missing (and no val_dataloader to fall back on)")
        built = self._loader(key, train=False)
        self.test_dataloader = built.loader
        self._check_classes(built.dataset, key)
        self.test_metrics, prefixes = build_metrics(self.cfg.get("metrics"), built.dataset, key)
        if not self._weights_loaded and self.settings.load_from:
            self.load_weights(self.settings.load_from, hook_states=True)
        elif not self._weights_loaded and self.train_step is None:
            self.logger.warning("test: no load_from/checkpoint given; evaluating initial weights")
        self.test_metric_prefixes = prefixes
        started_here = not self._run_started
        self._start_run()
        result = evaluate(self, built, self.test_metrics, prefixes, "test")
        if started_here:
            self._end_run()
        return result.metrics if result is not None else {}

    def _start_run(self) -> None:
        if not self._run_started:
            self._run_started = True
            self.hooks.call("before_run", runner=self)

    def _end_run(self) -> None:
        self.hooks.call("after_run", runner=self)

    def _on_signal(self, signum: int) -> None:
        # Only the pending flag: a handler runs between any two bytecodes, so writing the
        # agreed value here could be overwritten by an agreement in flight, or change a
        # decision one rank takes between two agreements while the others take another.
        self.signal_pending = signum

    def agree_signals(self) -> int:
        """Every rank learns the signals any rank received (one small all-reduce under DDP)
        and sets ``signal_received`` to the same value: decisions taken on it (validate,
        save, stop) are the same on every rank."""
        self.signal_received = agree_on_signal(
            self.signal_received or self.signal_pending, self.device
        )
        return self.signal_received

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
                f"iter_{self.iter}.pth",
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
        if self._work_dir_lock is not None:
            self._work_dir_lock.release()
            self._work_dir_lock = None
        self.log.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
