"""Hook specifications: the reference for everything a plugin can hook into.

Two families:

* plugin-level hooks, prefixed ``detplug_``: called by the CLI and the config machinery;
* runner stages (``before_run`` ... ``after_load_checkpoint``): called by the Runner, in the
  order documented in docs/hooks.md. Config hook objects (``hooks:`` list) and installed
  plugins' ``@hookimpl`` functions both take part.

Every argument is passed by keyword; an implementation may accept any subset of them.
Implement a hook in a plugin module like this::

    from detplug_core import hookimpl

    @hookimpl
    def after_train_iter(runner, outputs):
        ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from detplug_core.runner.protocol import RunnerView

PROJECT = "detplug"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------------------------
# Plugin-level hooks
# --------------------------------------------------------------------------------------------
@hookspec
def detplug_cli_commands() -> list[Any]:
    """Return a list of ``click.Command`` objects to add to the ``detplug`` CLI.

    Called when the user runs a command that is not built in (``detplug convert ...``), and by
    ``detplug plugins`` to list what each plugin adds. Command names must be unique."""


@hookspec
def detplug_adjust_config(config: dict) -> None:
    """Modify the merged, resolved config in place before anything is built from it.

    Called once per ``detplug train/test`` after overrides are applied. ``config`` is a plain
    nested dict; plugins should only add defaults they own, never silently change user keys."""


@hookspec
def detplug_pretrained_weights() -> dict[str, Any]:
    """Return ``{name: loader}`` for published weights this plugin loads by name.

    ``load_from: NAME`` (e.g. ``FCOS_ResNet50_FPN_Weights.COCO_V1``, torchvision's weights
    names) calls ``loader()``, which returns a detplug checkpoint dict ``{"model":
    state_dict, "meta": {"classes": [...]}}`` (fetched through the publisher's own cache,
    read with ``weights_only=True``, converted to detplug's names). A name that looks like
    weights but no plugin offers is an error listing every offered name."""


@hookspec
def detplug_data_source(path: str, image_dir: str | None) -> dict | None:
    """Recognise a user's data at ``path`` (``detplug train CONFIG --data PATH``).

    Return ``None`` when ``path`` is not in this plugin's format. Otherwise return::

        {"format": "yolo",                     # a short name for messages
         "classes": ["cat", "dog"],            # label i is classes[i]
         "splits": {"train": {...}, "val": {...}, "test": {...}}}   # dataset configs

    Each split is a dataset config (``type`` and its arguments, without ``transforms``);
    ``val`` and ``test`` may be missing. ``image_dir`` is the folder the user gave with
    ``--data-images`` (formats whose annotations do not say where the images are). Raise a
    ``DataError`` when the path is clearly yours but broken. Exactly one plugin may claim a
    path; detplug-yolo-format, detplug-coco and detplug-voc implement this hook."""


# --------------------------------------------------------------------------------------------
# Runner stages. ``runner`` is the running :class:`detplug_core.Runner`; ``runner.epoch`` and
# ``runner.iter`` count completed epochs and iterations (0-based for the one in progress).
# The stages are the functions below in this order; RUNNER_STAGES, the Hook base class and
# the dispatcher all derive from them (this module is the one list).
# --------------------------------------------------------------------------------------------
@hookspec
def before_run(runner: RunnerView) -> None:
    """Once, after the runner is built (and resumed) and before any loop starts."""


@hookspec
def after_run(runner: RunnerView) -> None:
    """Once, after every loop has ended, also when the run stops early."""


@hookspec
def before_train(runner: RunnerView) -> None:
    """Before the first training iteration (after resuming, if any)."""


@hookspec
def after_train(runner: RunnerView) -> None:
    """After the last training iteration."""


@hookspec
def before_train_epoch(runner: RunnerView) -> None:
    """At the start of each training epoch (iteration-based runs: once per data pass)."""


@hookspec
def after_train_epoch(runner: RunnerView) -> None:
    """At the end of each training epoch; ``runner.epoch`` already counts it. The built-in
    validation and checkpoint hooks run in this stage at their (lowest) priorities."""


@hookspec
def before_train_iter(runner: RunnerView, batch_idx: int, data_batch: Any) -> None:
    """Before the forward pass of one training iteration; ``data_batch`` is (images, targets)."""


@hookspec
def after_backward(runner: RunnerView, batch_idx: int, data_batch: Any, outputs: dict) -> None:
    """Where gradients exist: after ``backward()`` and, with ``amp: fp16``, after the
    gradients were unscaled; before gradient clipping, the optimizer step and ``zero_grad``.
    Read or change ``p.grad`` of ``runner.model``'s parameters here (e.g. a gradient-norm
    monitor). ``outputs`` are the detached losses of this iteration. Implementing this stage
    costs one Python call per iteration (and, with fp16, unscaling even without clipping)."""


@hookspec
def after_train_iter(runner: RunnerView, batch_idx: int, data_batch: Any, outputs: dict) -> None:
    """After the optimizer step and ``zero_grad``; ``runner.iter`` already counts this
    iteration (it is the 1-based number of the iteration that just ended). ``outputs`` maps
    each loss name (and ``loss``, their sum) to a detached scalar tensor; ``float()`` it when
    needed (on a GPU that waits for the device, which the runner itself does only every
    ``log_interval`` iterations). The built-in logging, validation and checkpoint hooks run
    in this stage at their priorities (docs/hooks.md)."""


@hookspec
def before_val(runner: RunnerView) -> None:
    """Before a validation pass starts (each time validation runs)."""


@hookspec
def after_val(runner: RunnerView) -> None:
    """After a validation pass and its metrics are logged."""


@hookspec
def before_val_epoch(runner: RunnerView) -> None:
    """At the start of the validation loop over the val dataloader."""


@hookspec
def after_val_epoch(runner: RunnerView, metrics: dict) -> None:
    """After evaluation; ``metrics`` maps ``"<metric>/<key>"`` to a float."""


@hookspec
def before_val_iter(runner: RunnerView, batch_idx: int, data_batch: Any) -> None:
    """Before the model runs on one validation batch."""


@hookspec
def after_val_iter(runner: RunnerView, batch_idx: int, data_batch: Any, outputs: list) -> None:
    """After one validation batch; ``outputs`` are the predictions (list of dicts)."""


@hookspec
def before_test(runner: RunnerView) -> None:
    """Before the test loop."""


@hookspec
def after_test(runner: RunnerView) -> None:
    """After the test loop and its metrics."""


@hookspec
def before_test_epoch(runner: RunnerView) -> None:
    """At the start of the test loop over the test dataloader."""


@hookspec
def after_test_epoch(runner: RunnerView, metrics: dict) -> None:
    """After test evaluation; ``metrics`` maps ``"<metric>/<key>"`` to a float."""


@hookspec
def before_test_iter(runner: RunnerView, batch_idx: int, data_batch: Any) -> None:
    """Before the model runs on one test batch."""


@hookspec
def after_test_iter(runner: RunnerView, batch_idx: int, data_batch: Any, outputs: list) -> None:
    """After one test batch; ``outputs`` are the predictions (list of dicts)."""


@hookspec
def before_save_checkpoint(runner: RunnerView, checkpoint: dict) -> None:
    """Before a checkpoint dict is written; hooks may add entries (tensors, plain types)."""


@hookspec
def after_load_checkpoint(runner: RunnerView, checkpoint: dict) -> None:
    """After a checkpoint was loaded for resuming; hooks restore their own entries."""


#: Every runner stage, in definition order (derived from the specifications above).
RUNNER_STAGES: tuple[str, ...] = tuple(
    name
    for name, obj in list(globals().items())
    if callable(obj) and hasattr(obj, f"{PROJECT}_spec") and not name.startswith("detplug_")
)
