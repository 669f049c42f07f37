"""The :class:`Runner`: one config in, a training / validation / test run out.

The runner builds the pieces and owns the loop (:meth:`Runner.train`) and its position
(``progress``). Checkpoints are the :class:`~detplug_core.runner.checkpointer.Checkpointer`'s
(``runner.checkpointer``: best metric, files, resume, ``load_from``), evaluations the
:class:`~detplug_core.runner.evaluation.Evaluator`'s (``runner.evaluator``: last result,
metric keys); hooks call those objects, not the runner. What hooks may use is
:class:`~detplug_core.runner.protocol.RunnerView` (docs/runner.md).

A Runner changes nothing process-wide that its caller did not ask for: glibc's malloc
thresholds and the frozen heap (``runner/malloc.py``, ``runner/heap.py``) apply only with
``tune_process=True``, which ``detplug train`` passes because it owns its process.
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from detplug_core import dist
from detplug_core.data.num_classes import check_num_classes, resolve_classes
from detplug_core.errors import ConfigError
from detplug_core.registry import MODELS
from detplug_core.runner.builders import (
    build_hooks,
    build_metrics,
    build_optimization,
    check_required_plugins,
    warn_failed_plugins,
    warn_unknown_keys,
    with_builtin_hooks,
    wrap_ddp,
)
from detplug_core.runner.builtin_hooks import check_hook_order
from detplug_core.runner.checkpointer import Checkpointer
from detplug_core.runner.dist_signals import RunSignals
from detplug_core.runner.evaluation import Evaluator
from detplug_core.runner.heap import frozen_heap
from detplug_core.runner.hook_dispatch import HookDispatcher, HookError
from detplug_core.runner.logger import RunLog
from detplug_core.runner.malloc import tune_malloc
from detplug_core.runner.message import Message
from detplug_core.runner.progress import Progress
from detplug_core.runner.rng import seed_everything, set_deterministic
from detplug_core.runner.settings import (
    CheckpointSettings,
    RunSettings,
    TrainSettings,
    resolve_work_dir,
    resolved_config,
)
from detplug_core.runner.signals import SignalGuard, TrainingInterrupted
from detplug_core.runner.step import TrainStep, make_autocast
from detplug_core.runner.workdir_lock import WorkDirBusyError, lock_for_run


def _from_progress(name: str, doc: str) -> property:
    """A read-only attribute of the runner that mirrors ``runner.progress.<name>``."""
    return property(lambda self: getattr(self.progress, name), doc=doc)


class Runner:
    """Builds everything from ``cfg`` (a :class:`~detplug_core.config.Config` or a dict)
    and runs :meth:`train`, :meth:`val` or :meth:`test`. Use as a context manager, or call
    :meth:`close`, to release log files and the work dir.

    ``tune_process=True`` says the caller owns the process: during :meth:`train` glibc's
    malloc keeps the memory a step frees (``runner/malloc.py``) and the objects built before
    the loop are frozen out of the garbage collector (``runner/heap.py``). ``detplug train``
    passes it; a Runner in your own program leaves both alone unless you do."""

    def __init__(
        self, cfg: Mapping, *, plugin_manager: Any = None, tune_process: bool = False
    ) -> None:
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
        self.tune_process = tune_process
        self.work_dir = resolve_work_dir(cfg, getattr(cfg, "filename", None))
        if "model" not in cfg:
            raise ConfigError("model: missing (the detector config, with 'type')")
        self.log = RunLog(self.work_dir, self.rank, self.world_size)
        self.logger = self.log.logger
        warn_failed_plugins(self.logger)
        try:
            self._build(cfg)
        except BaseException:
            self.log.close()
            raise

    def _build(self, cfg: Mapping) -> None:
        warn_unknown_keys(cfg, self.logger)
        # num_classes: auto -> the data's class count; a dataset built to count is reused
        counted = resolve_classes(cfg)
        self._counted = {counted.key: counted.dataset} if counted and counted.dataset else {}
        self.model: torch.nn.Module = MODELS.build(cfg["model"], path="model").to(self.device)
        self.wrapped_model: torch.nn.Module = self.model
        self.hooks = HookDispatcher(self.pm, with_builtin_hooks(build_hooks(cfg.get("hooks"))))
        check_hook_order(self.hooks.entries)
        self.autocast = make_autocast(self.settings.amp, self.device)
        self.progress = Progress()
        self.stop_training = False
        self.signals = RunSignals(self.device)
        self.message = Message()
        self.evaluator = Evaluator(self, self.hooks, self.signals)
        self.checkpointer = Checkpointer(self, self.hooks, self.pm)
        self._work_dir_lock: Any = None  # taken by train(), released by close()
        # built by train()/val()/test()
        self.train_settings: TrainSettings | None = None
        self.log_interval = 50
        self.optimizer: torch.optim.Optimizer | None = None
        self.lr_schedule: Any = None
        self.schedulers: list = []
        self.train_step: TrainStep | None = None
        self.train_dataloader = self.val_dataloader = self.test_dataloader = None
        self.train_data: Any = None
        self.val_data: Any = None
        self.metrics: list = []
        self.metric_prefixes: list[str] = []
        self.test_metrics: list = []
        self.test_metric_prefixes: list[str] = []
        self._run_started = False
        self.logger.info(
            "detplug run: device %s, world size %d, seed %d, work dir %s",
            self.device,
            self.world_size,
            self.seed,
            self.work_dir,
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
            dataset=self._counted.pop(key, None),
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
        checkpoint_settings = CheckpointSettings.from_config(cfg.get("checkpoint"), ts.by_epoch)
        self._build_train_data()
        p = self.progress
        p.by_epoch = ts.by_epoch
        if ts.by_epoch:
            p.max_epochs, p.max_iters = ts.max_epochs, ts.max_epochs * len(self.train_dataloader)
        else:
            p.max_epochs, p.max_iters = None, ts.max_iters
        self.optimizer, self.lr_schedule = build_optimization(cfg, self.model, p)
        self.schedulers = self.lr_schedule.schedulers
        if cfg.get("val_dataloader") and cfg.get("metrics"):
            self._build_val()
        if dist.is_active():
            self.model, self.wrapped_model = wrap_ddp(self.model, self.settings, self.device)
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
        self.checkpointer.start(checkpoint_settings)
        if self.rank == 0:
            from detplug_core.config import dump_config

            resolved = resolved_config(self.cfg, self.seed, self.work_dir)
            dump_config(resolved, self.work_dir / "config.yaml")

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
        try:
            self._work_dir_lock = lock_for_run(self.work_dir, self.rank, self.logger)
        except WorkDirBusyError:
            self.log.discard_waiting()  # the work dir's log.txt is the other run's
            raise
        self.log.open_files()
        self._setup_training()
        resume, load_from = self.settings.resume, self.settings.load_from
        checkpointer = self.checkpointer
        path = checkpointer.find_resume_checkpoint(resume) if resume else None
        if path is not None:
            checkpointer.resume(path)
        elif load_from:
            checkpointer.load_weights(load_from)
        hooks, p = self.hooks, self.progress
        with SignalGuard(self.signals.on_signal), self._tuned_process():
            try:
                self._start_run()
                hooks.call("before_train", runner=self)
                self.logger.info("training from iteration %d to %d", p.iter, p.max_iters)
                while not (p.finished or self.stop_training or self.signals.received):
                    self._train_epoch()
                if self.signals.received:
                    self._interrupted()
                hooks.call("after_train", runner=self)
                self._end_run()
            except HookError as err:
                raise self.checkpointer.save_after_failure(err) from err.__cause__
            finally:
                self.log.close_bar()
        return self.evaluator.last_metrics

    def _train_epoch(self) -> None:
        """One data pass, or what is left of it (a resumed position, ``max_iters``)."""
        hooks, p, step, signals = self.hooks, self.progress, self.train_step, self.signals
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
            hooks.call(
                "after_train_iter",
                runner=self,
                batch_idx=batch_idx,
                data_batch=batch,
                outputs=outputs,
            )
            # DDP: every rank leaves the loop at the same iteration (dist_signals.py)
            if signals.agree() or self.stop_training or p.finished:
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
        self.log.open_files()
        result = self.evaluator.run(self.val_data, self.metrics, self.metric_prefixes, "val")
        return result.metrics if result is not None else {}

    def test(self) -> dict[str, float]:
        """Evaluate on ``test_dataloader`` (default: ``val_dataloader``); loads
        ``load_from`` first unless weights were already loaded or trained."""
        key = "test_dataloader" if self.cfg.get("test_dataloader") else "val_dataloader"
        if not self.cfg.get(key):
            raise ConfigError("test_dataloader: missing (and no val_dataloader to fall back on)")
        self.log.open_files()
        built = self._loader(key, train=False)
        self.test_dataloader = built.loader
        self._check_classes(built.dataset, key)
        self.test_metrics, prefixes = build_metrics(self.cfg.get("metrics"), built.dataset, key)
        self.test_metric_prefixes = prefixes
        checkpointer = self.checkpointer
        if not checkpointer.weights_loaded and self.settings.load_from:
            checkpointer.load_weights(self.settings.load_from, hook_states=True)
        elif not checkpointer.weights_loaded and self.train_step is None:
            self.logger.warning("test: no load_from/checkpoint given; evaluating initial weights")
        started_here = not self._run_started
        self._start_run()
        result = self.evaluator.run(built, self.test_metrics, prefixes, "test")
        if started_here:
            self._end_run()
        return result.metrics if result is not None else {}

    def _start_run(self) -> None:
        if not self._run_started:
            self._run_started = True
            self.hooks.call("before_run", runner=self)

    def _end_run(self) -> None:
        self.hooks.call("after_run", runner=self)

    def _tuned_process(self) -> contextlib.AbstractContextManager[None]:
        """With ``tune_process``: malloc thresholds for the process, a frozen heap for the
        loop; otherwise nothing (the class docstring)."""
        if not self.tune_process:
            return contextlib.nullcontext()
        self.logger.debug("malloc thresholds: %s (runner/malloc.py)", tune_malloc())
        return frozen_heap()

    def save_checkpoint(self, name: str) -> Path | None:
        """``runner.checkpointer.save(name)``: a checkpoint now (e.g. before a hook stops
        the run); the path on rank 0."""
        return self.checkpointer.save(name)

    def _interrupted(self) -> None:
        import signal

        signum = self.signals.received
        name = signal.Signals(signum).name
        path = self.checkpointer.save(f"iter_{self.iter}.pth")
        self.hooks.call("after_train", runner=self)
        self._end_run()
        raise TrainingInterrupted(
            f"interrupted by {name} at epoch {self.epoch + 1}, iteration {self.iter}; "
            f"checkpoint saved to {path or self.work_dir / 'latest.pth'}; "
            "continue with --resume auto",
            signum,
        )

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
